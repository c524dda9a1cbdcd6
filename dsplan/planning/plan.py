"""The plan for a compute budget: the core of ``dsplan budget``.

``plan(C)`` applies a preset's laws (by default DeepSeek's Eq. 1 and Eq. 4), chooses a real shape
whose exact M is close to M_opt, trains it on D = C / M_exact tokens so the budget is honoured
exactly, and lays out DeepSeek's multi-step schedule. Everything is plain Python (no numpy), so the
common command starts fast.

Laws that predict something other than M (docs/laws.md) are converted honestly: a parameter count
becomes a shape through the shape search in parameter space, a token count D becomes the target
M = C / D, and either way the shape's exact M gives D = C / M_exact. M = 6N is never assumed.
``optimal.model_size`` and ``optimal.model_size_unit`` keep the law's own number beside the M and
D of the plan.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dsplan.catalog.presets import (
    DEFAULT_PRESET,
    REPETITION_PRESET,
    load_preset,
    resolve_hyperparameter_law,
)
from dsplan.errors import InputError
from dsplan.laws.allocation import Allocation, allocate
from dsplan.laws.hyperparameters import hyperparameters_for
from dsplan.laws.types import FitRange, Preset
from dsplan.model.flops import Counts, Shape
from dsplan.model.shape import ASPECT_RANGE, MAX_D_MODEL, SearchOptions
from dsplan.records import record
from dsplan.scheduling.schedules import DEEPSEEK_WARMUP_STEPS, Schedule, multistep

if TYPE_CHECKING:
    from dsplan.laws.forms import HyperparameterLaw
    from dsplan.laws.inference import InferenceReport
    from dsplan.laws.repeated import DataConstraint

SCHEMA_VERSION = 1
# Sequence batches are rounded to a multiple of the largest power of two no larger than 1/8 of
# the batch, capped at 256: at most a 6.25% change, and DeepSeek's 2304 = 9 x 256 and 4608 = 18 x 256
# are such multiples. Our rule, not the paper's.
MAX_BATCH_MULTIPLE = 256
BATCH_MULTIPLE_DIVISOR = 8


def round_batch_sequences(batch_size_sequences: float) -> tuple[int, int]:
    """Round a batch in sequences to a hardware-friendly multiple.

    Returns:
        ``(sequences, multiple)``: the rounded batch and the multiple it was rounded to.
    """
    multiple = 1
    while multiple * 2 <= min(MAX_BATCH_MULTIPLE, batch_size_sequences / BATCH_MULTIPLE_DIVISOR):
        multiple *= 2
    return max(multiple, round(batch_size_sequences / multiple) * multiple), multiple


@record
class PlanOptions:
    """Everything a plan depends on besides the compute budget.

    ``search`` holds the shape search's options, the sequence length and the vocabulary
    (``PlanOptions(preset="early", search=SearchOptions(seq_len=8192))``).
    """

    preset: str = DEFAULT_PRESET
    search: SearchOptions = field(default_factory=SearchOptions)
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS
    hyperparameters: str | None = None  # a hyperparameter law id; None: the preset's own or default
    unique_tokens: float | None = None  # unique tokens available (data-constrained planning)


@record
class Optimal:
    """The law's compute-optimal allocation.

    For a law that predicts M (DeepSeek) these are its M_opt and D_opt, before any shape is chosen.
    For any other law ``model_size`` is its own prediction in ``model_size_unit``, and
    ``flops_per_token`` and ``tokens`` are the M of the matching shape and D = C / M; the law's own
    D is kept as ``law_tokens`` (with ``tokens_vs_law`` = tokens / law_tokens).
    """

    flops_per_token: float
    tokens: float
    model_size: float | None = None
    model_size_unit: str = "flops_per_token"
    law_tokens: float | None = None
    law_tokens_basis: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "flops_per_token": self.flops_per_token,
            "tokens": self.tokens,
            # Stable (issue #7): the law's own prediction in its own unit. For an M law such as
            # DeepSeek's it is M_opt itself.
            "model_size": self.flops_per_token if self.model_size is None else self.model_size,
            "model_size_unit": self.model_size_unit,
        }
        if self.model_size_unit != "flops_per_token":
            out["law_tokens"] = self.law_tokens
            out["law_tokens_basis"] = self.law_tokens_basis
            out["tokens_vs_law"] = self.tokens / self.law_tokens if self.law_tokens else None
        return out


@record
class Hyperparameters:
    """Eq. 1's peak learning rate and batch size at the plan's compute."""

    learning_rate: float
    batch_size_tokens: float
    batch_size_sequences: int
    batch_size_sequences_exact: float
    batch_rounding_multiple: int
    tokens_per_step: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@record
class Architecture:
    """The chosen shape and its exact counts.

    ``flops_per_token_error`` is the shape's M against ``optimal.flops_per_token``;
    ``model_size_error``, for laws that predict a parameter count, the shape's count against it.
    """

    shape: Shape
    counts: Counts
    flops_per_token_error: float
    model_size_error: float | None = None

    @property
    def flops_per_token(self) -> int:
        return self.counts.flops_per_token

    def to_dict(self) -> dict[str, Any]:
        out = {
            **self.shape.to_dict(),
            "aspect_ratio": self.shape.aspect_ratio,
            "flops_per_token": self.counts.flops_per_token,
            "flops_per_token_eq2": self.counts.flops_per_token_eq2,
            "flops_per_token_error": self.flops_per_token_error,
            "params_non_embedding": self.counts.params_non_embedding,
            "params_total": self.counts.params_total,
        }
        if self.model_size_error is not None:
            out["model_size_error"] = self.model_size_error
        return out


@record
class Training:
    """What the plan trains: D = C / M_exact tokens."""

    tokens: float
    tokens_per_param: float
    epochs_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "tokens_per_param": self.tokens_per_param}


@record
class FitCheck:
    """How far the plan lies outside the ranges the laws were fitted on.

    The ``*_compute_*`` keys are null for a law whose paper states no compute range; laws with
    parameter or token ranges add ``allocation_range`` / ``hyperparameter_range`` tables.
    """

    allocation_range: tuple[float | None, float | None]
    allocation_orders_beyond: float
    hyperparameter_range: tuple[float | None, float | None]
    hyperparameter_orders_beyond: float
    allocation_full: FitRange | None = None
    hyperparameter_full: FitRange | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "allocation_compute_min": self.allocation_range[0],
            "allocation_compute_max": self.allocation_range[1],
            "allocation_orders_beyond": self.allocation_orders_beyond,
            "hyperparameter_compute_min": self.hyperparameter_range[0],
            "hyperparameter_compute_max": self.hyperparameter_range[1],
            "hyperparameter_orders_beyond": self.hyperparameter_orders_beyond,
        }
        if self.allocation_full is not None:
            out["allocation_range"] = self.allocation_full.to_dict()
        if self.hyperparameter_full is not None:
            out["hyperparameter_range"] = self.hyperparameter_full.to_dict()
        return out


@record
class Plan:
    """A complete plan for one compute budget; ``to_dict()`` is the JSON document."""

    compute_flops: float
    preset: Preset
    options: PlanOptions
    optimal: Optimal
    hyperparameters: Hyperparameters
    architecture: Architecture
    training: Training
    schedule: Schedule
    fit: FitCheck
    warnings: tuple[str, ...] = field(default=())
    hyperparameter_law: HyperparameterLaw | None = None
    data: DataConstraint | None = None
    inference: InferenceReport | None = None

    def to_dict(self) -> dict[str, Any]:
        schedule = self.schedule.to_dict()
        search = self.options.search
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "compute_flops": self.compute_flops,
            "preset": self.preset.id,
            "preset_source": self.preset.source,
            "preset_assumption": self.preset.assumption,
            "inputs": {
                "seq_len": search.seq_len,
                "vocab_size": search.vocab_size,
                "aspect_ratio": search.aspect_ratio,
                "head_dim": search.head_dim,
                "n_kv_heads": search.n_kv_heads,
                "layers_multiple": search.layers_multiple,
                "heads_multiple": search.heads_multiple,
            },
            "optimal": self.optimal.to_dict(),
            "hyperparameters": self.hyperparameters.to_dict(),
            "architecture": self.architecture.to_dict(),
            "training": self.training.to_dict(),
            "schedule": schedule,
            "fit_range": self.fit.to_dict(),
            "warnings": list(self.warnings),
        }
        # Added keys appear only where they carry information, so the DeepSeek presets' documents
        # stay byte-identical to those of earlier releases.
        if self.preset.predicts != "flops_per_token" or self.preset.form != "power_law":
            doc["law"] = {
                "predicts": self.preset.predicts,
                "form": self.preset.form,
                "status": self.preset.status_label,
                "verification": self.preset.verification,
            }
        if self.hyperparameter_law is not None:
            law = self.hyperparameter_law
            doc["hyperparameter_law"] = {
                "id": law.id,
                "source": law.source,
                "status": law.status,
                "verification": law.verification,
            }
        if self.data is not None:
            doc["data_constrained"] = self.data.to_dict()
        if self.inference is not None:
            doc["inference"] = self.inference.to_dict()
        return doc


def _range_warning(what: str, compute_flops: float, lo: float, hi: float, orders: float) -> str:
    side = "above" if compute_flops > hi else "below"
    return (
        f"{compute_flops:.3g} FLOPs is {orders:.1f} orders of magnitude {side} the range the "
        f"{what} was fitted on ({lo:.0e} to {hi:.0e} FLOPs): the plan extrapolates"
    )


def _full_range_warning(what: str, fit: FitRange, orders: float) -> str:
    parts = []
    for name, unit in (("compute", "FLOPs"), ("params", "parameters"), ("tokens", "tokens")):
        lo, hi = getattr(fit, f"{name}_min"), getattr(fit, f"{name}_max")
        if lo is None and hi is None:
            continue
        lo_text = "0" if lo is None else f"{lo:.2g}"
        hi_text = "inf" if hi is None else f"{hi:.2g}"
        parts.append(f"{lo_text} to {hi_text} {unit}")
    return (
        f"the plan lies {orders:.1f} orders of magnitude outside the range the {what} was fitted "
        f"on ({'; '.join(parts)}): the plan extrapolates"
    )


def _compute_only(fit: FitRange) -> bool:
    return (
        fit.compute_min is not None
        and fit.compute_max is not None
        and all(v is None for v in (fit.params_min, fit.params_max, fit.tokens_min, fit.tokens_max))
    )


def _fit_warning(what: str, compute_flops: float, fit: FitRange, orders: float) -> str:
    if _compute_only(fit) and fit.compute_min is not None and fit.compute_max is not None:
        return _range_warning(what, compute_flops, fit.compute_min, fit.compute_max, orders)
    return _full_range_warning(what, fit, orders)


def check_compute(compute_flops: float) -> float:
    """A budget as a float, or :class:`InputError` if it is not positive and finite."""
    if not (isinstance(compute_flops, (int, float)) and math.isfinite(compute_flops)):
        raise InputError(f"compute budget must be a positive finite number, got {compute_flops!r}")
    if compute_flops <= 0:
        raise InputError(f"compute budget must be positive, got {compute_flops!r}")
    return float(compute_flops)


def _optimal(alloc: Allocation) -> Optimal:
    """The law's optimum: its own M_opt and D_opt for an M law, else the matching shape's M and D."""
    prediction = alloc.prediction
    if alloc.is_m_law:
        return Optimal(prediction.model_size, prediction.law_tokens)
    return Optimal(
        flops_per_token=alloc.flops_per_token,
        tokens=alloc.tokens,
        model_size=prediction.model_size,
        model_size_unit=prediction.model_size_unit,
        law_tokens=prediction.law_tokens,
        law_tokens_basis=prediction.law_tokens_basis,
    )


def plan(compute_flops: float, options: PlanOptions | None = None) -> Plan:
    """Plan a pretraining run for a compute budget.

    Args:
        compute_flops: The budget C = M * D in FLOPs (M: non-embedding FLOPs per token, attention
            included).
        options: Preset, hyperparameter law, unique tokens, sequence length, vocabulary and
            shape-search options.

    Returns:
        A frozen :class:`Plan`.

    Raises:
        InputError: a budget that is not positive and finite, an unknown preset, bad options.

    References:
        arXiv 2401.02954: Eq. 1 (learning rate and batch size), Eq. 2 (M), Eq. 4 (M_opt, D_opt),
        Section 2.3 (multi-step schedule). Other laws: docs/laws.md.
    """
    options = options or PlanOptions()
    c = check_compute(compute_flops)
    if options.unique_tokens is not None and not (
        math.isfinite(options.unique_tokens) and options.unique_tokens > 0
    ):
        raise InputError(f"unique tokens must be positive, got {options.unique_tokens!r}")
    preset = load_preset(options.preset)
    return plan_allocation(allocate(c, preset, options.search), preset, options)


def plan_allocation(
    alloc: Allocation,
    preset: Preset,
    options: PlanOptions,
    inference: InferenceReport | None = None,
) -> Plan:
    """The plan that trains an allocation's shape on its C / M tokens (what :func:`plan` does
    with the law's optimum at C; :mod:`dsplan.planning.inference` passes another model size)."""
    c = alloc.compute_flops
    search = options.search
    optimal = _optimal(alloc)
    candidate = alloc.candidate
    shape_counts = alloc.counts
    tokens = alloc.tokens

    hyper_law = resolve_hyperparameter_law(preset, options.hyperparameters)
    hyper_values = hyperparameters_for(preset, c, shape_counts, tokens, hyper_law)
    lr, batch_tokens = hyper_values.learning_rate, hyper_values.batch_size_tokens
    if lr is None:
        undefined = (
            hyper_values.notes[0]
            if hyper_values.notes
            else f"{hyper_values.law}: no learning rate here"
        )
        raise InputError(
            f"{undefined}; choose another hyperparameter law (e.g. deepseek or step-law)",
            quantity="hyperparameters",
        )
    if batch_tokens is None:
        raise InputError(f"hyperparameter law {hyper_values.law!r} gives no batch size")
    hyper = hyper_values.fit_range
    sequences_exact = batch_tokens / search.seq_len
    sequences, multiple = round_batch_sequences(sequences_exact)
    tokens_per_step = sequences * search.seq_len
    schedule = multistep(lr, tokens, tokens_per_step, warmup_steps=options.warmup_steps)

    fit_alloc = preset.fit_range
    prediction = alloc.prediction
    alloc_orders = fit_alloc.orders_beyond(c, prediction.law_params, prediction.law_tokens)
    hyper_orders = hyper_values.orders_beyond
    fit = FitCheck(
        (fit_alloc.compute_min, fit_alloc.compute_max),
        alloc_orders,
        (hyper.compute_min, hyper.compute_max),
        hyper_orders,
        None if _compute_only(fit_alloc) else fit_alloc,
        None if _compute_only(hyper) else hyper,
    )
    warnings: list[str] = []
    if fit.allocation_orders_beyond > 0:
        warnings.append(_fit_warning("allocation law", c, fit_alloc, fit.allocation_orders_beyond))
    if fit.hyperparameter_orders_beyond > 0:
        warnings.append(
            _fit_warning("hyperparameter law", c, hyper, fit.hyperparameter_orders_beyond)
        )
    if preset.assumption:
        warnings.append(
            f"preset {preset.id!r}: its coefficients are a dsplan assumption, not published "
            f"(see `dsplan presets show {preset.id}`)"
        )
    warnings.extend(hyper_values.notes)
    own = preset.own_hyperparameters
    if hyper_law is not None and own is not None and own != hyper_law.id:
        warnings.append(
            f"preset {preset.id!r}: learning rate and batch from the {hyper_law.id!r} law; "
            f"its paper's own law is --hyperparameters {own} (see `dsplan presets show {preset.id}`)"
        )
    if abs(candidate.relative_error) > 0.05:
        if alloc.is_m_law or prediction.model_size_unit == "tokens":
            warnings.append(
                f"the nearest shape's M is {candidate.relative_error:+.1%} off M_opt: "
                "the target is too small for a finer fit"
            )
        else:
            warnings.append(
                f"the nearest shape's {prediction.model_size_unit} is "
                f"{candidate.relative_error:+.1%} off the law's prediction: the target is too "
                "small for a finer fit"
            )
    aspect = candidate.shape.aspect_ratio
    lo, hi = min(ASPECT_RANGE[0], search.aspect_ratio), max(ASPECT_RANGE[1], search.aspect_ratio)
    if not lo <= aspect <= hi:
        warnings.append(
            f"no shape near the target fits a width/depth ratio of {lo:g} to {hi:g}: the plan's "
            f"is {aspect:.3g} ({candidate.shape.n_layers} x {candidate.shape.d_model}; widths stop "
            f"at {MAX_D_MODEL}); see `dsplan shapes` for the alternatives"
        )
    if not alloc.is_m_law and inference is None:  # an inference plan trains the law's D
        warnings.append(
            f"preset {preset.id!r} predicts {prediction.model_size_unit}: the plan trains the "
            f"matching shape on C / M = {tokens:.3g} tokens, {tokens / prediction.law_tokens:.2f}x "
            f"the law's own D ({prediction.law_tokens:.3g}, {prediction.law_tokens_basis})"
        )
    data = None
    if options.unique_tokens is not None:
        # Start-up laziness, not a cycle: only data-constrained plans need repeated data's maths.
        from dsplan.laws.repeated import data_constraint

        data, data_warnings = data_constraint(
            c, float(options.unique_tokens), alloc, search, load_preset(REPETITION_PRESET)
        )
        warnings.extend(data_warnings)
    warnings.extend(schedule.notes)

    return Plan(
        compute_flops=c,
        preset=preset,
        options=options,
        optimal=optimal,
        hyperparameters=Hyperparameters(
            learning_rate=lr,
            batch_size_tokens=batch_tokens,
            batch_size_sequences=sequences,
            batch_size_sequences_exact=sequences_exact,
            batch_rounding_multiple=multiple,
            tokens_per_step=tokens_per_step,
        ),
        architecture=Architecture(
            candidate.shape,
            shape_counts,
            (
                candidate.relative_error
                if alloc.is_m_law
                else shape_counts.flops_per_token / optimal.flops_per_token - 1
            ),
            alloc.model_size_error(),
        ),
        training=Training(tokens=tokens, tokens_per_param=tokens / shape_counts.params_total),
        schedule=schedule,
        fit=fit,
        warnings=tuple(warnings),
        hyperparameter_law=hyper_law,
        data=data,
        inference=inference,
    )
