"""The text of an MoE plan (``dsplan budget C --moe``): label and value lines, no rich."""

from __future__ import annotations

from typing import Any

from dsplan.units import count, sci, si


def moe_plan_text(doc: dict[str, Any]) -> str:
    """One MoE plan document as aligned ``label  value`` lines under section titles."""
    a, o, h, t = doc["architecture"], doc["optimal"], doc["hyperparameters"], doc["training"]
    c = doc["compute_flops"]
    if a["attention"] == "mla":
        m = a["mla"]
        q = f"q_lora_rank {m['q_lora_rank']}" if m["q_lora_rank"] else "no query compression"
        attention = (
            f"MLA, {a['n_heads']} heads ({q}, kv_lora_rank {m['kv_lora_rank']}, "
            f"qk {m['qk_nope_head_dim']}+{m['qk_rope_head_dim']}, v {m['v_head_dim']})"
        )
    else:
        attention = f"{a['n_heads']} heads of {a['head_dim']}, {a['n_kv_heads']} KV heads"
    shared = (
        f" + {a['n_shared_experts']} shared of {a['d_ff_shared']}" if a["n_shared_experts"] else ""
    )
    dense = (
        f"; first {a['n_dense_layers']} layers dense, d_ff {a['d_ff']}"
        if a["n_dense_layers"]
        else ""
    )
    rows: list[tuple[str, str]] = [
        ("Optimal allocation (Eq. 4 on the activated compute: dsplan's assumption)", ""),
        ("  M_opt", f"{sci(o['flops_per_token'])} FLOPs/token"),
        ("  D_opt", f"{sci(o['tokens'])} tokens ({count(o['tokens'])})"),
        ("Architecture (mixture-of-experts, exact counts)", ""),
        (
            "  shape",
            f"{a['n_layers']} layers x {a['d_model']} wide (d/L {a['aspect_ratio']:.0f}), "
            f"{attention}",
        ),
        (
            "  experts",
            f"top {a['top_k']} of {a['n_experts']} routed of {a['d_ff_expert']}{shared}{dense}",
        ),
        (
            "  M (activated)",
            f"{sci(a['flops_per_token'])} FLOPs/token, {a['flops_per_token_error']:+.2%} vs M_opt",
        ),
        (
            "  parameters",
            f"{count(a['params_total'])} total, {count(a['params_activated'])} activated "
            f"(embeddings and head included; vocab {a['vocab_size']})",
        ),
        ("Training", ""),
        (
            "  tokens",
            f"{sci(t['tokens'])} ({count(t['tokens'])}), {t['tokens_per_param']:.1f} per "
            f"parameter, {t['tokens_per_activated_param']:.1f} per activated parameter",
        ),
        ("Hyperparameters (Eq. 1 at C)", ""),
        ("  peak learning rate", f"{h['learning_rate']:.3e}"),
        (
            "  batch",
            f"{h['batch_size_sequences']} sequences of {doc['inputs']['seq_len']} "
            f"({h['tokens_per_step']} tokens per step)",
        ),
        ("Schedule (multi-step)", ""),
        (
            "  steps",
            f"{doc['schedule']['total_steps']} total, {doc['schedule']['warmup_steps']} warm-up",
        ),
    ]
    if "cost" in doc:
        from dsplan.output.hardware_text import cost_rows

        cost = doc["cost"]
        rows.append((f"Hardware ({cost['gpu']}, {cost['dtype']}; memory of all parameters)", ""))
        rows += [(f"  {label}", value) for label, value in cost_rows(cost)]
    width = max(len(label) for label, value in rows if value)
    title = f"dsplan budget {sci(c)} FLOPs ({si(c, 'FLOPs')}) --moe"
    lines = [title]
    for label, value in rows:
        lines.append(label if not value else f"{label.ljust(width)}  {value}")
    lines.append(f"note: {doc['moe_assumption']}")
    return "\n".join(lines)
