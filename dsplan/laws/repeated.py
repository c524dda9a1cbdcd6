"""Data-constrained planning: repeated data by Muennighoff et al. 2023 (arXiv 2305.16264).

``--unique-tokens U`` on ``budget`` and ``compare``: the epochs a plan needs, the effective data
D' of the repeated tokens, and a re-allocated plan (docs/laws.md, "Data-constrained planning").
Imported only when a plan is data-constrained or a preset file has a ``[repetition]`` table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.laws.allocation import Allocation, chinchilla_optimum, parametric_loss, predict
from dsplan.laws.loss import ParametricLoss, Repetition
from dsplan.laws.types import Preset
from dsplan.model.flops import Counts, Shape, counts
from dsplan.model.shape import best_shape, best_shape_by_params

if TYPE_CHECKING:
    from dsplan.model.shape import SearchOptions

# Beyond about 4 epochs repeated data is worth clearly less than fresh data (D'/U = 3.73 at 4 epochs,
# 0.93 of a fresh token; 0.83 at 8): Muennighoff et al. 2023, Section 5 and Figure 3.
MAX_USEFUL_EPOCHS = 4.0


def effective_tokens(unique_tokens: float, tokens: float, r_star: float) -> float:
    """Muennighoff et al.'s effective data D' for ``tokens`` drawn from ``unique_tokens`` unique ones.

    ``D' = U + U R* (1 - exp(-R / R*))`` with ``R = D / U - 1`` the repetitions beyond the first
    epoch; D' = D when the data is seen at most once.

    Args:
        unique_tokens: U, the unique tokens available.
        tokens: D, the tokens trained on.
        r_star: R_D*, the repetitions at which repeated data's value has decayed by 1/e (the
            ``muennighoff`` preset's ``repetition.r_d_star``, 15.387756).

    References:
        Muennighoff et al. 2023 (arXiv 2305.16264), Section 3.1; R_D* = 15.387756 from the
        datablations README ("Parametric Fit").
    """
    if unique_tokens <= 0 or tokens <= 0:
        raise InputError("unique tokens and tokens must be positive")
    if unique_tokens < 1:
        # A fraction of a token is no data; its repetition count would overflow.
        raise InputError(f"unique tokens must be at least 1, got {unique_tokens:.3g}")
    return _decayed(tokens, unique_tokens, r_star)


def _decayed(amount: float, unique: float, r_star: float) -> float:
    """``U + U R* (1 - exp(-R / R*))`` with ``R = amount / U - 1``; ``amount`` itself up to U.

    Muennighoff et al.'s D' (repeated tokens) and N' (parameters beyond U_N) share this form.
    """
    if amount <= unique:
        return amount
    repetitions = amount / unique - 1
    return unique + unique * r_star * (1 - math.exp(-repetitions / r_star))


def data_constrained_loss(
    loss: ParametricLoss, repetition: Repetition, params: float, tokens: float, unique: float
) -> float:
    """``L(N', D')`` of Muennighoff et al. 2023 (Section 3.1): the loss with repeated data.

    U_N, the parameters that still pay off, is the compute-optimal N for training on exactly the
    unique tokens, ``G (G U)^(a/b)`` in the Chinchilla closed form (``G^2 U`` when a = b).
    """
    s = loss.alpha + loss.beta
    g = (loss.alpha * loss.a / (loss.beta * loss.b)) ** (1 / s)
    params_unique = g * (g * unique) ** (loss.beta / loss.alpha)
    d_eff = effective_tokens(unique, tokens, repetition.r_d_star)
    n_eff = _decayed(params, params_unique, repetition.r_n_star)
    return parametric_loss(loss, n_eff, d_eff)


def data_constrained_optimum(
    loss: ParametricLoss, repetition: Repetition, compute_flops: float, unique: float
) -> tuple[float, float]:
    """The N minimising Muennighoff et al.'s ``L(N', D')`` on ``C = 6 N D`` with U unique tokens.

    A grid over six decades of N around the unconstrained optimum, then golden-section search in
    ln N around the best grid point (pure Python, ~150 loss evaluations).

    Returns:
        ``(N, D)`` in the law's conventions (total parameters, tokens).
    """
    n0, _ = chinchilla_optimum(loss, compute_flops)

    def f(log_n: float) -> float:
        n = math.exp(log_n)
        return data_constrained_loss(loss, repetition, n, compute_flops / (6 * n), unique)

    lo, hi = math.log(n0) - 3 * math.log(10), math.log(n0) + 3 * math.log(10)
    steps = 120
    grid = [lo + (hi - lo) * i / steps for i in range(steps + 1)]
    best = min(range(len(grid)), key=lambda i: f(grid[i]))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, steps)]
    inv_phi = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        x1 = b - inv_phi * (b - a)
        x2 = a + inv_phi * (b - a)
        if f(x1) <= f(x2):
            b = x2
        else:
            a = x1
    n = math.exp((a + b) / 2)
    return n, compute_flops / (6 * n)


@dataclass(frozen=True)
class DataConstraint:
    """Repeated data when the plan needs more tokens than exist (Muennighoff et al. 2023).

    ``effective_tokens`` is D' = U + U R* (1 - exp(-R / R*)) with R = epochs - 1 and R* =
    ``r_d_star`` (15.39, the ``muennighoff`` preset's).
    The re-allocated plan (``reallocated_*``) is present only when the data runs out: the method is
    in docs/laws.md ("Data-constrained planning").
    """

    unique_tokens: float
    epochs: float
    effective_tokens: float
    value_per_token: float
    r_d_star: float
    reallocation_factor: float | None = None
    reallocated_shape: Shape | None = None
    reallocated_counts: Counts | None = None
    reallocated_tokens: float | None = None
    reallocated_epochs: float | None = None
    reallocated_effective_tokens: float | None = None
    method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unique_tokens": self.unique_tokens,
            "epochs": self.epochs,
            "effective_tokens": self.effective_tokens,
            "value_per_token": self.value_per_token,
            "r_d_star": self.r_d_star,
            "reallocated": None,
        }
        if self.reallocated_counts is not None and self.reallocated_shape is not None:
            out["reallocated"] = {
                "factor": self.reallocation_factor,
                "shape": self.reallocated_shape.to_dict(),
                "flops_per_token": self.reallocated_counts.flops_per_token,
                "params_total": self.reallocated_counts.params_total,
                "params_non_embedding": self.reallocated_counts.params_non_embedding,
                "tokens": self.reallocated_tokens,
                "epochs": self.reallocated_epochs,
                "effective_tokens": self.reallocated_effective_tokens,
                "method": self.method,
            }
        return out


def data_constraint(
    c: float, unique: float, alloc: Allocation, search: SearchOptions, law: Preset
) -> tuple[DataConstraint, list[str]]:
    """Epochs, Muennighoff's effective data, and a re-allocated plan when the data runs out.

    Args:
        c: The compute budget in FLOPs.
        unique: The unique tokens available.
        alloc: The plan's allocation without the limit.
        search: The shape-search options of the plan.
        law: The data-constrained law: a preset with ``[loss]`` and ``[repetition]`` tables
            (``muennighoff``, :data:`dsplan.catalog.presets.REPETITION_PRESET`).

    Re-allocation (dsplan's method, documented in docs/laws.md): Muennighoff et al.'s fitted
    ``L(N', D')`` gives the compute-optimal N with U unique tokens, N_U, and without the limit,
    N_inf, at the same C = 6ND. Their ratio k = N_U / N_inf scales the chosen law's model size
    (M for M laws, the shape's parameters otherwise); the shape search and D = C / M_exact follow.

    Raises:
        InputError: ``law`` lacks ``[loss]`` or ``[repetition]``.
    """
    if law.loss is None or law.repetition is None:
        raise InputError(
            f"{law.path}: needs [loss] and [repetition] to plan for a count of unique tokens",
            quantity="unique_tokens",
        )
    loss, repetition = law.loss, law.repetition
    r_d_star = repetition.r_d_star
    warnings: list[str] = []
    tokens = alloc.tokens
    epochs = tokens / unique
    d_eff = effective_tokens(unique, tokens, r_d_star)
    if epochs <= 1:
        return DataConstraint(unique, epochs, d_eff, 1.0, r_d_star), warnings
    n_free = predict(law, c).model_size
    n_constrained, _ = data_constrained_optimum(loss, repetition, c, unique)
    factor = n_constrained / n_free
    if alloc.is_m_law:
        candidate = best_shape(alloc.prediction.model_size * factor, search)
    else:
        candidate = best_shape_by_params(alloc.counts.params_total * factor, "params_total", search)
    new_counts = counts(candidate.shape)
    new_tokens = c / new_counts.flops_per_token
    new_epochs = new_tokens / unique
    if epochs > MAX_USEFUL_EPOCHS:
        warnings.append(
            f"the plan repeats the {unique:.3g} unique tokens {epochs:.3g} times: beyond about "
            f"{MAX_USEFUL_EPOCHS:g} epochs repeated data loses value (Muennighoff et al. 2023); "
            f"see data_constrained.reallocated ({new_epochs:.3g} epochs)"
        )
    data = DataConstraint(
        unique_tokens=unique,
        epochs=epochs,
        effective_tokens=d_eff,
        value_per_token=d_eff / tokens,
        r_d_star=r_d_star,
        reallocation_factor=factor,
        reallocated_shape=candidate.shape,
        reallocated_counts=new_counts,
        reallocated_tokens=new_tokens,
        reallocated_epochs=new_epochs,
        reallocated_effective_tokens=effective_tokens(unique, new_tokens, r_d_star),
        method=(
            "model size scaled by N_U / N_inf, the ratio of Muennighoff et al.'s data-constrained "
            "to unconstrained optimum at the same C (dsplan's method, docs/laws.md)"
        ),
    )
    return data, warnings
