"""Chinchilla's Approach 3, as Besiroglu et al. 2024 showed it must be done: L(X, D) fitted directly.

The law is ``L(X, D) = E + A / X^alpha + B / D^beta`` with X the parameters N (a ``params`` column)
or the FLOPs per token M (``flops_per_token``, DeepSeek's unit), and D the tokens (a ``tokens``
column, or ``compute_flops`` with D = C / (6N) or D = C / M).

The method (Hoffmann et al. 2022, arXiv 2203.15556, Section 3.3 and Appendix D.2, as corrected by
Besiroglu et al. 2024, arXiv 2404.10102, Section 2): minimise the sum over runs of
``Huber_delta(LSE(a - alpha ln X, b - beta ln D, e) - ln L)`` with delta = 1e-3, in the log-sum-exp
parametrisation a = ln A, b = ln B, e = ln E, by L-BFGS-B (scipy.optimize) from a grid of starting
points (Hoffmann's grid: alpha, beta in 0..2 step 0.5, e in -1..1 step 0.5, a, b in 0..25 step 5:
4,500 starts), and keep the best *converged* fit. The gradient is analytic and the tolerances are
tight (``ftol`` 1e-15, ``gtol`` 1e-12): the objective is about 1e-3 at the optimum, and scipy's
default ``ftol`` (2.2e-9, relative to max(|f|, 1)) stops the optimiser early, which the replication
traced Chinchilla's misfit to.

Speed: the objective of every grid start is one vectorised evaluation; only the ``starts`` best (100
by default) are optimised, the rest are pruned. On the Chinchilla Figure 4 data the best 50, 100
and 200 starts and the full grid give the same optimum (to 7 digits).

Bootstrap: the runs are resampled with replacement and the law refitted from the full-data optimum;
the interval of every parameter, and of the derived a = beta / (alpha + beta), G and the
compute-optimal allocation at ``--predict`` budgets, is the 2.5th to 97.5th percentile of the
converged refits (non-converged refits are counted and left out).

numpy and scipy are imported inside the functions that use them, never at module level.

The fitted law is written as a preset by :func:`dsplan.fitting.report.parametric_preset_toml`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dsplan.catalog.presets import FitRange
from dsplan.errors import InputError, SweepDataError
from dsplan.fitting.data import SweepData
from dsplan.fitting.numerics import CONFIDENCE, MAX_BOOTSTRAP, Progress

HUBER_DELTA = 1e-3
# Hoffmann et al. 2022, Appendix D.2 (as in Epoch's notebook): the grid of initial values.
GRID_A = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
GRID_B = GRID_A
GRID_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
GRID_ALPHA = (0.0, 0.5, 1.0, 1.5, 2.0)
GRID_BETA = GRID_ALPHA
# Our choices: how many grid starts survive the cheap pass, and the optimiser's tolerances.
DEFAULT_STARTS = 100
FTOL = 1e-15
GTOL = 1e-12
MAXITER = 10_000
# Our threshold for the extrapolation warning, as in the IsoFLOP fit.
EXTRAPOLATION_WARN_ORDERS = 1.0
X_KINDS = ("params", "flops_per_token")
PARAMS = ("e", "a", "b", "alpha", "beta")


@dataclass(frozen=True)
class ParametricData:
    """The runs of a parametric fit: model size X (N or M), tokens D and loss, one entry a run."""

    source: str
    x_kind: str
    x: tuple[float, ...]
    tokens: tuple[float, ...]
    loss: tuple[float, ...]
    tokens_basis: str
    dropped: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def flops_factor(self) -> float:
        """C = factor x X x D: 6 for parameters (C = 6ND), 1 for M (C = MD)."""
        return 6.0 if self.x_kind == "params" else 1.0


def parametric_data(sweep: SweepData, x_kind: str, drop_highest_loss: int = 0) -> ParametricData:
    """The runs of ``sweep`` (columns ``x_kind``, ``loss`` and ``tokens`` or ``compute_flops``).

    ``drop_highest_loss`` leaves out that many runs with the highest loss (Besiroglu et al. left out
    5 of Chinchilla's 245).

    Raises:
        SweepDataError: fewer than 6 runs left (five parameters need more runs than that).
    """
    if x_kind not in X_KINDS:
        raise InputError(f"the model size must be one of {', '.join(X_KINDS)}, got {x_kind!r}")
    x = list(sweep.column(x_kind))
    loss = list(sweep.column("loss"))
    factor = 6.0 if x_kind == "params" else 1.0
    if "tokens" in sweep.columns:
        tokens = list(sweep.column("tokens"))
        basis = "tokens column"
    else:
        tokens = [c / (factor * s) for c, s in zip(sweep.column("compute_flops"), x, strict=True)]
        basis = "D = C / (6N)" if x_kind == "params" else "D = C / M"
    if drop_highest_loss < 0:
        raise InputError("the number of highest-loss runs to drop must be >= 0")
    dropped: list[float] = []
    if drop_highest_loss:
        order = sorted(range(len(loss)), key=lambda i: (-loss[i], i))
        gone = set(order[:drop_highest_loss])
        dropped = sorted((loss[i] for i in gone), reverse=True)
        keep = [i for i in range(len(loss)) if i not in gone]
        x, tokens, loss = ([v[i] for i in keep] for v in (x, tokens, loss))
    if len(loss) < 6:
        raise SweepDataError(
            f"{sweep.source}: {len(loss)} run(s) to fit; the parametric law has 5 parameters "
            "and needs at least 6 runs (dozens in practice)"
        )
    return ParametricData(
        source=sweep.source,
        x_kind=x_kind,
        x=tuple(x),
        tokens=tuple(tokens),
        loss=tuple(loss),
        tokens_basis=basis,
        dropped=tuple(dropped),
        warnings=sweep.warnings,
    )


def _objective(theta: Any, lx: Any, ld: Any, ly: Any, weights: Any) -> tuple[float, Any]:
    """The weighted Huber objective on log-loss residuals and its analytic gradient."""
    import numpy as np

    a, b, e, alpha, beta = theta
    t1 = a - alpha * lx
    t2 = b - beta * ld
    top = np.maximum(np.maximum(t1, t2), e)
    w1, w2, w3 = np.exp(t1 - top), np.exp(t2 - top), np.exp(e - top)
    total = w1 + w2 + w3
    r = top + np.log(total) - ly
    size = np.abs(r)
    small = size <= HUBER_DELTA
    huber = np.where(small, 0.5 * r * r, HUBER_DELTA * (size - 0.5 * HUBER_DELTA))
    slope = weights * np.where(small, r, HUBER_DELTA * np.sign(r)) / total
    g1, g2 = slope * w1, slope * w2
    grad = np.array(
        [g1.sum(), g2.sum(), (slope * w3).sum(), -(g1 @ lx), -(g2 @ ld)], dtype=np.float64
    )
    return float(weights @ huber), grad


def _grid_objective(starts: Any, lx: Any, ld: Any, ly: Any) -> Any:
    """The objective at every start at once (the cheap pass), chunked to bound memory."""
    import numpy as np

    out = np.empty(len(starts))
    step = max(1, 2_000_000 // max(len(lx), 1))
    for lo in range(0, len(starts), step):
        p = starts[lo : lo + step]
        a, b, e, alpha, beta = (p[:, i : i + 1] for i in range(5))
        t1, t2 = a - alpha * lx, b - beta * ld
        top = np.maximum(np.maximum(t1, t2), e)
        r = top + np.log(np.exp(t1 - top) + np.exp(t2 - top) + np.exp(e - top)) - ly
        size = np.abs(r)
        out[lo : lo + step] = np.where(
            size <= HUBER_DELTA, 0.5 * r * r, HUBER_DELTA * (size - 0.5 * HUBER_DELTA)
        ).sum(axis=1)
    return out


def _scipy_minimize() -> Any:
    """scipy.optimize.minimize, its OpenBLAS held to one thread unless the user chose otherwise.

    L-BFGS-B calls LAPACK on 5 x 5 matrices; with OpenBLAS's default of one thread per core, every
    call wakes the pool, and on a busy 2-core machine one fit from one start took 0.46 s instead of
    8 ms. scipy's OpenBLAS reads the variable when it is loaded, so it is set (if unset) before the
    first import; nothing else in dsplan uses scipy.
    """
    if "scipy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from scipy.optimize import minimize

    return minimize


def _minimise(
    start: Any, lx: Any, ld: Any, ly: Any, weights: Any, centre: tuple[float, float]
) -> tuple[Any, float, bool]:
    """L-BFGS-B from ``start`` (a, b, e, alpha, beta); the optimum, its objective, converged.

    The optimiser works on centred logs (ln X - mean, ln D - mean, with a and b shifted to match),
    the same law in coordinates where a and alpha are no longer almost collinear: on Chinchilla's
    runs a bootstrap refit takes about 3 ms instead of 170 ms, and stops closer to the optimum.
    """
    import numpy as np

    minimize = _scipy_minimize()
    mx, md = centre
    shifted = np.array(start, dtype=np.float64)
    shifted[0] -= shifted[3] * mx
    shifted[1] -= shifted[4] * md
    res = minimize(
        _objective,
        shifted,
        args=(lx - mx, ld - md, ly, weights),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": MAXITER, "maxfun": 2 * MAXITER, "ftol": FTOL, "gtol": GTOL},
    )
    theta = np.array(res.x, dtype=np.float64)
    theta[0] += theta[3] * mx
    theta[1] += theta[4] * md
    return theta, float(res.fun), bool(res.success)


def grid_starts() -> list[tuple[float, float, float, float, float]]:
    """Hoffmann's grid of initial values (a, b, e, alpha, beta): 6 x 6 x 5 x 5 x 5 = 4,500."""
    return [
        (a, b, e, alpha, beta)
        for a in GRID_A
        for b in GRID_B
        for e in GRID_E
        for alpha in GRID_ALPHA
        for beta in GRID_BETA
    ]


@dataclass(frozen=True)
class Estimate:
    """One fitted quantity and its 95% bootstrap interval (None without --bootstrap)."""

    value: float
    interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "interval": None if self.interval is None else list(self.interval),
        }


@dataclass(frozen=True)
class ParametricPrediction:
    """The compute-optimal allocation the fitted law implies at one budget (closed form)."""

    compute_flops: float
    size_opt: Estimate
    tokens_opt: Estimate
    loss_opt: Estimate
    orders_beyond: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "compute_flops": self.compute_flops,
            "size_opt": self.size_opt.to_dict(),
            "tokens_opt": self.tokens_opt.to_dict(),
            "tokens_per_size": self.tokens_opt.value / self.size_opt.value,
            "loss_opt": self.loss_opt.to_dict(),
            "orders_beyond": self.orders_beyond,
        }


@dataclass(frozen=True)
class ParametricFit:
    """``L(X, D) = E + A / X^alpha + B / D^beta`` fitted to a user's runs, with intervals."""

    source: str
    x_kind: str
    n_runs: int
    tokens_basis: str
    dropped: tuple[float, ...]
    params: dict[str, Estimate]
    allocation_exponent: Estimate
    allocation_coefficient: Estimate
    objective: float
    starts_total: int
    starts_run: int
    starts_converged: int
    fit_range: FitRange
    resamples: int
    seed: int
    failed: int
    predictions: tuple[ParametricPrediction, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def flops_factor(self) -> float:
        return 6.0 if self.x_kind == "params" else 1.0

    def value(self, name: str) -> float:
        return self.params[name].value

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "kind": "parametric",
            "source": self.source,
            "n_runs": self.n_runs,
            "model_size": self.x_kind,
            "tokens_basis": self.tokens_basis,
            "dropped_losses": list(self.dropped),
            "law": "L = e + a / X ** alpha + b / D ** beta",
            "loss": {k: self.params[k].value for k in PARAMS},
            "loss_intervals": {k: self.params[k].to_dict()["interval"] for k in PARAMS},
            "allocation": {
                "exponent": self.allocation_exponent.to_dict(),
                "coefficient": self.allocation_coefficient.to_dict(),
                "form": (
                    "X_opt = coefficient * (C / 6) ** exponent"
                    if self.x_kind == "params"
                    else "X_opt = coefficient * C ** exponent"
                ),
            },
            "objective": self.objective,
            "huber_delta": HUBER_DELTA,
            "starts": {
                "grid": self.starts_total,
                "optimised": self.starts_run,
                "converged": self.starts_converged,
            },
            "fit_range": self.fit_range.to_dict(),
            "bootstrap": (
                None
                if self.resamples == 0
                else {
                    "resamples": self.resamples,
                    "seed": self.seed,
                    "failed": self.failed,
                    "confidence": CONFIDENCE,
                    "method": "runs resampled with replacement; refitted from the full-data "
                    "optimum; percentile intervals of the converged refits",
                }
            ),
            "predictions": [p.to_dict() for p in self.predictions],
            "warnings": list(self.warnings),
        }


def optimum(theta: Sequence[float], factor: float, compute_flops: float) -> tuple[float, float]:
    """The argmin of L(X, D) on C = factor X D, in closed form (Hoffmann et al., Appendix D.2)."""
    a, b, _e, alpha, beta = theta
    s = alpha + beta
    g = (alpha * math.exp(a) / (beta * math.exp(b))) ** (1 / s)
    x = g * (compute_flops / factor) ** (beta / s)
    return x, compute_flops / (factor * x)


def _loss_at(theta: Sequence[float], x: float, d: float) -> float:
    a, b, e, alpha, beta = theta
    return float(math.exp(e) + math.exp(a) / x**alpha + math.exp(b) / d**beta)


def _derived(theta: Sequence[float], factor: float, budgets: Sequence[float]) -> list[float]:
    """E, A, B, alpha, beta, a, G, then (X_opt, D_opt, L_opt) at each budget."""
    a, b, e, alpha, beta = theta
    s = alpha + beta
    out = [math.exp(e), math.exp(a), math.exp(b), alpha, beta, beta / s]
    out.append((alpha * math.exp(a) / (beta * math.exp(b))) ** (1 / s))
    for c in budgets:
        x, d = optimum(theta, factor, c)
        out += [x, d, _loss_at(theta, x, d)]
    return out


def fit_parametric(
    data: ParametricData,
    *,
    starts: int = DEFAULT_STARTS,
    bootstrap: int = 0,
    seed: int = 0,
    predict_at: Sequence[float] = (),
    progress: Progress | None = None,
) -> ParametricFit:
    """Fit the parametric loss to ``data`` (module docstring), with bootstrap intervals.

    Args:
        starts: Grid starts optimised after the cheap pass (0: all 4,500).
        bootstrap: Resamples for the 95% intervals (0: none).
        predict_at: Budgets (FLOPs) at which to give the compute-optimal allocation.

    Raises:
        InputError: a bad ``starts`` or ``bootstrap``.
        SweepDataError: no start converged (exit 1 at the CLI).
    """
    import numpy as np

    if starts < 0:
        raise InputError("the number of starts must be >= 0 (0: the whole grid)")
    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise InputError(f"bootstrap must be between 0 and {MAX_BOOTSTRAP}, got {bootstrap}")
    lx = np.log(np.asarray(data.x, dtype=np.float64))
    ld = np.log(np.asarray(data.tokens, dtype=np.float64))
    ly = np.log(np.asarray(data.loss, dtype=np.float64))
    ones = np.ones(len(ly))
    centre = (float(lx.mean()), float(ld.mean()))
    grid = np.asarray(grid_starts(), dtype=np.float64)
    if starts and starts < len(grid):
        cheap = _grid_objective(grid, lx, ld, ly)
        grid = grid[np.argsort(cheap, kind="stable")[:starts]]
    best: tuple[Any, float] | None = None
    converged = 0
    for start in grid:
        theta, value, ok = _minimise(start, lx, ld, ly, ones, centre)
        if not ok:
            continue
        converged += 1
        if best is None or value < best[1]:
            best = (theta, value)
    if best is None:
        raise SweepDataError(
            f"{data.source}: none of the {len(grid)} starts converged; the runs do not pin the "
            "five parameters down (more runs, or a wider range of sizes and tokens, would)"
        )
    theta = [float(v) for v in best[0]]
    factor = data.flops_factor
    point = _derived(theta, factor, predict_at)

    failed = 0
    intervals: list[tuple[float, float] | None] = [None] * len(point)
    if bootstrap:
        rng = np.random.default_rng(seed)
        n = len(ly)
        samples = []
        for k in range(bootstrap):
            counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
            refit, _value, ok = _minimise(np.asarray(theta), lx, ld, ly, counts, centre)
            if ok:
                samples.append(_derived([float(v) for v in refit], factor, predict_at))
            else:
                failed += 1
            if progress is not None:
                progress(k + 1, bootstrap)
        if samples:
            table = np.asarray(samples)
            tail = (1 - CONFIDENCE) / 2 * 100
            lo = np.percentile(table, tail, axis=0)
            hi = np.percentile(table, 100 - tail, axis=0)
            intervals = [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]

    def est(i: int) -> Estimate:
        return Estimate(point[i], intervals[i])

    xs, ds = data.x, data.tokens
    comp = [factor * x * d for x, d in zip(xs, ds, strict=True)]
    if data.x_kind == "params":
        fit_range = FitRange(min(comp), max(comp), min(xs), max(xs), min(ds), max(ds))
    else:
        fit_range = FitRange(min(comp), max(comp), None, None, min(ds), max(ds))
    warnings = list(data.warnings)
    if failed:
        warnings.append(f"bootstrap: {failed} of {bootstrap} refits did not converge; left out")
    predictions = []
    for j, c in enumerate(predict_at):
        base = 7 + 3 * j
        x_opt, d_opt = point[base], point[base + 1]
        beyond = FitRange(min(comp), max(comp)).orders_beyond(c)
        if data.x_kind == "params":
            beyond = max(beyond, fit_range.orders_beyond(None, x_opt, d_opt))
        if beyond > EXTRAPOLATION_WARN_ORDERS:
            warnings.append(
                f"prediction at {c:.3g} FLOPs lies {beyond:.1f} orders of magnitude outside the "
                f"fitted runs ({min(comp):.3g} to {max(comp):.3g} FLOPs): an extrapolation"
            )
        predictions.append(ParametricPrediction(c, est(base), est(base + 1), est(base + 2), beyond))
    return ParametricFit(
        source=data.source,
        x_kind=data.x_kind,
        n_runs=len(data),
        tokens_basis=data.tokens_basis,
        dropped=data.dropped,
        params={name: est(i) for i, name in enumerate(PARAMS)},
        allocation_exponent=est(5),
        allocation_coefficient=est(6),
        objective=best[1],
        starts_total=len(grid_starts()),
        starts_run=len(grid),
        starts_converged=converged,
        fit_range=fit_range,
        resamples=bootstrap,
        seed=seed,
        failed=failed,
        predictions=tuple(predictions),
        warnings=tuple(warnings),
    )
