"""The plan for a compute budget: the core of ``dsplan budget``.

``plan(C)`` applies a preset's laws (by default DeepSeek's Eq. 1 and Eq. 4), chooses a real shape
whose exact M is close to M_opt, trains it on D = C / M_exact tokens so the budget is honoured
exactly, and lays out DeepSeek's multi-step schedule. Everything is plain Python (no numpy), so the
common command starts fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dsplan.errors import InputError
from dsplan.flops import Counts, Shape, counts
from dsplan.presets import DEFAULT_PRESET, Preset, load_preset
from dsplan.schedule import Schedule, multistep
from dsplan.shape import SearchOptions, best_shape

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


@dataclass(frozen=True)
class PlanOptions:
    """Everything a plan depends on besides the compute budget."""

    preset: str = DEFAULT_PRESET
    seq_len: int = 4096
    vocab_size: int = 102_400
    aspect_ratio: float = 128.0
    head_dim: int | None = None
    n_kv_heads: int | None = None
    layers_multiple: int = 1
    warmup_steps: int = 2000

    def search_options(self) -> SearchOptions:
        return SearchOptions(
            aspect_ratio=self.aspect_ratio,
            head_dim=self.head_dim,
            n_kv_heads=self.n_kv_heads,
            layers_multiple=self.layers_multiple,
            vocab_size=self.vocab_size,
            seq_len=self.seq_len,
        )


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Optimal:
    """The law's compute-optimal allocation, before any shape is chosen."""

    flops_per_token: float
    tokens: float

    def to_dict(self) -> dict[str, Any]:
        return {"flops_per_token": self.flops_per_token, "tokens": self.tokens}


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
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


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Architecture:
    """The chosen shape and its exact counts."""

    shape: Shape
    counts: Counts
    flops_per_token_error: float

    @property
    def flops_per_token(self) -> int:
        return self.counts.flops_per_token

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shape.to_dict(),
            "aspect_ratio": self.shape.aspect_ratio,
            "flops_per_token": self.counts.flops_per_token,
            "flops_per_token_eq2": self.counts.flops_per_token_eq2,
            "flops_per_token_error": self.flops_per_token_error,
            "params_non_embedding": self.counts.params_non_embedding,
            "params_total": self.counts.params_total,
        }


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Training:
    """What the plan trains: D = C / M_exact tokens."""

    tokens: float
    tokens_per_param: float
    epochs_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "tokens_per_param": self.tokens_per_param}


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class FitCheck:
    """How far the budget lies outside the ranges the laws were fitted on."""

    allocation_range: tuple[float, float]
    allocation_orders_beyond: float
    hyperparameter_range: tuple[float, float]
    hyperparameter_orders_beyond: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "allocation_compute_min": self.allocation_range[0],
            "allocation_compute_max": self.allocation_range[1],
            "allocation_orders_beyond": self.allocation_orders_beyond,
            "hyperparameter_compute_min": self.hyperparameter_range[0],
            "hyperparameter_compute_max": self.hyperparameter_range[1],
            "hyperparameter_orders_beyond": self.hyperparameter_orders_beyond,
        }


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
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

    def to_dict(self) -> dict[str, Any]:
        schedule = self.schedule.to_dict()
        return {
            "schema_version": SCHEMA_VERSION,
            "compute_flops": self.compute_flops,
            "preset": self.preset.id,
            "preset_source": self.preset.source,
            "preset_assumption": self.preset.assumption,
            "inputs": {
                "seq_len": self.options.seq_len,
                "vocab_size": self.options.vocab_size,
                "aspect_ratio": self.options.aspect_ratio,
                "head_dim": self.options.head_dim,
                "n_kv_heads": self.options.n_kv_heads,
                "layers_multiple": self.options.layers_multiple,
            },
            "optimal": self.optimal.to_dict(),
            "hyperparameters": self.hyperparameters.to_dict(),
            "architecture": self.architecture.to_dict(),
            "training": self.training.to_dict(),
            "schedule": schedule,
            "fit_range": self.fit.to_dict(),
            "warnings": list(self.warnings),
        }


def _range_warning(what: str, compute_flops: float, lo: float, hi: float, orders: float) -> str:
    side = "above" if compute_flops > hi else "below"
    return (
        f"{compute_flops:.3g} FLOPs is {orders:.1f} orders of magnitude {side} the range the "
        f"{what} was fitted on ({lo:.0e} to {hi:.0e} FLOPs): the plan extrapolates"
    )


def plan(compute_flops: float, options: PlanOptions | None = None) -> Plan:
    """Plan a pretraining run for a compute budget.

    Args:
        compute_flops: The budget C = M * D in FLOPs (M: non-embedding FLOPs per token, attention
            included).
        options: Preset, sequence length, vocabulary and shape-search options.

    Returns:
        A frozen :class:`Plan`.

    Raises:
        InputError: a budget that is not positive and finite, an unknown preset, bad options.

    References:
        arXiv 2401.02954: Eq. 1 (learning rate and batch size), Eq. 2 (M), Eq. 4 (M_opt, D_opt),
        Section 2.3 (multi-step schedule).
    """
    options = options or PlanOptions()
    if not (isinstance(compute_flops, (int, float)) and math.isfinite(compute_flops)):
        raise InputError(f"compute budget must be a positive finite number, got {compute_flops!r}")
    if compute_flops <= 0:
        raise InputError(f"compute budget must be positive, got {compute_flops!r}")
    preset = load_preset(options.preset)
    c = float(compute_flops)

    optimal = Optimal(preset.model_scaling(c), preset.data_scaling(c))
    candidate = best_shape(optimal.flops_per_token, options.search_options())
    shape_counts = counts(candidate.shape)
    m_exact = shape_counts.flops_per_token
    tokens = c / m_exact

    batch_tokens = preset.batch_size(c)
    sequences_exact = batch_tokens / options.seq_len
    sequences, multiple = round_batch_sequences(sequences_exact)
    tokens_per_step = sequences * options.seq_len
    lr = preset.learning_rate(c)
    schedule = multistep(lr, tokens, tokens_per_step, warmup_steps=options.warmup_steps)

    alloc = preset.fit_range
    hyper = preset.hyperparameter_fit_range or preset.fit_range
    fit = FitCheck(
        (alloc.compute_min, alloc.compute_max),
        alloc.orders_beyond(c),
        (hyper.compute_min, hyper.compute_max),
        hyper.orders_beyond(c),
    )
    warnings: list[str] = []
    if fit.allocation_orders_beyond > 0:
        warnings.append(
            _range_warning(
                "allocation law",
                c,
                alloc.compute_min,
                alloc.compute_max,
                fit.allocation_orders_beyond,
            )
        )
    if fit.hyperparameter_orders_beyond > 0:
        warnings.append(
            _range_warning(
                "hyperparameter law",
                c,
                hyper.compute_min,
                hyper.compute_max,
                fit.hyperparameter_orders_beyond,
            )
        )
    if preset.assumption:
        warnings.append(
            f"preset {preset.id!r}: its coefficients are a dsplan assumption, not published "
            f"(see `dsplan presets show {preset.id}`)"
        )
    if abs(candidate.relative_error) > 0.05:
        warnings.append(
            f"the nearest shape's M is {candidate.relative_error:+.1%} off M_opt: "
            "the target is too small for a finer fit"
        )
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
        architecture=Architecture(candidate.shape, shape_counts, candidate.relative_error),
        training=Training(tokens=tokens, tokens_per_param=tokens / shape_counts.params_total),
        schedule=schedule,
        fit=fit,
        warnings=tuple(warnings),
    )
