"""The hyperparameter fit: learning rate and batch size as power laws in compute (arXiv 2401.02954, Section 3.1)."""

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
    LawFit,
    Progress,
    budget_groups,
    law_from,
    padded,
    weight_chunks,
)

# The paper's near-optimal band: loss at most 0.25% above the best (Section 3.1, Figure 3 caption).
DEFAULT_THRESHOLD = 0.0025


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
        raise InputError(
            f"the near-optimal threshold must lie in [0, 1), got {threshold}", quantity="threshold"
        )
    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise InputError(
            f"the bootstrap resamples must be 0 to {MAX_BOOTSTRAP:,}, got {bootstrap}",
            quantity="bootstrap",
        )
    budgets, groups = budget_groups(data)
    sizes = np.array([len(g) for g in groups])
    width = int(sizes.max())
    slots = np.arange(width)[None, :] < sizes[:, None]
    loss = padded(data.column("loss"), groups)
    lr = padded(data.column("learning_rate"), groups)
    bs = padded(data.column("batch_size_tokens"), groups)
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
        for weights in weight_chunks(sizes, width, bootstrap, seed, progress):
            for k, v in enumerate(solve(weights)):
                acc[k].append(v)
        cat = [np.concatenate(a) for a in acc]
        okb = cat[4]
        failed = int((~okb).sum())
        boot = Bootstrap(bootstrap, seed, failed)
        samples = [(cat[0], cat[1], okb), (cat[2], cat[3], okb)]
    laws = [law_from((lr_s, lr_i), samples[0]), law_from((bs_s, bs_i), samples[1])]
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
