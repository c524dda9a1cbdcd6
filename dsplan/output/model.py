"""Text of ``dsplan model`` and ``dsplan shapes``: the documents their library calls return, as lines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.units import count, sci

if TYPE_CHECKING:
    from dsplan.model.moe_shape import MoeSearchOptions


def model_text(doc: dict[str, Any]) -> str:
    s = doc["shape"]
    seq = "default" if doc["seq_len_source"] == "default" else "--seq-len"
    lines = [
        f"{s['n_layers']} layers x {s['d_model']} wide, {s['n_heads']} heads ({s['n_kv_heads']} KV) "
        f"of {s['head_dim']}, d_ff {s['d_ff']}, vocab {s['vocab_size']}, seq {s['seq_len']} "
        f"({seq}), {'tied' if s['tied_embeddings'] else 'untied'} embeddings",
    ]
    if "hf_config" in doc:
        hf = doc["hf_config"]
        context = hf["max_position_embeddings"]
        lines.append(f"from {hf['path']}: {hf['family']} (model_type {hf['model_type']})")
        if context is not None:
            lines.append(
                f"context window {context} tokens (max_position_embeddings): not the training "
                "sequence length"
            )
        beyond = hf["beyond_llama_block"]
        lines.append(
            f"counted beyond a LLaMA block: {', '.join(beyond)}" if beyond else "a LLaMA block"
        )
    lines += [
        "",
        f"{'':28}{'exact':>22}{'Eq. 2':>22}",
        f"{'M (FLOPs/token)':28}{sci(doc['flops_per_token']):>22}{sci(doc['flops_per_token_eq2']):>22}",
        f"{'N1 non-embedding params':28}{doc['params_non_embedding']:>22,}{doc['params_non_embedding_eq2']:>22,}",
        f"{'N2 total params':28}{doc['params_total']:>22,}{doc['params_total_eq2']:>22,}",
        f"{'6 N1 / M':28}{doc['ratio_6n1_to_m']:>22.3f}{doc['ratio_6n1_to_m_eq2']:>22.3f}",
        f"{'6 N2 / M':28}{doc['ratio_6n2_to_m']:>22.3f}{doc['ratio_6n2_to_m_eq2']:>22.3f}",
        f"{'hardware FLOPs/token':28}{sci(doc['flops_per_token_hardware']):>22}   (M + output head 6 V d)",
    ]
    lines += _training_and_cost(doc, "tokens_per_param", "tokens/parameter", "", "")
    lines += ["", f"convention: {doc['attention_convention']}"]
    return "\n".join(lines)


def moe_text(doc: dict[str, Any]) -> str:
    s = doc["shape"]
    seq = "default" if doc["seq_len_source"] == "default" else "--seq-len"
    if s["mla"] is None:
        attention = f"{s['n_heads']} heads ({s['n_kv_heads']} KV) of {s['head_dim']}"
    else:
        m = s["mla"]
        q = f"q_lora_rank {m['q_lora_rank']}" if m["q_lora_rank"] else "no q compression"
        attention = (
            f"MLA: {s['n_heads']} heads, {q}, kv_lora_rank {m['kv_lora_rank']}, "
            f"qk {m['qk_nope_head_dim']}+{m['qk_rope_head_dim']}, v {m['v_head_dim']}"
        )
    shared = (
        f" + {s['n_shared_experts']} shared of {s['d_ff_shared']}" if s["n_shared_experts"] else ""
    )
    dense = (
        f"; {s['n_dense_layers']} dense layers of d_ff {s['d_ff']}" if s["n_dense_layers"] else ""
    )
    lines = [
        f"{s['n_layers']} layers x {s['d_model']} wide, {attention}",
        f"experts: top {s['top_k']} of {s['n_experts']} routed of {s['d_ff_expert']}{shared}"
        f"{dense}; vocab {s['vocab_size']}, seq {s['seq_len']} ({seq}), "
        f"{'tied' if s['tied_embeddings'] else 'untied'} embeddings",
    ]
    if "hf_config" in doc:
        hf = doc["hf_config"]
        context = hf["max_position_embeddings"]
        lines.append(f"from {hf['path']}: {hf['family']} (model_type {hf['model_type']})")
        if context is not None:
            lines.append(
                f"context window {context} tokens (max_position_embeddings): not the training "
                "sequence length"
            )
    rows = [
        ("total params", doc["params_total"]),
        ("  non-embedding", doc["params_non_embedding"]),
        ("activated params/token", doc["params_activated"]),
        ("  with output head only", doc["params_activated_with_head"]),
        ("  non-embedding", doc["params_activated_non_embedding"]),
        ("routed experts", doc["params_routed_experts"]),
        ("shared experts", doc["params_shared_experts"]),
        ("routers", doc["params_routers"]),
        ("attention (+ layer norms)", doc["params_attention"]),
        ("dense feed-forward layers", doc["params_dense_ffn"]),
    ]
    if s["mtp_layers"]:
        rows.append((f"MTP modules ({s['mtp_layers']}, excluded)", doc["params_mtp"]))
    lines += [""] + [f"{label:32}{value:>22,}" for label, value in rows]
    lines += [
        "",
        f"{'M (FLOPs/token, activated)':32}{sci(doc['flops_per_token']):>22}",
        f"{'  attention term':32}{sci(doc['attention_flops_per_token']):>22}",
        f"{'dense Eq. 2 M, same activated N':32}{sci(doc['flops_per_token_dense_eq2']):>22}",
        f"{'6 N_activated / M':32}{doc['ratio_6na_to_m']:>22.3f}",
        f"{'hardware FLOPs/token':32}{sci(doc['flops_per_token_hardware']):>22}   (M + output head 6 V d)",
    ]
    lines += _training_and_cost(
        doc,
        "tokens_per_activated_param",
        "tokens/activated parameter",
        " at the activated C (an assumption for MoE)",
        "; memory of all parameters",
    )
    lines += [
        "",
        f"convention: {doc['attention_convention']}",
        f"convention (activated): {doc['activated_convention']}",
    ]
    return "\n".join(lines)


def shapes_text(rows: list[dict[str, Any]], target: float) -> str:
    """``dsplan shapes M`` as text: the dense search's candidates, one a row."""
    lines = [f"target M = {sci(target)} FLOPs/token", ""]
    lines.append(
        f"{'layers':>7} {'d_model':>8} {'heads':>6} {'kv':>4} {'d_ff':>7} {'d/L':>6} {'M error':>9} {'params':>8}"
    )
    for r in rows:
        lines.append(
            f"{r['n_layers']:>7} {r['d_model']:>8} {r['n_heads']:>6} {r['n_kv_heads']:>4} {r['d_ff']:>7} "
            f"{r['aspect_ratio']:>6.1f} {r['relative_error']:>+9.2%} {count(r['params_total']):>8}"
        )
    return "\n".join(lines)


def moe_shapes_text(rows: list[dict[str, Any]], target: float, options: MoeSearchOptions) -> str:
    """``dsplan shapes M --moe`` as text: the MoE search's candidates, one a row."""
    top_k, n_experts, mla = options.top_k, options.n_experts, options.mla
    n_shared_experts, first_dense_layers = options.n_shared_experts, options.n_dense_layers
    attention = "MLA" if mla else "GQA/MHA"
    lines = [
        f"target activated M = {sci(target)} FLOPs/token; top {top_k} of {n_experts} routed "
        f"experts, {n_shared_experts} shared, {first_dense_layers} dense layers, {attention}",
        "",
        f"{'layers':>7} {'d_model':>8} {'heads':>6} {'expert':>7} {'d/L':>6} {'M error':>9} "
        f"{'total':>8} {'activated':>10}",
    ]
    for r in rows:
        lines.append(
            f"{r['n_layers']:>7} {r['d_model']:>8} {r['n_heads']:>6} {r['d_ff_expert']:>7} "
            f"{r['aspect_ratio']:>6.1f} {r['relative_error']:>+9.2%} "
            f"{count(r['params_total']):>8} {count(r['params_activated']):>10}"
        )
    return "\n".join(lines)


def _training_and_cost(
    doc: dict[str, Any], per_param: str, per_param_unit: str, law_note: str, cost_note: str
) -> list[str]:
    """The training lines (C = M x D, the hyperparameter law's learning rate and batch) and the
    hardware rows of a model report, when it has them; ``per_param`` names its tokens-per-parameter
    key, ``law_note`` and ``cost_note`` what an MoE report adds."""
    lines: list[str] = []
    if "training" in doc:
        t, h = doc["training"], doc["hyperparameters"]
        # The DeepSeek files carry Eq. 1 themselves; other presets name a hyperparameter law file.
        label = f"Eq. 1 ({h['preset']})" if h["law"] is None else f"{h['law']} law"
        lr = "undefined" if h["learning_rate"] is None else f"{h['learning_rate']:.3e}"
        batch = (
            "none"
            if h["batch_size_tokens"] is None
            else f"{count(h['batch_size_tokens'])} tokens = {h['batch_size_sequences']:.1f} sequences"
        )
        lines += [
            "",
            f"C = M x D = {sci(t['compute_flops'])} FLOPs over {count(t['tokens'])} tokens "
            f"({t[per_param]:.1f} {per_param_unit})",
            f"{label}{law_note}: peak learning rate {lr}, batch {batch}",
            *h["notes"],
        ]
    if "cost" in doc:
        from dsplan.output.hardware_text import cost_rows

        cost = doc["cost"]
        lines += ["", f"Hardware ({cost['gpu']}, {cost['dtype']}{cost_note})"]
        lines += [f"  {label:<22}{value}" for label, value in cost_rows(cost)]
    return lines
