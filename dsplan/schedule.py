"""Learning-rate schedules, as milestones (step, tokens, learning rate).

DeepSeek's multi-step schedule (arXiv 2401.02954, Section 2.3): linear warm-up to the peak over
2000 steps, the peak held until 80% of the training tokens, then x0.316 (about 1/sqrt(10)) until
90%, then x0.1 to the end. Because the peak is held for 80% of the run, the checkpoint at the end
of stage 1 can be reused to train longer (continual training).

Step rounding: ``total_steps = ceil(tokens / tokens_per_step)`` (the last step may be partly
filled); a drop at fraction f of the tokens happens at ``round(f * total_steps)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsplan.errors import InputError

DEEPSEEK_WARMUP_STEPS = 2000
DEEPSEEK_STAGE_FRACTIONS = (0.8, 0.9)
DEEPSEEK_STAGE_FACTORS = (0.316, 0.1)
# Our assumption, not the paper's: warm-up never takes more than this fraction of a short run.
MAX_WARMUP_FRACTION = 0.1


@dataclass(frozen=True)
class Milestone:
    """The learning rate that holds from ``step`` (and ``tokens``) on."""

    name: str
    step: int
    tokens: float
    learning_rate: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Schedule:
    """A schedule reduced to its milestones."""

    kind: str
    peak_learning_rate: float
    tokens_per_step: int
    total_steps: int
    warmup_steps: int
    milestones: tuple[Milestone, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "peak_learning_rate": self.peak_learning_rate,
            "tokens_per_step": self.tokens_per_step,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "milestones": [m.to_dict() for m in self.milestones],
            "notes": list(self.notes),
        }


def total_steps_for(tokens: float, tokens_per_step: int) -> int:
    """Optimizer steps to see ``tokens`` at ``tokens_per_step`` (rounded up)."""
    if tokens <= 0 or tokens_per_step <= 0:
        raise InputError("tokens and batch size must be positive")
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
        factors: The rate after each drop, as a fraction of the peak.

    References:
        arXiv 2401.02954, Section 2.3: 2000 warm-up steps, x0.316 after 80% and x0.1 after 90% of
        the training tokens.
    """
    if len(fractions) != len(factors):
        raise InputError("give as many stage factors as stage fractions")
    if any(not 0 < f < 1 for f in fractions) or list(fractions) != sorted(set(fractions)):
        raise InputError("stage fractions must increase strictly and lie in (0, 1)")
    if any(not 0 < f <= 1 for f in factors):
        raise InputError("stage factors must lie in (0, 1]")
    if peak_learning_rate <= 0:
        raise InputError("learning rate must be positive")
    if warmup_steps < 0:
        raise InputError("warm-up steps must not be negative")
    total = total_steps_for(tokens, tokens_per_step)
    warmup, note = clamp_warmup(warmup_steps, total)
    milestones = [
        Milestone("warmup_end", warmup, min(tokens, warmup * tokens_per_step), peak_learning_rate)
    ]
    for i, (fraction, factor) in enumerate(zip(fractions, factors, strict=True), start=2):
        step = max(warmup, round(fraction * total))
        milestones.append(
            Milestone(
                f"stage{i}", step, min(tokens, step * tokens_per_step), peak_learning_rate * factor
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
    )
