"""The plan for a compute budget with a mixture-of-experts model: ``dsplan budget C --moe``.

DeepSeek publishes no allocation law for MoE models. This plan applies Eq. 4 to the activated
compute (an assumption of dsplan's, said in every document it writes): M_opt and D_opt are Eq. 4's
at C, the MoE shape search (:mod:`dsplan.model.moe_shape`) finds a shape whose activated M is
within its tolerance of M_opt, the run trains on D = C / M_exact tokens, Eq. 1 gives the learning
rate and batch at C, and DeepSeek's multi-step schedule is laid out as for a dense plan. Time and
cost (``--gpu``) are of the activated path; memory is of every parameter. The dense plan
(:mod:`dsplan.planning.plan`) is untouched.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from dsplan.catalog.presets import DEFAULT_PRESET, load_preset, resolve_hyperparameter_law
from dsplan.errors import InputError
from dsplan.laws.allocation import predict
from dsplan.laws.hyperparameters import hyperparameters_for
from dsplan.model.moe_shape import MoeCandidate, MoeSearchOptions, best_moe_shape
from dsplan.planning.plan import (
    SCHEMA_VERSION,
    Hyperparameters,
    Optimal,
    check_compute,
    round_batch_sequences,
)
from dsplan.records import record
from dsplan.scheduling.schedules import DEEPSEEK_WARMUP_STEPS, Schedule, multistep

if TYPE_CHECKING:
    from dsplan.laws.types import Preset
    from dsplan.planning.cost import Cost, Hardware

MOE_ASSUMPTION = (
    "dsplan's assumption, not a published law: DeepSeek's Eq. 4 applied to the activated compute "
    "(M of the activated path) and Eq. 1 at C; DeepSeek publishes no allocation law for "
    "mixture-of-experts models"
)


@record
class MoePlanOptions:
    """Everything an MoE plan depends on besides the budget: the preset (an M law) and the search."""

    search: MoeSearchOptions
    preset: str = DEFAULT_PRESET
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS


@record
class MoePlan:
    """An MoE plan for one compute budget; ``to_dict()`` is the JSON document."""

    compute_flops: float
    preset: Preset
    options: MoePlanOptions
    optimal: Optimal
    hyperparameters: Hyperparameters
    candidate: MoeCandidate
    tokens: float
    schedule: Schedule
    allocation_orders_beyond: float
    hyperparameter_orders_beyond: float
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        shape, c = self.candidate.shape, self.candidate.counts
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "moe",
            "compute_flops": self.compute_flops,
            "preset": self.preset.id,
            "preset_source": self.preset.source,
            "preset_assumption": self.preset.assumption,
            "moe_assumption": MOE_ASSUMPTION,
            "inputs": self.options.search.to_dict(),
            "optimal": self.optimal.to_dict(),
            "hyperparameters": self.hyperparameters.to_dict(),
            "architecture": {
                **shape.to_dict(),
                "aspect_ratio": self.candidate.aspect_ratio,
                "flops_per_token": c.flops_per_token,
                "flops_per_token_error": self.candidate.relative_error,
                "params_total": c.params_total,
                "params_non_embedding": c.params_non_embedding,
                "params_activated": c.params_activated,
                "params_activated_non_embedding": c.params_activated_non_embedding,
            },
            "training": {
                "tokens": self.tokens,
                "tokens_per_param": self.tokens / c.params_total,
                "tokens_per_activated_param": self.tokens / c.params_activated,
            },
            "schedule": self.schedule.to_dict(),
            "fit_range": {
                "allocation_orders_beyond": self.allocation_orders_beyond,
                "hyperparameter_orders_beyond": self.hyperparameter_orders_beyond,
            },
            "warnings": list(self.warnings),
        }


def moe_plan(compute_flops: float, options: MoePlanOptions) -> MoePlan:
    """Plan a mixture-of-experts pretraining run for a compute budget.

    Args:
        compute_flops: The budget C = M * D in FLOPs, M of the activated path.
        options: The fixed expert layout and attention kind, the preset (an M law), the warm-up.

    Raises:
        InputError: a bad budget, a preset whose allocation law does not predict M, a target too
            small for any MoE shape.

    References:
        arXiv 2401.02954 Eq. 1 and Eq. 4 (applied to the activated path: our assumption);
        arXiv 2401.06066 Section 3.1 (fine-grained experts).
    """
    c = check_compute(compute_flops)
    preset = load_preset(options.preset)
    if preset.predicts != "flops_per_token":
        raise InputError(
            f"preset {preset.id!r} predicts {preset.predicts}: an MoE plan applies an M law "
            "(Eq. 4) to the activated compute; choose a DeepSeek preset",
            quantity="preset",
        )
    prediction = predict(preset, c)
    candidate = best_moe_shape(prediction.model_size, options.search)
    counts = candidate.counts
    tokens = c / counts.flops_per_token
    law = resolve_hyperparameter_law(preset)
    values = hyperparameters_for(preset, c, counts, tokens, law)
    if values.learning_rate is None or values.batch_size_tokens is None:
        raise InputError(f"hyperparameter law {values.law!r} gives no learning rate or batch")
    seq_len = options.search.seq_len
    exact = values.batch_size_tokens / seq_len
    sequences, multiple = round_batch_sequences(exact)
    schedule = multistep(
        values.learning_rate, tokens, sequences * seq_len, warmup_steps=options.warmup_steps
    )
    alloc_orders = preset.fit_range.orders_beyond(c)
    warnings = [f"mixture-of-experts plan: {MOE_ASSUMPTION}"]
    if alloc_orders > 0:
        warnings.append(
            f"{c:.3g} FLOPs lies {alloc_orders:.1f} orders of magnitude outside the range the "
            "allocation law was fitted on (dense models): the plan extrapolates"
        )
    if values.orders_beyond > 0 and values.orders_beyond != alloc_orders:
        warnings.append(
            f"{c:.3g} FLOPs lies {values.orders_beyond:.1f} orders of magnitude outside the range "
            "the hyperparameter law was fitted on: the plan extrapolates"
        )
    warnings.extend(values.notes)
    if abs(candidate.relative_error) > options.search.tolerance:
        warnings.append(
            f"the nearest MoE shape's M is {candidate.relative_error:+.1%} off M_opt: the target "
            "is too small for a finer fit"
        )
    warnings.extend(schedule.notes)
    return MoePlan(
        compute_flops=c,
        preset=preset,
        options=options,
        optimal=Optimal(prediction.model_size, prediction.law_tokens),
        hyperparameters=Hyperparameters(
            learning_rate=values.learning_rate,
            batch_size_tokens=values.batch_size_tokens,
            batch_size_sequences=sequences,
            batch_size_sequences_exact=exact,
            batch_rounding_multiple=multiple,
            tokens_per_step=sequences * seq_len,
        ),
        candidate=candidate,
        tokens=tokens,
        schedule=schedule,
        allocation_orders_beyond=alloc_orders,
        hyperparameter_orders_beyond=values.orders_beyond,
        warnings=tuple(warnings),
    )


def moe_plan_for_cluster(hw: Hardware, options: MoePlanOptions) -> tuple[MoePlan, Cost]:
    """The inverse mode of an MoE plan: the budget a cluster delivers in the given days.

    As :func:`dsplan.planning.cost.plan_for_cluster`: the plan is sized so that its hardware FLOPs
    (the activated M plus the output head, times D) use the cluster's time.

    Raises:
        InputError: ``hw`` lacks a GPU count or a deadline.
    """
    # Start-up laziness, not a cycle: only the inverse mode needs the cluster arithmetic.
    from dsplan.planning.cost import size_to_cluster

    return size_to_cluster(
        hw,
        lambda c: moe_plan(c, options),
        lambda p: (p.candidate.counts, p.tokens),
    )
