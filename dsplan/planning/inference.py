"""The inference-aware plan: ``dsplan budget --inference-tokens``.

:func:`dsplan.laws.inference.inference_optimum` finds the model size X* and tokens D* that reach a
target loss for the least training plus inference FLOPs. This module turns that into a plan like
any other: the shape is the one whose size (in the law's convention) is closest to X*, trained on
D* tokens, so its training compute is ``C' = M_exact D*``; the batch, learning rate and schedule
are those the preset's hyperparameter law gives at ``C'`` with that shape and those tokens, as for
any plan at ``C'``. (A compute-optimal plan trains its shape on C / M_exact tokens instead; here the
tokens are what the target loss is made of, and at small scale, where the embeddings weigh in a
parameter count and M is far from 6N, C / M would miss them by a factor.) Beside it, the
compute-optimal plan that reaches the same loss, and the FLOPs the inference-aware one saves.

The target is a loss (``--target-loss``), the loss of the compute-optimal plan at C (a budget), or
that of a model of a given size trained compute-optimally (``--match-quality``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from dsplan.catalog.presets import load_preset
from dsplan.errors import InputError, PresetError
from dsplan.laws.allocation import (
    LawPrediction,
    allocate_prediction,
    chinchilla_optimum,
    law_compute,
)
from dsplan.laws.inference import (
    InferenceReport,
    InferenceTarget,
    flops_per_unit,
    inference_optimum,
    loss_at_compute,
    loss_at_model_size,
    optimal_tokens,
)
from dsplan.laws.types import Preset
from dsplan.planning.plan import Plan, PlanOptions, check_compute, plan, plan_allocation

if TYPE_CHECKING:
    from dsplan.laws.loss import ParametricLoss

LOSS_PRESETS = "chinchilla-a3, epoch, muennighoff or a file written by `dsplan fit --parametric`"
BASIS = "least training + inference FLOPs at the target loss (Sardana et al. 2023)"


def loss_law(preset: Preset) -> ParametricLoss:
    """The preset's parametric loss, or PresetError saying which presets have one."""
    if preset.loss is None:
        raise PresetError(
            f"preset {preset.id!r} has no loss law (a [loss] table), which an inference-aware "
            f"plan needs to trade model size for tokens at equal loss; use {LOSS_PRESETS}"
        )
    return preset.loss


def target_loss(preset: Preset, target: InferenceTarget) -> float:
    """The loss (nats) a target stands for under the preset's law."""
    loss = loss_law(preset)
    k = flops_per_unit(preset.predicts)
    if target.kind == "compute":
        return loss_at_compute(loss, law_compute(preset, check_compute(target.value)), k)
    if target.kind == "model_size":
        return loss_at_model_size(loss, target.value)
    return float(target.value)


def inference_plan(
    target: InferenceTarget, inference_tokens: float, options: PlanOptions | None = None
) -> Plan:
    """Plan the run that reaches ``target`` for the least training plus inference FLOPs.

    Args:
        target: The quality to match (:class:`InferenceTarget`).
        inference_tokens: Tokens the model will serve over its life (prompt and generated alike).
        options: Preset (it must have a loss law), shape-search and hyperparameter options.

    Returns:
        A :class:`~dsplan.planning.plan.Plan` whose ``inference`` holds the allocation and the
        compute-optimal plan it is measured against.

    Raises:
        InputError: a preset without a loss law, a target at or below its E, bad tokens,
            ``unique_tokens`` (data-constrained planning does not combine with this yet).

    References:
        Sardana et al. 2023 (arXiv 2401.00448), Section 2; docs/laws.md, "Inference-aware
        allocation".
    """
    options = options or PlanOptions()
    if options.unique_tokens is not None:
        raise InputError(
            "an inference-aware plan does not combine with unique tokens (data-constrained "
            "planning) yet",
            quantity="unique_tokens",
        )
    preset = load_preset(options.preset)
    loss = loss_law(preset)
    k = flops_per_unit(preset.predicts)
    scale = law_compute(preset, 1.0)  # the law's compute per FLOP (1 for every parametric file)
    exact: tuple[float, float] | None = None
    if target.kind == "compute":
        exact = chinchilla_optimum(loss, check_compute(target.value) * scale, k)
    elif target.kind == "model_size":
        exact = (target.value, optimal_tokens(loss, target.value))
    optimum = inference_optimum(loss, target_loss(preset, target), inference_tokens, k, exact)
    if target.kind == "compute":
        reference_c = float(target.value)
    else:
        reference_c = optimum.compute_optimal.training_flops / scale
    reference = plan(reference_c, options)
    best = optimum.optimum
    prediction = LawPrediction(best.model_size, preset.predicts, best.tokens, BASIS)
    shape = allocate_prediction(best.training_flops / scale, prediction, options.search)
    # The shape trains on D* itself, the tokens the target loss needs: C' = M_exact x D*.
    c_train = shape.flops_per_token * best.tokens
    if not (math.isfinite(c_train) and c_train > 0):
        raise InputError(f"the allocation's training compute {c_train!r} is not a finite number")
    alloc = replace(shape, compute_flops=c_train)
    report = InferenceReport(
        target,
        preset.predicts,
        optimum,
        reference.compute_flops,
        reference.architecture.counts,
        reference.training.tokens,
    )
    return plan_allocation(alloc, preset, options, report)
