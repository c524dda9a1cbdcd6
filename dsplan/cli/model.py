"""``dsplan model`` (counts of a given shape) and ``dsplan shapes M`` (candidate shapes for a target M)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dsplan.catalog.presets import load_preset
from dsplan.cli._hardware import (
    DaysOption,
    DtypeOption,
    GpuOption,
    GpusOption,
    HardwareOptions,
    MaxCostOption,
    MfuOption,
    PriceOption,
    finish_costs,
)
from dsplan.cli._options import (
    AspectRatioOption,
    HeadDimOption,
    HeadsMultipleOption,
    KvHeadsOption,
    LayersMultipleOption,
    SeqLenOption,
    VocabSizeOption,
)
from dsplan.cli._output import (
    Format,
    dumps,
    exit_on_error,
    format_option,
    out,
    require_finite,
)
from dsplan.errors import InputError

if TYPE_CHECKING:
    from dsplan.model.hf_moe import HfMoeConfig
    from dsplan.model.moe import MoeShape
    from dsplan.planning.cost import Hardware
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.flops import Shape, counts
from dsplan.model.shape import SearchOptions, search
from dsplan.planning.model_report import model_report
from dsplan.units import count, parse_positive, positive_int, sci

FORMATS = (Format.text, Format.json)


def model(
    n_layers: Annotated[int | None, typer.Option(help="Number of layers.")] = None,
    d_model: Annotated[int | None, typer.Option(help="Model width.")] = None,
    n_heads: Annotated[
        int | None, typer.Option(help="Attention heads [default: d_model / 128].")
    ] = None,
    n_kv_heads: Annotated[int | None, typer.Option(help="KV heads [default: = heads].")] = None,
    d_ff: Annotated[
        int | None,
        typer.Option(help="Feed-forward width [default: 8/3 d_model rounded up to 256]."),
    ] = None,
    vocab_size: Annotated[
        int | None, typer.Option(help=f"Vocabulary size [default: {DEFAULT_VOCAB_SIZE}].")
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option(
            help=f"Training sequence length in tokens [default: {DEFAULT_SEQ_LEN}]; with "
            "--hf-config too (max_position_embeddings is the context window, not this)."
        ),
    ] = None,
    tied_embeddings: Annotated[
        bool, typer.Option("--tied-embeddings", help="Share input embedding and output head.")
    ] = False,
    n_experts: Annotated[
        int | None,
        typer.Option(help="Routed experts per MoE layer: counts a mixture-of-experts shape."),
    ] = None,
    top_k: Annotated[
        int | None, typer.Option(help="Routed experts per token (with --n-experts).")
    ] = None,
    d_ff_expert: Annotated[
        int | None, typer.Option(help="A routed expert's feed-forward width (with --n-experts).")
    ] = None,
    n_shared_experts: Annotated[
        int | None,
        typer.Option(help="Shared experts per MoE layer, as wide as a routed one [default: 0]."),
    ] = None,
    first_dense_layers: Annotated[
        int | None,
        typer.Option(help="Leading layers with a dense feed-forward layer of --d-ff [default: 0]."),
    ] = None,
    q_lora_rank: Annotated[
        int | None,
        typer.Option(help="MLA: query latent rank [default: 0, no query compression]."),
    ] = None,
    kv_lora_rank: Annotated[
        int | None, typer.Option(help="MLA: key/value latent rank (gives MLA attention).")
    ] = None,
    qk_nope_head_dim: Annotated[
        int | None, typer.Option(help="MLA: query/key head width without RoPE [default: 128].")
    ] = None,
    qk_rope_head_dim: Annotated[
        int | None, typer.Option(help="MLA: query/key head width with RoPE [default: 64].")
    ] = None,
    v_head_dim: Annotated[
        int | None, typer.Option(help="MLA: value head width [default: 128].")
    ] = None,
    hf_config: Annotated[
        Path | None,
        typer.Option(
            help="A Hugging Face config.json, counted as transformers builds it (Llama, Mistral, "
            "Qwen2/3, Gemma/Gemma 2, OLMo/OLMo 2, Phi-3; mixture-of-experts: DeepSeek-V2/V3, "
            "Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, gpt-oss; others are refused)."
        ),
    ] = None,
    tokens: Annotated[
        str | None,
        typer.Option(help="Training tokens D: also report C = M D and Eq. 1's hyperparameters."),
    ] = None,
    preset: Annotated[
        str, typer.Option(help="Preset for the hyperparameter laws (with --tokens).")
    ] = "current",
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
    gpu: GpuOption = None,
    gpus: GpusOption = None,
    mfu: MfuOption = None,
    dtype: DtypeOption = None,
    price_per_gpu_hour: PriceOption = None,
    days: DaysOption = None,
    max_cost_usd: MaxCostOption = None,
) -> None:
    """Exact parameter and FLOP counts of a shape, beside the paper's Eq. 2.

    Examples:

        dsplan model --n-layers 30 --d-model 4096

        dsplan model --n-layers 95 --d-model 8192 --n-kv-heads 8 --tokens 2e12 --format json

        dsplan model --hf-config config.json --seq-len 8192

        dsplan model --n-layers 61 --d-model 7168 --n-experts 256 --top-k 8 --d-ff-expert 2048 --n-shared-experts 1 --first-dense-layers 3 --d-ff 18432 --q-lora-rank 1536 --kv-lora-rank 512

        dsplan model --n-layers 95 --d-model 8192 --n-kv-heads 8 --tokens 2e12 --gpu h800 --gpus 1024
    """
    with exit_on_error():
        hardware = HardwareOptions(
            gpu, gpus, mfu, dtype, price_per_gpu_hour, days, max_cost_usd
        ).resolve()
        if hardware is not None and tokens is None:
            raise InputError("--gpu needs --tokens D: the cost is for training D tokens")
        if seq_len is not None:
            positive_int(seq_len, "--seq-len")
        train_seq_len = DEFAULT_SEQ_LEN if seq_len is None else seq_len
        hf = None
        moe_given = {
            "--n-experts": n_experts,
            "--top-k": top_k,
            "--d-ff-expert": d_ff_expert,
            "--n-shared-experts": n_shared_experts,
            "--first-dense-layers": first_dense_layers,
            "--q-lora-rank": q_lora_rank,
            "--kv-lora-rank": kv_lora_rank,
            "--qk-nope-head-dim": qk_nope_head_dim,
            "--qk-rope-head-dim": qk_rope_head_dim,
            "--v-head-dim": v_head_dim,
        }
        if hf_config is not None:
            given = {
                **moe_given,
                "--n-layers": n_layers,
                "--d-model": d_model,
                "--n-heads": n_heads,
                "--n-kv-heads": n_kv_heads,
                "--d-ff": d_ff,
                "--vocab-size": vocab_size,
                "--tied-embeddings": tied_embeddings or None,
            }
            clash = [flag for flag, value in given.items() if value is not None]
            if clash:
                raise InputError(f"give --hf-config or {', '.join(clash)}, not both")
            from dsplan.model.hf_moe import HfMoeConfig, read_any_hf_config

            read = read_any_hf_config(hf_config, seq_len=train_seq_len)
            if isinstance(read, HfMoeConfig):
                _moe(read.shape, read, seq_len is None, tokens, preset, hardware, format)
                return
            hf = read
            shape = hf.shape
        elif any(value is not None for value in moe_given.values()):
            if n_layers is None or d_model is None:
                raise InputError("give --n-layers and --d-model, or --hf-config")
            _moe(
                _moe_shape_from_flags(
                    n_layers,
                    d_model,
                    n_heads=n_heads,
                    n_kv_heads=n_kv_heads,
                    d_ff=d_ff,
                    vocab_size=vocab_size,
                    seq_len=train_seq_len,
                    tied_embeddings=tied_embeddings,
                    flags=moe_given,
                ),
                None,
                seq_len is None,
                tokens,
                preset,
                hardware,
                format,
            )
            return
        else:
            if n_layers is None or d_model is None:
                raise InputError("give --n-layers and --d-model, or --hf-config")
            shape = Shape.build(
                n_layers,
                d_model,
                n_heads=n_heads,
                n_kv_heads=n_kv_heads,
                d_ff=d_ff,
                vocab_size=DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size,
                seq_len=train_seq_len,
                tied_embeddings=tied_embeddings,
            )
        report = model_report(
            shape,
            seq_len_source="default" if seq_len is None else "given",
            hf_config=hf,
            tokens=None if tokens is None else parse_positive(tokens, "--tokens"),
            preset=None if tokens is None else load_preset(preset),
            hardware=hardware,
        )
        document = report.to_dict()
        require_finite(document)
        out(dumps(document) if format is Format.json else _model_text(document))
        finish_costs([] if report.cost is None else [report.cost])


def _moe_shape_from_flags(
    n_layers: int,
    d_model: int,
    *,
    n_heads: int | None,
    n_kv_heads: int | None,
    d_ff: int | None,
    vocab_size: int | None,
    seq_len: int,
    tied_embeddings: bool,
    flags: dict[str, int | None],
) -> MoeShape:
    from dsplan.model.moe import Mla, MoeShape

    for flag in ("--n-experts", "--top-k", "--d-ff-expert"):
        if flags[flag] is None:
            raise InputError(
                f"a mixture-of-experts shape needs --n-experts, --top-k and --d-ff-expert; give {flag}"
            )
    mla_flags = ("--q-lora-rank", "--qk-nope-head-dim", "--qk-rope-head-dim", "--v-head-dim")
    mla = None
    if flags["--kv-lora-rank"] is not None:
        if n_kv_heads is not None:
            raise InputError(
                "MLA has a key/value head per query head: give --kv-lora-rank or --n-kv-heads, not both"
            )
        mla = Mla(
            kv_lora_rank=_flag(flags, "--kv-lora-rank", 0),
            qk_nope_head_dim=_flag(flags, "--qk-nope-head-dim", 128),
            qk_rope_head_dim=_flag(flags, "--qk-rope-head-dim", 64),
            v_head_dim=_flag(flags, "--v-head-dim", 128),
            q_lora_rank=_flag(flags, "--q-lora-rank", 0),
        )
    else:
        stray = [flag for flag in mla_flags if flags[flag] is not None]
        if stray:
            raise InputError(f"{', '.join(stray)} need --kv-lora-rank (MLA attention)")
    if n_heads is None:
        if d_model % 128:
            raise InputError(
                f"give --n-heads: the default head size 128 does not divide --d-model ({d_model})"
            )
        n_heads = d_model // 128
    n_dense = _flag(flags, "--first-dense-layers", 0)
    if n_dense and d_ff is None:
        raise InputError("--first-dense-layers needs --d-ff, the dense layers' width")
    return MoeShape(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=0 if n_kv_heads is None else n_kv_heads,
        n_experts=_flag(flags, "--n-experts", 0),
        top_k=_flag(flags, "--top-k", 0),
        d_ff_expert=_flag(flags, "--d-ff-expert", 0),
        n_shared_experts=_flag(flags, "--n-shared-experts", 0),
        n_dense_layers=n_dense,
        d_ff=0 if d_ff is None else d_ff,
        vocab_size=DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size,
        seq_len=seq_len,
        tied_embeddings=tied_embeddings,
        mla=mla,
    )


def _flag(flags: dict[str, int | None], flag: str, default: int) -> int:
    value = flags[flag]
    if value is None:
        return default
    if flag in ("--n-shared-experts", "--first-dense-layers", "--q-lora-rank"):
        if isinstance(value, bool) or value < 0:
            raise InputError(f"{flag} must be 0 or a positive integer, got {value!r}")
        return value
    return positive_int(value, flag)


def _moe(
    shape: MoeShape,
    hf: HfMoeConfig | None,
    seq_len_default: bool,
    tokens: str | None,
    preset: str,
    hardware: Hardware | None,
    format: Format,
) -> None:
    from dsplan.planning.moe_report import moe_model_report

    report = moe_model_report(
        shape,
        seq_len_source="default" if seq_len_default else "given",
        hf_config=hf,
        tokens=None if tokens is None else parse_positive(tokens, "--tokens"),
        preset=None if tokens is None else load_preset(preset),
        hardware=hardware,
    )
    document = report.to_dict()
    require_finite(document)
    out(dumps(document) if format is Format.json else _moe_text(document))
    finish_costs([] if report.cost is None else [report.cost])


def _moe_text(doc: dict[str, Any]) -> str:
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
    if "training" in doc:
        t, h = doc["training"], doc["hyperparameters"]
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
            f"({t['tokens_per_activated_param']:.1f} tokens/activated parameter)",
            f"{label} at the activated C (an assumption for MoE): peak learning rate {lr}, "
            f"batch {batch}",
            *h["notes"],
        ]
    if "cost" in doc:
        from dsplan.output.text import cost_rows

        cost = doc["cost"]
        lines += ["", f"Hardware ({cost['gpu']}, {cost['dtype']}; memory of all parameters)"]
        lines += [f"  {label:<22}{value}" for label, value in cost_rows(cost)]
    lines += [
        "",
        f"convention: {doc['attention_convention']}",
        f"convention (activated): {doc['activated_convention']}",
    ]
    return "\n".join(lines)


def _model_text(doc: dict[str, Any]) -> str:
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
            f"({t['tokens_per_param']:.1f} tokens/parameter)",
            f"{label}: peak learning rate {lr}, batch {batch}",
            *h["notes"],
        ]
    if "cost" in doc:
        from dsplan.output.text import cost_rows

        cost = doc["cost"]
        lines += ["", f"Hardware ({cost['gpu']}, {cost['dtype']})"]
        lines += [f"  {label:<22}{value}" for label, value in cost_rows(cost)]
    lines += ["", f"convention: {doc['attention_convention']}"]
    return "\n".join(lines)


def shapes(
    flops_per_token: Annotated[
        str, typer.Argument(help="Target M in FLOPs per token, e.g. 4.2e10.")
    ],
    aspect_ratio: AspectRatioOption = 128.0,
    head_dim: HeadDimOption = None,
    n_kv_heads: KvHeadsOption = None,
    layers_multiple: LayersMultipleOption = 1,
    heads_multiple: HeadsMultipleOption = None,
    vocab_size: VocabSizeOption = DEFAULT_VOCAB_SIZE,
    seq_len: SeqLenOption = DEFAULT_SEQ_LEN,
    limit: Annotated[int, typer.Option(help="How many candidates to list.")] = 5,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
    moe: Annotated[
        bool,
        typer.Option(
            "--moe",
            help="Mixture-of-experts shapes whose activated M is the target (docs/moe.md). Needs "
            "--n-experts and --top-k.",
        ),
    ] = False,
    n_experts: Annotated[
        int | None, typer.Option(help="--moe: routed experts per MoE layer.", show_default=False)
    ] = None,
    top_k: Annotated[
        int | None, typer.Option(help="--moe: routed experts per token.", show_default=False)
    ] = None,
    n_shared_experts: Annotated[int, typer.Option(help="--moe: shared experts per MoE layer.")] = 0,
    first_dense_layers: Annotated[
        int, typer.Option(help="--moe: leading layers with a dense feed-forward layer.")
    ] = 0,
    mla: Annotated[
        bool,
        typer.Option("--mla", help="--moe: Multi-head Latent Attention (DeepSeek-V2/V3's sizes)."),
    ] = False,
) -> None:
    """The best few shapes for a target M, with their M error and aspect ratio.

    Examples:

        dsplan shapes 4.25e10

        dsplan shapes 4.327e11 --aspect-ratio 86 --n-kv-heads 8 --format json

        dsplan shapes 2.76e11 --moe --n-experts 256 --top-k 8 --n-shared-experts 1 --mla
    """
    with exit_on_error():
        target = parse_positive(flops_per_token, "target M")
        positive_int(limit, "--limit")
        moe_given = {
            "--n-experts": n_experts is not None,
            "--top-k": top_k is not None,
            "--n-shared-experts": n_shared_experts != 0,
            "--first-dense-layers": first_dense_layers != 0,
            "--mla": mla,
        }
        if moe:
            dense_only = {
                "--head-dim": head_dim is not None,
                "--n-kv-heads": n_kv_heads is not None,
                "--layers-multiple": layers_multiple != 1,
                "--heads-multiple": heads_multiple is not None,
            }
            stray = [flag for flag, given in dense_only.items() if given]
            if stray:
                raise InputError(f"{', '.join(stray)} cannot be used with --moe")
            _moe_shapes(
                target,
                limit,
                format,
                n_experts=n_experts,
                top_k=top_k,
                n_shared_experts=n_shared_experts,
                first_dense_layers=first_dense_layers,
                mla=mla,
                aspect_ratio=aspect_ratio,
                vocab_size=vocab_size,
                seq_len=seq_len,
            )
            return
        stray = [flag for flag, given in moe_given.items() if given]
        if stray:
            raise InputError(f"{', '.join(stray)} search mixture-of-experts shapes: add --moe")
        options = SearchOptions(
            aspect_ratio=aspect_ratio,
            head_dim=head_dim,
            n_kv_heads=n_kv_heads,
            layers_multiple=layers_multiple,
            heads_multiple=heads_multiple,
            vocab_size=vocab_size,
            seq_len=seq_len,
        )
        found = search(target, options, limit=limit)
        rows = []
        for cand in found:
            row = cand.to_dict()
            row["params_total"] = counts(cand.shape).params_total
            rows.append(row)
        if format is Format.json:
            out(dumps({"schema_version": 1, "target_flops_per_token": target, "candidates": rows}))
            return
        lines = [f"target M = {sci(target)} FLOPs/token", ""]
        lines.append(
            f"{'layers':>7} {'d_model':>8} {'heads':>6} {'kv':>4} {'d_ff':>7} {'d/L':>6} {'M error':>9} {'params':>8}"
        )
        for r in rows:
            lines.append(
                f"{r['n_layers']:>7} {r['d_model']:>8} {r['n_heads']:>6} {r['n_kv_heads']:>4} {r['d_ff']:>7} "
                f"{r['aspect_ratio']:>6.1f} {r['relative_error']:>+9.2%} {count(r['params_total']):>8}"
            )
        out("\n".join(lines))


def _moe_shapes(
    target: float,
    limit: int,
    format: Format,
    *,
    n_experts: int | None,
    top_k: int | None,
    n_shared_experts: int,
    first_dense_layers: int,
    mla: bool,
    aspect_ratio: float,
    vocab_size: int,
    seq_len: int,
) -> None:
    """``dsplan shapes M --moe``: the MoE shape search's best candidates."""
    # Imported here: only --moe needs the MoE model (start-up).
    from dsplan.model.moe_shape import MoeSearchOptions, search_moe

    for flag, value in (("--n-experts", n_experts), ("--top-k", top_k)):
        if value is None:
            raise InputError(f"--moe needs {flag}")
    assert n_experts is not None and top_k is not None
    positive_int(n_experts, "--n-experts")
    positive_int(top_k, "--top-k")
    for flag, value in (
        ("--n-shared-experts", n_shared_experts),
        ("--first-dense-layers", first_dense_layers),
    ):
        if value < 0:
            raise InputError(f"{flag} must be 0 or a positive integer, got {value}")
    if top_k > n_experts:
        raise InputError(f"--top-k ({top_k}) must be at most --n-experts ({n_experts})")
    options = MoeSearchOptions(
        n_experts=n_experts,
        top_k=top_k,
        n_shared_experts=n_shared_experts,
        n_dense_layers=first_dense_layers,
        mla=mla,
        aspect_ratio=aspect_ratio,
        vocab_size=positive_int(vocab_size, "--vocab-size"),
        seq_len=positive_int(seq_len, "--seq-len"),
    )
    rows = [c.to_dict() for c in search_moe(target, options, limit=limit)]
    if format is Format.json:
        doc = {"schema_version": 1, "kind": "moe", "target_flops_per_token": target}
        out(dumps({**doc, "candidates": rows}))
        return
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
    out("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command()(model)
    app.command()(shapes)
