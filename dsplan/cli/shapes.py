"""``dsplan shapes M``: the best candidate shapes (dense or mixture-of-experts) for a target M."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.cli._options import (
    AspectRatioOption,
    FirstDenseLayersOption,
    HeadDimOption,
    HeadsMultipleOption,
    KvHeadsOption,
    LayersMultipleOption,
    MlaOption,
    NExpertsOption,
    SeqLenOption,
    SharedExpertsOption,
    TopKOption,
    VocabSizeOption,
)
from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out
from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.flops import counts
from dsplan.model.shape import SearchOptions, search
from dsplan.output.model import moe_shapes_text, shapes_text
from dsplan.units import parse_positive, positive_int

FORMATS = (Format.text, Format.json)


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
    n_experts: NExpertsOption = None,
    top_k: TopKOption = None,
    n_shared_experts: SharedExpertsOption = 0,
    first_dense_layers: FirstDenseLayersOption = 0,
    mla: MlaOption = False,
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
        out(shapes_text(rows, target))


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
    from dsplan.cli._moe_options import moe_search_options
    from dsplan.model.moe_shape import search_moe

    options = moe_search_options(
        n_experts=n_experts,
        top_k=top_k,
        n_shared_experts=n_shared_experts,
        first_dense_layers=first_dense_layers,
        mla=mla,
        aspect_ratio=aspect_ratio,
        vocab_size=vocab_size,
        seq_len=seq_len,
    )
    rows = [c.to_dict() for c in search_moe(target, options, limit=limit)]
    if format is Format.json:
        doc = {"schema_version": 1, "kind": "moe", "target_flops_per_token": target}
        out(dumps({**doc, "candidates": rows}))
        return
    out(moe_shapes_text(rows, target, options))


def register(app: typer.Typer) -> None:
    app.command()(shapes)
