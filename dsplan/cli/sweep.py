"""``dsplan sweep``: the list of small experiments that `dsplan fit` turns into laws."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsplan.cli._options import (
    AspectRatioOption,
    HeadDimOption,
    HeadsMultipleOption,
    KvHeadsOption,
    SeqLenOption,
    VocabSizeOption,
    WarmupStepsOption,
)
from dsplan.cli._output import (
    Format,
    dumps,
    exit_on_error,
    format_option,
    out,
    warn_line,
)
from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.shape import SearchOptions
from dsplan.scheduling.schedules import DEEPSEEK_WARMUP_STEPS
from dsplan.units import positive_int

FORMATS = (Format.csv, Format.json, Format.text)


def sweep(
    kind: Annotated[
        str, typer.Option(help="isoflop (model/data splits) or hyperparameters (LR x batch grid).")
    ] = "isoflop",
    budgets: Annotated[
        str | None,
        typer.Option(
            help="Budgets in FLOPs: a range 1e17..3e20 (log-spaced, see --count) or a list "
            "1e17,1e18 [default: 1e17..3e20 for isoflop, 1e17..2e19 for hyperparameters]."
        ),
    ] = None,
    count_: Annotated[
        int | None,
        typer.Option(
            "--count", help="Budgets in a range [default: 8 for isoflop, 3 for hyperparameters]."
        ),
    ] = None,
    points: Annotated[int, typer.Option(help="IsoFLOP: model sizes per budget.")] = 10,
    span_decades: Annotated[
        float, typer.Option(help="IsoFLOP: decades of M either side of the preset's M_opt.")
    ] = 1.0,
    flops_per_token: Annotated[
        str | None,
        typer.Option(
            help="Hyperparameters: the model's target M in FLOPs/token [default: M_opt per budget]."
        ),
    ] = None,
    lr_points: Annotated[int, typer.Option(help="Hyperparameters: learning rates.")] = 5,
    lr_span_decades: Annotated[
        float, typer.Option(help="Hyperparameters: decades of LR either side of Eq. 1.")
    ] = 0.6,
    batch_points: Annotated[int, typer.Option(help="Hyperparameters: batch sizes.")] = 5,
    batch_span_decades: Annotated[
        float, typer.Option(help="Hyperparameters: decades of batch size either side of Eq. 1.")
    ] = 0.6,
    preset: Annotated[
        str, typer.Option(help="Law preset for M_opt, LR and batch: an id or a .toml path.")
    ] = "current",
    seq_len: SeqLenOption = DEFAULT_SEQ_LEN,
    vocab_size: VocabSizeOption = DEFAULT_VOCAB_SIZE,
    aspect_ratio: AspectRatioOption = 128.0,
    head_dim: HeadDimOption = None,
    n_kv_heads: KvHeadsOption = None,
    heads_multiple: HeadsMultipleOption = None,
    warmup_steps: WarmupStepsOption = DEEPSEEK_WARMUP_STEPS,
    configs_dir: Annotated[
        Path | None,
        typer.Option(help="Also write one run config (TOML) per experiment into this folder."),
    ] = None,
    format: Annotated[Format, format_option(FORMATS, "Output: csv, json or text.")] = Format.csv,
) -> None:
    """Design an IsoFLOP sweep (or a learning-rate x batch-size grid) to fit your own laws.

    Each IsoFLOP run is a real shape from the architecture search for a target M spread around the
    preset's M_opt, trained on D = C / M_exact tokens with Eq. 1's learning rate and batch size.
    Add a `loss` column to the CSV once the runs are done and give it to `dsplan fit`.

    Examples:

        dsplan sweep > isoflop.csv

        dsplan sweep --budgets 1e17..3e20 --count 8 --points 10 --configs-dir runs/

        dsplan sweep --kind hyperparameters --budgets 1e17,1e18 --flops-per-token 1.77e8
    """
    from dsplan.planning.sweep import (
        DEFAULT_HP_BUDGETS,
        DEFAULT_HP_COUNT,
        DEFAULT_ISOFLOP_BUDGETS,
        DEFAULT_ISOFLOP_COUNT,
        SweepOptions,
        design,
        parse_budgets,
    )
    from dsplan.units import parse_positive

    with exit_on_error():
        isoflop = kind == "isoflop"
        text = budgets or (DEFAULT_ISOFLOP_BUDGETS if isoflop else DEFAULT_HP_BUDGETS)
        n = (
            count_
            if count_ is not None
            else (DEFAULT_ISOFLOP_COUNT if isoflop else DEFAULT_HP_COUNT)
        )
        positive_int(seq_len, "--seq-len")
        positive_int(vocab_size, "--vocab-size")
        options = SweepOptions(
            kind=kind,
            preset=preset,
            points=points,
            span_decades=span_decades,
            flops_per_token=(
                None
                if flops_per_token is None
                else parse_positive(flops_per_token, "--flops-per-token")
            ),
            lr_points=lr_points,
            lr_span_decades=lr_span_decades,
            batch_points=batch_points,
            batch_span_decades=batch_span_decades,
            warmup_steps=warmup_steps,
            search=SearchOptions(
                aspect_ratio=aspect_ratio,
                head_dim=head_dim,
                n_kv_heads=n_kv_heads,
                heads_multiple=heads_multiple,
                vocab_size=vocab_size,
                seq_len=seq_len,
            ),
        )
        result = design(parse_budgets(text, n), options)
        if configs_dir is not None:
            from dsplan.checking.writers import preset_reference, run_config_toml
            from dsplan.io import write_text

            if configs_dir.exists() and not configs_dir.is_dir():
                raise InputError(f"--configs-dir {configs_dir}: a file, not a folder")
            preset_ref = preset_reference(result.preset, configs_dir)
            for run in result.runs:
                write_text(configs_dir / f"{run.run_id}.toml", run_config_toml(run, preset_ref))
        if format is Format.json:
            out(dumps(result.to_dict()))
        elif format is Format.csv:
            from dsplan.output.reports import sweep_csv

            out(sweep_csv(result))
        else:
            from dsplan.output.reports import sweep_text
            from dsplan.output.table import to_text

            out(to_text(*sweep_text(result)))
        for w in result.warnings:
            warn_line(w)


def register(app: typer.Typer) -> None:
    app.command()(sweep)
