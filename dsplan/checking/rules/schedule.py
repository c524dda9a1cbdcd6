"""DSP4xx: warm-up and the learning-rate schedule (multi-step milestones, cosine/WSD decay)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise

from dsplan.checking.facts import ERROR, WARNING, Facts
from dsplan.checking.registry import Hit, rule
from dsplan.checking.rules._text import fmt, list_text, value_text
from dsplan.checking.schema import DEFAULT_STAGE_FACTORS
from dsplan.records import record
from dsplan.scheduling.schedules import (
    DEEPSEEK_WARMUP_STEPS,
    DEFAULT_DECAY_FRACTION,
    MAX_WARMUP_FRACTION,
)

_SCHEDULE_KEYS: dict[str, set[str]] = {
    "multistep": {"stage_fractions", "stage_tokens", "stage_factors"},
    "cosine": {"final_lr_fraction"},
    "wsd": {"final_lr_fraction", "decay_fraction"},
    "constant": set(),
}
_DEEPSEEK_FACTORS = f"stage_factors = {list(DEFAULT_STAGE_FACTORS)} (DeepSeek)"


def _term(f: Facts, name: str) -> str | None:
    """A schedule quantity in the trainer's own words (``lr_warmup_steps 5000``), where the
    config's dialect states it (:attr:`RunConfig.terms`)."""
    return f.cfg.terms.get(name)


def _warmup_suggestion(steps: int | None) -> int:
    """DeepSeek's 2000 steps, or 1% of a shorter run (2000 is 0.9% of the 7B's ~212K steps)."""
    if steps is None:
        return DEEPSEEK_WARMUP_STEPS
    return max(1, min(DEEPSEEK_WARMUP_STEPS, math.floor(0.01 * steps)))


@record
class _Multistep:
    """A multi-step schedule's drops: the key they came from, as fractions of the tokens and as
    written, and the factors."""

    key: str
    fractions: list[float]
    raw: list[float]
    factors: list[float]

    @property
    def factors_out_of_range(self) -> list[float]:
        return [x for x in self.factors if not 0 < x <= 1]

    @property
    def never_decays(self) -> bool:
        return not self.factors or all(x >= 1 for x in self.factors)


def _multistep(f: Facts) -> _Multistep | None:
    """The drops of a multistep schedule; None for another schedule or drops not in fractions."""
    t = f.cfg.training
    if t.schedule != "multistep":
        return None
    factors = list(t.stage_factors)
    if t.stage_tokens is not None:
        if t.tokens <= 0:
            return None
        fractions = [x / t.tokens for x in t.stage_tokens]
        return _Multistep("training.stage_tokens", fractions, list(t.stage_tokens), factors)
    fractions = list(t.stage_fractions or ())
    return _Multistep("training.stage_fractions", fractions, fractions, factors)


@rule("DSP401", ERROR, "warm-up as long as the run, or negative", "steps of the run")
def warmup_within_run(f: Facts) -> Iterator[Hit]:
    t, steps = f.cfg.training, f.total_steps
    warm = t.warmup_steps
    if warm < 0:
        yield Hit(
            "training.warmup_steps",
            f"warmup_steps = {warm} is negative",
            f"warmup_steps = {_warmup_suggestion(steps)} (DeepSeek: 2000)",
        )
    elif steps is not None and warm >= steps:
        said, run = _term(f, "warmup"), _term(f, "steps")
        yield Hit(
            "training.warmup_steps",
            f"{said} is {'longer than' if warm > steps else 'as long as'} the run, {run}"
            if said and run
            else f"warmup_steps = {warm} but the run has only {steps} "
            f"step{'' if steps == 1 else 's'} "
            f"({fmt(t.tokens)} tokens / {fmt(f.batch_tokens or 0)} tokens per step)",
            f"warmup_steps = {_warmup_suggestion(steps)} (1% of the run, as DeepSeek 7B)",
        )


@rule(
    "DSP402",
    WARNING,
    "warm-up longer than 10% of the run",
    "dsplan's cap (DeepSeek 7B: 2000 of ~212K steps, 0.9%)",
)
def warmup_share(f: Facts) -> Iterator[Hit]:
    warm, steps = f.cfg.training.warmup_steps, f.total_steps
    if steps is None or not 0 <= warm < steps or warm <= MAX_WARMUP_FRACTION * steps:
        return
    said, run = _term(f, "warmup"), _term(f, "steps")
    yield Hit(
        "training.warmup_steps",
        f"{said} is {warm / steps:.1%} of {run}"
        if said and run
        else f"warmup_steps = {warm} is {warm / steps:.1%} of the run's {steps} steps",
        f"warmup_steps <= {math.floor(MAX_WARMUP_FRACTION * steps)} "
        f"({MAX_WARMUP_FRACTION:.0%} of the run)",
    )


@rule("DSP403", WARNING, "no warm-up", "DeepSeek warms up over 2000 steps (Section 2.3)")
def warmup_given(f: Facts) -> Iterator[Hit]:
    if f.cfg.training.warmup_steps == 0:
        said = _term(f, "warmup") or "warmup_steps = 0"
        yield Hit(
            "training.warmup_steps",
            f"{said}: the run starts at the peak learning rate",
            f"warmup_steps = {_warmup_suggestion(f.total_steps)} (DeepSeek: 2000)",
        )


@rule("DSP404", ERROR, "schedule milestones out of order", "milestones must increase")
def milestones_increase(f: Facts) -> Iterator[Hit]:
    ms = _multistep(f)
    if ms is None or not any(b <= a for a, b in pairwise(ms.raw)):
        return
    name = ms.key.split(".")[1]
    yield Hit(
        ms.key,
        f"{name} = {list_text(ms.raw)} do not increase strictly",
        f"{name} = {list_text(sorted(set(ms.raw)))}",
    )


@rule(
    "DSP405",
    ERROR,
    "a schedule milestone outside the run",
    "a drop at or after the end (or before the start) never happens",
)
def milestones_inside_run(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    ms = _multistep(f)
    outside = [x for x in ms.fractions if not 0 < x < 1] if ms is not None else []
    if ms is not None and outside:
        shown = (
            ", ".join(f"{x * t.tokens:.4g} tokens" for x in outside)
            if t.stage_tokens is not None
            else ", ".join(f"{x:g}" for x in outside)
        )
        yield Hit(
            ms.key,
            f"drop at {shown} lies outside the run of {fmt(t.tokens)} tokens: it never happens",
            "stage_fractions = [0.8, 0.9] (DeepSeek: 80% and 90% of the tokens)",
        )
    if t.schedule == "wsd" and not 0 <= t.decay_fraction <= 1:
        yield Hit(
            "training.decay_fraction",
            f"decay_fraction = {t.decay_fraction:g} outside [0, 1]: the decay would start "
            "outside the run",
            f"decay_fraction = {DEFAULT_DECAY_FRACTION:g}",
        )


@rule("DSP406", ERROR, "stage_factors and milestones differ in number", "one factor per drop")
def one_factor_per_drop(f: Facts) -> Iterator[Hit]:
    ms = _multistep(f)
    if ms is not None and len(ms.factors) != len(ms.fractions):
        yield Hit(
            "training.stage_factors",
            f"{len(ms.fractions)} milestones but {len(ms.factors)} stage_factors",
            "one factor per milestone, e.g. stage_factors = [0.316, 0.1]",
        )


@rule("DSP407", WARNING, "the learning rate never decays", "every schedule should decay")
def rate_decays(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    if t.schedule == "constant":
        yield Hit(
            "training.schedule",
            f"schedule = 'constant': the learning rate stays at {fmt(t.learning_rate)} for all "
            f"{fmt(t.tokens)} tokens, it never decays",
            'schedule = "multistep" (DeepSeek: x0.316 at 80% and x0.1 at 90% of the tokens)',
        )
        return
    ms = _multistep(f)
    if ms is not None:
        # A factor out of range is an error already (DSP408); "never decays" would mislead.
        if not ms.factors_out_of_range and ms.never_decays:
            yield Hit(
                "training.stage_factors",
                f"stage_factors = {ms.factors}: the learning rate never drops",
                _DEEPSEEK_FACTORS,
            )
        return
    if t.schedule == "multistep":
        return
    if t.final_lr_fraction == 1:
        peak, floor = _term(f, "peak"), _term(f, "floor")
        yield Hit(
            "training.final_lr_fraction",
            f"the run ends at its peak rate, {peak}: it never decays ({floor})"
            if peak and floor
            else f"final_lr_fraction = 1: the {t.schedule} schedule ends at its peak, it never "
            "decays",
            "final_lr_fraction = 0.1",
        )
    if t.schedule == "wsd" and t.decay_fraction == 0:
        yield Hit(
            "training.decay_fraction",
            "decay_fraction = 0: the wsd schedule never decays",
            f"decay_fraction = {DEFAULT_DECAY_FRACTION:g}",
        )


@rule(
    "DSP408",
    ERROR,
    "a schedule factor outside (0, 1]",
    "a factor above 1 raises the rate above the peak; 0 stops training",
)
def factors_in_range(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    ms = _multistep(f)
    if ms is not None and ms.factors_out_of_range:
        bad = ms.factors_out_of_range
        yield Hit(
            "training.stage_factors",
            f"stage_factors {', '.join(f'{x:g}' for x in bad)} outside (0, 1]",
            _DEEPSEEK_FACTORS,
        )
    if t.schedule in ("cosine", "wsd") and not 0 <= t.final_lr_fraction <= 1:
        peak, floor = _term(f, "peak"), _term(f, "floor")
        where = "above the peak" if t.final_lr_fraction > 1 else "below zero"
        yield Hit(
            "training.final_lr_fraction",
            f"{floor} is {where}, {peak}: the run ends at {t.final_lr_fraction:g}x the peak"
            if peak and floor
            else f"final_lr_fraction = {t.final_lr_fraction:g} outside [0, 1]",
            "final_lr_fraction = 0.1",
        )


@rule("DSP409", WARNING, "the learning rate rises after a drop", "factors should decrease")
def factors_decrease(f: Facts) -> Iterator[Hit]:
    ms = _multistep(f)
    if ms is None or ms.factors_out_of_range or ms.never_decays:
        return
    if any(b > a for a, b in pairwise(ms.factors)):
        yield Hit(
            "training.stage_factors",
            f"stage_factors = {ms.factors} rise after a drop",
            f"decreasing factors, e.g. {list(DEFAULT_STAGE_FACTORS)} (DeepSeek)",
        )


@rule("DSP410", WARNING, "a drop inside the warm-up", "drops come after the peak")
def drops_after_warmup(f: Facts) -> Iterator[Hit]:
    ms, steps = _multistep(f), f.total_steps
    warm = f.cfg.training.warmup_steps
    if ms is None or steps is None or not 0 < warm < steps:
        return
    early = [x for x in ms.fractions if 0 < x < 1 and round(x * steps) < warm]
    if early:
        yield Hit(
            ms.key,
            f"a drop at step {round(early[0] * steps)} comes before warm-up ends at step {warm}",
            f"drops after {warm / steps:.1%} of the run",
        )


@rule(
    "DSP411",
    WARNING,
    "schedule keys the chosen schedule ignores",
    "stale keys from another schedule",
)
def stale_schedule_keys(f: Facts) -> Iterator[Hit]:
    t = f.cfg.training
    every = set().union(*_SCHEDULE_KEYS.values())
    unused = every - _SCHEDULE_KEYS[t.schedule]
    for name in sorted(unused):
        key = f"training.{name}"
        if f.given(key):
            yield Hit(
                key,
                f"{key} = {value_text(getattr(t, name))} has no effect with "
                f"schedule = {t.schedule!r}",
                "remove it, or set the schedule it belongs to",
            )


FAMILY = (
    warmup_within_run,
    warmup_share,
    warmup_given,
    milestones_increase,
    milestones_inside_run,
    one_factor_per_drop,
    rate_decays,
    factors_in_range,
    factors_decrease,
    drops_after_warmup,
    stale_schedule_keys,
)
