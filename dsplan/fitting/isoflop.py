"""The IsoFLOP fit: M_opt, D_opt and the optimal loss as power laws in compute (arXiv 2401.02954, Section 3.2)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsplan.catalog.presets import FitRange
from dsplan.errors import FitError, InputError
from dsplan.fitting.data import SweepData
from dsplan.fitting.numerics import (
    MAX_BOOTSTRAP,
    Bootstrap,
    FloorLawFit,
    LawFit,
    Progress,
    budget_groups,
    floor_law_from,
    floor_loglinear,
    law_from,
    loglinear,
    padded,
    parabola_vertex,
    weight_chunks,
)

MIN_POINTS = 3
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


def fit_isoflop(
    data: SweepData,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
) -> IsoFlopFit:
    """Fit M_opt = k C^a, D_opt = k' C^b and L_opt = k'' C^g to IsoFLOP profiles.

    Args:
        data: Runs with ``compute_flops``, ``flops_per_token``, ``tokens`` and ``loss``.
        bootstrap: Number of resamples for 95% intervals (0: none).
        seed: Seed of the resampling; the same data, count and seed give the same intervals.
        progress: Called as ``progress(done, total)`` after each chunk of resamples.

    Returns:
        An :class:`IsoFlopFit`; its ``warnings`` carry the diagnostics.

    Raises:
        InputError: a negative ``bootstrap``.
        FitError: fewer than 2 budgets keep a usable minimum (3 distinct runs and a convex profile).

    References:
        arXiv 2401.02954, Section 3.2 and Figure 4 (IsoFLOP profiles, M_opt and D_opt power laws),
        Figure 5 (optimal loss against compute). Departs from the paper by using a parabola in
        ln M per budget (the paper does not state its curve) and a pure power law for the loss.
    """
    import numpy as np

    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise InputError(
            f"the bootstrap resamples must be 0 to {MAX_BOOTSTRAP:,}, got {bootstrap}",
            quantity="bootstrap",
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

    # Features per run: powers of the standardised ln M and ln D, and the loss times them.
    sizes = np.array([len(g) for g in groups])
    width = int(sizes.max())
    slots = np.arange(width)[None, :] < sizes[:, None]
    lm = padded(np.log(m).tolist(), groups)
    ld = padded(np.log(d).tolist(), groups)
    y = padded(loss.tolist(), groups)
    centres, scales = [], []
    features = []
    for x in (lm, ld):
        centre = np.array([x[b, : sizes[b]].mean() for b in range(len(groups))])
        scale = np.array([x[b, : sizes[b]].std() for b in range(len(groups))])
        scale = np.where(scale > 0, scale, 1.0)
        u = (x - centre[:, None]) / scale[:, None]
        features += [u**k for k in range(5)] + [y * u**k for k in range(3)]
        centres.append(centre)
        scales.append(scale)
    feat = np.stack(features, axis=-1)  # (B, width, 16)

    def solve(weights: Any) -> tuple[Any, Any, Any, Any]:
        """Per-budget ln M*, ln D*, L* and validity for weights of shape (R, B, width)."""
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

    point_w = slots[None].astype(np.float64)
    lm_star, ld_star, ll_star, ok_point = (a[0] for a in solve(point_w))
    lm_lo = np.array([lm[b, : sizes[b]].min() for b in range(len(groups))])
    lm_hi = np.array([lm[b, : sizes[b]].max() for b in range(len(groups))])
    rows_out: list[BudgetFit] = []
    used = []
    for b, c in enumerate(budgets):
        n = int(sizes[b])
        distinct = len({float(v) for v in lm[b, :n]})
        note = None
        if distinct < MIN_POINTS:
            note = f"only {distinct} distinct model size(s); a parabola needs {MIN_POINTS}"
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
        for weights in weight_chunks(sizes, width, bootstrap, seed, progress):
            bm, bd, bl, bok = solve(weights)
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
        boot = Bootstrap(bootstrap, seed, failed)
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
    )
