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
from dsplan.cli._output import (
    Format,
    dumps,
    exit_on_error,
    format_option,
    out,
    require_finite,
)
from dsplan.errors import InputError
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
    hf_config: Annotated[
        Path | None,
        typer.Option(
            help="A Hugging Face config.json, counted as transformers builds it (Llama, Mistral, "
            "Qwen2/3, Gemma/Gemma 2, OLMo/OLMo 2, Phi-3; others are refused)."
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
        if hf_config is not None:
            given = {
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
            from dsplan.model.hf_config import read_hf_config

            hf = read_hf_config(hf_config, seq_len=train_seq_len)
            shape = hf.shape
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
) -> None:
    """The best few shapes for a target M, with their M error and aspect ratio.

    Examples:

        dsplan shapes 4.25e10

        dsplan shapes 4.327e11 --aspect-ratio 86 --n-kv-heads 8 --format json
    """
    with exit_on_error():
        target = parse_positive(flops_per_token, "target M")
        positive_int(limit, "--limit")
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
