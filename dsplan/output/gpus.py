"""The text of ``dsplan gpus``: the table, one row per accelerator, and one entry field by field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType

from dsplan.output.table import Column, FitTable


def gpus_table(gpus: Sequence[dict[str, Any]]) -> RenderableType:
    """The GPU table, one row per accelerator."""
    columns = [
        Column(name, "label" if name in ("id", "as of") else "number")
        for name in ("id", "bf16", "fp8", "GB", "TB/s", "node", "links", "MFU", "$/GPU-h", "as of")
    ]
    table = FitTable(columns, title="dsplan gpus: dense peaks in TFLOP/s", box="simple_head")
    for g in gpus:
        peaks = g["peak_tflops"]
        mfu = g["mfu_default"]
        table.add_row(
            g["id"],
            f"{peaks['bf16']:g}" if "bf16" in peaks else f"{peaks['fp16']:g}*",
            f"{peaks['fp8']:g}" if "fp8" in peaks else "-",
            f"{g['memory_gb']:g}",
            f"{g['memory_bandwidth_tb_per_s']:g}",
            f"{g['node_size']}" if g.get("node_size") else "-",
            _links_cell(g),
            f"{mfu.get('bf16', next(iter(mfu.values()))):g}",
            f"{g['price_usd_per_gpu_hour']:g}" if g["price_usd_per_gpu_hour"] is not None else "-",
            g["price_as_of"] or "",
        )
    return table


def _links_cell(g: dict[str, Any]) -> str:
    """Intra-node / inter-node GB/s, one direction per GPU, as ``450/50`` (``-`` when unknown)."""
    intra, inter = g.get("intra_node_gb_per_s"), g.get("inter_node_gb_per_s")
    if intra is None and inter is None:
        return "-"
    return "/".join("-" if v is None else f"{v:g}" for v in (intra, inter))


def gpu_lines(g: dict[str, Any]) -> str:
    """One GPU entry as plain text, every field with its unit."""
    peaks = ", ".join(f"{k} {v:g}" for k, v in g["peak_tflops"].items())
    lines = [
        f"{g['id']}: {g['name']} ({g['vendor']})",
        f"  aliases               {', '.join(g['aliases']) or '-'}",
        f"  dense peak TFLOP/s    {peaks}",
        f"  memory                {g['memory_gb']:g} GB, {g['memory_bandwidth_tb_per_s']:g} TB/s",
        f"  scale-up link         {g['interconnect']}"
        + (f", {g['interconnect_gb_per_s']:g} GB/s" if g["interconnect_gb_per_s"] else ""),
        _node_line(g),
        f"  TDP                   {g['tdp_w']:g} W"
        if g["tdp_w"]
        else "  TDP                   not published",
        "  planning MFU          "
        + ", ".join(f"{k} {v:g}" for k, v in g["mfu_default"].items())
        + f" ({g['mfu_default_source']})",
    ]
    for dtype, value in g["mfu_best_published"].items():
        lines.append(
            f"  best published MFU    {dtype} {value:g} ({g['mfu_best_published_source'][dtype]})"
        )
    for i, p in enumerate(g["prices"]):
        label = "price (default)" if i == 0 else "price"
        lines.append(
            f"  {label:<22}${p['usd_per_gpu_hour']:g}/GPU-hour, {p['provider']}, as of "
            f"{p['as_of']} ({p['source']})"
        )
    if not g["prices"]:
        lines.append("  price                 none public in the table; give --price-per-gpu-hour")
    lines.append(f"  source                {g['source']}")
    for a in g["assumptions"]:
        lines.append(f"  assumption            {a}")
    if g["notes"]:
        lines.append(f"  notes                 {g['notes']}")
    return "\n".join(lines)


def _node_line(g: dict[str, Any]) -> str:
    """The links of the layout search: node size and per-direction bandwidths, with the source."""
    if not g.get("node_size") and not g.get("intra_node_gb_per_s"):
        return "  node and links        not in the table (the layout search assumes its defaults)"
    parts = [f"{g['node_size']} GPUs per node" if g.get("node_size") else "node size not given"]
    for key, label in (("intra_node_gb_per_s", "within"), ("inter_node_gb_per_s", "across")):
        if g.get(key):
            parts.append(f"{g[key]:g} GB/s per direction per GPU {label} nodes")
    return f"  node and links        {', '.join(parts)} ({g['links_source']})"
