"""Fit scaling laws to a user's sweep: IsoFLOP profiles and hyperparameter grids.

The maths (docs/sweep-and-fit.md writes it out):

* **IsoFLOP** (arXiv 2401.02954, Section 3.2, Figure 4). At each budget C, fit a parabola of the
  loss against u = ln M (standardised per budget) through that budget's runs (at least 3); its vertex
  is M_opt(C) and the loss there L_opt(C). D_opt(C) is the vertex of the same parabola against
  ln D. Then least squares in log-log space across budgets: M_opt = k C^a, D_opt = k' C^b, and
  L_opt = k'' C^g (the paper's Figure 5 fits a power law of the optimal loss to compute; its form
  and coefficients are unpublished, so the pure power law is our choice).
* **Hyperparameters** (Section 3.1, Figure 3). At each budget keep the runs whose loss is at most
  ``threshold`` (0.25% in the paper) above that budget's best, then fit ln eta = ln k + e ln C and
  ln B = ln k + e ln C by least squares over all the near-optimal runs together.
* **Bootstrap.** Resample the runs with replacement *within each budget* (the budgets are the
  design, not a sample), refit, and take the 2.5th and 97.5th percentiles. Every resample is a
  vector of counts per run, so the sums behind all parabolas and regressions are one batched matrix
  product per chunk of resamples: 10,000 runs x 1,000 resamples take well under 5 s (bench/fit.py).
  A budget whose resampled profile loses its minimum (fewer than 3 distinct runs, or not convex)
  is left out of that resample's regression; a resample left with fewer than 2 budgets fails and
  is counted. The intervals reflect run-to-run noise only, not the parabola's misfit to the true
  profile (docs/sweep-and-fit.md, "How far to trust the intervals").

numpy is imported inside the functions that need it, never at module level, so that importing
:mod:`dsplan.fitting` (and ``dsplan --help``) stays fast.
"""

from dsplan.fitting.data import (
    ALL_COLUMNS,
    HYPERPARAMETER_COLUMNS,
    ISOFLOP_COLUMNS,
    KINDS,
    SweepData,
    budget_key,
    parse_column_map,
    sweep_data,
)
from dsplan.fitting.hyperparameters import (
    DEFAULT_THRESHOLD,
    HyperparameterBudget,
    HyperparameterFit,
    fit_hyperparameters,
)
from dsplan.fitting.isoflop import BudgetFit, IsoFlopFit, fit_isoflop
from dsplan.fitting.numerics import CONFIDENCE, Bootstrap, LawFit, Progress
from dsplan.fitting.parametric import (
    ParametricData,
    ParametricFit,
    fit_parametric,
)
from dsplan.fitting.report import (
    PARAMS_CONVENTIONS,
    FitReport,
    Prediction,
    parametric_preset_toml,
    predict,
    preset_toml,
    report,
)
from dsplan.fitting.run import fit, fit_parametric_file, read_parametric, read_sweep

__all__ = [
    "ALL_COLUMNS",
    "CONFIDENCE",
    "DEFAULT_THRESHOLD",
    "HYPERPARAMETER_COLUMNS",
    "ISOFLOP_COLUMNS",
    "KINDS",
    "PARAMS_CONVENTIONS",
    "Bootstrap",
    "BudgetFit",
    "FitReport",
    "HyperparameterBudget",
    "HyperparameterFit",
    "IsoFlopFit",
    "LawFit",
    "ParametricData",
    "ParametricFit",
    "Prediction",
    "Progress",
    "SweepData",
    "budget_key",
    "fit",
    "fit_hyperparameters",
    "fit_isoflop",
    "fit_parametric",
    "fit_parametric_file",
    "parametric_preset_toml",
    "parse_column_map",
    "predict",
    "preset_toml",
    "read_parametric",
    "read_sweep",
    "report",
    "sweep_data",
]
