"""Learning-rate schedules as milestones, the rate at any step, and continual-training extensions.

Three kinds, all with a linear warm-up from 0 to the peak:

* ``multistep``: DeepSeek's (arXiv 2401.02954, Section 2.3): 2000 warm-up steps, the peak held
  until 80% of the training tokens, then x0.316 (about 1/sqrt(10)) until 90%, then x0.1 to the end.
  Because the peak is held for 80% of the run, the checkpoint at the end of stage 1 can be reused
  to train longer (continual training).
* ``cosine``: half a cosine from the peak down to ``final_lr_fraction`` of it (10% by default, the
  floor DeepSeek's multi-step schedule also ends on). Its shape depends on the total step count
  fixed in advance, which is why DeepSeek replaced it (Section 2.3).
* ``wsd``: warm-up, stable, decay (MiniCPM, arXiv 2404.06395, eq. 1): the peak held until the last
  ``decay_fraction`` of the tokens (10% by default: MiniCPM found about 10% enough and 2.5% too
  little), then a decay to ``final_lr_fraction`` of the peak. MiniCPM's eq. 1 only asks the decay
  f to be decreasing; **the linear decay is dsplan's choice**, not the paper's.

Step conventions (stated in every output):

* ``total_steps = ceil(tokens / tokens_per_step)``: the last step may be partly filled.
* A boundary at fraction f of the tokens falls on step ``round(f * total_steps)``, the nearest
  step, ties to even (Python's ``round``); never before the end of warm-up.
* Steps count from 0; ``tokens`` of a step = tokens seen before it = ``step * tokens_per_step``
  (capped at the run's tokens). The rate of step s is the one the optimizer uses for update s.
* Warm-up is linear: ``peak * s / warmup_steps`` for ``s < warmup_steps`` (0 at step 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from dsplan.errors import InputError
from dsplan.records import record
from dsplan.units import positive_int

KINDS = ("multistep", "cosine", "wsd")
DEEPSEEK_WARMUP_STEPS = 2000
DEEPSEEK_STAGE_FRACTIONS = (0.8, 0.9)
DEEPSEEK_STAGE_FACTORS = (0.316, 0.1)
# Cosine and WSD end at 10% of the peak by default: the floor of DeepSeek's multi-step schedule,
# so the three kinds are compared at equal final rates. Our default, not a published one.
DEFAULT_FINAL_LR_FRACTION = 0.1
# MiniCPM (arXiv 2404.06395, Section 3.3): a decay over about 10% of the tokens suffices.
DEFAULT_DECAY_FRACTION = 0.1
# Our assumption, not the paper's: warm-up never takes more than this fraction of a short run.
MAX_WARMUP_FRACTION = 0.1

ROUNDING_NOTE = (
    "total_steps = ceil(tokens / tokens_per_step); a boundary at fraction f of the tokens is on step "
    "round(f * total_steps) (nearest, ties to even), never before the end of warm-up; warm-up is "
    "linear from 0 at step 0"
)
REFERENCES = {
    "multistep": "arXiv 2401.02954, Section 2.3 (multi-step: 2000 warm-up steps, x0.316 after 80% "
    "and x0.1 after 90% of the tokens)",
    "cosine": "arXiv 2401.02954, Section 2.3 and Fig. 1 (the cosine schedule DeepSeek compared "
    "against; its shape is fixed by the total step count)",
    "wsd": "arXiv 2404.06395 (MiniCPM), eq. 1 and Section 3.3 (warm-up, stable, decay over about "
    "10% of the tokens); linear decay is dsplan's choice",
}


@record
class Milestone:
    """The learning rate at ``step`` (and ``tokens``).

    For ``multistep`` the rate holds from this step on; for ``cosine`` and ``wsd`` it is a point of
    a curve (``learning_rate_at`` gives every step).
    """

    name: str
    step: int
    tokens: float
    learning_rate: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@record
class Schedule:
    """A schedule: its milestones plus what :func:`learning_rate_at` needs for every step."""

    kind: str
    peak_learning_rate: float
    tokens_per_step: int
    total_steps: int
    warmup_steps: int
    milestones: tuple[Milestone, ...]
    notes: tuple[str, ...] = ()
    tokens: float = 0.0
    decay_start_step: int = 0
    final_learning_rate: float = 0.0
    parameters: tuple[tuple[str, float | tuple[float, ...]], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "peak_learning_rate": self.peak_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "tokens_per_step": self.tokens_per_step,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay_start_step": self.decay_start_step,
            "parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in self.parameters},
            "milestones": [m.to_dict() for m in self.milestones],
            "notes": list(self.notes),
        }


def total_steps_for(tokens: float, tokens_per_step: int) -> int:
    """Optimizer steps to see ``tokens`` at ``tokens_per_step`` (rounded up)."""
    if not tokens > 0 or tokens_per_step <= 0:
        raise InputError("tokens and batch size must be positive")
    if not math.isfinite(tokens):
        raise InputError("tokens must be finite")
    return max(1, math.ceil(tokens / tokens_per_step))


def clamp_warmup(warmup_steps: int, total_steps: int) -> tuple[int, str | None]:
    """Warm-up limited to ``MAX_WARMUP_FRACTION`` of the run, with a note when it was clamped."""
    limit = math.floor(MAX_WARMUP_FRACTION * total_steps)
    if warmup_steps <= limit:
        return warmup_steps, None
    return limit, (
        f"warm-up shortened from {warmup_steps} to {limit} steps: this run has only "
        f"{total_steps} steps, and dsplan keeps warm-up within {MAX_WARMUP_FRACTION:.0%} of a run"
    )


def _check_common(peak_learning_rate: float, warmup_steps: int) -> None:
    if not (math.isfinite(peak_learning_rate) and peak_learning_rate > 0):
        raise InputError(f"learning rate must be positive, got {peak_learning_rate!r}")
    if warmup_steps < 0:
        raise InputError(f"warm-up steps must not be negative, got {warmup_steps}")


def _check_fraction(value: float, name: str, *, allow_zero: bool = False) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and low_ok and value < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise InputError(f"{name} must lie in {interval}, got {value!r}")


def _boundary(fraction: float, total: int, warmup: int) -> int:
    return max(warmup, round(fraction * total))


def tokens_at(step: int, tokens: float, tokens_per_step: int) -> float:
    """Tokens seen before ``step``: ``step * tokens_per_step``, capped at the run's tokens."""
    return float(min(tokens, step * tokens_per_step))


def multistep(
    peak_learning_rate: float,
    tokens: float,
    tokens_per_step: int,
    *,
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS,
    fractions: tuple[float, ...] = DEEPSEEK_STAGE_FRACTIONS,
    factors: tuple[float, ...] = DEEPSEEK_STAGE_FACTORS,
) -> Schedule:
    """DeepSeek's multi-step schedule as milestones.

    Args:
        peak_learning_rate: The peak learning rate (after warm-up).
        tokens: Training tokens of the run.
        tokens_per_step: Tokens per optimizer step (global batch).
        warmup_steps: Linear warm-up length, clamped for short runs.
        fractions: Fractions of the tokens after which the rate drops, increasing, in (0, 1).
        factors: The rate after each drop, as a fraction of the peak, in (0, 1].

    Raises:
        InputError: non-positive values, fractions out of order or outside (0, 1), factors
            outside (0, 1], or a different number of fractions and factors.

    References:
        arXiv 2401.02954, Section 2.3: 2000 warm-up steps, x0.316 after 80% and x0.1 after 90% of
        the training tokens.
    """
    given_fractions = ",".join(f"{f:g}" for f in fractions)
    given_factors = ",".join(f"{f:g}" for f in factors)
    if len(fractions) != len(factors):
        raise InputError(
            f"give as many stage factors as stage fractions, got factors {given_factors} for "
            f"fractions {given_fractions}"
        )
    if any(not 0 < f < 1 for f in fractions) or list(fractions) != sorted(set(fractions)):
        raise InputError(
            f"stage fractions must increase strictly and lie in (0, 1), got {given_fractions}"
        )
    if any(not 0 < f <= 1 for f in factors):
        raise InputError(f"stage factors must lie in (0, 1], got {given_factors}")
    _check_common(peak_learning_rate, warmup_steps)
    total = total_steps_for(tokens, tokens_per_step)
    warmup, note = clamp_warmup(warmup_steps, total)
    milestones = [
        Milestone(
            "warmup_end", warmup, tokens_at(warmup, tokens, tokens_per_step), peak_learning_rate
        )
    ]
    for i, (fraction, factor) in enumerate(zip(fractions, factors, strict=True), start=2):
        step = _boundary(fraction, total, warmup)
        milestones.append(
            Milestone(
                f"stage{i}",
                step,
                tokens_at(step, tokens, tokens_per_step),
                peak_learning_rate * factor,
            )
        )
    final = peak_learning_rate * (factors[-1] if factors else 1.0)
    milestones.append(Milestone("end", total, tokens, final))
    return Schedule(
        kind="multistep",
        peak_learning_rate=peak_learning_rate,
        tokens_per_step=tokens_per_step,
        total_steps=total,
        warmup_steps=warmup,
        milestones=tuple(milestones),
        notes=(note,) if note else (),
        tokens=float(tokens),
        decay_start_step=milestones[1].step if fractions else total,
        final_learning_rate=final,
        parameters=(("stage_fractions", tuple(fractions)), ("stage_factors", tuple(factors))),
    )


def cosine(
    peak_learning_rate: float,
    tokens: float,
    tokens_per_step: int,
    *,
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS,
    final_lr_fraction: float = DEFAULT_FINAL_LR_FRACTION,
) -> Schedule:
    """A cosine schedule: linear warm-up, then half a cosine down to a fraction of the peak.

    ``lr(s) = final + (peak - final) * (1 + cos(pi * (s - W) / (T - W))) / 2`` for ``W <= s <= T``.

    Args:
        peak_learning_rate: The peak learning rate (after warm-up).
        tokens: Training tokens of the run.
        tokens_per_step: Tokens per optimizer step (global batch).
        warmup_steps: Linear warm-up length, clamped for short runs.
        final_lr_fraction: The rate at the end as a fraction of the peak, in [0, 1).

    Raises:
        InputError: non-positive values or a final fraction outside [0, 1).

    References:
        arXiv 2401.02954, Section 2.3 and Fig. 1(a): the cosine baseline DeepSeek's multi-step
        schedule matches in final loss. The 10% floor is dsplan's default.
    """
    return _decaying(
        "cosine", peak_learning_rate, tokens, tokens_per_step, warmup_steps, final_lr_fraction
    )


def wsd(
    peak_learning_rate: float,
    tokens: float,
    tokens_per_step: int,
    *,
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS,
    decay_fraction: float = DEFAULT_DECAY_FRACTION,
    final_lr_fraction: float = DEFAULT_FINAL_LR_FRACTION,
) -> Schedule:
    """Warm-up, stable, decay: the peak until the last ``decay_fraction`` of tokens, then linear.

    ``lr(s) = peak - (peak - final) * (s - S) / (T - S)`` for ``S <= s <= T``, with the decay start
    ``S = round((1 - decay_fraction) * T)`` (never before the end of warm-up).

    Args:
        peak_learning_rate: The peak learning rate (after warm-up).
        tokens: Training tokens of the run.
        tokens_per_step: Tokens per optimizer step (global batch).
        warmup_steps: Linear warm-up length, clamped for short runs.
        decay_fraction: The final fraction of the tokens spent decaying, in (0, 1).
        final_lr_fraction: The rate at the end as a fraction of the peak, in [0, 1).

    Raises:
        InputError: non-positive values or fractions outside their ranges.

    References:
        arXiv 2404.06395 (MiniCPM), eq. 1 (WSD with any decreasing decay f) and Section 3.3
        (about 10% of the tokens suffice for the decay). The linear shape of the decay is our
        choice: MiniCPM's eq. 1 leaves f open.
    """
    return _decaying(
        "wsd",
        peak_learning_rate,
        tokens,
        tokens_per_step,
        warmup_steps,
        final_lr_fraction,
        decay_fraction,
    )


def _decaying(
    kind: str,
    peak_learning_rate: float,
    tokens: float,
    tokens_per_step: int,
    warmup_steps: int,
    final_lr_fraction: float,
    decay_fraction: float = 0.0,
) -> Schedule:
    """A cosine or WSD schedule; its milestones are points of the curve ``learning_rate_at`` draws.

    Cosine decays from the end of warm-up and marks its half-way step; WSD holds the peak until its
    decay start and marks that step.
    """
    _check_common(peak_learning_rate, warmup_steps)
    if kind == "wsd":
        _check_fraction(decay_fraction, "decay fraction")
    _check_fraction(final_lr_fraction, "final learning-rate fraction", allow_zero=True)
    total = total_steps_for(tokens, tokens_per_step)
    warmup, note = clamp_warmup(warmup_steps, total)
    parameters: tuple[tuple[str, float], ...] = (("final_lr_fraction", final_lr_fraction),)
    if kind == "cosine":
        decay_start = warmup
        middle = ("half", warmup + round((total - warmup) / 2))
    else:
        decay_start = _boundary(1 - decay_fraction, total, warmup)
        middle = ("decay_start", decay_start)
        parameters = (("decay_fraction", decay_fraction), *parameters)
    schedule = Schedule(
        kind=kind,
        peak_learning_rate=peak_learning_rate,
        tokens_per_step=tokens_per_step,
        total_steps=total,
        warmup_steps=warmup,
        milestones=(),
        notes=(note,) if note else (),
        tokens=float(tokens),
        decay_start_step=decay_start,
        final_learning_rate=peak_learning_rate * final_lr_fraction,
        parameters=parameters,
    )
    milestones = tuple(
        Milestone(
            name,
            step,
            tokens_at(step, schedule.tokens, tokens_per_step),
            learning_rate_at(schedule, step),
        )
        for name, step in (("warmup_end", warmup), middle, ("end", total))
    )
    return replace(schedule, milestones=milestones)


def build(
    kind: str,
    peak_learning_rate: float,
    tokens: float,
    tokens_per_step: int,
    *,
    warmup_steps: int = DEEPSEEK_WARMUP_STEPS,
    fractions: tuple[float, ...] = DEEPSEEK_STAGE_FRACTIONS,
    factors: tuple[float, ...] = DEEPSEEK_STAGE_FACTORS,
    final_lr_fraction: float = DEFAULT_FINAL_LR_FRACTION,
    decay_fraction: float = DEFAULT_DECAY_FRACTION,
) -> Schedule:
    """A schedule of any kind; the options that do not apply to ``kind`` are ignored.

    Raises:
        InputError: an unknown kind, or what the kind's own function refuses.
    """
    if kind == "multistep":
        return multistep(
            peak_learning_rate,
            tokens,
            tokens_per_step,
            warmup_steps=warmup_steps,
            fractions=fractions,
            factors=factors,
        )
    if kind == "cosine":
        return cosine(
            peak_learning_rate,
            tokens,
            tokens_per_step,
            warmup_steps=warmup_steps,
            final_lr_fraction=final_lr_fraction,
        )
    if kind == "wsd":
        return wsd(
            peak_learning_rate,
            tokens,
            tokens_per_step,
            warmup_steps=warmup_steps,
            decay_fraction=decay_fraction,
            final_lr_fraction=final_lr_fraction,
        )
    raise InputError(f"unknown schedule kind {kind!r}; choose one of: {', '.join(KINDS)}")


def rebuild(schedule: Schedule, tokens: float) -> Schedule:
    """The same schedule (kind, peak, batch, warm-up, options) for a different token count."""
    params = dict(schedule.parameters)
    # The longer run shares the planned run's start, so it keeps the warm-up actually used (already
    # clamped if the planned run was short; never clamped again, since the longer run has more steps).
    kwargs: dict[str, Any] = {"warmup_steps": schedule.warmup_steps}
    if schedule.kind == "multistep":
        kwargs["fractions"] = params["stage_fractions"]
        kwargs["factors"] = params["stage_factors"]
    else:
        kwargs["final_lr_fraction"] = params["final_lr_fraction"]
        if schedule.kind == "wsd":
            kwargs["decay_fraction"] = params["decay_fraction"]
    return build(
        schedule.kind, schedule.peak_learning_rate, tokens, schedule.tokens_per_step, **kwargs
    )


def learning_rate_at(schedule: Schedule, step: int) -> float:
    """The learning rate the optimizer uses at ``step`` (0-based). Pure; for CSV and plots.

    Before step 0 nothing is defined (InputError); from ``total_steps`` on, the final rate holds.

    References:
        See the module docstring for the conventions, and each kind's builder for its citation.
    """
    if step < 0:
        raise InputError(f"step must not be negative, got {step}")
    peak = schedule.peak_learning_rate
    warmup = schedule.warmup_steps
    if step < warmup:
        return peak * (step / warmup)  # not (peak * step) / warmup: that overflows for a huge peak
    if schedule.kind == "multistep":
        rate = peak
        for m in schedule.milestones:
            if m.step <= step and m.name != "end":
                rate = m.learning_rate
        return rate
    final = schedule.final_learning_rate
    total = schedule.total_steps
    if step >= total:
        return final
    start = schedule.decay_start_step
    if step < start:
        return peak
    progress = (step - start) / (total - start)
    if schedule.kind == "cosine":
        return final + (peak - final) * (1 + math.cos(math.pi * progress)) / 2
    return peak - (peak - final) * progress


def table_steps(schedule: Schedule, every: int = 1) -> Iterator[int]:
    """Steps 0, every, 2*every, ... of the run, always ending with its last step ``total_steps - 1``."""
    positive_int(every, "every", "the step interval of the table")
    last = schedule.total_steps - 1
    yield from range(0, last, every)
    yield last


def rate_table(schedule: Schedule, every: int = 1) -> Iterator[tuple[int, float, float]]:
    """``(step, tokens seen before the step, learning rate)`` for every ``every``-th step."""
    for step in table_steps(schedule, every):
        yield (
            step,
            tokens_at(step, schedule.tokens, schedule.tokens_per_step),
            learning_rate_at(schedule, step),
        )
