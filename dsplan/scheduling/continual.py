"""Continual training: what a run planned for D tokens can reuse when it grows to D2.

Kept apart from :mod:`dsplan.scheduling.schedules`, which ``dsplan budget`` imports at start-up: only
``dsplan schedule --extend-to`` needs this module.

* ``multistep`` (arXiv 2401.02954, Section 2.3): the checkpoint at the end of stage 1 carries over.
* ``wsd`` (arXiv 2404.06395, Section 3.3): the last stable checkpoint carries over.
* ``cosine``: only a checkpoint whose rate stayed close to the longer run's; the rest is lost.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.records import record
from dsplan.scheduling.schedules import Schedule, learning_rate_at, rebuild, tokens_at
from dsplan.units import count

if TYPE_CHECKING:
    from dsplan.laws.types import Preset

# Our assumption: a cosine checkpoint can be reused for a longer cosine run while its rate has
# stayed within 5% of the longer run's rate at every step so far.
COSINE_REUSE_TOLERANCE = 0.05


@record
class LawDrift:
    """The laws' hyperparameters at the extended run's compute, against the running ones."""

    flops_per_token: float
    compute_flops: float
    preset: str
    law_learning_rate: float
    law_batch_size_tokens: float
    learning_rate_drift: float
    batch_size_drift: float
    orders_beyond_fit: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@record
class Extension:
    """What a run planned for ``tokens`` can reuse when it grows to ``extended_tokens``."""

    kind: str
    planned_tokens: float
    extended_tokens: float
    reusable_step: int
    reusable_tokens: float
    reuse_fraction: float
    lost_tokens: float
    schedule: Schedule
    drift: LawDrift | None
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        d = self.drift
        return {
            "kind": self.kind,
            "planned_tokens": self.planned_tokens,
            "tokens": self.extended_tokens,
            "reusable_step": self.reusable_step,
            "reusable_tokens": self.reusable_tokens,
            "reuse_fraction": self.reuse_fraction,
            "lost_tokens": self.lost_tokens,
            "total_steps": self.schedule.total_steps,
            "milestones": [m.to_dict() for m in self.schedule.milestones],
            "flops_per_token": d.flops_per_token if d else None,
            "compute_flops": d.compute_flops if d else None,
            "law_learning_rate": d.law_learning_rate if d else None,
            "law_batch_size_tokens": d.law_batch_size_tokens if d else None,
            "learning_rate_drift": d.learning_rate_drift if d else None,
            "batch_size_drift": d.batch_size_drift if d else None,
            "notes": list(self.notes),
        }


def law_drift(
    schedule: Schedule, extended_tokens: float, flops_per_token: float, preset: Preset
) -> LawDrift:
    """Eq. 1 at the extended compute C2 = M * D2, and its drift from the running peak and batch.

    Drift is ``law / running - 1``: -0.04 means the law asks for a rate 4% below the running one.

    References:
        arXiv 2401.02954, Eq. 1 (via the preset's ``learning_rate`` and ``batch_size`` laws).
    """
    if not (math.isfinite(flops_per_token) and flops_per_token > 0):
        raise InputError(f"FLOPs per token must be positive, got {flops_per_token!r}")
    c2 = flops_per_token * extended_tokens
    # Start-up laziness, not a cycle: `dsplan schedule` loads no preset unless it extends a run of a
    # known shape, so it need not import the catalog (tomllib, the law types) nor the laws.
    from dsplan.catalog.presets import resolve_hyperparameter_law
    from dsplan.laws.hyperparameters import compute_hyperparameter_laws

    law = resolve_hyperparameter_law(preset)
    lr_law, batch_law = compute_hyperparameter_laws(preset, law, "the extension's law drift")
    lr = lr_law(c2)
    batch = batch_law(c2)
    fit = preset.hyperparameter_fit_range or preset.fit_range
    return LawDrift(
        flops_per_token=flops_per_token,
        compute_flops=c2,
        preset=preset.id,
        law_learning_rate=lr,
        law_batch_size_tokens=batch,
        learning_rate_drift=lr / schedule.peak_learning_rate - 1,
        batch_size_drift=batch / schedule.tokens_per_step - 1,
        orders_beyond_fit=fit.orders_beyond(c2),
    )


def _cosine_reusable_step(planned: Schedule, extended: Schedule) -> int:
    """The first step at which the planned cosine rate falls out of tolerance of the longer run's.

    The checkpoint before that step is the last one whose every step ran within tolerance. Both
    runs share their warm-up; after it the ratio planned/longer falls from 1 and, since both curves
    end near the same floor, may rise again near the planned end: one minimum. A ternary search finds
    that minimum; if it is in tolerance, the whole planned run is reusable, else a binary search over
    the falling part finds the first step out of tolerance. (The property tests check this against a
    step-by-step scan.)
    """

    def ratio(step: int) -> float:
        wanted = learning_rate_at(extended, step)
        return learning_rate_at(planned, step) / wanted if wanted > 0 else 1.0

    floor = 1 - COSINE_REUSE_TOLERANCE
    lo, hi = planned.warmup_steps, planned.total_steps - 1
    while hi - lo > 2:
        third = (hi - lo) // 3
        if ratio(lo + third) < ratio(hi - third):
            hi = hi - third
        else:
            lo = lo + third
    lowest = min(range(lo, hi + 1), key=ratio)
    if ratio(lowest) >= floor:
        return planned.total_steps
    lo, hi = planned.warmup_steps, lowest  # the ratio falls on this span; ratio(hi) < floor
    while lo < hi:
        mid = (lo + hi) // 2
        if ratio(mid) < floor:
            hi = mid
        else:
            lo = mid + 1
    return lo


def extend(
    schedule: Schedule,
    extended_tokens: float,
    *,
    flops_per_token: float | None = None,
    preset: Preset | None = None,
) -> Extension:
    """Continual training: what a run planned for D tokens can reuse when it grows to D2.

    * ``multistep``: the checkpoint at the end of stage 1 (the first drop, 80% of D by default)
      carries over; the longer run keeps the peak until its own first drop (80% of D2).
    * ``wsd``: the last stable checkpoint (the decay start of the planned run) carries over.
    * ``cosine``: only a checkpoint taken while the planned rate was within
      ``COSINE_REUSE_TOLERANCE`` of the longer run's rate; everything after it is lost.

    ``reuse_fraction`` is ``reusable_tokens / planned tokens``. With ``flops_per_token`` (M) and a
    preset, the laws' rate and batch at C2 = M * D2 and their drift are computed too.

    Raises:
        InputError: ``extended_tokens`` not above the planned tokens.

    References:
        arXiv 2401.02954, Section 2.3 (reuse of the first stage); arXiv 2404.06395, Section 3.3
        (any stable WSD checkpoint can be decayed).
    """
    planned = schedule.tokens
    if not (math.isfinite(extended_tokens) and extended_tokens > planned):
        raise InputError(
            f"the extended run must be longer than the planned {planned:.6g} tokens, got "
            f"{extended_tokens:.6g}",
            quantity="extended_tokens",
        )
    longer = rebuild(schedule, extended_tokens)
    if schedule.kind == "cosine":
        step = _cosine_reusable_step(schedule, longer)
    else:  # multistep and wsd: the last checkpoint before the first drop or the decay
        step = schedule.decay_start_step
    reusable_tokens = tokens_at(step, planned, schedule.tokens_per_step)
    lost = planned - reusable_tokens
    notes: list[str] = []
    if schedule.kind == "multistep":
        notes.append(
            "the checkpoint at the end of stage 1 (before the first drop) carries over: "
            "resume it at the peak rate and drop at the longer run's milestones"
        )
    elif schedule.kind == "wsd":
        notes.append(
            "the last stable checkpoint (before the decay) carries over: continue at the peak "
            "and decay over the last part of the longer run (MiniCPM, arXiv 2404.06395)"
        )
    else:
        notes.append(
            f"cosine: only checkpoints whose rate stayed within {COSINE_REUSE_TOLERANCE:.0%} of "
            f"the longer run's rate can be reused (dsplan's tolerance); the last is the checkpoint "
            f"at step {step:,} (before that update), and the {count(lost)} tokens "
            f"({lost / planned:.0%} of the planned run) trained after it are lost: retrain them at "
            "the longer run's higher rates; restarting from the decayed end instead needs a "
            "re-warm-up that disturbs the model"
        )
    drift = None
    if flops_per_token is not None and preset is not None:
        drift = law_drift(schedule, extended_tokens, flops_per_token, preset)
        if drift.orders_beyond_fit > 0:
            notes.append(
                f"C2 = {drift.compute_flops:.3g} FLOPs is {drift.orders_beyond_fit:.1f} orders of "
                "magnitude outside the range the hyperparameter law was fitted on: it extrapolates"
            )
    else:
        notes.append(
            "drift cannot be computed: the FLOPs per token M is unknown; give M or the shape "
            "(layers and width), or plan the run from a compute budget"
        )
    return Extension(
        kind=schedule.kind,
        planned_tokens=planned,
        extended_tokens=float(extended_tokens),
        reusable_step=step,
        reusable_tokens=reusable_tokens,
        reuse_fraction=reusable_tokens / planned,
        lost_tokens=lost,
        schedule=longer,
        drift=drift,
        notes=tuple(notes),
    )
