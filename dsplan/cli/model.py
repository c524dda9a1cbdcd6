"""``dsplan model`` (counts of a given shape) and ``dsplan shapes M`` (candidate shapes for a target M)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out
from dsplan.errors import InputError
from dsplan.laws.hyperparameters import hyperparameters_for
from dsplan.model.flops import Shape, counts
from dsplan.model.shape import SearchOptions, search
from dsplan.units import count, parse_positive, sci

FORMATS = (Format.text, Format.json)
ATTENTION_CONVENTION = (
    "M = 6 x matmul weights of the blocks + 12 n_layers d_model seq_len: full, unmasked attention "
    "(no halving for the causal mask), vocabulary excluded, as in Eq. 2 of arXiv 2401.02954"
)


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
    vocab_size: VocabSizeOption = 102_400,
    seq_len: SeqLenOption = 4096,
    tied_embeddings: Annotated[
        bool, typer.Option("--tied-embeddings", help="Share input embedding and output head.")
    ] = False,
    hf_config: Annotated[
        Path | None, typer.Option(help="A Hugging Face config.json (LLaMA-style keys).")
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

        dsplan model --hf-config config.json

        dsplan model --n-layers 95 --d-model 8192 --n-kv-heads 8 --tokens 2e12 --gpu h800 --gpus 1024
    """
    with exit_on_error():
        hardware = HardwareOptions(
            gpu, gpus, mfu, dtype, price_per_gpu_hour, days, max_cost_usd
        ).resolve()
        if hardware is not None and tokens is None:
            raise InputError("--gpu needs --tokens D: the cost is for training D tokens")
        if hf_config is not None:
            from dsplan.model.hf_config import shape_from_hf_config

            shape = shape_from_hf_config(hf_config, seq_len_default=seq_len)
        else:
            if n_layers is None or d_model is None:
                raise InputError("give --n-layers and --d-model, or --hf-config")
            shape = Shape.build(
                n_layers,
                d_model,
                n_heads=n_heads,
                n_kv_heads=n_kv_heads,
                d_ff=d_ff,
                vocab_size=vocab_size,
                seq_len=seq_len,
                tied_embeddings=tied_embeddings,
            )
        c = counts(shape)
        document: dict[str, Any] = {
            "schema_version": 1,
            "shape": shape.to_dict(),
            **c.to_dict(),
            "attention_convention": ATTENTION_CONVENTION,
        }
        if tokens is not None:
            d = parse_positive(tokens, "--tokens")
            p = load_preset(preset)
            compute = c.flops_per_token * d
            document["training"] = {
                "tokens": d,
                "compute_flops": compute,
                "tokens_per_param": d / c.params_total,
            }
            values, law = hyperparameters_for(p, compute, c, d)
            batch = values.batch_size_tokens
            document["hyperparameters"] = {
                "preset": p.id,
                "law": None if law is None else law.id,  # None: the preset's own Eq. 1 tables
                "learning_rate": values.learning_rate,
                "batch_size_tokens": batch,
                "batch_size_sequences": None if batch is None else batch / shape.seq_len,
                "notes": list(values.notes),
            }
        costs = []
        if hardware is not None:
            from dsplan.planning.cost import estimate

            costs.append(estimate(c, document["training"]["tokens"], hardware))
            document["cost"] = costs[0].to_dict()
        if format is Format.json:
            out(dumps(document))
        else:
            out(_model_text(shape, document))
        finish_costs(costs)


def _model_text(shape: Shape, doc: dict[str, Any]) -> str:
    lines = [
        f"{shape.n_layers} layers x {shape.d_model} wide, {shape.n_heads} heads ({shape.n_kv_heads} KV) "
        f"of {shape.head_dim}, d_ff {shape.d_ff}, vocab {shape.vocab_size}, seq {shape.seq_len}, "
        f"{'tied' if shape.tied_embeddings else 'untied'} embeddings",
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
    lines += ["", f"convention: {ATTENTION_CONVENTION}"]
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
    vocab_size: VocabSizeOption = 102_400,
    seq_len: SeqLenOption = 4096,
    limit: Annotated[int, typer.Option(help="How many candidates to list.")] = 5,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
) -> None:
    """The best few shapes for a target M, with their M error and aspect ratio.

    Examples:

        dsplan shapes 4.25e10

        dsplan shapes 4.327e11 --aspect-ratio 86 --n-kv-heads 8 --format json
    """
    with exit_on_error():
        target = parse_positive(flops_per_token, "target M")
        if limit <= 0:
            raise InputError(f"--limit must be a positive integer, got {limit}")
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


def register(app: typer.Typer) -> None:
    app.command()(model)
    app.command()(shapes)
