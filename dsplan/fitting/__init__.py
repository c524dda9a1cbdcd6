"""Fit scaling laws to a user's sweep: IsoFLOP profiles and hyperparameter grids.

The maths (docs/sweep-and-fit.md writes it out):

* **IsoFLOP** (arXiv 2401.02954, Section 3.2, Figure 4). Through each budget's runs, the curve of
  the loss law's own form, E_b + P_b / M^alpha + Q_b / D^beta, with alpha and beta shared by the
  budgets (:mod:`dsplan.fitting.curves`; the paper does not state its curve, and a parabola in ln M,
  still available, puts its vertex off the true minimum, issue #16). Its minimum along the budget's
  IsoFLOP line is M_opt(C), D_opt(C) = C / M_opt(C) and L_opt(C). Then least squares in log-log
  space across budgets: M_opt = k C^a, D_opt = k' C^b, L_opt = k'' C^g, and L_opt = E + k C^g with
  an irreducible term.
* **Hyperparameters** (Section 3.1, Figure 3). At each budget keep the runs whose loss is at most
  ``threshold`` (0.25% in the paper) above that budget's best, then fit ln eta = ln k + e ln C and
  ln B = ln k + e ln C by least squares over all the near-optimal runs together.
* **Bootstrap.** IsoFLOP: the residuals of each budget's curve are resampled with replacement and
  added back (the runs' sizes are the sweep's design, not a sample), each resample takes one
  Gauss-Newton step for the exponents and exact least squares for the coefficients, and the
  intervals are the 2.5th and 97.5th percentiles. Hyperparameters (and ``curve="parabola"``): runs
  resampled with replacement within each budget. Every resample is a row of counts or draws per
  run, so the sums behind all fits are batched matrix products per chunk of resamples (10,000
  runs x 1,000 resamples in a few seconds, bench/fit.py). A test measures the intervals' coverage
  on synthetic sweeps with a known truth (tests/test_fit_isoflop_curve.py).

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
