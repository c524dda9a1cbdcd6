"""The fit in one call, as ``dsplan fit`` does it: read the results file(s), fit, gather the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from dsplan.catalog.presets import DEFAULT_PRESET, Preset, load_preset
from dsplan.errors import InputError, SweepDataError
from dsplan.fitting.data import SweepData, sweep_data
from dsplan.fitting.hyperparameters import DEFAULT_THRESHOLD, fit_hyperparameters
from dsplan.fitting.isoflop import fit_isoflop
from dsplan.fitting.parametric import (
    DEFAULT_STARTS,
    ParametricData,
    ParametricFit,
    fit_parametric,
    parametric_data,
)
from dsplan.fitting.report import FitReport, report
from dsplan.io import csv_rows
from dsplan.laws.forms import m_form


def read_sweep(
    path: Path | str, *, kind: str = "isoflop", column_map: Mapping[str, str] | None = None
) -> SweepData:
    """Read a results CSV (``-``: standard input) and check its cells for a fit of ``kind``."""
    source = "stdin" if str(path) == "-" else str(path)
    with csv_rows(path) as (header, rows):  # streamed: a million rows cost one row's memory
        return sweep_data(header, rows, source, kind=kind, column_map=column_map)


def read_parametric(
    path: Path | str,
    *,
    column_map: Mapping[str, str] | None = None,
    drop_highest_loss: int = 0,
) -> ParametricData:
    """Read the runs of a parametric fit: ``loss``, the model size as ``params`` (N) or else
    ``flops_per_token`` (M), and ``tokens`` or else ``compute_flops`` (D = C / (6N) or C / M).

    Raises:
        SweepDataError: a file with neither model-size column, or neither tokens nor compute.
    """
    source = "stdin" if str(path) == "-" else str(path)
    names = dict(column_map or {})
    with csv_rows(path) as (header, rows):
        present = set(header)

        def first(*ours: str) -> str:
            for name in ours:
                if names.get(name, name) in present:
                    return name
            wanted = " or ".join(repr(names.get(n, n)) for n in ours)
            raise SweepDataError(
                f"{source}: missing column {wanted}; the header has {', '.join(header) or 'nothing'} "
                f"(map another name to it: {ours[0]}=NAME)",
                quantity="column",
            )

        x_kind = first("params", "flops_per_token")
        tokens = first("tokens", "compute_flops")
        sweep = sweep_data(header, rows, source, column_map=names, keep=(x_kind, tokens, "loss"))
    return parametric_data(sweep, x_kind, drop_highest_loss)


def fit_parametric_file(
    results: Path | str,
    *,
    column_map: Mapping[str, str] | None = None,
    drop_highest_loss: int = 0,
    starts: int = DEFAULT_STARTS,
    bootstrap: int = 0,
    seed: int = 0,
    predict_at: Sequence[float] = (),
) -> ParametricFit:
    """``dsplan fit --parametric`` in one call: read the runs and fit L(X, D) (fitting.parametric)."""
    data = read_parametric(results, column_map=column_map, drop_highest_loss=drop_highest_loss)
    return fit_parametric(
        data, starts=starts, bootstrap=bootstrap, seed=seed, predict_at=predict_at
    )


def fit(
    results: Path | str,
    *,
    kind: str = "isoflop",
    hyperparameters: Path | str | None = None,
    preset: str | Preset = DEFAULT_PRESET,
    column_map: Mapping[str, str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    bootstrap: int = 0,
    seed: int = 0,
    predict_at: Sequence[float] = (),
    curve: str = "family",
) -> FitReport:
    """Fit the laws to a sweep's results, compared with ``preset``.

    Args:
        results: A results CSV: an IsoFLOP sweep, or with ``kind="hyperparameters"`` a grid.
        hyperparameters: A second CSV with a learning-rate x batch-size grid, fitted too.
        preset: The preset to compare with (an id, a path or a loaded :class:`Preset`).
        column_map: Our column name -> the file's, e.g. ``{"loss": "val_bpb"}``.
        threshold: Near-optimal band of the hyperparameter fit, as a fraction of the best loss.
        bootstrap: Resamples for 95% intervals (0: none).
        seed: Seed of the bootstrap.
        predict_at: Budgets (FLOPs) at which to evaluate the fitted laws.
        curve: The curve through each IsoFLOP profile (:func:`dsplan.fitting.fit_isoflop`).

    Raises:
        InputError: an unreadable file, a bad cell or column, a preset whose laws are not in M.
    """
    reference = preset if isinstance(preset, Preset) else load_preset(preset)
    m_form(reference, "dsplan fit")  # the fit works in M and Eq. 1: refuse other laws up front
    if hyperparameters is not None and kind == "hyperparameters":
        raise InputError("a hyperparameter grid is added to an IsoFLOP file: give one of them")
    files = [(results, kind)]
    if hyperparameters is not None:
        files.append((hyperparameters, "hyperparameters"))
    datasets = {what: read_sweep(path, kind=what, column_map=column_map) for path, what in files}
    iso = hp = None
    if "isoflop" in datasets:
        iso = fit_isoflop(datasets["isoflop"], bootstrap=bootstrap, seed=seed, curve=curve)
    if "hyperparameters" in datasets:
        hp = fit_hyperparameters(
            datasets["hyperparameters"], threshold=threshold, bootstrap=bootstrap, seed=seed
        )
    dropped = [w for d in datasets.values() for w in d.warnings]
    return report(iso, hp, reference, predict_at, dropped)
