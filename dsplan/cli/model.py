"""``dsplan model``: exact counts of a given shape (dense or mixture-of-experts), its cost with ``--gpu``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from dsplan.model.flops import Shape
from dsplan.output.model import model_text, moe_text
from dsplan.planning.model_report import model_report
from dsplan.units import parse_positive, positive_int

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
        out(dumps(document) if format is Format.json else model_text(document))
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
    out(dumps(document) if format is Format.json else moe_text(document))
    finish_costs([] if report.cost is None else [report.cost])


def register(app: typer.Typer) -> None:
    app.command()(model)
