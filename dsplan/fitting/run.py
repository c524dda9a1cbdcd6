"""The fit in one call, as ``dsplan fit`` does it: read the results file(s), fit, gather the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from dsplan.catalog.presets import DEFAULT_PRESET, Preset, load_preset
from dsplan.errors import InputError
from dsplan.fitting.data import SweepData, sweep_data
from dsplan.fitting.hyperparameters import DEFAULT_THRESHOLD, fit_hyperparameters
from dsplan.fitting.isoflop import fit_isoflop
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
        iso = fit_isoflop(datasets["isoflop"], bootstrap=bootstrap, seed=seed)
    if "hyperparameters" in datasets:
        hp = fit_hyperparameters(
            datasets["hyperparameters"], threshold=threshold, bootstrap=bootstrap, seed=seed
        )
    dropped = [w for d in datasets.values() for w in d.warnings]
    return report(iso, hp, reference, predict_at, dropped)
