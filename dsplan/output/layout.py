"""The text of ``dsplan layout``: the search's inputs, the best layouts, memory by part and time."""

from __future__ import annotations

from typing import Any

GB = 1e9


def _gb(value: float) -> str:
    return f"{value / GB:,.1f}"


def layout_text(document: dict[str, Any], top: int) -> str:
    """The best ``top`` layouts of a ``LayoutSearch.to_dict()`` document, as plain text."""
    shape = document["shape"]
    lines = [
        f"dsplan layout: {shape['n_layers']} layers x {shape['d_model']} wide, "
        f"{shape['n_heads']} heads / {shape['n_kv_heads']} KV heads, d_ff {shape['d_ff']}, "
        f"vocab {shape['vocab_size']}",
        f"  cluster   {document['gpus']:,} x {document['gpu']} ({document['dtype']}, MFU "
        f"{document['mfu']:g}), TP within nodes of {document['node_size']}",
        f"  batch     {document['global_batch_sequences']:,} sequences of "
        f"{document['seq_len']:,} tokens ({document['global_batch_tokens']:,} tokens)",
        f"  searched  {document['examined']:,} layouts; {document['fitting']:,} fit with a "
        f"{document['allowance']:.0%} allowance (ZeRO up to {document['max_zero']})",
    ]
    layouts = document["layouts"]
    if not layouts:
        lines.append("  no layout fits")
        return "\n".join(lines)
    header = (
        f"{'#':>2} {'TP':>3} {'PP':>4} {'DP':>6} {'ZeRO':>4} {'mb':>3} {'v':>2} {'recompute':>9} "
        f"{'m':>6} {'bubble':>6} {'step s':>9} {'weights':>8} {'grads':>7} {'optim':>7} "
        f"{'activ':>7} {'head':>5} {'total GB':>9}"
    )
    lines += ["", header]
    for i, c in enumerate(layouts[:top], start=1):
        lay, mem = c["layout"], c["memory"]
        lines.append(
            f"{i:>2} {lay['tp']:>3} {lay['pp']:>4} {lay['dp']:>6} {lay['zero']:>4} "
            f"{lay['micro_batch']:>3} {lay['virtual_stages']:>2} {lay['recompute']:>9} "
            f"{c['micro_batches']:>6} {c['bubble']:>6.1%} {c['step_seconds']:>9.3g} "
            f"{_gb(mem['weights_bytes']):>8} {_gb(mem['gradients_bytes']):>7} "
            f"{_gb(mem['optimizer_bytes']):>7} {_gb(mem['activations_bytes']):>7} "
            f"{_gb(mem['output_head_bytes']):>5} {_gb(mem['required_bytes']):>9}"
        )
    best = layouts[0]
    lines += [
        "",
        f"best: {best['step_seconds']:.3g} s a step = compute {best['compute_seconds']:.3g} s"
        f" + recomputation {best['recompute_seconds']:.3g} s + bubble "
        f"{best['bubble_seconds']:.3g} s; fullest GPU on stage {best['memory']['peak_stage']}: "
        f"{_gb(best['memory']['required_bytes'])} of {_gb(best['memory']['gpu_memory_bytes'])} GB "
        "with the allowance",
        f"note: {document['note']}",
        "memory model and its derivation: docs/memory.md",
    ]
    return "\n".join(lines)
