"""The IsoFLOP fit: M_opt, D_opt and the optimal loss as power laws in compute (arXiv 2401.02954, Section 3.2)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dsplan.catalog.presets import FitRange
from dsplan.errors import FitError, InputError
from dsplan.fitting.curves import (
    EXPONENT_MAX,
    EXPONENT_MIN,
    G_INDEX,
    N_FEATURES,
    T_INDEX,
    columns,
    fit_curves,
    linearised_step,
    minima,
    solve_linear,
    weighted_sums,
)
from dsplan.fitting.data import SweepData
from dsplan.fitting.numerics import (
    MAX_BOOTSTRAP,
    Bootstrap,
    FloorLawFit,
    LawFit,
    Progress,
    budget_groups,
    draw_chunks,
    floor_law_from,
    floor_loglinear,
    law_from,
    loglinear,
    padded,
    parabola_vertex,
    percentile_interval,
    weight_chunks,
)

MIN_POINTS = 3
CURVES = ("family", "parabola")
RESIDUAL_METHOD = (
    "residuals resampled with replacement within each budget and added to its fitted curve (the "
    "runs' M and D kept); each resample refitted by one Gauss-Newton step from the fit, the "
    "shared exponents included; percentile intervals"
)
PAIRS_METHOD = "runs resampled with replacement within each budget; percentile intervals"
# Our thresholds for diagnostics, not the paper's.
EXPONENT_SUM_TOLERANCE = 0.05
COMPUTE_MISMATCH = 0.01


@dataclass(frozen=True)
class BudgetFit:
    """One IsoFLOP profile: its parabola's minimum, or why it was left out."""

    compute_flops: float
    n_runs: int
    used: bool
    flops_per_token_opt: float | None
    tokens_opt: float | None
    loss_opt: float | None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class IsoFlopFit:
    """The allocation laws and the loss-vs-compute law from IsoFLOP profiles."""

    source: str
    n_runs: int
    budgets: tuple[BudgetFit, ...]
    model_scaling: LawFit
    data_scaling: LawFit
    loss_scaling: LawFit
    fit_range: FitRange
    bootstrap: Bootstrap | None
    warnings: tuple[str, ...]
    # L_opt = E + k C^g across the budgets (None with fewer than 3 budgets): the loss law with an
    # irreducible term, which the pure power law above lacks (it falls below E beyond the sweep).
    loss_floor_scaling: FloorLawFit | None = None
    # The curve through the profiles (None: parabolas in ln M).
    curve: CurveShape | None = None


@dataclass(frozen=True)
class CurveShape:
    """The exponents of the per-budget curve E_b + P_b / M^alpha + Q_b / D^beta, shared by all."""

    alpha: float
    beta: float
    alpha_interval: tuple[float, float] | None = None
    beta_interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": "E_b + P_b / M^alpha + Q_b / D^beta per budget, alpha and beta shared",
            "alpha": self.alpha,
            "beta": self.beta,
            "alpha_interval": None if self.alpha_interval is None else list(self.alpha_interval),
            "beta_interval": None if self.beta_interval is None else list(self.beta_interval),
        }


def fit_isoflop(
    data: SweepData,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
    curve: str = "family",
) -> IsoFlopFit:
    """Fit M_opt = k C^a, D_opt = k' C^b and L_opt = k'' C^g to IsoFLOP profiles.

    Args:
        data: Runs with ``compute_flops``, ``flops_per_token``, ``tokens`` and ``loss``.
        bootstrap: Number of resamples for 95% intervals (0: none).
        seed: Seed of the resampling; the same data, count and seed give the same intervals.
        progress: Called as ``progress(done, total)`` after each chunk of resamples.
        curve: The curve through each profile: ``"family"`` (E + P / M^alpha + Q / D^beta with
            exponents shared by the budgets, :mod:`dsplan.fitting.curves`) or ``"parabola"`` (in
            ln M, the fit before issue #16; biased where the profile is not a parabola).

    Returns:
        An :class:`IsoFlopFit`; its ``warnings`` carry the diagnostics.

    Raises:
        InputError: a negative ``bootstrap``, an unknown ``curve``.
        FitError: fewer than 2 budgets keep a usable minimum (3 distinct runs and a convex profile).

    References:
        arXiv 2401.02954, Section 3.2 and Figure 4 (IsoFLOP profiles, M_opt and D_opt power laws),
        Figure 5 (optimal loss against compute). The paper does not state the curve it fits
        through a profile; the family of the Chinchilla loss is our choice (issue #16, part 0).
    """
    import numpy as np

    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise InputError(
            f"the bootstrap resamples must be 0 to {MAX_BOOTSTRAP:,}, got {bootstrap}",
            quantity="bootstrap",
        )
    if curve not in CURVES:
        raise InputError(
            f"the IsoFLOP curve must be one of {', '.join(CURVES)}, got {curve!r}", quantity="curve"
        )
    budgets, groups = budget_groups(data)
    warnings: list[str] = []
    compute = np.array(data.column("compute_flops"))
    m = np.array(data.column("flops_per_token"))
    d = np.array(data.column("tokens"))
    loss = np.array(data.column("loss"))
    mismatch = np.abs(m * d / compute - 1) > COMPUTE_MISMATCH
    if mismatch.any():
        rows = [str(i + 1) for i in np.flatnonzero(mismatch)[:5]]
        warnings.append(
            f"{data.source}: flops_per_token x tokens differs from compute_flops by more than "
            f"{COMPUTE_MISMATCH:.0%} in {int(mismatch.sum())} run(s) (rows {', '.join(rows)}"
            f"{' ...' if mismatch.sum() > 5 else ''}); M_opt and D_opt may not multiply to C"
        )

    sizes = np.array([len(g) for g in groups])
    width = int(sizes.max())
    slots = np.arange(width)[None, :] < sizes[:, None]
    lm = padded(np.log(m).tolist(), groups)
    ld = padded(np.log(d).tolist(), groups)
    y = padded(loss.tolist(), groups)
    distinct = [len({float(v) for v in lm[b, : sizes[b]]}) for b in range(len(groups))]
    enough = np.array(distinct) >= MIN_POINTS
    # The family needs runs beyond 3 per budget to tell its exponents (2 of them) from noise.
    spare = sum(n - MIN_POINTS for n in distinct if n >= MIN_POINTS)
    if curve == "family" and spare < 2:
        warnings.append(
            f"{spare} run(s) beyond the 3 that each budget's curve needs: too few to fit the "
            "curve's exponents; parabolas in ln M are used (biased where the profile is not one)"
        )
        curve = "parabola"
    shape: Callable[[], CurveShape] | None = None
    if curve == "family":
        solve, shape = _family_solver(lm, ld, y, slots, enough)
    else:
        solve = _parabola_solver(lm, ld, y, sizes, slots)

    lm_star, ld_star, ll_star, ok_point = (a[0] for a in solve(None))
    lm_lo = np.array([lm[b, : sizes[b]].min() for b in range(len(groups))])
    lm_hi = np.array([lm[b, : sizes[b]].max() for b in range(len(groups))])
    rows_out: list[BudgetFit] = []
    used = []
    for b, c in enumerate(budgets):
        n = int(sizes[b])
        note = None
        if distinct[b] < MIN_POINTS:
            note = f"only {distinct[b]} distinct model size(s); a curve needs {MIN_POINTS}"
            warnings.append(f"budget {c:.3g} FLOPs: too few points ({note}); left out")
        elif not ok_point[b]:
            note = "the profile is not convex (no minimum)"
            warnings.append(f"budget {c:.3g} FLOPs: {note}; left out")
        if note is not None:
            rows_out.append(BudgetFit(c, n, False, None, None, None, note))
            continue
        used.append(b)
        best = int(np.argmin(y[b, :n]))
        order = np.argsort(lm[b, :n])
        if not lm_lo[b] <= lm_star[b] <= lm_hi[b]:
            note = "minimum outside the sampled model sizes (extrapolated)"
        elif best in (int(order[0]), int(order[-1])):
            note = "lowest loss at the edge of the sampled model sizes"
        if note is not None:
            warnings.append(
                f"budget {c:.3g} FLOPs: {note}; the sweep may have missed the optimum, "
                "extend its span on that side"
            )
        rows_out.append(
            BudgetFit(
                c,
                n,
                True,
                float(math.exp(lm_star[b])),
                float(math.exp(ld_star[b])),
                float(math.exp(ll_star[b])),
                note,
            )
        )
    if len(used) < 2:
        raise FitError(
            f"{data.source}: only {len(used)} budget(s) have a usable IsoFLOP minimum "
            "(3 distinct model sizes and a convex profile); a power law needs 2"
        )
    idx = np.array(used)
    lc = np.log(np.array(budgets))[idx]
    points = [loglinear(lc, v[idx]) for v in (lm_star, ld_star, ll_star)]
    floor_point = floor_loglinear(lc, ll_star[idx])
    floor_samples: list[Any] = [[], [], []]
    point_pairs = [(float(s), float(i)) for s, i in points]

    boot: Bootstrap | None = None
    samples: list[tuple[Any, Any, Any] | None] = [None] * 3
    if bootstrap > 0:
        acc: list[list[Any]] = [[] for _ in range(7)]
        lost = 0
        chunks = (draw_chunks if curve == "family" else weight_chunks)(
            sizes, width, bootstrap, seed, progress
        )
        for chunk in chunks:
            bm, bd, bl, bok = solve(chunk)
            # A budget whose profile loses its minimum in a resample is left out of that
            # resample's regression; a resample with fewer than 2 budgets left fails.
            valid = bok[:, idx]
            for k, v in enumerate((bm, bd, bl)):
                slope, intercept = loglinear(lc, v[:, idx], valid)
                acc[2 * k].append(slope)
                acc[2 * k + 1].append(intercept)
            acc[6].append(valid.sum(axis=1) >= 2)
            for k, v in enumerate(floor_loglinear(lc, bl[:, idx], valid)):
                floor_samples[k].append(v)
            lost += int((~valid).sum())
        cat = [np.concatenate(a) for a in acc]
        ok_all = cat[6]
        samples = [(cat[2 * k], cat[2 * k + 1], ok_all) for k in range(3)]
        failed = int((~ok_all).sum())
        boot = Bootstrap(
            bootstrap, seed, failed, RESIDUAL_METHOD if curve == "family" else PAIRS_METHOD
        )
        if lost:
            warnings.append(
                f"bootstrap: {lost} of {bootstrap * len(used)} resampled profiles had no minimum "
                f"(too few distinct runs, or not convex) and were left out of their resample; "
                f"{failed} resample(s) failed outright"
            )
        if failed == bootstrap:
            warnings.append("bootstrap: every resample failed; no intervals")
    laws = [law_from(point_pairs[k], samples[k]) for k in range(3)]
    floor_law = None
    if len(used) >= 3:
        floor_law = floor_law_from(
            floor_point,
            tuple(np.concatenate(v) for v in floor_samples) if bootstrap > 0 else None,  # type: ignore[arg-type]
        )
    else:
        warnings.append(
            f"only {len(used)} budgets: the loss law with an irreducible term (L_opt = E + k C^g) "
            "needs 3; predictions use the pure power law"
        )
    a, b_exp = laws[0].exponent, laws[1].exponent
    if abs(a + b_exp - 1) > EXPONENT_SUM_TOLERANCE:
        warnings.append(
            f"the exponents a = {a:.3f} and b = {b_exp:.3f} sum to {a + b_exp:.3f}, not about 1: "
            "M x D does not track C (check compute_flops against flops_per_token x tokens)"
        )
    fitted = [budgets[i] for i in used]
    return IsoFlopFit(
        source=data.source,
        n_runs=len(data),
        budgets=tuple(rows_out),
        model_scaling=laws[0],
        data_scaling=laws[1],
        loss_scaling=laws[2],
        fit_range=FitRange(min(fitted), max(fitted)),
        bootstrap=boot,
        warnings=tuple(warnings),
        loss_floor_scaling=floor_law,
        curve=None if shape is None else shape(),
    )


Solver = Callable[[Any], tuple[Any, Any, Any, Any]]


def _parabola_solver(lm: Any, ld: Any, y: Any, sizes: Any, slots: Any) -> Solver:
    """Per-budget ln M*, ln D*, ln L* and validity from parabolas in ln M and in ln D."""
    import numpy as np

    n_budgets = len(sizes)
    centres, scales = [], []
    features = []
    for x in (lm, ld):
        centre = np.array([x[b, : sizes[b]].mean() for b in range(n_budgets)])
        scale = np.array([x[b, : sizes[b]].std() for b in range(n_budgets)])
        scale = np.where(scale > 0, scale, 1.0)
        u = (x - centre[:, None]) / scale[:, None]
        features += [u**k for k in range(5)] + [y * u**k for k in range(3)]
        centres.append(centre)
        scales.append(scale)
    feat = np.stack(features, axis=-1)  # (B, width, 16)

    def solve(weights: Any) -> tuple[Any, Any, Any, Any]:
        """For weights of shape (R, B, width); None: every run once."""
        if weights is None:
            weights = slots[None].astype(np.float64)
        sums = np.matmul(weights.transpose(1, 0, 2), feat).transpose(1, 0, 2)  # (R, B, 16)
        um, ym, okm = parabola_vertex(sums, 0)
        ud, _, okd = parabola_vertex(sums, 8)
        with np.errstate(invalid="ignore", over="ignore"):
            ok = okm & okd & (ym > 0)
            return (
                centres[0] + scales[0] * um,
                centres[1] + scales[1] * ud,
                np.log(np.where(ym > 0, ym, 1.0)),
                ok,
            )

    return solve


def _family_solver(
    lm: Any, ld: Any, y: Any, slots: Any, enough: Any
) -> tuple[Solver, Callable[[], CurveShape]]:
    """Per-budget ln M*, ln D*, ln L* and validity from the family (:mod:`dsplan.fitting.curves`).

    Returns the solver and the exponents. The solver's resamples keep the design (each run's M and
    D) and the exponents, and redraw the noise: each run's loss is its fitted value plus a residual
    of its own budget drawn with replacement (a residual bootstrap).
    """
    import numpy as np

    w = slots.astype(np.float64)
    count = w.sum(axis=1)
    centre = [(v * w).sum(axis=1) / count for v in (lm, ld, y)]
    x1, x2, yc = ((v - c[:, None]) * w for v, c in zip((lm, ld, y), centre, strict=True))
    fit = fit_curves(x1, x2, yc, w, enough)
    _, _, has_min = minima(fit.alpha, fit.beta, fit.theta)
    keep = enough & fit.ok & has_min
    if keep.any() and (enough & ~keep).any():
        # A budget without a minimum (a concave or monotone profile) is left out, and does not
        # bend the exponents the other budgets share.
        fit = fit_curves(x1, x2, yc, w, keep)

    def at(alpha: Any, beta: Any, theta: Any, ok: Any) -> tuple[Any, Any, Any, Any]:
        x, value, has = minima(alpha, beta, theta)
        with np.errstate(invalid="ignore", divide="ignore"):
            loss_star = value + centre[2]
            good = ok & has & (loss_star > 0)
            return (
                centre[0] + x,
                centre[1] - x,
                np.log(np.where(good, loss_star, 1.0)),
                good,
            )

    base = weighted_sums(x1, x2, yc, w, fit.alpha, fit.beta)  # (B, 21)
    # Per run: the columns c0..c4 (1, c1, c2 and the derivatives' c3, c4; curves.py).
    cols = np.stack(columns(x1, x2, fit.alpha, fit.beta), axis=-1)  # (B, width, 5)
    fitted = np.einsum("bwk,bk->bw", cols[..., :3], fit.theta)
    # Residuals scaled by sqrt(n / (n - 3)) for the 3 coefficients each budget spends on them.
    n = w.sum(axis=1)
    inflate = np.sqrt(np.where(n > MIN_POINTS, n / np.maximum(n - MIN_POINTS, 1), 0.0))
    resid = np.where(slots, yc - fitted, 0.0) * inflate[:, None]
    rows = np.arange(len(n))[None, :, None]
    step = linearised_step(base, fit.theta, keep)
    drawn: list[list[Any]] = [[], []]

    def solve(draws: Any) -> tuple[Any, Any, Any, Any]:
        """None: the point estimate; else draws (R, B, width) of the residuals added back."""
        if draws is None:
            return tuple(v[None] for v in at(fit.alpha, fit.beta, fit.theta, fit.ok & enough))
        noise = np.where(slots[None], resid[rows, draws], 0.0)  # (R, B, width)
        u = np.matmul(noise.transpose(1, 0, 2), cols).transpose(1, 0, 2)  # (R, B, 5)
        # The design is the point fit's, so the Jacobian is too: each resample's exponents are the
        # one Gauss-Newton step its residuals ask for; its coefficients are then solved exactly at
        # those exponents (linear least squares: the first-order step is poor for them when the
        # data barely tell the exponents apart, while the minimum they give is not).
        d_alpha, d_beta, _ = step(u)
        alpha = np.clip(fit.alpha + d_alpha, EXPONENT_MIN, EXPONENT_MAX)
        beta = np.clip(fit.beta + d_beta, EXPONENT_MIN, EXPONENT_MAX)
        drawn[0].append(alpha)
        drawn[1].append(beta)
        y_new = (fitted[None] + noise) * w[None]
        c1 = np.expm1(-alpha[:, None, None] * x1[None]) * w[None]
        c2 = np.expm1(-beta[:, None, None] * x2[None]) * w[None]
        sums = np.zeros((len(draws), len(n), N_FEATURES))
        for (j, k), (a, b) in {
            (0, 0): (w[None], w[None]),
            (0, 1): (w[None], c1),
            (0, 2): (w[None], c2),
            (1, 1): (c1, c1),
            (1, 2): (c1, c2),
            (2, 2): (c2, c2),
        }.items():
            sums[..., G_INDEX[j][k]] = (a * b).sum(-1)
        for j, c in enumerate((w[None], c1, c2)):
            sums[..., T_INDEX[j]] = (c * y_new).sum(-1)
        theta, ok = solve_linear(sums)
        return at(alpha[:, None], beta[:, None], theta, ok & (fit.ok & enough)[None, :])

    def shape() -> CurveShape:
        if not drawn[0]:
            return CurveShape(fit.alpha, fit.beta)
        return CurveShape(
            fit.alpha,
            fit.beta,
            percentile_interval(np.concatenate(drawn[0])),
            percentile_interval(np.concatenate(drawn[1])),
        )

    return solve, shape
