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
:mod:`dsplan.fitting.fit` (and ``dsplan --help``) stays fast.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dsplan.catalog.presets import FitRange, PowerLaw, Preset, m_form
from dsplan.errors import FitError, InputError, SweepDataError

SCHEMA_VERSION = 1
KINDS = ("isoflop", "hyperparameters")
ISOFLOP_COLUMNS = ("compute_flops", "flops_per_token", "tokens", "loss")
HYPERPARAMETER_COLUMNS = ("compute_flops", "loss", "learning_rate", "batch_size_tokens")
ALL_COLUMNS = (*ISOFLOP_COLUMNS, "learning_rate", "batch_size_tokens")
# The paper's near-optimal band: loss at most 0.25% above the best (Section 3.1, Figure 3 caption).
DEFAULT_THRESHOLD = 0.0025
CONFIDENCE = 0.95
MIN_POINTS = 3
# Our thresholds for diagnostics, not the paper's.
EXPONENT_SUM_TOLERANCE = 0.05
EXTRAPOLATION_WARN_ORDERS = 1.0
COMPUTE_MISMATCH = 0.01
# Resamples are processed in chunks of about this many (resample x run) cells, to bound memory.
CHUNK_CELLS = 2_000_000

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# Input


@dataclass(frozen=True)
class SweepData:
    """Validated sweep results: one entry per run, in file order (NaN losses already dropped)."""

    source: str
    lines: tuple[int, ...]
    columns: Mapping[str, tuple[float, ...]]
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.lines)

    def column(self, name: str) -> tuple[float, ...]:
        return self.columns[name]


def parse_column_map(items: Sequence[str]) -> dict[str, str]:
    """``["loss=val_bpb"]`` -> ``{"loss": "val_bpb"}``: our column name = the name in the file.

    Raises:
        InputError: an item without ``=``, or a name dsplan does not read.
    """
    mapping: dict[str, str] = {}
    for item in items:
        ours, sep, theirs = item.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise InputError(f"--column takes OURS=THEIRS such as loss=val_bpb, got {item!r}")
        if ours not in ALL_COLUMNS:
            raise InputError(
                f"--column: unknown column {ours!r}; dsplan reads {', '.join(ALL_COLUMNS)}"
            )
        mapping[ours] = theirs
    return mapping


def budget_key(compute_flops: float) -> float:
    """Runs whose budgets agree to 6 significant digits belong to the same IsoFLOP profile."""
    return float(f"{compute_flops:.6g}")


def sweep_data(
    header: Sequence[str],
    rows: Sequence[tuple[int, Mapping[str, str]]],
    source: str,
    *,
    kind: str = "isoflop",
    column_map: Mapping[str, str] | None = None,
) -> SweepData:
    """Check the cells of a results table and keep the columns a fit of ``kind`` needs.

    A loss of ``nan`` (a diverged or unfinished run) drops that run, with a warning; any other cell
    that is not a positive finite number (an empty cell included) is refused.

    Raises:
        SweepDataError: a missing column, a bad cell (naming its row, line and column), or fewer
            than 2 distinct budgets.
    """
    if kind not in KINDS:
        raise InputError(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    column_map = dict(column_map or {})
    needed = ISOFLOP_COLUMNS if kind == "isoflop" else HYPERPARAMETER_COLUMNS
    present = set(header)
    for ours in needed:
        theirs = column_map.get(ours, ours)
        if theirs not in present:
            mapped = f" (mapped from {ours!r})" if theirs != ours else ""
            raise SweepDataError(
                f"{source}: missing column {theirs!r}{mapped}; the header has "
                f"{', '.join(header) or 'nothing'} (map another name with --column {ours}=NAME)"
            )
        if header.count(theirs) > 1:
            raise SweepDataError(
                f"{source}: column {theirs!r} appears {header.count(theirs)} times in the header; "
                "rename all but one"
            )
    values: dict[str, list[float]] = {name: [] for name in needed}
    lines: list[int] = []
    dropped: list[str] = []
    for row_number, (line, cells) in enumerate(rows, start=1):
        parsed: dict[str, float] = {}
        for ours in needed:
            theirs = column_map.get(ours, ours)
            text = cells.get(theirs, "")
            where = f"{source}, row {row_number} (line {line}), column {theirs!r}"
            try:
                value = float(text)
            except ValueError:
                raise SweepDataError(f"{where}: not a number: {text!r}") from None
            if ours == "loss" and math.isnan(value):
                parsed.clear()
                dropped.append(f"{row_number} (line {line})")
                break
            if not math.isfinite(value) or value <= 0:
                raise SweepDataError(f"{where}: must be a positive finite number, got {text!r}")
            parsed[ours] = value
        if not parsed:
            continue
        lines.append(line)
        for name, value in parsed.items():
            values[name].append(value)
    warnings = []
    if dropped:
        warnings.append(
            f"{source}: dropped {len(dropped)} run(s) whose loss is NaN: rows "
            + ", ".join(dropped[:10])
            + (" ..." if len(dropped) > 10 else "")
        )
    theirs = column_map.get("compute_flops", "compute_flops")
    budgets = sorted({budget_key(c) for c in values["compute_flops"]})
    if len(budgets) < 2:
        found = ", ".join(f"{c:.3g}" for c in budgets) or "none"
        after = f" after dropping {len(dropped)} run(s) whose loss is NaN" if dropped else ""
        raise SweepDataError(
            f"{source}, column {theirs!r}: {len(budgets)} distinct budget(s) ({found}){after}; "
            "a power law needs at least 2 (the paper used 8)"
        )
    return SweepData(
        source=source,
        lines=tuple(lines),
        columns={k: tuple(v) for k, v in values.items()},
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class LawFit:
    """``y = coefficient * C ** exponent``, with 95% bootstrap intervals when resampled."""

    coefficient: float
    exponent: float
    coefficient_interval: tuple[float, float] | None = None
    exponent_interval: tuple[float, float] | None = None

    def __call__(self, compute_flops: float) -> float:
        return float(self.coefficient * compute_flops**self.exponent)

    def power_law(self) -> PowerLaw:
        return PowerLaw(self.coefficient, self.exponent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "coefficient": self.coefficient,
            "exponent": self.exponent,
            "coefficient_interval": _pair(self.coefficient_interval),
            "exponent_interval": _pair(self.exponent_interval),
        }


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


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
class HyperparameterBudget:
    """One budget of a hyperparameter grid and its near-optimal runs."""

    compute_flops: float
    n_runs: int
    n_near_optimal: int
    best_loss: float
    learning_rate_min: float
    learning_rate_max: float
    batch_size_tokens_min: float
    batch_size_tokens_max: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Bootstrap:
    """How the intervals were made."""

    resamples: int
    seed: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "resamples": self.resamples,
            "seed": self.seed,
            "failed": self.failed,
            "confidence": CONFIDENCE,
            "method": "runs resampled with replacement within each budget; percentile intervals",
        }


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


@dataclass(frozen=True)
class HyperparameterFit:
    """The learning-rate and batch-size laws from the near-optimal runs of a grid."""

    source: str
    n_runs: int
    threshold: float
    budgets: tuple[HyperparameterBudget, ...]
    learning_rate: LawFit
    batch_size: LawFit
    fit_range: FitRange
    bootstrap: Bootstrap | None
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Numerics (numpy imported inside)


def _groups(data: SweepData) -> tuple[list[float], list[list[int]]]:
    """Budgets in increasing order and, for each, the indices of its runs."""
    by_budget: dict[float, list[int]] = {}
    for i, c in enumerate(data.column("compute_flops")):
        by_budget.setdefault(budget_key(c), []).append(i)
    budgets = sorted(by_budget)
    return budgets, [by_budget[c] for c in budgets]


def _padded(values: Sequence[float], groups: list[list[int]]) -> Any:
    """A (budgets, max runs) array of ``values``, padded with 1.0 (padding always has weight 0)."""
    import numpy as np

    width = max(len(g) for g in groups)
    out = np.ones((len(groups), width))
    for b, group in enumerate(groups):
        out[b, : len(group)] = [values[i] for i in group]
    return out


def _weight_chunks(
    sizes: Any, width: int, resamples: int, seed: int, progress: Progress | None
) -> Any:
    """Yield chunks of resample weights: counts per run, resampled within each budget."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_budgets = len(sizes)
    cells = n_budgets * width
    chunk = max(1, CHUNK_CELLS // cells)
    slots = np.arange(width)[None, :] < sizes[:, None]  # (B, width)
    done = 0
    while done < resamples:
        r = min(chunk, resamples - done)
        draws = (rng.random((r, n_budgets, width)) * sizes[None, :, None]).astype(np.int64)
        base = (
            np.arange(r)[:, None, None] * n_budgets + np.arange(n_budgets)[None, :, None]
        ) * width
        flat = (base + draws)[np.broadcast_to(slots, (r, n_budgets, width))]
        weights = np.bincount(flat, minlength=r * cells).reshape(r, n_budgets, width)
        done += r
        yield weights.astype(np.float64)
        if progress is not None:
            progress(done, resamples)


def _vertex(sums: Any, offset: int) -> tuple[Any, Any, Any]:
    """Vertex (u*, y*) of the least-squares parabola y = c0 + c1 u + c2 u^2, and its validity.

    ``sums[..., offset:offset + 8]`` hold S0..S4 = sum w u^k and T0..T2 = sum w u^k y. The 3 x 3
    normal equations are solved by Cramer's rule, vectorised over every leading axis.
    """
    import numpy as np

    s0, s1, s2, s3, s4, t0, t1, t2 = (sums[..., offset + k] for k in range(8))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        m0 = s2 * s4 - s3 * s3
        det = s0 * m0 - s1 * (s1 * s4 - s3 * s2) + s2 * (s1 * s3 - s2 * s2)
        d1 = s0 * (t1 * s4 - s3 * t2) - t0 * (s1 * s4 - s3 * s2) + s2 * (s1 * t2 - t1 * s2)
        d2 = s0 * (s2 * t2 - t1 * s3) - s1 * (s1 * t2 - t1 * s2) + t0 * (s1 * s3 - s2 * s2)
        d0 = t0 * m0 - s1 * (t1 * s4 - s3 * t2) + s2 * (t1 * s3 - s2 * t2)
        # Fewer than 3 distinct points make the system singular; the inputs are standardised, so a
        # relative threshold on det / S0^3 tells singular from merely small.
        ok = det > 1e-9 * s0**3
        c0, c1, c2 = d0 / det, d1 / det, d2 / det
        ok &= c2 > 0
        u_star = -c1 / (2 * c2)
        y_star = c0 - c1 * c1 / (4 * c2)
    return u_star, y_star, ok & np.isfinite(u_star) & np.isfinite(y_star)


def _loglinear(x: Any, y: Any, mask: Any = None) -> tuple[Any, Any]:
    """Least-squares slope and intercept of y on x along the last axis (x shared).

    With ``mask`` (same shape as ``y``), only the True entries count, separately per leading index.
    """
    import numpy as np

    w = np.ones_like(y) if mask is None else mask.astype(np.float64)
    y = np.where(w > 0, y, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = w.sum(axis=-1)
        mx = (w * x).sum(axis=-1) / sw
        my = (w * y).sum(axis=-1) / sw
        xc = x - mx[..., None]
        slope = (w * xc * (y - my[..., None])).sum(axis=-1) / (w * xc * xc).sum(axis=-1)
        return slope, my - slope * mx


def _interval(samples: Any) -> tuple[float, float] | None:
    import numpy as np

    if samples.size == 0:
        return None
    lo, hi = np.percentile(samples, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return float(lo), float(hi)


def _law(point: tuple[float, float], samples: tuple[Any, Any, Any] | None) -> LawFit:
    """A LawFit from the point estimate (slope, intercept) of ln y on ln C.

    With ``samples`` (bootstrap slopes, intercepts, and which resamples succeeded), the law carries
    their percentile intervals.
    """
    slope, intercept = point
    if samples is None:
        return LawFit(math.exp(intercept), slope)
    slopes, intercepts, ok = samples
    exp_iv = _interval(slopes[ok])
    int_iv = _interval(intercepts[ok])
    coef_iv = None if int_iv is None else (math.exp(int_iv[0]), math.exp(int_iv[1]))
    return LawFit(math.exp(intercept), slope, coef_iv, exp_iv)


# --------------------------------------------------------------------------------------------
# IsoFLOP fit


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

    if bootstrap < 0:
        raise InputError(f"--bootstrap must be zero or positive, got {bootstrap}")
    budgets, groups = _groups(data)
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
    lm = _padded(np.log(m).tolist(), groups)
    ld = _padded(np.log(d).tolist(), groups)
    y = _padded(loss.tolist(), groups)
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
        um, ym, okm = _vertex(sums, 0)
        ud, _, okd = _vertex(sums, 8)
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
    points = [_loglinear(lc, v[idx]) for v in (lm_star, ld_star, ll_star)]
    point_pairs = [(float(s), float(i)) for s, i in points]

    boot: Bootstrap | None = None
    samples: list[tuple[Any, Any, Any] | None] = [None] * 3
    if bootstrap > 0:
        acc: list[list[Any]] = [[] for _ in range(7)]
        lost = 0
        for weights in _weight_chunks(sizes, width, bootstrap, seed, progress):
            bm, bd, bl, bok = solve(weights)
            # A budget whose profile loses its minimum in a resample is left out of that
            # resample's regression; a resample with fewer than 2 budgets left fails.
            valid = bok[:, idx]
            for k, v in enumerate((bm, bd, bl)):
                slope, intercept = _loglinear(lc, v[:, idx], valid)
                acc[2 * k].append(slope)
                acc[2 * k + 1].append(intercept)
            acc[6].append(valid.sum(axis=1) >= 2)
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
    laws = [_law(point_pairs[k], samples[k]) for k in range(3)]
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
    )


# --------------------------------------------------------------------------------------------
# Hyperparameter fit


def fit_hyperparameters(
    data: SweepData,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    bootstrap: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
) -> HyperparameterFit:
    """Fit eta_opt = k C^e and B_opt = k' C^e' to the near-optimal runs of a grid.

    Args:
        data: Runs with ``compute_flops``, ``loss``, ``learning_rate`` and ``batch_size_tokens``.
        threshold: A run is near-optimal when its loss is at most ``(1 + threshold)`` times its
            budget's best.
        bootstrap: Number of resamples for 95% intervals (0: none).
        seed: Seed of the resampling.
        progress: Called as ``progress(done, total)`` after each chunk of resamples.

    Raises:
        InputError: a threshold outside [0, 1).
        FitError: the near-optimal runs do not vary in compute (cannot happen with 2 budgets).

    References:
        arXiv 2401.02954, Section 3.1, Eq. 1 and Figure 3 (near-optimal: within 0.25% of the minimum
        generalization error). The paper does not say how it weighs the points; we weigh each
        near-optimal run equally.
    """
    import numpy as np

    if not (math.isfinite(threshold) and 0 <= threshold < 1):
        raise InputError(f"--threshold must lie in [0, 1), got {threshold}")
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be zero or positive, got {bootstrap}")
    budgets, groups = _groups(data)
    sizes = np.array([len(g) for g in groups])
    width = int(sizes.max())
    slots = np.arange(width)[None, :] < sizes[:, None]
    loss = _padded(data.column("loss"), groups)
    lr = _padded(data.column("learning_rate"), groups)
    bs = _padded(data.column("batch_size_tokens"), groups)
    # ln C centred on the budgets' mean keeps the 2 x 2 normal equations well conditioned.
    mid = float(np.log(np.array(budgets)).mean())
    lc = (np.log(np.array(budgets)) - mid)[:, None] * np.ones((1, width))
    ylr, ybs = np.log(lr), np.log(bs)
    feat = np.stack([np.ones_like(lc), lc, lc * lc, ylr, lc * ylr, ybs, lc * ybs], axis=-1)

    def solve(weights: Any) -> tuple[Any, Any, Any, Any, Any]:
        present = weights > 0
        best = np.where(present, loss[None], np.inf).min(axis=2, keepdims=True)
        near = present & (loss[None] <= best * (1 + threshold))
        w = weights * near
        s = np.matmul(w.transpose(1, 0, 2), feat).sum(axis=0)  # (R, 7), summed over budgets
        sw, sx, sxx = s[:, 0], s[:, 1], s[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            den = sw * sxx - sx * sx
            ok = den > 1e-12 * sw * sxx
            out = []
            for k in (3, 5):
                slope = (sw * s[:, k + 1] - sx * s[:, k]) / den
                out += [slope, (s[:, k] - slope * sx) / sw - slope * mid]
        return out[0], out[1], out[2], out[3], ok

    point_w = slots[None].astype(np.float64)
    lr_s, lr_i, bs_s, bs_i, ok = (float(v[0]) for v in solve(point_w))
    if not ok:
        raise FitError(f"{data.source}: the near-optimal runs all share one budget; no law")
    warnings: list[str] = []
    rows_out = []
    for b, c in enumerate(budgets):
        n = int(sizes[b])
        lb = loss[b, :n]
        near = lb <= lb.min() * (1 + threshold)
        lr_b, bs_b = lr[b, :n], bs[b, :n]
        rows_out.append(
            HyperparameterBudget(
                c,
                n,
                int(near.sum()),
                float(lb.min()),
                float(lr_b[near].min()),
                float(lr_b[near].max()),
                float(bs_b[near].min()),
                float(bs_b[near].max()),
            )
        )
        for name, v in (("learning rate", lr_b), ("batch size", bs_b)):
            if len(set(v.tolist())) < 2:
                continue
            if v[near].min() <= v.min() or v[near].max() >= v.max():
                warnings.append(
                    f"budget {c:.3g} FLOPs: the near-optimal band reaches the edge of the "
                    f"{name} grid; the optimum may lie outside it, widen the grid"
                )
    boot: Bootstrap | None = None
    samples: list[tuple[Any, Any, Any] | None] = [None, None]
    if bootstrap > 0:
        acc: list[list[Any]] = [[] for _ in range(5)]
        for weights in _weight_chunks(sizes, width, bootstrap, seed, progress):
            for k, v in enumerate(solve(weights)):
                acc[k].append(v)
        cat = [np.concatenate(a) for a in acc]
        okb = cat[4]
        failed = int((~okb).sum())
        boot = Bootstrap(bootstrap, seed, failed)
        samples = [(cat[0], cat[1], okb), (cat[2], cat[3], okb)]
    laws = [_law((lr_s, lr_i), samples[0]), _law((bs_s, bs_i), samples[1])]
    return HyperparameterFit(
        source=data.source,
        n_runs=len(data),
        threshold=threshold,
        budgets=tuple(rows_out),
        learning_rate=laws[0],
        batch_size=laws[1],
        fit_range=FitRange(budgets[0], budgets[-1]),
        bootstrap=boot,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Report, predictions, preset


@dataclass(frozen=True)
class Prediction:
    """The fitted laws at one compute budget."""

    compute_flops: float
    orders_beyond: float
    flops_per_token: float | None
    tokens: float | None
    loss: float | None
    learning_rate: float | None
    batch_size_tokens: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FitReport:
    """Everything ``dsplan fit`` found; ``to_dict()`` is the JSON document."""

    isoflop: IsoFlopFit | None
    hyperparameters: HyperparameterFit | None
    reference: Preset
    predictions: tuple[Prediction, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        ref = m_form(self.reference, "dsplan fit")
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "reference": {
                "preset": self.reference.id,
                "source": self.reference.source,
                "model_scaling": ref.model_scaling.to_dict(),
                "data_scaling": ref.data_scaling.to_dict(),
                "learning_rate": ref.learning_rate.to_dict(),
                "batch_size": ref.batch_size.to_dict(),
            },
            "predictions": [p.to_dict() for p in self.predictions],
            "warnings": list(self.warnings),
        }
        iso, hp = self.isoflop, self.hyperparameters
        if iso is not None:
            doc.update(
                {
                    "source": iso.source,
                    "n_runs": iso.n_runs,
                    "model_scaling": iso.model_scaling.to_dict(),
                    "data_scaling": iso.data_scaling.to_dict(),
                    "loss_scaling": iso.loss_scaling.to_dict(),
                    "budgets": [b.to_dict() for b in iso.budgets],
                    "fit_range": iso.fit_range.to_dict(),
                    "bootstrap": None if iso.bootstrap is None else iso.bootstrap.to_dict(),
                }
            )
        if hp is not None:
            doc.update(
                {
                    "hyperparameter_source": hp.source,
                    "hyperparameter_n_runs": hp.n_runs,
                    "learning_rate": hp.learning_rate.to_dict(),
                    "batch_size": hp.batch_size.to_dict(),
                    "near_optimal_threshold": hp.threshold,
                    "hyperparameter_budgets": [b.to_dict() for b in hp.budgets],
                    "hyperparameter_fit_range": hp.fit_range.to_dict(),
                    "hyperparameter_bootstrap": (
                        None if hp.bootstrap is None else hp.bootstrap.to_dict()
                    ),
                }
            )
        return doc


def predict(
    isoflop: IsoFlopFit | None, hyperparameters: HyperparameterFit | None, compute_flops: float
) -> tuple[Prediction, list[str]]:
    """The fitted laws at ``compute_flops``, with a warning when that is far outside the fit range."""
    ranges = [f.fit_range for f in (isoflop, hyperparameters) if f is not None]
    lo = min(r.compute_min for r in ranges if r.compute_min is not None)
    hi = max(r.compute_max for r in ranges if r.compute_max is not None)
    beyond = FitRange(lo, hi).orders_beyond(compute_flops)
    warnings = []
    if beyond > EXTRAPOLATION_WARN_ORDERS:
        warnings.append(
            f"prediction at {compute_flops:.3g} FLOPs lies {beyond:.1f} orders of magnitude outside "
            f"the fitted budgets ({lo:.3g} to {hi:.3g} FLOPs): an extrapolation"
        )
    return (
        Prediction(
            compute_flops=compute_flops,
            orders_beyond=beyond,
            flops_per_token=None if isoflop is None else isoflop.model_scaling(compute_flops),
            tokens=None if isoflop is None else isoflop.data_scaling(compute_flops),
            loss=None if isoflop is None else isoflop.loss_scaling(compute_flops),
            learning_rate=(
                None if hyperparameters is None else hyperparameters.learning_rate(compute_flops)
            ),
            batch_size_tokens=(
                None if hyperparameters is None else hyperparameters.batch_size(compute_flops)
            ),
        ),
        warnings,
    )


def report(
    isoflop: IsoFlopFit | None,
    hyperparameters: HyperparameterFit | None,
    reference: Preset,
    predict_at: Sequence[float] = (),
    extra_warnings: Sequence[str] = (),
) -> FitReport:
    """Gather the fits, the reference preset and predictions into one :class:`FitReport`."""
    if isoflop is None and hyperparameters is None:
        raise InputError("nothing to fit: give an IsoFLOP or a hyperparameter results file")
    warnings = list(extra_warnings)
    for f in (isoflop, hyperparameters):
        if f is not None:
            warnings.extend(f.warnings)
    predictions = []
    for c in predict_at:
        p, w = predict(isoflop, hyperparameters, c)
        predictions.append(p)
        warnings.extend(w)
    return FitReport(isoflop, hyperparameters, reference, tuple(predictions), tuple(warnings))


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def preset_toml(fit: FitReport, preset_id: str, base: Preset) -> str:
    """The fit as a preset file (schema version 1) that ``dsplan budget --preset FILE`` loads.

    Laws that were not fitted are carried from ``base`` and the file's ``notes`` say which.
    """
    iso, hp = fit.isoflop, fit.hyperparameters
    sources, notes, kinds = [], [], []
    if iso is not None:
        kinds.append("IsoFLOP")
        model, data, alloc_range = (
            iso.model_scaling.power_law(),
            iso.data_scaling.power_law(),
            iso.fit_range,
        )
        sources.append(f"dsplan fit of IsoFLOP results {iso.source} ({iso.n_runs} runs)")
    else:
        base_laws = m_form(base, "dsplan fit")
        model, data, alloc_range = base_laws.model_scaling, base_laws.data_scaling, base.fit_range
        notes.append(
            f"model_scaling, data_scaling and fit_range are not fitted: carried from preset "
            f"{base.id!r} ({base.source})"
        )
    if hp is not None:
        kinds.append("hyperparameters")
        lr, batch, hp_range = hp.learning_rate.power_law(), hp.batch_size.power_law(), hp.fit_range
        sources.append(
            f"dsplan fit of hyperparameter results {hp.source} ({hp.n_runs} runs, near-optimal "
            f"within {hp.threshold:.2%})"
        )
    else:
        base_hp = m_form(base, "dsplan fit")
        lr, batch = base_hp.learning_rate, base_hp.batch_size
        hp_range = base.hyperparameter_fit_range or base.fit_range
        notes.append(
            f"learning_rate and batch_size are not fitted: carried from preset {base.id!r} "
            f"({base.source})"
        )
    lines = [
        "# Written by `dsplan fit`: laws fitted to your own sweep.",
        "schema_version = 1",
        f"id = {_toml_string(preset_id)}",
        f"description = {_toml_string('Laws fitted by dsplan fit (' + ', '.join(kinds) + ')')}",
        f"source = {_toml_string('; '.join(sources))}",
    ]
    if notes:
        lines.append(f"notes = {_toml_string(' '.join(n + '.' for n in notes))}")
    for table, law, comment in (
        ("model_scaling", model, "M_opt = coefficient * C ** exponent, FLOPs per token"),
        ("data_scaling", data, "D_opt = coefficient * C ** exponent, tokens"),
        ("learning_rate", lr, "peak learning rate = coefficient * C ** exponent"),
        ("batch_size", batch, "tokens = coefficient * C ** exponent"),
    ):
        lines += [
            "",
            f"[{table}]    # {comment}",
            f"coefficient = {law.coefficient!r}",
            f"exponent = {law.exponent!r}",
        ]
    for table, rng in (("fit_range", alloc_range), ("hyperparameter_fit_range", hp_range)):
        lines += [
            "",
            f"[{table}]    # FLOPs",
            f"compute_min = {rng.compute_min!r}",
            f"compute_max = {rng.compute_max!r}",
        ]
    return "\n".join(lines) + "\n"
