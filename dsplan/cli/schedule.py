"""``dsplan schedule``: the learning-rate schedule of a run, and what survives when it is extended."""

from __future__ import annotations

import math
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
from dsplan.scheduling.continual import Extension, extend
from dsplan.scheduling.schedules import (
    DEEPSEEK_STAGE_FACTORS,
    DEEPSEEK_STAGE_FRACTIONS,
    DEFAULT_DECAY_FRACTION,
    DEFAULT_FINAL_LR_FRACTION,
    REFERENCES,
    ROUNDING_NOTE,
    Schedule,
    build,
    learning_rate_at,
    rate_table,
)
from dsplan.units import count, parse_positive, positive_int, sci

FORMATS = (Format.text, Format.json, Format.csv)
SCHEMA_VERSION = 1
CHART_WIDTH = 60
CHART_HEIGHT = 10
_EIGHTHS = " ▁▂▃▄▅▆▇█"


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
    warmup_steps: WarmupStepsOption = 2000,
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
    seq_len: SeqLenOption = 4096,
    vocab_size: VocabSizeOption = 102_400,
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
        if every is not None and every <= 0:
            raise InputError(f"--every must be a positive integer, got {every}")
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
        warnings: list[str] = []
        inputs: dict[str, Any] = {"warmup_steps": warmup_steps, "seq_len": seq_len}
        m: float | None = None
        if budget is not None:
            given = [flag for flag, v in {**explicit, **shape_given}.items() if v is not None]
            if given:
                raise InputError(
                    f"give either --budget or an explicit run, not both ({', '.join(given)} "
                    "given with --budget; M and the batch come from the plan)"
                )
            from dsplan.planning.plan import PlanOptions, plan

            p = plan(
                parse_positive(budget, "--budget"),
                PlanOptions(
                    preset=preset,
                    seq_len=seq_len,
                    vocab_size=vocab_size,
                    aspect_ratio=128.0 if aspect_ratio is None else aspect_ratio,
                    head_dim=head_dim,
                    n_kv_heads=n_kv_heads,
                    layers_multiple=1 if layers_multiple is None else layers_multiple,
                    heads_multiple=heads_multiple,
                    warmup_steps=warmup_steps,
                ),
            )
            d = p.training.tokens
            batch = p.hyperparameters.tokens_per_step
            lr = p.hyperparameters.learning_rate
            m = float(p.architecture.flops_per_token)
            warnings += [w for w in p.warnings if w not in p.schedule.notes]
            inputs.update(
                mode="budget",
                compute_flops=p.compute_flops,
                preset=p.preset.id,
                preset_source=p.preset.source,
                flops_per_token=m,
                shape=p.architecture.shape.to_dict(),
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
            d = parse_positive(tokens, "--tokens")
            batch = _whole(parse_positive(batch_size_tokens, "--batch-size-tokens"))
            lr = parse_positive(learning_rate, "--learning-rate")
            m, shape = _explicit_m(
                flops_per_token, n_layers, d_model, head_dim, n_kv_heads, vocab_size, seq_len
            )
            inputs.update(
                mode="explicit",
                compute_flops=None if m is None else m * d,
                preset=preset,
                flops_per_token=m,
                shape=shape,
            )
        sched = build(kind.value, lr, d, batch, warmup_steps=warmup_steps, **kind_options)
        warnings = list(sched.notes) + warnings
        extension = None
        if extend_to is not None:
            from dsplan.catalog.presets import load_preset

            d2 = parse_positive(extend_to, "--extend-to")
            extension = extend(
                sched, d2, flops_per_token=m, preset=load_preset(preset) if m else None
            )
            warnings += [n for n in extension.notes if n.startswith(("drift", "C2"))]
        if plot is not None:
            _plot(sched, extension, plot)
        document = {
            "schema_version": SCHEMA_VERSION,
            **sched.to_dict(),
            "tokens": sched.tokens,
            "inputs": inputs,
            "rounding": ROUNDING_NOTE,
            "reference": REFERENCES[sched.kind],
            "extension": extension.to_dict() if extension else None,
            "warnings": warnings,
        }
        require_finite(document)
        if format is Format.json:
            out(dumps(document))
        elif format is Format.csv:
            if extension:
                warnings.append(
                    f"csv: the rates of the extended run to {count(extension.extended_tokens)} tokens"
                )
            _write_csv(extension.schedule if extension else sched, every or 1)
        else:
            _text(sched, extension)
        for w in warnings:
            warn_line(w)
        if plot is not None:
            sys.stderr.write(f"wrote {plot}\n")


def _whole(value: float) -> int:
    if value != int(value):
        raise InputError(f"--batch-size-tokens must be a whole number of tokens, got {value!r}")
    return int(value)


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


def _explicit_m(
    flops_per_token: str | None,
    n_layers: int | None,
    d_model: int | None,
    head_dim: int | None,
    n_kv_heads: int | None,
    vocab_size: int,
    seq_len: int,
) -> tuple[float | None, dict[str, Any] | None]:
    """M for an explicit run: given directly, or counted from a shape, or unknown."""
    if flops_per_token is not None:
        if n_layers is not None or d_model is not None:
            raise InputError(
                "give --flops-per-token or the shape (--n-layers, --d-model), not both"
            )
        return parse_positive(flops_per_token, "--flops-per-token"), None
    if n_layers is None and d_model is None:
        if head_dim is not None or n_kv_heads is not None:
            raise InputError(
                "--head-dim and --n-kv-heads describe the shape: give --n-layers and --d-model too"
            )
        return None, None
    if n_layers is None or d_model is None:
        raise InputError("give both --n-layers and --d-model for the shape")
    from dsplan.model.flops import Shape, counts

    n_heads = None
    if head_dim is not None:
        if head_dim <= 0 or d_model % head_dim:
            raise InputError(f"--head-dim ({head_dim}) must divide --d-model ({d_model})")
        n_heads = d_model // head_dim
    shape = Shape.build(
        n_layers,
        d_model,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        vocab_size=vocab_size,
        seq_len=seq_len,
    )
    return float(counts(shape).flops_per_token), shape.to_dict()


# The most rows `--format csv` writes (about 7 s of formatting); --every thins a longer run.
MAX_CSV_ROWS = 1_000_000


def _write_csv(sched: Schedule, every: int) -> None:
    """Write the rate table to stdout as it is made: memory stays flat in the number of steps."""
    from dsplan.numbers import text

    rows = -(-(sched.total_steps - 1) // every) + 1
    if rows > MAX_CSV_ROWS:
        thin = -(-rows // MAX_CSV_ROWS) * every
        raise InputError(
            f"--format csv would write {rows:,} rows ({sched.total_steps:,} steps); at most "
            f"{MAX_CSV_ROWS:,}: thin the table with --every {thin}"
        )
    write = sys.stdout.write
    write("step,tokens,learning_rate\n")
    chunk: list[str] = []
    for s, t, lr in rate_table(sched, every):
        chunk.append(f"{s},{text('tokens', t)},{text('learning_rate', lr)}\n")
        if len(chunk) == 4096:
            write("".join(chunk))
            chunk.clear()
    write("".join(chunk))


def _plot(sched: Schedule, extension: Extension | None, path: Path) -> None:
    from dsplan.output.schedule_plot import plot_schedules

    curves = [(f"{sched.kind}, {count(sched.tokens)} tokens", sched)]
    if extension:
        curves.append(
            (f"extended to {count(extension.extended_tokens)} tokens", extension.schedule)
        )
    plot_schedules(
        curves,
        path,
        reuse_tokens=extension.reusable_tokens if extension else None,
        title=f"dsplan schedule: {REFERENCES[sched.kind].split(' (')[0]}",
    )


def chart_rows(
    sched: Schedule, x_max_tokens: float, y_max: float, marker_tokens: float | None = None
) -> list[str]:
    """The schedule as rows of block characters, learning rate up, tokens across.

    Each column shows the rate at the step in the middle of its token span (blank past the run's
    end); the top block is filled in eighths.
    """
    columns: list[float | None] = []
    for col in range(CHART_WIDTH):
        at_tokens = (col + 0.5) * x_max_tokens / CHART_WIDTH
        if at_tokens > sched.tokens:
            columns.append(None)
            continue
        step = min(sched.total_steps - 1, int(at_tokens // sched.tokens_per_step))
        columns.append(learning_rate_at(sched, step) / y_max * CHART_HEIGHT)
    rows = []
    for row in range(CHART_HEIGHT, 0, -1):
        cells = []
        for height in columns:
            if height is None:
                cells.append(" ")
                continue
            fill = min(max(height - (row - 1), 0.0), 1.0)
            cells.append(_EIGHTHS[round(fill * 8)])
        rows.append("".join(cells))
    if marker_tokens is not None:
        col = chart_column(marker_tokens, x_max_tokens)
        rows.append(" " * col + "▲ reused checkpoint")
    return rows


def axis_rows(sched: Schedule, x_max_tokens: float) -> tuple[str, str]:
    """The token axis: a tick under each point where the rate changes course, and its tokens.

    Ticks mark the drops of ``multistep``, the decay start of ``wsd`` and the half-way point of
    ``cosine``. A label is centred under its tick, nudged right to clear its neighbour; one that
    still does not fit is left out, and the tick stays.
    """
    right = count(x_max_tokens)
    axis = ["─"] * CHART_WIDTH
    labels = [" "] * CHART_WIDTH
    labels[0] = "0"
    labels[CHART_WIDTH - len(right) :] = right
    free_from, free_to = 2, CHART_WIDTH - len(right) - 1  # label cells kept clear of the ends
    for m in sched.milestones:
        if m.name in ("warmup_end", "end"):
            continue
        col = chart_column(m.tokens, x_max_tokens)
        axis[col] = "┬"
        label = count(m.tokens)
        start = max(free_from, col - len(label) // 2)  # centred, or nudged right up to the tick
        if start <= col and start + len(label) <= free_to:
            labels[start : start + len(label)] = label
            free_from = start + len(label) + 1
    return "".join(axis), "".join(labels) + " tokens"


def chart_column(tokens: float, x_max_tokens: float) -> int:
    """The first chart column drawn at or after ``tokens`` (columns show their midpoints)."""
    return min(CHART_WIDTH - 1, max(0, math.ceil(tokens / x_max_tokens * CHART_WIDTH - 0.5)))


def _chart(
    sched: Schedule, x_max_tokens: float, style: str, marker_tokens: float | None = None
) -> Any:
    from rich.text import Text

    y_max = sched.peak_learning_rate
    text = Text()
    rows = chart_rows(sched, x_max_tokens, y_max, marker_tokens)
    for i, row in enumerate(rows[:CHART_HEIGHT]):
        label = f"{y_max:.2e}" if i == 0 else ("0" if i == CHART_HEIGHT - 1 else "")
        text.append(f"{label:>9} │", style="dim")
        text.append(row.rstrip() + "\n", style=style)
    axis, labels = axis_rows(sched, x_max_tokens)
    text.append(" " * 10 + "└" + axis + "\n", style="dim")
    text.append(" " * 11 + labels + "\n", style="dim")
    for row in rows[CHART_HEIGHT:]:
        text.append(" " * 11 + row + "\n", style="bold")
    return text


def _milestone_lines(sched: Schedule) -> list[str]:
    lines = [f"  {'milestone':<12}{'step':>10}{'tokens':>10}{'learning rate':>16}"]
    lines += [
        f"  {m.name:<12}{m.step:>10,}{count(m.tokens):>10}{m.learning_rate:>16.4e}"
        for m in sched.milestones
    ]
    return lines


def _wrap(text: str, lead: str) -> str:
    """A long note as lines of at most 100 columns, hanging under its lead-in."""
    import textwrap

    return textwrap.fill(
        text,
        width=100,
        initial_indent=lead,
        subsequent_indent=" " * len(lead),
        break_on_hyphens=False,
    )


def _text(sched: Schedule, extension: Extension | None) -> None:
    from rich.text import Text

    from dsplan.output.table import to_text

    t = Text()
    x_max = extension.extended_tokens if extension else sched.tokens
    t.append(f"dsplan schedule: {sched.kind}\n", style="bold")
    t.append(
        f"{sci(sched.tokens)} tokens ({count(sched.tokens)}) in {sched.total_steps:,} steps of "
        f"{sched.tokens_per_step:,} tokens; peak lr {sched.peak_learning_rate:.4e}, "
        f"warm-up {sched.warmup_steps:,} steps\n"
    )
    t.append("\n".join(_milestone_lines(sched)) + "\n\n")
    t.append_text(_chart(sched, x_max, "cyan"))
    if extension:
        e = extension
        t.append("\n")
        t.append(
            f"Extended to {sci(e.extended_tokens)} tokens ({count(e.extended_tokens)}), "
            f"{e.schedule.total_steps:,} steps\n",
            style="bold",
        )
        t.append(
            f"  reuse the checkpoint at step {e.reusable_step:,} = {count(e.reusable_tokens)} "
            f"tokens ({e.reuse_fraction:.1%} of the planned run); "
            f"{count(e.lost_tokens)} planned tokens after it are not reused\n"
        )
        t.append("\n".join(_milestone_lines(e.schedule)) + "\n")
        if e.drift:
            dr = e.drift
            t.append(
                f"  laws ({dr.preset}, Eq. 1) at C2 = M x D2 = {sci(dr.compute_flops)} FLOPs: "
                f"peak lr {dr.law_learning_rate:.4e} ({dr.learning_rate_drift:+.1%} vs running), "
                f"batch {count(dr.law_batch_size_tokens)} tokens "
                f"({dr.batch_size_drift:+.1%} vs running {count(sched.tokens_per_step)})\n"
            )
        for note in e.notes:
            t.append(_wrap(note, "  note: ") + "\n", style="dim")
        t.append("\n")
        t.append_text(_chart(e.schedule, x_max, "magenta", e.reusable_tokens))
    t.append("\n")
    t.append(_wrap(ROUNDING_NOTE, "steps: ") + "\n", style="dim")
    t.append(_wrap(REFERENCES[sched.kind], "reference: "), style="dim")
    out(to_text(t))


def register(app: typer.Typer) -> None:
    app.command()(schedule)
