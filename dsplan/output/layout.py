"""The text of ``dsplan layout``: the search's inputs, the best layouts, memory by part and time."""

from __future__ import annotations

from typing import Any

GB = 1e9


def _gb(value: float) -> str:
    return f"{value / GB:,.1f}"


def layout_text(document: dict[str, Any], top: int) -> str:
    """The best ``top`` layouts of a ``LayoutSearch.to_dict()`` document, as plain text."""
    shape = document["shape"]
    d_ff = shape["d_ff"]  # 0 for a mixture-of-experts model without dense layers
    lines = [
        f"dsplan layout: {shape['n_layers']} layers x {shape['d_model']} wide, "
        f"{shape['n_heads']} heads / {shape['n_kv_heads']} KV heads, "
        f"{f'd_ff {d_ff}, ' if d_ff else ''}"
        f"vocab {shape['vocab_size']}",
        *_experts_line(shape),
        f"  cluster   {document['gpus']:,} x {document['gpu']} ({document['dtype']}, MFU "
        f"{document['mfu']:g}), TP within nodes of {document['node_size']}",
        *_links_line(document.get("links")),
        f"  batch     {document['global_batch_sequences']:,} sequences of "
        f"{document['seq_len']:,} tokens ({document['global_batch_tokens']:,} tokens)",
        f"  searched  {document['examined']:,} layouts; {document['fitting']:,} fit with a "
        f"{document['allowance']:.0%} allowance (ZeRO up to {document['max_zero']})",
    ]
    layouts = document["layouts"]
    if not layouts:
        lines.append("  no layout fits")
        return "\n".join(lines)
    moe = "n_experts" in shape
    ep_head = f"{'EP':>3} " if moe else ""
    header = (
        f"{'#':>2} {'TP':>3} {'PP':>4} {'DP':>6} {'CP':>3} {ep_head}{'ZeRO':>4} {'mb':>3} "
        f"{'v':>2} {'recompute':>9} {'m':>6} {'bubble':>6} {'step s':>9} {'comm s':>7} "
        f"{'weights':>8} {'grads':>7} {'optim':>7} "
        f"{'activ':>7} {'head':>5} {'total GB':>9}"
    )
    lines += ["", header]
    for i, c in enumerate(layouts[:top], start=1):
        lay, mem = c["layout"], c["memory"]
        ep = f"{lay['ep']:>3} " if moe else ""
        lines.append(
            f"{i:>2} {lay['tp']:>3} {lay['pp']:>4} {lay['dp']:>6} {lay.get('cp', 1):>3} "
            f"{ep}{lay['zero']:>4} {lay['micro_batch']:>3} {lay['virtual_stages']:>2} "
            f"{lay['recompute']:>9} {c['micro_batches']:>6} {c['bubble']:>6.1%} "
            f"{c['step_seconds']:>9.3g} {c.get('communication_seconds', 0.0):>7.3g} "
            f"{_gb(mem['weights_bytes']):>8} {_gb(mem['gradients_bytes']):>7} "
            f"{_gb(mem['optimizer_bytes']):>7} {_gb(mem['activations_bytes']):>7} "
            f"{_gb(mem['output_head_bytes']):>5} {_gb(mem['required_bytes']):>9}"
        )
    best = layouts[0]
    lines += [
        "",
        f"best: {best['step_seconds']:.3g} s a step = compute {best['compute_seconds']:.3g} s"
        f" + recomputation {best['recompute_seconds']:.3g} s + communication "
        f"{best.get('communication_seconds', 0.0):.3g} s + bubble "
        f"{best['bubble_seconds']:.3g} s; fullest GPU on stage {best['memory']['peak_stage']}: "
        f"{_gb(best['memory']['required_bytes'])} of {_gb(best['memory']['gpu_memory_bytes'])} GB "
        "with the allowance",
        *_communication_line(best.get("communication")),
        f"note: {document['note']}",
        "memory model and its derivation: docs/memory.md",
    ]
    return "\n".join(lines)


def _experts_line(shape: dict[str, Any]) -> list[str]:
    """A mixture-of-experts model's experts and attention, one line (none for a dense model)."""
    if "n_experts" not in shape:
        return []
    shared = f" + {shape['n_shared_experts']} shared" if shape["n_shared_experts"] else ""
    n = shape["n_dense_layers"]
    dense = f"; first {n} layer{'s' if n > 1 else ''} dense" if n else ""
    return [
        f"  experts   {shape['n_experts']} routed experts (top-{shape['top_k']}){shared}, "
        f"{shape['d_ff_expert']} wide{dense}; {shape['attention'].upper()} attention"
    ]


def _links_line(links: dict[str, Any] | None) -> list[str]:
    if links is None:
        return []
    assumed = links["assumed"]
    said = f"; assumed (not in the GPU table): {', '.join(assumed)}" if assumed else ""
    return [
        f"  links     {links['intra_node_gb_per_s']:g} GB/s within a node, "
        f"{links['inter_node_gb_per_s']:g} GB/s across nodes (one direction per GPU){said}"
    ]


def _communication_line(comm: dict[str, Any] | None) -> list[str]:
    if comm is None:
        return []
    parts = [
        ("TP", comm["tensor_parallel_seconds"]),
        ("CP", comm["context_parallel_seconds"]),
        ("PP sends", comm["pipeline_seconds"]),
        ("EP", comm["expert_parallel_seconds"]),
    ]
    shown = ", ".join(f"{name} {value:.3g} s" for name, value in parts if value)
    dp = (
        f"DP {comm['data_parallel_exposed_seconds']:.3g} s exposed of "
        f"{comm['data_parallel_seconds']:.3g} s"
    )
    return [f"communication: {', '.join(filter(None, (shown, dp)))}"]
