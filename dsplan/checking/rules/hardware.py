"""DSP5xx: the ``[hardware]`` table against the GPU table (MFU, memory, wall-clock time, cost)."""

from __future__ import annotations

from collections.abc import Iterator

from dsplan.checking.facts import ERROR, INFO, WARNING, Facts, HardwareFacts
from dsplan.checking.registry import Hit, rule

# An implied MFU or a cost above its limit by less than this is rounding, not a claim: a config
# dsplan writes carries its numbers to 7 significant digits (dsplan.numbers), within 5e-7 of them.
_ROUNDING_SLACK = 1e-6

_HARDWARE_HINTS = {
    "num_gpus": "num_gpus = the GPUs the run is booked on (DeepSeek 67B: 2048 H800s)",
    "expected_days": "expected_days = the wall-clock days promised, or leave it out",
    "budget_usd": "budget_usd = the money available, or leave it out",
    "price_usd_per_gpu_hour": "leave it out to use the GPU table's price (`dsplan gpus`)",
}


@rule(
    "DSP501",
    ERROR,
    "expected_days needs an MFU above 1",
    "hardware FLOPs / (num_gpus x dense peak x time) > 1: more than the GPUs can compute",
)
def days_possible(f: Facts) -> Iterator[Hit]:
    found = _implied(f)
    if found is not None and found[0] > 1:
        yield Hit("hardware.expected_days", f"{found[1]}: above 1", found[2])


@rule(
    "DSP502",
    WARNING,
    "expected_days needs an MFU above the best published",
    "the GPU table's mfu_best_published for that GPU and precision",
)
def days_published(f: Facts) -> Iterator[Hit]:
    found = _implied(f)
    if found is None or f.hardware is None:
        return
    implied, claim, hint = found
    best = f.hardware.best_mfu
    if implied <= 1 and best is not None and implied > best:
        yield Hit(
            "hardware.expected_days",
            f"{claim}, above the best published: {f.hardware.best_text}",
            hint,
        )


@rule(
    "DSP507",
    WARNING,
    "expected_days needs more MFU than planned",
    "the MFU implied by expected_days on num_gpus against hardware.mfu",
)
def days_planned(f: Facts) -> Iterator[Hit]:
    found = _implied(f)
    if found is None or f.hardware is None:
        return
    implied, claim, hint = found
    best, mfu = f.hardware.best_mfu, f.cfg.hardware.mfu
    if implied > 1 or (best is not None and implied > best):
        return  # DSP501 or DSP502 says it
    if mfu is not None and implied > mfu * (1 + _ROUNDING_SLACK):
        yield Hit("hardware.expected_days", f"{claim}, more than the planned mfu = {mfu:g}", hint)


def _implied(f: Facts) -> tuple[float, str, str] | None:
    """The MFU that expected_days on num_gpus implies, the claim in words, and the days at the
    planned MFU; None where expected_days or num_gpus is not given."""
    h, hw = f.hardware, f.cfg.hardware
    if h is None or h.implied_mfu is None or hw.num_gpus is None or hw.expected_days is None:
        return None
    claim = (
        f"{h.hardware_flops:.4g} hardware FLOPs (M + output head, x {f.cfg.training.tokens:.4g} "
        f"tokens) in {hw.expected_days:g} days on {hw.num_gpus:,} GPUs ({h.where}) needs MFU "
        f"{h.implied_mfu:.3g}"
    )
    hint = ""
    if h.planned_mfu:
        from dsplan.planning.cost import gpu_hours, wall_clock_days

        hours = gpu_hours(h.hardware_flops, h.peak_flops, h.planned_mfu)
        hint = f"expected_days = {wall_clock_days(hours, hw.num_gpus):.3g} at MFU {h.planned_mfu:g}"
    return h.implied_mfu, claim, hint


def _states_fit(f: Facts, h: HardwareFacts, n_gpus: int) -> Iterator[tuple[str, Hit]]:
    """(rule, hit) for model and optimizer states that do not fit on ``n_gpus``."""
    from dsplan.planning.memory import state_memory

    if f.counts is None:
        return
    gpu = h.gpu
    memory = state_memory(f.counts.params_total, gpu.memory_gb, n_gpus)
    states_gb = memory.states_bytes / 1e9
    if memory.fits_zero3 is False:
        yield (
            "DSP503",
            Hit(
                "hardware.num_gpus",
                f"the model and optimizer states ({states_gb:,.0f} GB: "
                f"{f.counts.params_total:.4g} parameters x 16 bytes) do not fit on "
                f"{n_gpus:,} x {gpu.memory_gb:g} GB {gpu.id} even fully sharded (ZeRO-3), "
                "before activations",
                f"num_gpus >= {memory.min_gpus_zero3:,}",
            ),
        )
    elif memory.fits_zero1 is False:
        fewest = (
            f"num_gpus >= {memory.min_gpus_zero1:,} for ZeRO-1"
            if memory.min_gpus_zero1 is not None
            else "ZeRO-3, or tensor/pipeline parallelism"
        )
        yield (
            "DSP504",
            Hit(
                "hardware.num_gpus",
                f"the states ({states_gb:,.0f} GB) do not fit on {n_gpus:,} {gpu.id} under "
                "ZeRO-1 (weights and gradients replicated): shard further",
                fewest,
            ),
        )


def _states(f: Facts, rule_id: str) -> Iterator[Hit]:
    h, n_gpus = f.hardware, f.cfg.hardware.num_gpus
    if h is None or n_gpus is None:
        return
    yield from (hit for found, hit in _states_fit(f, h, n_gpus) if found == rule_id)


@rule(
    "DSP503",
    ERROR,
    "model and optimizer states do not fit even fully sharded",
    "16 bytes/parameter over num_gpus (ZeRO-3) against GPU memory (dsplan.planning.cost)",
)
def states_fit_sharded(f: Facts) -> Iterator[Hit]:
    yield from _states(f, "DSP503")


@rule(
    "DSP504",
    INFO,
    "states do not fit under ZeRO-1",
    "weights and gradients replicated (4 bytes/parameter): needs ZeRO-3 or TP/PP",
)
def states_fit_zero1(f: Facts) -> Iterator[Hit]:
    if f.cfg.layout is not None:
        return  # a stated layout shards by TP and PP too: the memory rule (DSP606) judges it
    yield from _states(f, "DSP504")


@rule(
    "DSP505",
    ERROR,
    "a hardware value out of range",
    "num_gpus, expected_days, budget_usd, price positive; mfu in (0, 1]",
)
def hardware_values(f: Facts) -> Iterator[Hit]:
    hw = f.cfg.hardware
    if hw.gpu is None:
        return
    for key, value in (
        ("num_gpus", hw.num_gpus),
        ("expected_days", hw.expected_days),
        ("budget_usd", hw.budget_usd),
        ("price_usd_per_gpu_hour", hw.price_usd_per_gpu_hour),
    ):
        if value is not None and value <= 0:
            yield Hit(
                f"hardware.{key}", f"{key} = {value:g} must be positive", _HARDWARE_HINTS[key]
            )
    if hw.mfu is not None and not 0 < hw.mfu <= 1:
        percent = 1 < hw.mfu <= 100
        yield Hit(
            "hardware.mfu",
            f"mfu = {hw.mfu:g} must be a fraction in (0, 1]"
            + (" (a percentage?)" if percent else ""),
            f"mfu = {hw.mfu / 100:g}" if percent else "",
        )


@rule(
    "DSP506",
    WARNING,
    "planned MFU above the best published",
    "the GPU table's mfu_best_published for that GPU and precision",
)
def planned_mfu_published(f: Facts) -> Iterator[Hit]:
    h, mfu = f.hardware, f.cfg.hardware.mfu
    if h is None or mfu is None or h.best_mfu is None or mfu <= h.best_mfu:
        return
    yield Hit(
        "hardware.mfu",
        f"mfu = {mfu:g} is above the best published {h.dtype} MFU on {h.gpu.id}: {h.best_text}",
        f"mfu <= {h.best_mfu:g}",
    )


def _pricing_mfu(f: Facts, h: HardwareFacts) -> float | None:
    """The MFU that prices the run: the planned one; without it, the one expected_days implies."""
    if f.cfg.hardware.mfu is None and h.implied_mfu is not None and h.implied_mfu <= 1:
        return h.implied_mfu
    return h.planned_mfu


@rule(
    "DSP508",
    ERROR,
    "the run costs more than budget_usd",
    "GPU-hours x price per GPU-hour (dsplan.planning.cost) at the planned MFU",
)
def within_budget(f: Facts) -> Iterator[Hit]:
    h, budget = f.hardware, f.cfg.hardware.budget_usd
    if h is None or budget is None or h.price_usd_per_gpu_hour is None:
        return
    mfu = _pricing_mfu(f, h)
    if mfu is None:
        return
    from dsplan.planning.cost import gpu_hours

    price = h.price_usd_per_gpu_hour
    hours = gpu_hours(h.hardware_flops, h.peak_flops, mfu)
    cost = hours * price
    if cost > budget * (1 + _ROUNDING_SLACK):
        yield Hit(
            "hardware.budget_usd",
            f"the run takes {hours:,.0f} GPU-hours at MFU {mfu:.3g}: "
            f"${cost:,.0f} at ${price:g}/GPU-hour, over budget_usd = ${budget:,.0f}",
            f"budget_usd >= {cost:.4g}, or tokens = "
            f"{f.cfg.training.tokens * budget / cost:.3g} within the budget",
        )


@rule(
    "DSP509",
    INFO,
    "hardware keys not checked",
    "hardware rules need hardware.gpu; budget_usd needs a price",
)
def hardware_checked(f: Facts) -> Iterator[Hit]:
    hw = f.cfg.hardware
    if hw.given and hw.gpu is None:
        given = sorted(k for k in f.cfg.given if k.startswith("hardware."))
        yield Hit(
            given[0],
            f"{', '.join(given)} given without hardware.gpu: the hardware rules are skipped",
            'hardware.gpu = "h800" (see `dsplan gpus`)',
        )
    h = f.hardware
    if h is not None and hw.budget_usd is not None and h.price_usd_per_gpu_hour is None:
        yield Hit(
            "hardware.budget_usd",
            f"budget_usd not checked: the GPU table has no price for {h.gpu.id}",
            "hardware.price_usd_per_gpu_hour = ...",
        )


FAMILY = (
    days_possible,
    days_published,
    states_fit_sharded,
    states_fit_zero1,
    hardware_values,
    planned_mfu_published,
    days_planned,
    within_budget,
    hardware_checked,
)
