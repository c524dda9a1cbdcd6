"""Least squares, parabola vertices and the within-budget bootstrap, batched with numpy.

Every resample is a vector of counts per run, so the sums behind all parabolas and regressions are
one batched matrix product per chunk of resamples (10,000 runs x 1,000 resamples take well under
5 s, bench/fit.py). numpy is imported inside the functions that use it, never at module level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dsplan.catalog.presets import PowerLaw
from dsplan.errors import SweepDataError
from dsplan.fitting.data import SweepData, budget_key

CONFIDENCE = 0.95
# Resamples are processed in chunks of about this many (resample x run) cells, to bound memory.
CHUNK_CELLS = 2_000_000
# The most bootstrap resamples (1,000 is typical; 10,000 gives the tails). More would only run for
# hours behind its progress bar.
MAX_BOOTSTRAP = 100_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LawFit:
    """``y = coefficient * C ** exponent``, with 95% bootstrap intervals when resampled."""

    coefficient: float
    exponent: float
    coefficient_interval: tuple[float, float] | None = None
    exponent_interval: tuple[float, float] | None = None
    # The bootstrap's (exponents, ln coefficients) of the resamples that succeeded, for intervals
    # of the law's value at a budget (a joint quantity: not the ends of the two intervals above).
    samples: tuple[Any, Any] | None = field(default=None, compare=False, repr=False)

    def __call__(self, compute_flops: float) -> float:
        return float(self.coefficient * compute_flops**self.exponent)

    def interval_at(self, compute_flops: float) -> tuple[float, float] | None:
        """The 95% bootstrap interval of the law's value at ``compute_flops`` (None: no bootstrap)."""
        if self.samples is None:
            return None
        slopes, intercepts = self.samples
        iv = percentile_interval(intercepts + slopes * math.log(compute_flops))
        return None if iv is None else (math.exp(iv[0]), math.exp(iv[1]))

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
class Bootstrap:
    """How the intervals were made."""

    resamples: int
    seed: int
    failed: int
    method: str = "runs resampled with replacement within each budget; percentile intervals"

    def to_dict(self) -> dict[str, Any]:
        return {
            "resamples": self.resamples,
            "seed": self.seed,
            "failed": self.failed,
            "confidence": CONFIDENCE,
            "method": self.method,
        }


def budget_groups(data: SweepData) -> tuple[list[float], list[list[int]]]:
    """Budgets in increasing order and, for each, the indices of its runs."""
    by_budget: dict[float, list[int]] = {}
    keys: dict[float, float] = {}  # a sweep has a few budgets and many runs: key each once
    for i, c in enumerate(data.column("compute_flops")):
        key = keys.get(c)
        if key is None:
            key = keys[c] = budget_key(c)
        by_budget.setdefault(key, []).append(i)
    budgets = sorted(by_budget)
    return budgets, [by_budget[c] for c in budgets]


def padded(values: Sequence[float], groups: list[list[int]]) -> Any:
    """A (budgets, max runs) array of ``values``, padded with 1.0 (padding always has weight 0)."""
    import numpy as np

    width = max(len(g) for g in groups)
    out = np.ones((len(groups), width))
    for b, group in enumerate(groups):
        out[b, : len(group)] = [values[i] for i in group]
    return out


def weight_chunks(
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


def draw_chunks(
    sizes: Any, width: int, resamples: int, seed: int, progress: Progress | None
) -> Any:
    """Yield chunks of draws (r, budgets, width): for each run slot, the index of a run of the same
    budget drawn with replacement (the residual bootstrap's draws; padding slots draw too, and are
    masked by their users)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_budgets = len(sizes)
    chunk = max(1, CHUNK_CELLS // (n_budgets * width))
    done = 0
    while done < resamples:
        r = min(chunk, resamples - done)
        draws = (rng.random((r, n_budgets, width)) * sizes[None, :, None]).astype(np.int64)
        done += r
        yield draws
        if progress is not None:
            progress(done, resamples)


def parabola_vertex(sums: Any, offset: int) -> tuple[Any, Any, Any]:
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


def loglinear(x: Any, y: Any, mask: Any = None) -> tuple[Any, Any]:
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


def percentile_interval(samples: Any) -> tuple[float, float] | None:
    import numpy as np

    if samples.size == 0:
        return None
    lo, hi = np.percentile(samples, [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)])
    return float(lo), float(hi)


def law_from(point: tuple[float, float], samples: tuple[Any, Any, Any] | None) -> LawFit:
    """A LawFit from the point estimate (slope, intercept) of ln y on ln C.

    With ``samples`` (bootstrap slopes, intercepts, and which resamples succeeded), the law carries
    their percentile intervals.
    """
    slope, intercept = point
    if not (math.isfinite(slope) and -700 < intercept < 700):
        raise SweepDataError(
            f"a fitted law is out of range (C exponent {slope:.3g}, ln coefficient "
            f"{intercept:.3g}): a value in the results is far off the scale of a real run"
        )
    if samples is None:
        return LawFit(math.exp(intercept), slope)
    slopes, intercepts, ok = samples
    exp_iv = percentile_interval(slopes[ok])
    int_iv = percentile_interval(intercepts[ok])
    coef_iv = None if int_iv is None else (math.exp(int_iv[0]), math.exp(int_iv[1]))
    kept = (slopes[ok], intercepts[ok]) if ok.any() else None
    return LawFit(math.exp(intercept), slope, coef_iv, exp_iv, kept)


# The loss-vs-compute law with a floor, L = E + k C^g: E is searched on a grid of this many fractions
# of the lowest loss (0 to FLOOR_MAX_FRACTION), then by golden section around the grid's best
# (FLOOR_REFINE steps narrow the bracket of two grid steps by 0.618^30, to about 1e-8 of the loss).
FLOOR_STEPS = 25
FLOOR_REFINE = 30
FLOOR_MAX_FRACTION = 0.995
# Resamples per block of the floor search (memory: block x FLOOR_STEPS x budgets doubles).
FLOOR_BLOCK = 256


def floor_loglinear(x: Any, ly: Any, mask: Any = None) -> tuple[Any, Any, Any]:
    """Fit ln L = ln(E + k e^(g x)) by least squares in ln L, along the last axis (x shared).

    For each E, ln(L - E) on x is a straight line (:func:`loglinear`); E is the one whose line fits
    ln L best, searched on a grid of fractions of the lowest loss and refined by golden section
    around the best. Returns ``(E, g, ln k)`` per leading index; NaN where fewer than 3 entries count.
    """
    import numpy as np

    flat_y = ly.reshape(-1, ly.shape[-1])
    flat_w = np.ones_like(flat_y) if mask is None else mask.reshape(flat_y.shape).astype(np.float64)
    out = [np.empty(len(flat_y)) for _ in range(3)]
    for lo in range(0, len(flat_y), FLOOR_BLOCK):
        part = _floor_block(x, flat_y[lo : lo + FLOOR_BLOCK], flat_w[lo : lo + FLOOR_BLOCK])
        for target, values in zip(out, part, strict=True):
            target[lo : lo + FLOOR_BLOCK] = values
    return tuple(v.reshape(ly.shape[:-1]) for v in out)  # type: ignore[return-value]


def _floor_block(x: Any, ly: Any, w: Any) -> tuple[Any, Any, Any]:
    import numpy as np

    loss = np.exp(np.where(w > 0, ly, 0.0))
    lowest = np.where(w > 0, loss, np.inf).min(axis=-1)  # (R,)
    lowest = np.where(np.isfinite(lowest), lowest, 1.0)
    loss = np.where(w > 0, loss, 2 * lowest[:, None])  # left out below; kept above any E
    target = np.where(w > 0, ly, 0.0)

    # The regression's x side does not depend on E: its weighted moments are computed once.
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = w.sum(axis=-1)
        mx = (w * x).sum(axis=-1) / sw
        wxc = w * (x - mx[:, None])
        sxx = (wxc * (x - mx[:, None])).sum(axis=-1)

    def search(fractions: Any) -> tuple[Any, Any, Any, Any]:
        e = fractions * lowest[:, None]  # (R, S)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = np.log(loss[:, None, :] - e[:, :, None])  # (R, S, B)
            r = np.where(w[:, None, :] > 0, r, 0.0)
            slope = (wxc[:, None, :] * r).sum(axis=-1) / sxx[:, None]
            intercept = (w[:, None, :] * r).sum(axis=-1) / sw[:, None] - slope * mx[:, None]
            pred = np.log(e[:, :, None] + np.exp(intercept[:, :, None] + slope[:, :, None] * x))
            sse = (w[:, None, :] * (pred - target[:, None, :]) ** 2).sum(axis=-1)
        sse = np.where(np.isfinite(sse), sse, np.inf)
        return e, slope, intercept, sse

    grid = np.linspace(0.0, FLOOR_MAX_FRACTION, FLOOR_STEPS)
    *_, sse = search(np.broadcast_to(grid, (len(ly), FLOOR_STEPS)))
    best = sse.argmin(axis=-1)
    step = grid[1] - grid[0]
    lo = np.clip(grid[best] - step, 0.0, FLOOR_MAX_FRACTION)
    hi = np.clip(grid[best] + step, 0.0, FLOOR_MAX_FRACTION)
    # Golden-section search in the bracket around the best grid point, every resample at once; each
    # step keeps one inner point and its value, and evaluates one new point.
    ratio = (math.sqrt(5) - 1) / 2
    left, right = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    *_, pair = search(np.stack([left, right], axis=-1))
    f_left, f_right = pair[:, 0], pair[:, 1]
    for _ in range(FLOOR_REFINE):
        keep_left = f_left <= f_right
        hi = np.where(keep_left, right, hi)
        lo = np.where(keep_left, lo, left)
        new = np.where(keep_left, hi - ratio * (hi - lo), lo + ratio * (hi - lo))
        *_, value = search(new[:, None])
        value = value[:, 0]
        left, right = np.where(keep_left, new, right), np.where(keep_left, left, new)
        f_left, f_right = np.where(keep_left, value, f_right), np.where(keep_left, f_left, value)
    e, slope, intercept, sse = search(((lo + hi) / 2)[:, None])
    rows = np.arange(len(ly))
    best = np.zeros(len(ly), dtype=np.int64)
    enough = (w > 0).sum(axis=-1) >= 3
    pick = [np.where(enough, v[rows, best], np.nan) for v in (e, slope, intercept)]
    return pick[0], pick[1], pick[2]


@dataclass(frozen=True)
class FloorLawFit:
    """``L_opt = irreducible + coefficient * C ** exponent``, with 95% bootstrap intervals."""

    irreducible: float
    coefficient: float
    exponent: float
    irreducible_interval: tuple[float, float] | None = None
    coefficient_interval: tuple[float, float] | None = None
    exponent_interval: tuple[float, float] | None = None
    # The bootstrap's (E, g, ln k) of the resamples that succeeded.
    samples: tuple[Any, Any, Any] | None = field(default=None, compare=False, repr=False)

    def __call__(self, compute_flops: float) -> float:
        return float(self.irreducible + self.coefficient * compute_flops**self.exponent)

    def interval_at(self, compute_flops: float) -> tuple[float, float] | None:
        """The 95% bootstrap interval of L_opt at ``compute_flops`` (None: no bootstrap)."""
        import numpy as np

        if self.samples is None:
            return None
        e, g, lk = self.samples
        with np.errstate(over="ignore", invalid="ignore"):
            values = e + np.exp(lk + g * math.log(compute_flops))
        return percentile_interval(values[np.isfinite(values)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "irreducible": self.irreducible,
            "coefficient": self.coefficient,
            "exponent": self.exponent,
            "irreducible_interval": _pair(self.irreducible_interval),
            "coefficient_interval": _pair(self.coefficient_interval),
            "exponent_interval": _pair(self.exponent_interval),
        }


def floor_law_from(
    point: tuple[Any, Any, Any], samples: tuple[Any, Any, Any] | None
) -> FloorLawFit:
    """A FloorLawFit from the point (E, g, ln k) and the bootstrap's (NaN where a resample failed)."""
    import numpy as np

    e, g, lk = (float(v) for v in point)
    if samples is None:
        return FloorLawFit(e, math.exp(lk), g)
    se, sg, slk = samples
    ok = np.isfinite(se) & np.isfinite(sg) & np.isfinite(slk)
    k_iv = percentile_interval(slk[ok])
    return FloorLawFit(
        e,
        math.exp(lk),
        g,
        percentile_interval(se[ok]),
        None if k_iv is None else (math.exp(k_iv[0]), math.exp(k_iv[1])),
        percentile_interval(sg[ok]),
        (se[ok], sg[ok], slk[ok]) if ok.any() else None,
    )
