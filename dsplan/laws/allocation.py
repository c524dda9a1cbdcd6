"""Published allocation laws evaluated in their own units.

Each law predicts one quantity in its own convention (docs/laws.md): M (DeepSeek), a parameter count
(total, non-embedding, or non-embedding plus output head), or tokens (Llama 3). This module returns
that prediction untouched (:func:`predict`); :func:`allocate` turns it into a shape and from the
shape into M, never by assuming M = 6N. Plain ``math`` only, so ``dsplan budget`` stays fast.
Repeated data (Muennighoff et al.) is in :mod:`dsplan.laws.repeated`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.laws.types import Preset
from dsplan.model.flops import Counts, counts
from dsplan.model.shape import Candidate, SearchOptions, best_shape, best_shape_by_params
from dsplan.records import record
from dsplan.units import PF_DAY_FLOPS

if TYPE_CHECKING:
    from dsplan.laws.forms import HyperparameterLaw
    from dsplan.laws.loss import ParametricLoss


def law_compute(law: Preset | HyperparameterLaw, compute_flops: float) -> float:
    """The law's own compute variable: C in FLOPs, or Kaplan's C_min = C / 2 in PF-days."""
    scale = PF_DAY_FLOPS if law.compute_unit == "pf_days" else 1.0
    return compute_flops * law.compute_fraction / scale


def chinchilla_optimum(
    loss: ParametricLoss, compute_flops: float, flops_per_unit: float = 6.0
) -> tuple[float, float]:
    """The argmin of ``L(N, D)`` on ``C = 6 N D``, in closed form.

    With ``flops_per_unit = 1`` the law is in M (FLOPs per token) and the constraint is C = M D
    (a law fitted by ``dsplan fit --parametric`` on M).

    Returns:
        ``(N_opt, D_opt)``: N in the law's parameter convention (or M), D in tokens.

    References:
        Hoffmann et al. 2022 (arXiv 2203.15556), Appendix D.2, Eq. 4: N_opt = G (C/6)^a,
        D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)), a = beta/(alpha+beta),
        b = alpha/(alpha+beta).
    """
    s = loss.alpha + loss.beta
    g = (loss.alpha * loss.a / (loss.beta * loss.b)) ** (1 / s)
    n = g * (compute_flops / flops_per_unit) ** (loss.beta / s)
    return n, compute_flops / (flops_per_unit * n)


def parametric_loss(loss: ParametricLoss, params: float, tokens: float) -> float:
    """``E + A / N^alpha + B / D^beta`` in nats (Hoffmann et al. 2022, Eq. 2)."""
    return float(loss.e + loss.a / params**loss.alpha + loss.b / tokens**loss.beta)


@record
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
        if unit == "flops_per_token":
            m, d = chinchilla_optimum(preset.loss, c_law, 1.0)
            return LawPrediction(m, unit, d, "closed-form argmin of L(M, D) on C = MD")
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


@record
class Allocation:
    """A law's prediction at C turned into a shape: its exact M, and D = C / M_exact."""

    compute_flops: float
    prediction: LawPrediction
    candidate: Candidate
    counts: Counts

    @property
    def flops_per_token(self) -> int:
        return self.counts.flops_per_token

    @property
    def tokens(self) -> float:
        return self.compute_flops / self.counts.flops_per_token

    @property
    def is_m_law(self) -> bool:
        return self.prediction.model_size_unit == "flops_per_token"

    def model_size_error(self) -> float | None:
        """For parameter laws: the shape's count in the law's convention against the prediction."""
        return None if self.prediction.law_params is None else float(self.candidate.relative_error)


def allocate(compute_flops: float, preset: Preset, options: SearchOptions) -> Allocation:
    """Evaluate a preset's allocation law at C and find the shape that realises it.

    * M laws: the shape whose exact M is closest to M_opt (the original planner);
    * parameter laws: the shape whose parameter count, in the law's own convention, is closest to
      the prediction (:func:`dsplan.model.shape.best_shape_by_params`);
    * token laws: the shape whose M is closest to C / D_opt.

    References:
        docs/laws.md, "Units": which law counts what.
    """
    return allocate_prediction(compute_flops, predict(preset, compute_flops), options)


def allocate_prediction(
    compute_flops: float, prediction: LawPrediction, options: SearchOptions
) -> Allocation:
    """The shape that realises a given prediction at C, as :func:`allocate` finds it.

    For a model size chosen by other means than the law's optimum at C (the inference-aware
    allocation of :mod:`dsplan.laws.inference`), with C the compute its shape is trained with.
    """
    unit = prediction.model_size_unit
    if unit == "flops_per_token":
        candidate = best_shape(prediction.model_size, options)
    elif unit == "tokens":
        candidate = best_shape(compute_flops / prediction.model_size, options)
    else:
        candidate = best_shape_by_params(prediction.model_size, unit, options)
    return Allocation(compute_flops, prediction, candidate, counts(candidate.shape))
