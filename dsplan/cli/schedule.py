"""``dsplan schedule``: the learning-rate schedule of a run, and what survives when it is extended."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from dsplan.cli._options import (
    HeadDimOption,
    KvHeadsOption,
    PresetOption,
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
    require_finite,
    warn_line,
)
from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.planning.schedule_report import explicit_run, planned_run, schedule_report
from dsplan.scheduling.schedules import (
    DEEPSEEK_STAGE_FACTORS,
    DEEPSEEK_STAGE_FRACTIONS,
    DEEPSEEK_WARMUP_STEPS,
    DEFAULT_DECAY_FRACTION,
    DEFAULT_FINAL_LR_FRACTION,
    Schedule,
    rate_table,
)
from dsplan.units import count, parse_positive, positive_int

FORMATS = (Format.text, Format.json, Format.csv)


class Kind(str, Enum):
    """Schedule kinds."""

    multistep = "multistep"
    cosine = "cosine"
    wsd = "wsd"


def schedule(
    budget: Annotated[
        str | None,
        typer.Option(help="Plan for this compute budget C in FLOPs (as `dsplan budget C`)."),
    ] = None,
    tokens: Annotated[
        str | None, typer.Option(help="Explicit run: training tokens D, e.g. 2e12.")
    ] = None,
    batch_size_tokens: Annotated[
        str | None,
        typer.Option(help="Explicit run: tokens per optimizer step, e.g. 9437184 (2304 x 4096)."),
    ] = None,
    learning_rate: Annotated[
        str | None, typer.Option(help="Explicit run: peak learning rate, e.g. 4.2e-4.")
    ] = None,
    warmup_steps: WarmupStepsOption = DEEPSEEK_WARMUP_STEPS,
    kind: Annotated[
        Kind, typer.Option(help="Schedule: multistep (DeepSeek), cosine or wsd.")
    ] = Kind.multistep,
    stage_fractions: Annotated[
        str | None,
        typer.Option(help="multistep: token fractions of the drops [default: 0.8,0.9]."),
    ] = None,
    stage_factors: Annotated[
        str | None,
        typer.Option(
            help="multistep: rate after each drop, fraction of peak [default: 0.316,0.1]."
        ),
    ] = None,
    final_lr_fraction: Annotated[
        float | None,
        typer.Option(help="cosine, wsd: final rate as a fraction of the peak [default: 0.1]."),
    ] = None,
    decay_fraction: Annotated[
        float | None,
        typer.Option(help="wsd: final fraction of the tokens spent decaying [default: 0.1]."),
    ] = None,
    extend_to: Annotated[
        str | None,
        typer.Option(help="Continual training: grow the run to D2 tokens; say what is reused."),
    ] = None,
    flops_per_token: Annotated[
        str | None,
        typer.Option(help="Explicit run: M (FLOPs/token), for the laws at C2 = M x D2."),
    ] = None,
    n_layers: Annotated[
        int | None, typer.Option(help="Explicit run: layers of the shape (gives M).")
    ] = None,
    d_model: Annotated[
        int | None, typer.Option(help="Explicit run: width of the shape (gives M).")
    ] = None,
    preset: PresetOption = "current",
    seq_len: SeqLenOption = DEFAULT_SEQ_LEN,
    vocab_size: VocabSizeOption = DEFAULT_VOCAB_SIZE,
    aspect_ratio: Annotated[
        float | None, typer.Option(help="--budget: target d_model / n_layers [default: 128].")
    ] = None,
    head_dim: HeadDimOption = None,
    n_kv_heads: KvHeadsOption = None,
    layers_multiple: Annotated[
        int | None, typer.Option(help="--budget: layer count multiple [default: 1].")
    ] = None,
    heads_multiple: Annotated[
        int | None,
        typer.Option(help="--budget: head count multiple [default: 8 from 1024 wide, else 1]."),
    ] = None,
    format: Annotated[Format, format_option(FORMATS, "Output: text, json or csv.")] = Format.text,
    every: Annotated[
        int | None, typer.Option(help="csv: one row every k steps (the last step always).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also draw the schedule(s) to this .png, .svg or .pdf (needs dsplan[plot])."
        ),
    ] = None,
) -> None:
    """The learning-rate schedule of a run, and what carries over when it is extended.

    Give a budget (`--budget C`, planned as `dsplan budget C`) or an explicit run (`--tokens`,
    `--batch-size-tokens`, `--learning-rate`). Steps are integers: total = ceil(tokens / batch),
    a boundary at fraction f of the tokens is step round(f x total).

    Examples:

        dsplan schedule --budget 1e22

        dsplan schedule --tokens 2e12 --batch-size-tokens 9437184 --learning-rate 4.2e-4

        dsplan schedule --tokens 2e12 --batch-size-tokens 9437184 --learning-rate 4.2e-4 --extend-to 3e12 --n-layers 30 --d-model 4096

        dsplan schedule --budget 1e21 --kind wsd --format csv --every 100 > lr.csv
    """
    with exit_on_error():
        if plot is not None:
            from dsplan.output.plot import require_matplotlib, validate_plot_path

            validate_plot_path(plot)
            require_matplotlib()
        if every is not None and format is not Format.csv:
            raise InputError("--every applies to --format csv only")
        if every is not None:
            positive_int(every, "--every")
        if warmup_steps < 0:
            raise InputError(f"--warmup-steps must not be negative, got {warmup_steps}")
        positive_int(seq_len, "--seq-len")
        positive_int(vocab_size, "--vocab-size")
        kind_options = _kind_options(
            kind, stage_fractions, stage_factors, final_lr_fraction, decay_fraction
        )
        explicit = {
            "--tokens": tokens,
            "--batch-size-tokens": batch_size_tokens,
            "--learning-rate": learning_rate,
        }
        shape_given = {
            "--flops-per-token": flops_per_token,
            "--n-layers": n_layers,
            "--d-model": d_model,
        }
        planner_only = {
            "--aspect-ratio": aspect_ratio,
            "--layers-multiple": layers_multiple,
            "--heads-multiple": heads_multiple,
        }
        if budget is not None:
            given = [flag for flag, v in {**explicit, **shape_given}.items() if v is not None]
            if given:
                raise InputError(
                    f"give either --budget or an explicit run, not both ({', '.join(given)} "
                    "given with --budget; M and the batch come from the plan)"
                )
            from dsplan.model.shape import DEFAULT_ASPECT_RATIO, SearchOptions
            from dsplan.planning.plan import PlanOptions

            run = planned_run(
                parse_positive(budget, "--budget"),
                PlanOptions(
                    preset=preset,
                    search=SearchOptions(
                        seq_len=seq_len,
                        vocab_size=vocab_size,
                        aspect_ratio=DEFAULT_ASPECT_RATIO if aspect_ratio is None else aspect_ratio,
                        head_dim=head_dim,
                        n_kv_heads=n_kv_heads,
                        layers_multiple=1 if layers_multiple is None else layers_multiple,
                        heads_multiple=heads_multiple,
                    ),
                    warmup_steps=warmup_steps,
                ),
            )
        else:
            if tokens is None or batch_size_tokens is None or learning_rate is None:
                missing = [flag for flag, v in explicit.items() if v is None]
                raise InputError(
                    "give --budget C, or an explicit run with --tokens, --batch-size-tokens and "
                    f"--learning-rate (missing: {', '.join(missing)})"
                )
            given = [flag for flag, v in planner_only.items() if v is not None]
            if given:
                raise InputError(f"{', '.join(given)} applies to --budget plans only")
            if flops_per_token is not None and (n_layers is not None or d_model is not None):
                raise InputError(
                    "give --flops-per-token or the shape (--n-layers, --d-model), not both"
                )
            if (n_layers is None) != (d_model is None):
                raise InputError("give both --n-layers and --d-model for the shape")
            if n_layers is None and (head_dim is not None or n_kv_heads is not None):
                raise InputError(
                    "--head-dim and --n-kv-heads describe the shape: give --n-layers and --d-model too"
                )
            run = explicit_run(
                parse_positive(tokens, "--tokens"),
                parse_positive(batch_size_tokens, "--batch-size-tokens"),
                parse_positive(learning_rate, "--learning-rate"),
                flops_per_token=(
                    None
                    if flops_per_token is None
                    else parse_positive(flops_per_token, "--flops-per-token")
                ),
                n_layers=n_layers,
                d_model=d_model,
                head_dim=head_dim,
                n_kv_heads=n_kv_heads,
                vocab_size=vocab_size,
                seq_len=seq_len,
                warmup_steps=warmup_steps,
                preset=preset,
            )
        report = schedule_report(
            run,
            kind.value,
            warmup_steps=warmup_steps,
            extend_to=None if extend_to is None else parse_positive(extend_to, "--extend-to"),
            **kind_options,
        )
        if plot is not None:
            from dsplan.output.plot import plot_schedule_report

            plot_schedule_report(report, plot)
        document = report.to_dict()
        require_finite(document)
        warnings = [_with_flags(w) for w in report.warnings]
        extension = report.extension
        if format is Format.json:
            out(dumps(document))
        elif format is Format.csv:
            if extension:
                warnings.append(
                    f"csv: the rates of the extended run to {count(extension.extended_tokens)} tokens"
                )
            _write_csv(extension.schedule if extension else report.schedule, every or 1)
        else:
            from dsplan.output.schedule_chart import ScheduleText
            from dsplan.output.table import to_text

            out(to_text(ScheduleText(report)))
        for w in warnings:
            warn_line(w)
        if plot is not None:
            sys.stderr.write(f"wrote {plot}\n")


def _with_flags(warning: str) -> str:
    """A core warning with the options that act on it."""
    if warning.startswith("drift cannot be computed"):
        return f"{warning} (--flops-per-token, --n-layers and --d-model, or --budget)"
    return warning


def _fractions(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))  # float() ignores surrounding spaces
    except ValueError:
        raise InputError(
            f"{flag} takes comma-separated numbers such as 0.8,0.9, got {text!r}"
        ) from None


def _kind_options(
    kind: Kind,
    stage_fractions: str | None,
    stage_factors: str | None,
    final_lr_fraction: float | None,
    decay_fraction: float | None,
) -> dict[str, Any]:
    applies = {
        "--stage-fractions": (stage_fractions, {Kind.multistep}),
        "--stage-factors": (stage_factors, {Kind.multistep}),
        "--final-lr-fraction": (final_lr_fraction, {Kind.cosine, Kind.wsd}),
        "--decay-fraction": (decay_fraction, {Kind.wsd}),
    }
    for flag, (value, kinds) in applies.items():
        if value is not None and kind not in kinds:
            names = " or ".join(sorted(k.value for k in kinds))
            raise InputError(f"{flag} applies to --kind {names}, not {kind.value}")
    return {
        "fractions": (
            _fractions(stage_fractions, "--stage-fractions")
            if stage_fractions is not None
            else DEEPSEEK_STAGE_FRACTIONS
        ),
        "factors": (
            _fractions(stage_factors, "--stage-factors")
            if stage_factors is not None
            else DEEPSEEK_STAGE_FACTORS
        ),
        "final_lr_fraction": (
            DEFAULT_FINAL_LR_FRACTION if final_lr_fraction is None else final_lr_fraction
        ),
        "decay_fraction": DEFAULT_DECAY_FRACTION if decay_fraction is None else decay_fraction,
    }


# The most rows `--format csv` writes (about 2 s); --every thins a longer run.
MAX_CSV_ROWS = 1_000_000


def _write_csv(sched: Schedule, every: int) -> None:
    """Write the rate table to stdout as it is made: memory stays flat in the number of steps."""
    from dsplan.numbers import is_integer_key, number, rounded, whole

    def cell(key: str) -> Any:
        # dsplan.numbers.text for one key, its whole-or-rate question answered once, not per row.
        as_float = whole if is_integer_key(key) else rounded
        return lambda v: repr(as_float(v) if type(v) is float else number(key, v))

    tokens_text, rate_text = cell("tokens"), cell("learning_rate")
    rows = -(-(sched.total_steps - 1) // every) + 1
    if rows > MAX_CSV_ROWS:
        thin = -(-(sched.total_steps - 1) // (MAX_CSV_ROWS - 1))  # the least --every that fits
        raise InputError(
            f"--format csv would write {rows:,} rows ({sched.total_steps:,} steps); at most "
            f"{MAX_CSV_ROWS:,}: thin the table with --every {thin}"
        )
    write = sys.stdout.write
    write("step,tokens,learning_rate\n")
    chunk: list[str] = []
    for s, t, lr in rate_table(sched, every):
        chunk.append(f"{s},{tokens_text(t)},{rate_text(lr)}\n")
        if len(chunk) == 4096:
            write("".join(chunk))
            chunk.clear()
    write("".join(chunk))


def register(app: typer.Typer) -> None:
    app.command()(schedule)
