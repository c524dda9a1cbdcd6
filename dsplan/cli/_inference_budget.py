"""``dsplan budget --inference-tokens``: the inference-aware plans and their costs.

Imported only when one of the inference flags is given, so the common command does not load the
inference maths at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.catalog.presets import load_preset
from dsplan.errors import InputError
from dsplan.laws.inference import InferenceTarget
from dsplan.planning.inference import LOSS_PRESETS, inference_plan
from dsplan.units import parse_positive

if TYPE_CHECKING:
    from dsplan.planning.cost import Cost, Hardware
    from dsplan.planning.plan import Plan, PlanOptions


def inference_targets(
    budgets: list[float],
    *,
    inference_tokens: str | None,
    target_loss: str | None,
    match_quality: str | None,
) -> tuple[list[InferenceTarget], float]:
    """The targets the flags ask for, one per budget or the one of ``--target-loss`` /
    ``--match-quality``, and the inference tokens."""
    if inference_tokens is None:
        given = "--target-loss" if target_loss is not None else "--match-quality"
        raise InputError(
            f"{given} sets the quality an inference-aware plan matches: add --inference-tokens"
        )
    tokens = parse_positive(inference_tokens, "--inference-tokens")
    if target_loss is not None and match_quality is not None:
        raise InputError("give one of --target-loss and --match-quality, not both")
    fixed = target_loss is not None or match_quality is not None
    if fixed and budgets:
        flag = "--target-loss" if target_loss is not None else "--match-quality"
        raise InputError(
            f"{flag} fixes the quality, and with it the compute: give no compute budget C"
        )
    if target_loss is not None:
        return [InferenceTarget("loss", parse_positive(target_loss, "--target-loss"))], tokens
    if match_quality is not None:
        size = parse_positive(match_quality, "--match-quality")
        return [InferenceTarget("model_size", size)], tokens
    if not budgets:
        raise InputError(
            "an inference-aware plan matches a quality: give a compute budget C (the loss of its "
            "compute-optimal plan), --target-loss or --match-quality"
        )
    return [InferenceTarget("compute", c) for c in budgets], tokens


def require_loss_law(preset: str) -> None:
    """Exit 2 naming --preset when the preset has no loss law (DeepSeek's own have none)."""
    p = load_preset(preset)
    if p.loss is None:
        raise InputError(
            f"--inference-tokens needs a preset with a loss law L(N, D); --preset {p.id} has none "
            f"(DeepSeek's current, early and openwebtext2 fit M_opt and D_opt, not the loss): use "
            f"--preset {LOSS_PRESETS}"
        )


def inference_plans(
    targets: list[InferenceTarget],
    inference_tokens: float,
    options: PlanOptions,
    hardware: Hardware | None,
) -> tuple[list[Plan], list[Cost]]:
    """The plans, and with a GPU the cost of training each (its reference's is in the document)."""
    if options.unique_tokens is not None:
        raise InputError("--inference-tokens does not combine with --unique-tokens yet")
    require_loss_law(options.preset)
    plans = [inference_plan(t, inference_tokens, options) for t in targets]
    if hardware is None:
        return plans, []
    from dsplan.planning.cost import estimate

    return plans, [estimate(p.architecture.counts, p.training.tokens, hardware) for p in plans]


def inference_cost(plan: Plan, cost: Cost) -> dict[str, Any]:
    """The training cost of the inference-aware plan and of the compute-optimal one, same GPU.

    Inference is counted in FLOPs only: serving runs at an MFU of its own (decoding is
    memory-bound), which a training MFU would misprice.
    """
    from dsplan.planning.cost import estimate

    if plan.inference is None:
        raise InputError("not an inference-aware plan")
    inf = plan.inference
    ref_cost = estimate(inf.reference_counts, inf.reference_tokens, cost.hardware)
    out: dict[str, Any] = {
        "training_gpu_hours": cost.gpu_hours,
        "compute_optimal_training_gpu_hours": ref_cost.gpu_hours,
        "inference_priced": False,
    }
    if cost.cost_usd is not None and ref_cost.cost_usd is not None:
        out["training_cost_usd"] = cost.cost_usd
        out["compute_optimal_training_cost_usd"] = ref_cost.cost_usd
    return out
