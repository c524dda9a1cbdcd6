"""What the dialect modules share: collecting problems and lines, and building the run config."""

from __future__ import annotations

import math
from typing import Any

from dsplan.checking.run_config import (
    HardwareConfig,
    Layout,
    ModelConfig,
    RunConfig,
    TrainingConfig,
)
from dsplan.checking.schema import (
    DEFAULT_STAGE_FACTORS,
    DEFAULT_STAGE_FRACTIONS,
    ConfigProblems,
    Problem,
)


class Collector:
    """Problems of one trainer file, and the line of each dsplan key in it."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}
        self.given: set[str] = set()
        self.names: dict[str, str] = {}  # dsplan key -> the trainer's key or argument

    def problem(self, line: int | None, key: str, message: str) -> None:
        found = Problem(self.file, line, key, message)
        if found not in self.problems:  # a value read twice is one problem
            self.problems.append(found)

    def place(
        self, key: str, line: int | None, *, given: bool = True, name: str | None = None
    ) -> None:
        """Point dsplan's ``key`` at ``line`` of the trainer file, written as the trainer's
        ``name`` (and mark it given). The first placement of a key wins."""
        if line is not None:
            self.lines.setdefault(key, line)
            if name is not None:
                self.names.setdefault(key, name)
        if given:
            self.given.add(key)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigProblems(self.problems)


def schedule_fields(
    style: str, warmup: int, steps: int, decay_steps: int, final_fraction: float
) -> dict[str, Any]:
    """The schedule keys of a trainer's warm-up, then decay over ``decay_steps`` to a floor.

    ``style`` is ``constant``, ``cosine`` (decay from the end of warm-up to the end of the run) or
    ``wsd`` (a stable phase, then the decay over the run's last ``decay_steps``): dsplan's own
    schedules, which the DSP4xx rules check. The decay's curve (linear, sqrt, exponential) is the
    trainer's; the rules read where it starts and what it reaches.
    """
    fraction = min(1.0, max(0.0, decay_steps / steps)) if steps > 0 else 0.0
    return {
        "warmup_steps": warmup,
        "schedule": style,
        "stage_fractions": DEFAULT_STAGE_FRACTIONS,
        "stage_tokens": None,
        "stage_factors": DEFAULT_STAGE_FACTORS,
        "final_lr_fraction": final_fraction,
        "decay_fraction": fraction,
    }


def build(
    c: Collector,
    *,
    dialect: str,
    model: ModelConfig,
    tokens: float,
    learning_rate: float,
    global_batch: int,
    schedule: dict[str, Any],
    preset: str | None,
    layout: Layout,
    ignore: tuple[str, ...] = (),
    terms: dict[str, str] | None = None,
    hyperparameters: str | None = None,
) -> RunConfig:
    """The run config of a translated trainer file; ``ignore`` are the rule codes the file skips
    (a YAML comment), ``terms`` the schedule's quantities in the trainer's words
    (:attr:`RunConfig.terms`)."""
    training = TrainingConfig(
        tokens=tokens if math.isfinite(tokens) else 0.0,
        learning_rate=learning_rate,
        batch_size_tokens=None,
        batch_size_sequences=global_batch,
        **schedule,
    )
    # A trainer key that the chosen schedule does not use in dsplan's terms (Megatron's decay end of
    # a cosine that ends with the run) is not a stale key of the config: DSP411 must not see it.
    unused = {"training.decay_fraction"} if training.schedule != "wsd" else set()
    if training.schedule in ("constant", "multistep"):
        unused.add("training.final_lr_fraction")
    return RunConfig(
        file=c.file,
        model=model,
        training=training,
        preset=preset or "current",
        hardware=HardwareConfig(),
        given=frozenset(c.given - unused),
        lines=dict(c.lines),
        trainer_keys=dict(c.names),
        dialect=dialect,
        layout=layout,
        ignore=ignore,
        terms=dict(terms or {}),
        hyperparameters=hyperparameters,
    )


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
