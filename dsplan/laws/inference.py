"""Inference-aware allocation: the model and data that reach a loss for the least total FLOPs.

Sardana et al. 2023 ("Beyond Chinchilla-Optimal", arXiv 2401.00448, Section 2) minimise the FLOPs
of training plus inference, ``6 N D + 2 N D_inf``, subject to a parametric loss
``L(N, D) = E + A / N^alpha + B / D^beta`` reaching a target. A model served for many tokens
should be smaller and trained longer than the compute-optimal one of the same quality.

Convention (ours for M, the paper's for N): a training token costs ``k X`` FLOPs and an inference
token ``k X / 3`` (the forward pass alone), where X is the law's model size: N parameters with
k = 6 (training 6N, inference 2N per token), or M, DeepSeek's FLOPs per token, with k = 1
(training M, inference M / 3 per token; M counts attention, so M / 3 is the forward pass as
DeepSeek's Eq. 2 counts it, not a measured serving cost). Either way the total is
``k X (D + D_inf / 3)``. Prompt tokens and generated tokens cost the same here, as in the paper.

The solution, derived here (the paper solves it numerically). On the constraint, write the loss
above E as ``L - E = u + r`` with ``u = A / X^alpha`` and ``r = B / D^beta``, and ``q = alpha u /
(beta r)``. Stationarity of ``X (D + D_inf / 3)`` along the constraint gives

    D (q - 1) = D_inf / 3,

whose left side increases strictly with ``u / r`` wherever ``q >= 1``: one root, with ``q = 1``
(Chinchilla's optimality condition ``alpha A / N^alpha = beta B / D^beta``) at ``D_inf = 0``. We
parametrise by ``phi = ln(u / r)``, so ``u = (L - E) / (1 + e^-phi)`` and ``r = (L - E) / (1 + e^phi)``
hold the constraint exactly and without cancellation, and bisect in ``phi`` to the float's
resolution. Plain ``math``: no scipy on the ``dsplan budget`` path.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.laws.loss import ParametricLoss
    from dsplan.model.flops import Counts

SOURCE = "Sardana et al. 2023, arXiv 2401.00448"
# Inference FLOPs per token as a fraction of training FLOPs per token: the forward pass, 2N of 6N.
INFERENCE_FRACTION = 1.0 / 3.0
# Training FLOPs per token per unit of model size: 6 per parameter (6N), 1 per unit of M.
PARAMS_FLOPS_PER_UNIT = 6.0
M_FLOPS_PER_UNIT = 1.0
TARGET_KINDS = ("compute", "loss", "model_size")
CONVENTION = (
    "training k X D FLOPs, inference k X / 3 per token (the forward pass): 6N and 2N per token "
    "for a law in parameters N, M and M / 3 for a law in M (FLOPs per token)"
)
HYPERPARAMETERS_BASIS = (
    "the shape nearest X trains on D tokens (C = M x D); batch, learning rate and schedule as for "
    "any plan at that C, though the hyperparameter laws were fitted on compute-optimal runs "
    "(an assumption here)"
)
_BRACKET_LIMIT = 4096.0  # phi - phi_0 beyond this is far past any float-representable D


@record
class LossAllocation:
    """A model size and its training tokens at a loss, with the FLOPs they cost.

    ``model_size`` is in the law's unit (parameters, or M in FLOPs per token); the FLOPs follow the
    module's convention (training ``k X D``, inference ``k X D_inf / 3``).
    """

    model_size: float
    tokens: float
    training_flops: float
    inference_flops: float

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.inference_flops

    @property
    def tokens_per_unit(self) -> float:
        """D / X: tokens per parameter for a parameter law."""
        return self.tokens / self.model_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_size": self.model_size,
            "tokens": self.tokens,
            "training_flops": self.training_flops,
            "inference_flops": self.inference_flops,
            "total_flops": self.total_flops,
        }


@record
class InferenceOptimum:
    """The inference-aware allocation at a target loss, beside the compute-optimal one."""

    target_loss: float
    inference_tokens: float
    flops_per_unit: float
    optimum: LossAllocation
    compute_optimal: LossAllocation

    @property
    def saving_flops(self) -> float:
        """Total FLOPs the compute-optimal allocation spends beyond the inference-aware one."""
        return self.compute_optimal.total_flops - self.optimum.total_flops

    @property
    def saving_fraction(self) -> float:
        return self.saving_flops / self.compute_optimal.total_flops


def flops_per_unit(predicts: str) -> float:
    """k of the convention: 1 for a law in M (``flops_per_token``), else 6 (parameters)."""
    return M_FLOPS_PER_UNIT if predicts == "flops_per_token" else PARAMS_FLOPS_PER_UNIT


def _positive(value: float, what: str) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InputError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def _headroom(loss: ParametricLoss, target_loss: float) -> float:
    """``L - E``, or InputError when the target is at or below the law's irreducible loss."""
    if not (isinstance(target_loss, (int, float)) and math.isfinite(target_loss)):
        raise InputError(f"target loss must be a finite number of nats, got {target_loss!r}")
    if target_loss <= loss.e:
        raise InputError(
            f"target loss {target_loss:g} nats is not above the law's irreducible loss "
            f"E = {loss.e:.4g}: no model and data reach it",
            quantity="target_loss",
        )
    return float(target_loss) - loss.e


def _softplus(x: float) -> float:
    """``ln(1 + e^x)`` without overflow."""
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _log_expm1(x: float) -> float:
    """``ln(e^x - 1)`` for x > 0, without overflow."""
    return x + math.log1p(-math.exp(-x)) if x > 1 else math.log(math.expm1(x))


def _point(loss: ParametricLoss, headroom: float, phi: float) -> tuple[float, float]:
    """``(ln X, ln D)`` on the constraint at ``phi = ln(u / r)``."""
    log_s = math.log(headroom)
    log_u = log_s - _softplus(-phi)
    log_r = log_s - _softplus(phi)
    return (math.log(loss.a) - log_u) / loss.alpha, (math.log(loss.b) - log_r) / loss.beta


def _allocation(
    loss: ParametricLoss, headroom: float, phi: float, d_inf: float, k: float
) -> LossAllocation:
    log_x, log_d = _point(loss, headroom, phi)
    x, d = math.exp(log_x), math.exp(log_d)
    if not (math.isfinite(x) and math.isfinite(d)):
        raise InputError(
            f"the allocation at loss {loss.e + headroom:g} nats overflows a float "
            f"(model size e^{log_x:.0f}, tokens e^{log_d:.0f}): choose a higher target loss",
            quantity="target_loss",
        )
    return LossAllocation(x, d, k * x * d, k * x * d_inf * INFERENCE_FRACTION)


def compute_optimal_at_loss(
    loss: ParametricLoss, target_loss: float, flops_per_unit: float = PARAMS_FLOPS_PER_UNIT
) -> LossAllocation:
    """The compute-optimal (X, D) that reaches ``target_loss``, in closed form.

    At the optimum ``alpha u = beta r``: ``u = (L - E) beta / (alpha + beta)``,
    ``r = (L - E) alpha / (alpha + beta)`` (Hoffmann et al. 2022, Appendix D.2, rearranged).
    """
    headroom = _headroom(loss, target_loss)
    return _allocation(loss, headroom, math.log(loss.beta / loss.alpha), 0.0, flops_per_unit)


def loss_at_compute(
    loss: ParametricLoss, compute_flops: float, flops_per_unit: float = PARAMS_FLOPS_PER_UNIT
) -> float:
    """The loss of the compute-optimal allocation at C (closed form, C = k X D)."""
    c = _positive(compute_flops, "compute budget")
    s = loss.alpha + loss.beta
    g = (loss.alpha * loss.a / (loss.beta * loss.b)) ** (1 / s)
    x = g * (c / flops_per_unit) ** (loss.beta / s)
    d = c / (flops_per_unit * x)
    return float(loss.e + loss.a / x**loss.alpha + loss.b / d**loss.beta)


def optimal_tokens(loss: ParametricLoss, model_size: float) -> float:
    """The D that makes a model of size X compute-optimal: ``alpha A / X^alpha = beta B / D^beta``."""
    x = _positive(model_size, "model size")
    return float((loss.beta * loss.b * x**loss.alpha / (loss.alpha * loss.a)) ** (1 / loss.beta))


def loss_at_model_size(loss: ParametricLoss, model_size: float) -> float:
    """The loss of a model of size X trained compute-optimally (on :func:`optimal_tokens`)."""
    x = _positive(model_size, "model size")
    u = loss.a / x**loss.alpha
    return float(loss.e + u + u * loss.alpha / loss.beta)


def inference_optimum(
    loss: ParametricLoss,
    target_loss: float,
    inference_tokens: float,
    flops_per_unit: float = PARAMS_FLOPS_PER_UNIT,
    compute_optimal: tuple[float, float] | None = None,
) -> InferenceOptimum:
    """Minimise training plus inference FLOPs subject to ``L(X, D) = target_loss``.

    Args:
        loss: The parametric loss law (nats).
        target_loss: The loss to reach (nats); must lie above the law's E.
        inference_tokens: Tokens the model will process once trained (D_inf >= 0).
        flops_per_unit: k: 6 for a law in parameters, 1 for a law in M (:func:`flops_per_unit`).
        compute_optimal: The compute-optimal ``(X, D)`` at the target when the caller has it in
            closed form (the optimum at a budget, or a size on :func:`optimal_tokens`); default
            derived from the target loss, equal to within a few parts in 1e15.

    Returns:
        The inference-aware allocation and the compute-optimal one at the same loss. With
        ``inference_tokens = 0`` they coincide.

    Raises:
        InputError: a target at or below E, negative or non-finite inference tokens.

    References:
        Sardana et al. 2023 (arXiv 2401.00448), Section 2 and Fig. 1; the parametric form of
        Hoffmann et al. 2022 (arXiv 2203.15556), Eq. 2.
    """
    headroom = _headroom(loss, target_loss)
    if not (
        isinstance(inference_tokens, (int, float))
        and math.isfinite(inference_tokens)
        and inference_tokens >= 0
    ):
        raise InputError(
            f"inference tokens must be a non-negative finite number, got {inference_tokens!r}",
            quantity="inference_tokens",
        )
    d_inf = float(inference_tokens)
    k = _positive(flops_per_unit, "FLOPs per unit of model size")
    phi0 = math.log(loss.beta / loss.alpha)
    delta = 0.0
    if d_inf > 0:
        # Summed in logs: D_inf / 3 underflows for a subnormal D_inf (5e-324).
        goal = math.log(d_inf) + math.log(INFERENCE_FRACTION)

        def excess(dl: float) -> float:  # ln(D (q - 1)) - ln(D_inf / 3); increasing in dl
            return _point(loss, headroom, phi0 + dl)[1] + _log_expm1(dl) - goal

        lo, hi = 0.0, 1.0
        while excess(hi) < 0:
            lo, hi = hi, 2 * hi
            if hi > _BRACKET_LIMIT:  # pragma: no cover - D overflows long before
                raise InputError(
                    f"inference tokens {d_inf:g}: no finite allocation at loss {target_loss:g}",
                    quantity="inference_tokens",
                )
        while hi - lo > 4e-16 * hi:
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if excess(mid) < 0:
                lo = mid
            else:
                hi = mid
        delta = 0.5 * (lo + hi)
    return InferenceOptimum(
        target_loss=float(target_loss),
        inference_tokens=d_inf,
        flops_per_unit=k,
        optimum=_allocation(loss, headroom, phi0 + delta, d_inf, k),
        compute_optimal=(
            _allocation(loss, headroom, phi0, d_inf, k)
            if compute_optimal is None
            else LossAllocation(
                compute_optimal[0],
                compute_optimal[1],
                k * compute_optimal[0] * compute_optimal[1],
                k * compute_optimal[0] * d_inf * INFERENCE_FRACTION,
            )
        ),
    )


@record
class InferenceTarget:
    """What the plan must match: a ``loss`` (nats), the optimum at ``compute`` C (FLOPs), or a
    compute-optimally trained ``model_size`` (in the preset's unit: parameters, or M)."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise InputError(
                f"inference target kind {self.kind!r}: choose one of {', '.join(TARGET_KINDS)}"
            )


@record
class InferenceReport:
    """The inference-aware allocation of a plan, against the compute-optimal plan at the same loss.

    ``reference_*`` describe that compute-optimal plan: its budget, its shape's counts, its tokens.
    """

    target: InferenceTarget
    model_size_unit: str
    optimum: InferenceOptimum
    reference_compute: float
    reference_counts: Counts
    reference_tokens: float

    def to_dict(self) -> dict[str, Any]:
        o, co = self.optimum.optimum, self.optimum.compute_optimal
        per_param = self.model_size_unit.startswith("params_")
        return {
            "source": SOURCE,
            "convention": CONVENTION,
            "hyperparameters_basis": HYPERPARAMETERS_BASIS,
            "target": {
                "kind": self.target.kind,
                "value": self.target.value,
                "loss": self.optimum.target_loss,
            },
            "inference_tokens": self.optimum.inference_tokens,
            "model_size_unit": self.model_size_unit,
            **o.to_dict(),
            "tokens_per_param": o.tokens_per_unit if per_param else None,
            "compute_optimal": {
                **co.to_dict(),
                "tokens_per_param": co.tokens_per_unit if per_param else None,
                "plan_compute_flops": self.reference_compute,
                "plan_params_total": self.reference_counts.params_total,
                "plan_flops_per_token": self.reference_counts.flops_per_token,
                "plan_tokens": self.reference_tokens,
            },
            "saving_flops": self.optimum.saving_flops,
            "saving_fraction": self.optimum.saving_fraction,
        }
