"""``dsplan fit RESULTS.csv``: your own scaling laws from your sweep's results."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dsplan.cli._output import (
    Format,
    dumps,
    exit_on_error,
    format_option,
    out,
    warn_line,
)
from dsplan.errors import InputError

if TYPE_CHECKING:
    from dsplan.fitting import Progress

FORMATS = (Format.text, Format.json, Format.toml)
# Show a progress bar when the bootstrap touches at least this many (resample x run) cells
# (about a tenth of a second of work) and stderr is a terminal.
PROGRESS_CELLS = 5_000_000


def fit(
    results: Annotated[
        str,
        typer.Argument(
            help="Results CSV (- reads stdin): compute_flops, flops_per_token, tokens, loss; "
            "for --kind hyperparameters: compute_flops, loss, learning_rate, batch_size_tokens.",
            show_default=False,
        ),
    ],
    kind: Annotated[
        str, typer.Option(help="What RESULTS holds: isoflop or hyperparameters.")
    ] = "isoflop",
    hyperparameters: Annotated[
        str | None,
        typer.Option(help="A second CSV with a learning-rate x batch-size grid, fitted too."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(help="Map a column: OURS=THEIRS, e.g. --column loss=val_bpb (repeatable)."),
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="Near-optimal band: loss within this fraction of the best.")
    ] = 0.0025,
    bootstrap: Annotated[
        int, typer.Option(help="Resamples for 95% intervals (0: none; 1000 is typical).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    predict: Annotated[
        list[str] | None,
        typer.Option(help="Also evaluate the fitted laws at this compute in FLOPs (repeatable)."),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(help="Preset to compare with, and to carry laws you did not fit from."),
    ] = "current",
    output: Annotated[
        Path | None,
        typer.Option(help="Write the fit as a preset file for `dsplan budget --preset FILE`."),
    ] = None,
    preset_id: Annotated[
        str | None, typer.Option("--id", help="The written preset's id [default: file stem].")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Draw the profiles and fitted laws to FILE.png or .svg (matplotlib)."),
    ] = None,
    format: Annotated[
        Format, format_option(FORMATS, "Output: text, json or toml (the preset).")
    ] = Format.text,
    curve: Annotated[
        str,
        typer.Option(
            help="The curve through each IsoFLOP profile: family (E + P/M^alpha + Q/D^beta, "
            "exponents shared) or parabola (in ln M, the fit before issue #16; biased)."
        ),
    ] = "family",
    parametric: Annotated[
        bool,
        typer.Option(
            "--parametric",
            help="Fit L = E + A/X^alpha + B/D^beta to all runs (Chinchilla Approach 3, as "
            "Besiroglu et al. 2024): columns loss, params or flops_per_token, tokens or "
            "compute_flops.",
        ),
    ] = False,
    drop_highest_loss: Annotated[
        int,
        typer.Option(help="With --parametric: leave out this many runs with the highest loss."),
    ] = 0,
    starts: Annotated[
        int,
        typer.Option(
            help="With --parametric: grid starts optimised after the cheap pass (0: all 4500)."
        ),
    ] = 100,
    params_convention: Annotated[
        str,
        typer.Option(
            help="With --parametric: what the params column counts, as the written preset "
            "states it: params_total, params_non_embedding or params_non_embedding_with_head."
        ),
    ] = "params_total",
) -> None:
    """Fit M_opt, D_opt, the loss and (from a grid) LR and batch-size laws to your sweep.

    IsoFLOP: the curve E + P/M^alpha + Q/D^beta through each budget's runs (exponents shared), its
    minimum as (M_opt, D_opt), then power laws in C. Hyperparameters: power laws through the runs within --threshold of each budget's
    best loss. NaN losses are dropped with a warning; other bad cells are refused (exit 2).

    Examples:

        dsplan fit results.csv

        dsplan fit results.csv --bootstrap 1000 --format json

        dsplan fit isoflop.csv --hyperparameters grid.csv --output mylaws.toml

        dsplan fit results.csv --column loss=val_bpb --predict 1e23 --plot fit.png
    """
    if parametric:
        _fit_parametric(
            results,
            kind=kind,
            hyperparameters=hyperparameters,
            column=column,
            bootstrap=bootstrap,
            seed=seed,
            predict=predict,
            output=output,
            preset_id=preset_id,
            plot=plot,
            format=format,
            drop_highest_loss=drop_highest_loss,
            starts=starts,
            params_convention=params_convention,
            curve=curve,
        )
        return
    with exit_on_error():
        if drop_highest_loss or starts != 100 or params_convention != "params_total":
            flag = (
                "--drop-highest-loss"
                if drop_highest_loss
                else "--starts"
                if starts != 100
                else "--params-convention"
            )
            raise InputError(f"{flag} goes with --parametric")
        if curve not in ("family", "parabola"):
            raise InputError(f"--curve must be family or parabola, got {curve!r}")
        from dsplan import fitting as core
        from dsplan.catalog.presets import load_preset
        from dsplan.io import write_text
        from dsplan.laws.forms import m_form
        from dsplan.units import parse_positive

        if plot is not None:
            from dsplan.output.plot import require_matplotlib, validate_plot_path

            validate_plot_path(plot)
            require_matplotlib()
        if kind not in core.KINDS:
            raise InputError(f"--kind must be one of {', '.join(core.KINDS)}, got {kind!r}")
        if hyperparameters is not None and kind == "hyperparameters":
            raise InputError("--hyperparameters adds a grid to an IsoFLOP file; drop one of them")
        column_map = core.parse_column_map(column or [])
        predict_at = [parse_positive(c, "--predict") for c in predict or []]
        reference = load_preset(preset)
        m_form(reference, "dsplan fit")  # fit works in M and Eq. 1: refuse other laws up front

        files = [(results, kind)]
        if hyperparameters is not None:
            files.append((hyperparameters, "hyperparameters"))
        datasets = {}
        for path, what in files:
            datasets[what] = core.read_sweep(path, kind=what, column_map=column_map)

        iso = hp = None
        if "isoflop" in datasets:
            data = datasets["isoflop"]
            with _progress(len(data) * bootstrap, "IsoFLOP bootstrap") as tick:
                iso = core.fit_isoflop(
                    data, bootstrap=bootstrap, seed=seed, progress=tick, curve=curve
                )
        if "hyperparameters" in datasets:
            data = datasets["hyperparameters"]
            with _progress(len(data) * bootstrap, "hyperparameter bootstrap") as tick:
                hp = core.fit_hyperparameters(
                    data, threshold=threshold, bootstrap=bootstrap, seed=seed, progress=tick
                )
        dropped = [w for d in datasets.values() for w in d.warnings]
        result = core.report(iso, hp, reference, predict_at, dropped)

        name = preset_id or (output.stem if output is not None else "fitted")
        if output is not None:
            write_text(output, core.preset_toml(result, name, reference))
        if plot is not None:
            from dsplan.output.plot import plot_fit

            plot_fit(result, datasets, plot)

        if format is Format.json:
            out(dumps(result.to_dict()))
        elif format is Format.toml:
            out(core.preset_toml(result, name, reference))
        else:
            from dsplan.output.reports import fit_text
            from dsplan.output.table import to_text

            out(to_text(*fit_text(result)))
        for w in result.warnings:
            warn_line(w)


def _fit_parametric(
    results: str,
    *,
    kind: str,
    hyperparameters: str | None,
    column: list[str] | None,
    bootstrap: int,
    seed: int,
    predict: list[str] | None,
    output: Path | None,
    preset_id: str | None,
    plot: Path | None,
    format: Format,
    drop_highest_loss: int,
    starts: int,
    params_convention: str,
    curve: str,
) -> None:
    """``dsplan fit --parametric``: the loss surface L(X, D) (dsplan.fitting.parametric)."""
    with exit_on_error():
        from dsplan import fitting as core
        from dsplan.io import write_text
        from dsplan.units import parse_positive

        for given, flag in (
            (kind != "isoflop", "--kind"),
            (hyperparameters is not None, "--hyperparameters"),
            (curve != "family", "--curve"),
        ):
            if given:
                raise InputError(f"{flag} does not go with --parametric")
        if drop_highest_loss < 0:
            raise InputError(f"--drop-highest-loss must be >= 0, got {drop_highest_loss}")
        if starts < 0:
            raise InputError(f"--starts must be >= 0 (0: the whole grid), got {starts}")
        if params_convention not in core.PARAMS_CONVENTIONS:
            raise InputError(
                f"--params-convention must be one of {', '.join(core.PARAMS_CONVENTIONS)}, "
                f"got {params_convention!r}"
            )
        if plot is not None:
            from dsplan.output.plot import require_matplotlib, validate_plot_path

            validate_plot_path(plot)
            require_matplotlib()
        column_map = core.parse_column_map(column or [])
        predict_at = [parse_positive(c, "--predict") for c in predict or []]
        data = core.read_parametric(
            results, column_map=column_map, drop_highest_loss=drop_highest_loss
        )
        # Every refit is an optimisation (milliseconds): show progress from a few dozen on.
        with _progress(PROGRESS_CELLS if bootstrap >= 50 else 0, "parametric bootstrap") as tick:
            result = core.fit_parametric(
                data,
                starts=starts,
                bootstrap=bootstrap,
                seed=seed,
                predict_at=predict_at,
                progress=tick,
            )
        name = preset_id or (output.stem if output is not None else "fitted")
        if plot is not None:
            from dsplan.output.plot import plot_parametric

            plot_parametric(result, data, plot)
        if output is not None:
            write_text(output, core.parametric_preset_toml(result, name, params_convention))
        if format is Format.json:
            out(dumps(result.to_dict()))
        elif format is Format.toml:
            out(core.parametric_preset_toml(result, name, params_convention))
        else:
            from dsplan.output.reports import parametric_fit_text
            from dsplan.output.table import to_text

            out(to_text(*parametric_fit_text(result)))
        for w in result.warnings:
            warn_line(w)


@contextmanager
def _progress(cells: int, label: str) -> Iterator[Progress | None]:
    """A rich progress bar on stderr for long bootstraps; no bar (``None``) otherwise."""
    if cells < PROGRESS_CELLS or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as Bar

    with Bar(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield tick


def register(app: typer.Typer) -> None:
    app.command()(fit)
