"""``dsplan schedule`` as one library call: a run, its schedule, its extension and the document.

It lives in planning, beside the model report, because a run may be planned from a compute budget
(:func:`planned_run`); the schedules themselves are in :mod:`dsplan.scheduling`.

A run is planned from a compute budget (:func:`planned_run`, as ``dsplan budget C``) or given
explicitly (:func:`explicit_run`: tokens, batch and peak rate, and M when it is known). Then
:func:`schedule_report` builds the schedule of a kind, extends it when asked, and gathers what the
output shows; :meth:`ScheduleReport.to_dict` is the JSON document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.records import record
from dsplan.scheduling.continual import Extension, extend
from dsplan.scheduling.schedules import (
    DEEPSEEK_STAGE_FACTORS,
    DEEPSEEK_STAGE_FRACTIONS,
    DEEPSEEK_WARMUP_STEPS,
    DEFAULT_DECAY_FRACTION,
    DEFAULT_FINAL_LR_FRACTION,
    REFERENCES,
    ROUNDING_NOTE,
    Schedule,
    build,
)

if TYPE_CHECKING:
    from dsplan.planning.plan import PlanOptions

SCHEMA_VERSION = 1


@record
class Run:
    """What a schedule is built for: D tokens in batches of B tokens at a peak rate.

    ``flops_per_token`` (M) is known for a planned run or a given shape, and None otherwise (then
    an extension cannot say how the laws move). ``inputs`` echoes how the run was given.
    """

    tokens: float
    batch_size_tokens: int
    learning_rate: float
    flops_per_token: float | None
    preset: str
    inputs: dict[str, Any]
    warnings: tuple[str, ...] = ()


def planned_run(compute_flops: float, options: PlanOptions) -> Run:
    """The run ``dsplan budget C`` plans: its tokens, batch (whole sequences) and Eq. 1 rate."""
    from dsplan.planning.plan import plan  # lazy: an explicit run needs no planner (start-up)

    p = plan(compute_flops, options)
    m = float(p.architecture.flops_per_token)
    return Run(
        tokens=p.training.tokens,
        batch_size_tokens=p.hyperparameters.tokens_per_step,
        learning_rate=p.hyperparameters.learning_rate,
        flops_per_token=m,
        preset=options.preset,
        inputs={
            "warmup_steps": options.warmup_steps,
            "seq_len": options.search.seq_len,
            "mode": "budget",
            "compute_flops": p.compute_flops,
            "preset": p.preset.id,
            "preset_source": p.preset.source,
            "flops_per_token": m,
            "shape": p.architecture.shape.to_dict(),
        },
        # The plan's schedule notes are the schedule's own, which the report adds itself.
        warnings=tuple(w for w in p.warnings if w not in p.schedule.notes),
    )


def explicit_run(
    tokens: float,
    batch_size_tokens: float,
    learning_rate: float,
    *,
    flops_per_token: float | None = None,
    n_layers: int | None = None,
    d_model: int | None = None,
    head_dim: int | None = None,
    n_kv_heads: int | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    seq_len: int = DEFAULT_SEQ_LEN,
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS,
    preset: str = "current",
) -> Run:
    """A run given by its numbers; M given directly, counted from a shape, or unknown.

    Raises:
        InputError: a batch that is not a whole number of tokens, M given beside a shape, half a
            shape, or a head size that does not divide the width.
    """
    if batch_size_tokens != int(batch_size_tokens):
        raise InputError(
            f"the batch size must be a whole number of tokens, got {batch_size_tokens!r}",
            quantity="batch_size_tokens",
        )
    m, shape = _flops_per_token(
        flops_per_token, n_layers, d_model, head_dim, n_kv_heads, vocab_size, seq_len
    )
    return Run(
        tokens=tokens,
        batch_size_tokens=int(batch_size_tokens),
        learning_rate=learning_rate,
        flops_per_token=m,
        preset=preset,
        inputs={
            "warmup_steps": warmup_steps,
            "seq_len": seq_len,
            "mode": "explicit",
            "compute_flops": None if m is None else m * tokens,
            "preset": preset,
            "flops_per_token": m,
            "shape": shape,
        },
    )


def _flops_per_token(
    flops_per_token: float | None,
    n_layers: int | None,
    d_model: int | None,
    head_dim: int | None,
    n_kv_heads: int | None,
    vocab_size: int,
    seq_len: int,
) -> tuple[float | None, dict[str, Any] | None]:
    """M for an explicit run: given directly, or counted from a shape, or unknown."""
    if flops_per_token is not None:
        if n_layers is not None or d_model is not None:
            raise InputError("give the FLOPs per token M or the shape (layers and width), not both")
        return flops_per_token, None
    if n_layers is None and d_model is None:
        if head_dim is not None or n_kv_heads is not None:
            raise InputError(
                "the head size and KV heads describe a shape: give its layers and width too"
            )
        return None, None
    if n_layers is None or d_model is None:
        raise InputError("give both the layers and the width of the shape")
    # Start-up laziness: a run given by its numbers counts no shape (`dsplan schedule --tokens ...`).
    from dsplan.model.flops import Shape, counts

    n_heads = None
    if head_dim is not None:
        if head_dim <= 0 or d_model % head_dim:
            raise InputError(
                f"the head size ({head_dim}) must divide the width d_model ({d_model})",
                quantity="head_dim",
            )
        n_heads = d_model // head_dim
    shape = Shape.build(
        n_layers,
        d_model,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        vocab_size=vocab_size,
        seq_len=seq_len,
    )
    return float(counts(shape).flops_per_token), shape.to_dict()


@record
class ScheduleReport:
    """A run's schedule, its extension (continual training) when asked, and the warnings."""

    run: Run
    schedule: Schedule
    extension: Extension | None
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``dsplan schedule`` (schema version 1)."""
        return {
            "schema_version": SCHEMA_VERSION,
            **self.schedule.to_dict(),
            "tokens": self.schedule.tokens,
            "inputs": self.run.inputs,
            "rounding": ROUNDING_NOTE,
            "reference": REFERENCES[self.schedule.kind],
            "extension": self.extension.to_dict() if self.extension else None,
            "warnings": list(self.warnings),
        }


def schedule_report(
    run: Run,
    kind: str = "multistep",
    *,
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS,
    fractions: tuple[float, ...] = DEEPSEEK_STAGE_FRACTIONS,
    factors: tuple[float, ...] = DEEPSEEK_STAGE_FACTORS,
    final_lr_fraction: float = DEFAULT_FINAL_LR_FRACTION,
    decay_fraction: float = DEFAULT_DECAY_FRACTION,
    extend_to: float | None = None,
) -> ScheduleReport:
    """The schedule of ``run`` (see :func:`dsplan.scheduling.schedules.build`), extended to
    ``extend_to`` tokens when given (:func:`dsplan.scheduling.continual.extend`, with the laws of
    the run's preset at C2 = M x D2 when M is known).

    Raises:
        InputError: what :func:`~dsplan.scheduling.schedules.build` or
            :func:`~dsplan.scheduling.continual.extend` refuses.
    """
    sched = build(
        kind,
        run.learning_rate,
        run.tokens,
        run.batch_size_tokens,
        warmup_steps=warmup_steps,
        fractions=fractions,
        factors=factors,
        final_lr_fraction=final_lr_fraction,
        decay_fraction=decay_fraction,
    )
    warnings = [*sched.notes, *run.warnings]
    extension = None
    if extend_to is not None:
        from dsplan.catalog.presets import load_preset

        m = run.flops_per_token
        extension = extend(
            sched, extend_to, flops_per_token=m, preset=load_preset(run.preset) if m else None
        )
        warnings += [n for n in extension.notes if n.startswith(("drift", "C2"))]
    return ScheduleReport(run, sched, extension, tuple(warnings))
