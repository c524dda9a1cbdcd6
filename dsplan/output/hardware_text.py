"""The hardware section of a plan: time, cost, memory, feasibility and the best parallel layout.

Rows of (label, text) that ``dsplan budget``, ``dsplan model`` and the MoE plan share
(:func:`cost_rows`), and the section as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dsplan.output.table import Column, FitTable, Styled
from dsplan.output.text import both
from dsplan.units import days, sci, si

if TYPE_CHECKING:
    from rich.console import RenderableType

GB = 1e9


def layout_summary(layout: dict[str, Any]) -> str:
    """A layout of ``Candidate.to_dict()['layout']`` in one phrase: TP 8 x PP 4 x DP 64, ZeRO-1, ..."""
    parts = [f"TP {layout['tp']}", f"PP {layout['pp']}"]
    if layout.get("cp", 1) > 1:
        parts.append(f"CP {layout['cp']}")
    parts.append(f"DP {layout['dp']}")
    text = " x ".join(parts)
    if layout.get("ep", 1) > 1:
        text += f" (EP {layout['ep']})"
    extras = [f"ZeRO-{layout['zero']}", f"micro-batch {layout['micro_batch']}"]
    if layout["virtual_stages"] > 1:
        extras.append(f"{layout['virtual_stages']} virtual stages")
    extras.append(
        "no recomputation"
        if layout["recompute"] == "none"
        else f"{layout['recompute']} recomputation"
    )
    stages = layout.get("stage_layers") or []
    if len(set(stages)) > 1:
        extras.append("stages of " + "/".join(str(n) for n in _short(stages)) + " layers")
    return f"{text}, " + ", ".join(extras)


def _short(stages: list[int]) -> list[Any]:
    """Stage layers as first, the middle once, last: 7/8/.../8/7."""
    if len(stages) <= 4:
        return stages
    return [stages[0], stages[1], "...", stages[-2], stages[-1]]


def layout_rows(fit: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) rows of a ``LayoutFit.to_dict()``: the verdict, the best layout, its memory
    and its step time."""
    gpus = fit["gpus"]
    best = fit["best"]
    if best is None:
        needed = fit["gpus_needed"]
        complete = fit.get("gpus_needed_exhaustive", True)
        if needed is None:
            searched = "any count searched" if complete else "any count the bounded search reached"
            verdict = f"does not fit on {gpus:,} GPUs (nor on {searched})"
        elif needed > gpus:
            verdict = (
                f"does not fit on {gpus:,} GPUs: needs at least {needed:,}"
                if complete
                else f"does not fit on {gpus:,} GPUs: fits on {needed:,} (fewer may do)"
            )
        else:
            verdict = (
                f"no layout of {gpus:,} GPUs: the batch of {fit['global_batch_sequences']:,} "
                f"sequences, the heads and the layers do not split over them; {needed:,} "
                f"GPU{' holds' if needed == 1 else 's hold'} one"
            )
        return [("fits in memory", verdict)]
    mem = best["memory"]
    return [
        (
            "fits in memory",
            f"yes, on {gpus:,} GPUs (the best of the layouts; `dsplan layout` lists them all)",
        ),
        ("best layout", layout_summary(best["layout"])),
        (
            "memory per GPU",
            f"{mem['required_bytes'] / GB:,.1f} of {mem['gpu_memory_bytes'] / GB:g} GB on the "
            f"fullest (stage {mem['peak_stage']}): weights {mem['weights_bytes'] / GB:,.1f}, "
            f"gradients {mem['gradients_bytes'] / GB:,.1f}, optimizer "
            f"{mem['optimizer_bytes'] / GB:,.1f}, activations {mem['activations_bytes'] / GB:,.1f}"
            f", head {mem['output_head_bytes'] / GB:,.1f}, allowance "
            f"{mem['allowance_bytes'] / GB:,.1f}",
        ),
        (
            "step time",
            f"{best['step_seconds']:.3g} s estimated (bubble {best['bubble']:.1%}; dsplan layout "
            "for the others)",
        ),
    ]


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def cost_rows(cost: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``cost`` section of a plan or model document as (label, text) rows."""
    peak = cost["peak_flops_per_gpu"]
    mfu_origin = "given" if cost["mfu_source"].startswith("given") else "planning default, assumed"
    best = cost["mfu_best_published"]
    best_text = f"; best published {best:g}" if best is not None else "; no published figure"
    rows = [
        ("GPU", f"{cost['gpu_name']} ({cost['gpu']}), {cost['dtype']}"),
        ("dense peak", f"{sci(peak)} FLOP/s per GPU ({si(peak, 'FLOP/s')})"),
        ("MFU", f"{cost['mfu']:g} of the dense {cost['dtype']} peak ({mfu_origin}{best_text})"),
        (
            "hardware FLOPs/token",
            f"{both(cost['flops_per_token_hardware'], 'FLOPs/token')} (M + output head 6 V d)",
        ),
        ("hardware FLOPs", both(cost["training_flops_hardware"], "FLOPs")),
        ("GPU-hours", f"{cost['gpu_hours']:,.0f}"),
    ]
    if "compute_flops_available" in cost:
        rows.insert(
            0,
            (
                "cluster compute",
                f"{both(cost['compute_flops_available'], 'FLOPs')} = GPUs x peak x MFU x time",
            ),
        )
    if cost.get("gpus") is not None:
        rows.append(("GPUs", f"{cost['gpus']:,} ({cost['gpus_source']})"))
    if "wall_clock_days" in cost:
        rows.append(("wall clock", f"{days(cost['wall_clock_days'])} days"))
    if "cost_usd" in cost:
        when = f", as of {cost['price_as_of']}" if cost.get("price_as_of") else ""
        rows.append(
            (
                "cost",
                f"{_usd(cost['cost_usd'])} at ${cost['price_usd_per_gpu_hour']:g}/GPU-hour "
                f"({cost['price_source']}{when})",
            )
        )
    mem = cost["memory"]
    zero1 = mem["min_gpus_zero1"]
    rows.append(
        (
            "states memory",
            f"{mem['states_bytes'] / 1e9:,.0f} GB ({mem['bytes_per_param']} bytes/param); fewest "
            f"GPUs of {mem['gpu_memory_bytes'] / 1e9:g} GB: ZeRO-3 {mem['min_gpus_zero3']:,}, ZeRO-1 "
            + (
                f"{zero1:,}"
                if zero1 is not None
                else "never (replicated weights + gradients overflow one GPU: add TP/PP)"
            ),
        )
    )
    feas = cost["feasibility"]
    if "days_limit" in feas:
        if "fits_days" in feas:
            verdict = (
                "fits"
                if feas["fits_days"]
                else f"misses by {days(feas['days_over'])} days; {feas['gpus_required']:,} GPUs needed"
            )
        else:
            verdict = f"{feas['gpus_required']:,} GPUs needed"
        rows.append(("deadline", f"{feas['days_limit']:g} days: {verdict}"))
    if "max_cost_usd" in feas:
        verdict = (
            "fits"
            if feas["fits_cost"]
            else f"over by {_usd(feas['cost_over_usd'])}; buys {feas['gpu_hours_affordable']:,.0f} GPU-hours"
        )
        rows.append(("spending limit", f"{_usd(feas['max_cost_usd'])}: {verdict}"))
    if "layout" in cost:
        rows += layout_rows(cost["layout"])
    return rows


def cost_table(cost: dict[str, Any]) -> RenderableType:
    """The cost section as a table, laid out like :func:`plan_text`."""
    table = FitTable([Column("", "text", style="bold"), Column("", "text")], box=None)
    table.add_row(Styled(f"Hardware ({cost['gpu']}, {cost['dtype']})", "cyan"), "")
    for label, value in cost_rows(cost):
        table.add_row(f"  {label}", value)
    return table


def costs_table(documents: Sequence[dict[str, Any]]) -> RenderableType:
    """The cost of several plans, one row each."""
    first = documents[0]["cost"]
    table = FitTable(
        [Column(name) for name in ("C (FLOPs)", "GPU-hours", "GPUs", "days", "cost", "feasible")],
        title=f"on {first['gpu']} ({first['dtype']}, MFU {first['mfu']:g})",
    )
    for doc in documents:
        c = doc["cost"]
        table.add_row(
            sci(doc["compute_flops"], 3),
            f"{c['gpu_hours']:,.0f}",
            f"{c['gpus']:,}" if c.get("gpus") is not None else "-",
            days(c["wall_clock_days"]) if "wall_clock_days" in c else "-",
            _usd(c["cost_usd"]) if "cost_usd" in c else "-",
            "yes" if c["feasibility"]["feasible"] else "no",
        )
    return table
