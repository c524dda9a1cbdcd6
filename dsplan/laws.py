"""Published allocation laws evaluated in their own units, and repeated data (Muennighoff et al.).

Each law predicts one quantity in its own convention (docs/laws.md): M (DeepSeek), a parameter count
(total, non-embedding, or non-embedding plus output head), or tokens (Llama 3). This module returns
that prediction untouched; :mod:`dsplan.plan` turns it into a shape and from the shape into M, never
by assuming M = 6N. Plain ``math`` only, so ``dsplan budget`` stays fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsplan.errors import InputError
from dsplan.presets import ParametricLoss, Preset, Repetition
from dsplan.units import PF_DAY_FLOPS

# Muennighoff et al. 2023 (datablations README, "Parametric Fit"): repeated epochs at which the
# value of repeated data has decayed by 1/e. The muennighoff preset carries the unrounded 15.387756.
MUENNIGHOFF_R_D_STAR = 15.387756
# Beyond about 4 epochs repeated data is worth clearly less than fresh data (D'/U = 3.73 at 4 epochs,
# 0.93 of a fresh token; 0.83 at 8): Muennighoff et al. 2023, Section 5 and Figure 3.
MAX_USEFUL_EPOCHS = 4.0


def law_compute(preset: Preset, compute_flops: float) -> float:
    """The law's own compute variable: C in FLOPs, or Kaplan's C_min = C / 2 in PF-days."""
    scale = PF_DAY_FLOPS if preset.compute_unit == "pf_days" else 1.0
    return compute_flops * preset.compute_fraction / scale


def chinchilla_optimum(loss: ParametricLoss, compute_flops: float) -> tuple[float, float]:
    """The argmin of ``L(N, D)`` on ``C = 6 N D``, in closed form.

    Returns:
        ``(N_opt, D_opt)``: N in the law's parameter convention, D in tokens.

    References:
        Hoffmann et al. 2022 (arXiv 2203.15556), Appendix D.2, Eq. 4: N_opt = G (C/6)^a,
        D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)), a = beta/(alpha+beta),
        b = alpha/(alpha+beta).
    """
    s = loss.alpha + loss.beta
    g = (loss.alpha * loss.a / (loss.beta * loss.b)) ** (1 / s)
    n = g * (compute_flops / 6) ** (loss.beta / s)
    return n, compute_flops / (6 * n)


def parametric_loss(loss: ParametricLoss, params: float, tokens: float) -> float:
    """``E + A / N^alpha + B / D^beta`` in nats (Hoffmann et al. 2022, Eq. 2)."""
    return float(loss.e + loss.a / params**loss.alpha + loss.b / tokens**loss.beta)


@dataclass(frozen=True)
class LawPrediction:
    """A law's own prediction at one budget, in its own unit.

    ``model_size`` is the predicted quantity in ``model_size_unit`` (for a tokens-only law, the
    tokens). ``law_tokens`` is the law's own D and ``law_tokens_basis`` says where it comes from.
    """

    model_size: float
    model_size_unit: str
    law_tokens: float
    law_tokens_basis: str

    @property
    def law_params(self) -> float | None:
        """The predicted parameter count, for laws that predict one."""
        return self.model_size if self.model_size_unit.startswith("params_") else None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def predict(preset: Preset, compute_flops: float) -> LawPrediction:
    """Evaluate a preset's allocation law at C, in the law's own units.

    Raises:
        InputError: a preset whose tables do not fit its form (caught when it is loaded).

    References:
        The law named by ``preset.source``; conventions in docs/laws.md.
    """
    c_law = law_compute(preset, compute_flops)
    unit = preset.predicts
    if preset.form == "parametric_loss" and preset.loss is not None:
        n, d = chinchilla_optimum(preset.loss, c_law)
        return LawPrediction(n, unit, d, "closed-form argmin of L(N, D) on C = 6ND")
    if preset.form == "fixed_ratio" and preset.tokens_per_param is not None:
        ratio = preset.tokens_per_param
        n = math.sqrt(c_law / (6 * ratio))
        return LawPrediction(n, unit, ratio * n, f"D = {ratio:g} N on C = 6ND")
    if unit == "tokens" and preset.data_scaling is not None:
        d = preset.data_scaling(c_law)
        return LawPrediction(d, unit, d, "the law's D_opt")
    if preset.model_scaling is None:
        raise InputError(f"preset {preset.id!r}: no law for its model size")
    size = preset.model_scaling(c_law)
    if preset.data_scaling is not None:
        return LawPrediction(size, unit, preset.data_scaling(c_law), "the law's D_opt")
    # Laws without their own D (Kaplan): D = C / (6N), Kaplan's Eq. 6.7 at the critical batch.
    return LawPrediction(size, unit, compute_flops / (6 * size), "C / (6N)")


def predicted_loss(preset: Preset, params: float | None, tokens: float) -> float | None:
    """The law's loss (nats, on its own data) at ``(N, D)``, or None for laws without a loss form."""
    if preset.loss is None or params is None:
        return None
    return parametric_loss(preset.loss, params, tokens)


def effective_tokens(
    unique_tokens: float, tokens: float, r_star: float = MUENNIGHOFF_R_D_STAR
) -> float:
    """Muennighoff et al.'s effective data D' for ``tokens`` drawn from ``unique_tokens`` unique ones.

    ``D' = U + U R* (1 - exp(-R / R*))`` with ``R = D / U - 1`` the repetitions beyond the first
    epoch; D' = D when the data is seen at most once.

    References:
        Muennighoff et al. 2023 (arXiv 2305.16264), Section 3.1; R_D* = 15.387756 from the
        datablations README ("Parametric Fit").
    """
    if unique_tokens <= 0 or tokens <= 0:
        raise InputError("unique tokens and tokens must be positive")
    if tokens <= unique_tokens:
        return tokens
    repetitions = tokens / unique_tokens - 1
    return unique_tokens + unique_tokens * r_star * (1 - math.exp(-repetitions / r_star))


def _excess_params(params: float, params_unique: float, r_n_star: float) -> float:
    """Muennighoff et al.'s N': parameters beyond ``params_unique`` decay like repeated data."""
    if params <= params_unique:
        return params
    excess = params / params_unique - 1
    return params_unique + params_unique * r_n_star * (1 - math.exp(-excess / r_n_star))


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
    n_eff = _excess_params(params, params_unique, repetition.r_n_star)
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
