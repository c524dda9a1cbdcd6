"""GPU time, cost, feasibility and memory of a training run on a given accelerator.

Conventions (documented in docs/hardware.md):

* Hardware FLOPs per token are the shape's exact M (6 x block matmul weights + full attention,
  arXiv 2401.02954 Eq. 2 convention) plus the output head, 6 x vocab x d_model: the matmul Eq. 2
  leaves out but the GPU still runs. The run executes that many FLOPs for each of its D tokens.
* MFU is measured against the DENSE peak of the chosen precision (bf16, fp16 or fp8); a sparse vendor
  figure is never a peak.
* ``GPU-seconds = training FLOPs / (dense peak x MFU)``; wall-clock time divides by the GPU count and
  assumes perfect scaling with no failures or stalls.
* Memory: :mod:`dsplan.planning.memory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dsplan.catalog.gpus import TRAINING_DTYPES, Gpu, get_gpu
from dsplan.errors import InputError
from dsplan.planning.memory import BYTES_PER_PARAM, Memory, state_memory
from dsplan.records import record
from dsplan.units import days as days_text
from dsplan.units import positive_int

if TYPE_CHECKING:
    from dsplan.model.flops import Counts
    from dsplan.model.moe import MoeCounts
    from dsplan.planning.plan import Plan, PlanOptions

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0
# Comparisons of a plan against a limit allow for float rounding (the inverse mode meets its limit
# exactly, up to rounding).
RELATIVE_TOLERANCE = 1e-9
P = TypeVar("P")

HARDWARE_FLOPS_NOTE = (
    "hardware FLOPs per token = the shape's exact M (Eq. 2 convention, full attention) plus the "
    "output head 6 x vocab x d_model, which Eq. 2 leaves out but the GPU runs"
)
SCALING_NOTE = (
    "wall-clock time assumes perfect scaling over the GPUs: no failures, restarts, evaluation or "
    "checkpoint stalls"
)


def gpu_hours(training_flops: float, peak_flops_per_gpu: float, mfu: float) -> float:
    """GPU-hours to execute ``training_flops`` at ``mfu`` of a dense peak.

    Args:
        training_flops: Hardware FLOPs of the whole run.
        peak_flops_per_gpu: Dense peak of one GPU in FLOP/s for the chosen precision.
        mfu: Model FLOPs utilisation, a fraction of that peak.
    """
    return training_flops / (peak_flops_per_gpu * mfu) / SECONDS_PER_HOUR


def wall_clock_days(hours: float, n_gpus: int) -> float:
    """Days of wall-clock time for ``hours`` GPU-hours spread over ``n_gpus`` GPUs."""
    return hours / n_gpus / HOURS_PER_DAY


def gpus_for_days(hours: float, days: float) -> int:
    """The fewest GPUs that finish ``hours`` GPU-hours within ``days`` days.

    Raises:
        InputError: a deadline so short (or a run so long) that the GPU count overflows.
    """
    needed = hours / (days * HOURS_PER_DAY) * (1 - RELATIVE_TOLERANCE)
    if not math.isfinite(needed):
        raise InputError(f"a deadline of {days:.3g} days needs more GPUs than can be counted")
    return max(1, math.ceil(needed))


def cluster_flops(n_gpus: int, peak_flops_per_gpu: float, mfu: float, days: float) -> float:
    """The FLOPs a cluster executes: C = GPUs x dense peak x MFU x time (seconds)."""
    return n_gpus * peak_flops_per_gpu * mfu * days * HOURS_PER_DAY * SECONDS_PER_HOUR


@record
class Hardware:
    """The resolved hardware inputs of a cost estimate."""

    gpu: Gpu
    dtype: str
    mfu: float
    mfu_source: str
    n_gpus: int | None = None
    days: float | None = None
    max_cost_usd: float | None = None
    price_usd_per_gpu_hour: float | None = None
    price_source: str | None = None
    price_as_of: str | None = None

    @property
    def peak_flops_per_gpu(self) -> float:
        peak = self.gpu.peak_flops(self.dtype)
        if peak is None:  # resolve_hardware() refuses this; kept for direct construction
            raise InputError(f"{self.gpu.id} has no {self.dtype} peak")
        return peak


def _positive(value: float | None, quantity: str, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise InputError(
            f"{what} must be a positive finite number, got {value!r}", quantity=quantity
        )
    return float(value)


def resolve_hardware(
    gpu: str | Gpu,
    *,
    dtype: str | None = None,
    mfu: float | None = None,
    n_gpus: int | None = None,
    days: float | None = None,
    max_cost_usd: float | None = None,
    price_usd_per_gpu_hour: float | None = None,
) -> Hardware:
    """Check the hardware options and fill in the defaults from the GPU table.

    Args:
        gpu: A GPU id, alias or table file, or an entry already loaded.
        dtype: ``bf16``, ``fp16`` or ``fp8`` [default: bf16, or fp16 where the part has no bf16].
        mfu: Model FLOPs utilisation against the dense peak of ``dtype`` [default: the entry's
            planning assumption].
        n_gpus: GPU count, if fixed.
        days: Deadline in days of wall-clock time.
        max_cost_usd: Spending limit in USD.
        price_usd_per_gpu_hour: Overrides the table's price.

    Raises:
        InputError: an unknown GPU, a precision it lacks, an MFU outside (0, 1], a non-positive
            count, deadline or price, or a spending limit with no price to apply it to.
    """
    entry = get_gpu(gpu) if isinstance(gpu, str) else gpu
    if dtype is None:
        dtype = entry.default_dtype
    dtype = dtype.lower()
    if dtype not in TRAINING_DTYPES:
        raise InputError(
            f"the precision must be one of {', '.join(TRAINING_DTYPES)}, got {dtype!r}",
            quantity="dtype",
        )
    if entry.peak_flops(dtype) is None:
        have = [d for d in TRAINING_DTYPES if entry.peak_flops(d) is not None]
        raise InputError(
            f"{entry.id} has no {dtype} peak in the GPU table; choose {' or '.join(have)}",
            quantity="dtype",
        )
    if mfu is not None:
        if isinstance(mfu, bool) or not math.isfinite(mfu) or not 0 < mfu <= 1:
            raise InputError(f"the MFU must be a fraction in (0, 1], got {mfu!r}", quantity="mfu")
        mfu_value, mfu_source = float(mfu), "given (--mfu)"
    else:
        default = entry.default_mfu(dtype)
        note = ""
        if default is None and dtype == "fp16":
            # Every part in the table runs fp16 and bf16 at the same rate, so the bf16 default
            # carries over.
            default, note = entry.default_mfu("bf16"), " (the bf16 default; same rate)"
        if default is None:
            raise InputError(
                f"{entry.id} has no planning MFU for {dtype}; give one", quantity="mfu"
            )
        mfu_value, mfu_source = default, f"planning default{note}; {entry.mfu_default_source}"
    if n_gpus is not None:
        positive_int(n_gpus, "n_gpus", "the GPU count")
    price = _positive(price_usd_per_gpu_hour, "price_per_gpu_hour", "the price per GPU-hour")
    price_source: str | None = None
    price_as_of: str | None = None
    if price is not None:
        price_source = "given"
    elif entry.price is not None:
        price = entry.price.usd_per_gpu_hour
        price_source = f"{entry.price.provider}; {entry.price.source}"
        price_as_of = entry.price.as_of.isoformat()
    limit = _positive(max_cost_usd, "max_cost_usd", "the spending limit")
    if limit is not None and price is None:
        raise InputError(
            f"a spending limit needs a price: the GPU table has none for {entry.id}; give the "
            "price per GPU-hour",
            quantity="price_per_gpu_hour",
        )
    return Hardware(
        gpu=entry,
        dtype=dtype,
        mfu=mfu_value,
        mfu_source=mfu_source,
        n_gpus=n_gpus,
        days=_positive(days, "days", "the deadline in days"),
        max_cost_usd=limit,
        price_usd_per_gpu_hour=price,
        price_source=price_source,
        price_as_of=price_as_of,
    )


@record
class Feasibility:
    """Whether the run meets the deadline and spending limit given, and by how much it misses."""

    feasible: bool
    reasons: tuple[str, ...] = ()
    days_limit: float | None = None
    fits_days: bool | None = None
    days_over: float | None = None
    gpus_required: int | None = None
    max_cost_usd: float | None = None
    fits_cost: bool | None = None
    cost_over_usd: float | None = None
    gpu_hours_affordable: float | None = None
    # With a parallel layout (dsplan.planning.layout_fit): whether one fits in memory on the GPUs,
    # and when none does, the fewest GPUs that hold one.
    fits_memory: bool | None = None
    gpus_required_memory: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        out["reasons"] = list(self.reasons)
        return out


@record
class Cost:
    """Time, cost, memory and feasibility of training ``tokens`` tokens of one shape on a GPU."""

    hardware: Hardware
    flops_per_token_hardware: int
    tokens: float
    gpu_hours: float
    n_gpus: int | None
    gpus_source: str | None
    memory: Memory
    feasibility: Feasibility
    compute_flops_available: float | None = None
    warnings: tuple[str, ...] = ()

    @property
    def training_flops_hardware(self) -> float:
        return self.flops_per_token_hardware * self.tokens

    @property
    def wall_clock_days(self) -> float | None:
        return None if self.n_gpus is None else wall_clock_days(self.gpu_hours, self.n_gpus)

    @property
    def cost_usd(self) -> float | None:
        price = self.hardware.price_usd_per_gpu_hour
        return None if price is None else self.gpu_hours * price

    def notes(self) -> list[str]:
        hw = self.hardware
        notes = [
            HARDWARE_FLOPS_NOTE,
            f"MFU {hw.mfu:g} is measured against the dense {hw.dtype} peak of {hw.gpu.id} "
            f"({hw.peak_flops_per_gpu / 1e12:g} TFLOP/s per GPU); sparse figures are never used",
        ]
        if self.n_gpus is not None:
            notes.append(SCALING_NOTE)
        return notes

    def to_dict(self) -> dict[str, Any]:
        hw = self.hardware
        gpu = hw.gpu
        out: dict[str, Any] = {
            "gpu": gpu.id,
            "gpu_name": gpu.name,
            "gpu_source": gpu.source,
            "dtype": hw.dtype,
            "peak_flops_per_gpu": hw.peak_flops_per_gpu,
            "mfu": hw.mfu,
            "mfu_source": hw.mfu_source,
            "mfu_best_published": gpu.best_published_mfu(hw.dtype),
            "mfu_best_published_source": gpu.best_published_source(hw.dtype),
            "effective_flops_per_gpu": hw.peak_flops_per_gpu * hw.mfu,
            "flops_per_token_hardware": self.flops_per_token_hardware,
            "tokens": self.tokens,
            "training_flops_hardware": self.training_flops_hardware,
            "gpu_hours": self.gpu_hours,
            "gpus": self.n_gpus,
            "gpus_source": self.gpus_source,
            "price_usd_per_gpu_hour": hw.price_usd_per_gpu_hour,
            "price_source": hw.price_source,
            "price_as_of": hw.price_as_of,
            "memory": self.memory.to_dict(),
            "feasibility": self.feasibility.to_dict(),
            "notes": self.notes(),
            "warnings": list(self.warnings),
        }
        if self.wall_clock_days is not None:
            out["wall_clock_days"] = self.wall_clock_days
        if self.cost_usd is not None:
            out["cost_usd"] = self.cost_usd
        if self.compute_flops_available is not None:
            out["compute_flops_available"] = self.compute_flops_available
        return out


def _feasibility(hours: float, hw: Hardware) -> Feasibility:
    """The deadline (on the GPUs given, if any) and spending limit of ``hw`` against ``hours``."""
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    if hw.days is not None:
        required = gpus_for_days(hours, hw.days)
        checks.update(days_limit=hw.days, gpus_required=required)
        if hw.n_gpus is not None:
            days = wall_clock_days(hours, hw.n_gpus)
            over = days - hw.days
            fits = over <= hw.days * RELATIVE_TOLERANCE
            checks.update(fits_days=fits, days_over=over)
            if not fits:
                reasons.append(
                    f"needs {days_text(days)} days on {hw.n_gpus:,} {hw.gpu.id} GPUs at MFU "
                    f"{hw.mfu:g}, {days_text(over)} days ({over / hw.days:.0%}) over the "
                    f"{hw.days:g}-day deadline; {required:,} GPUs would meet it"
                )
    if hw.max_cost_usd is not None and hw.price_usd_per_gpu_hour is not None:
        cost = hours * hw.price_usd_per_gpu_hour
        over_usd = cost - hw.max_cost_usd
        fits_cost = over_usd <= hw.max_cost_usd * RELATIVE_TOLERANCE
        affordable = hw.max_cost_usd / hw.price_usd_per_gpu_hour
        checks.update(
            max_cost_usd=hw.max_cost_usd,
            fits_cost=fits_cost,
            cost_over_usd=over_usd,
            gpu_hours_affordable=affordable,
        )
        if not fits_cost:
            reasons.append(
                f"costs ${cost:,.0f} at ${hw.price_usd_per_gpu_hour:g}/GPU-hour, ${over_usd:,.0f} "
                f"({over_usd / hw.max_cost_usd:.0%}) over the ${hw.max_cost_usd:,.0f} limit, which "
                f"buys {affordable:,.0f} of the {hours:,.0f} GPU-hours needed"
            )
    return Feasibility(feasible=not reasons, reasons=tuple(reasons), **checks)


def estimate(
    shape_counts: Counts | MoeCounts,
    tokens: float,
    hw: Hardware,
    *,
    compute_flops_available: float | None = None,
) -> Cost:
    """GPU-hours, wall-clock time, cost, memory and feasibility of training one shape.

    Args:
        shape_counts: The exact counts of the shape (``flops_per_token_hardware``, ``params_total``).
        tokens: Training tokens D.
        hw: Resolved hardware inputs (see :func:`resolve_hardware`).
        compute_flops_available: In the inverse mode, the cluster's FLOPs the plan was sized to.

    Returns:
        A frozen :class:`Cost`. With ``hw.days`` but no GPU count, the count is the fewest GPUs that
        meet the deadline.

    References:
        MFU as in Chowdhery et al. 2022 (PaLM, arXiv 2204.02311, Appendix B): model FLOPs per
        second over peak. Our model FLOPs add the output head to DeepSeek's M (arXiv 2401.02954,
        Eq. 2), which omits it.
    """
    if not (math.isfinite(tokens) and tokens > 0):
        raise InputError(f"tokens must be a positive finite number, got {tokens!r}")
    flops_per_token = shape_counts.flops_per_token_hardware
    hours = gpu_hours(flops_per_token * tokens, hw.peak_flops_per_gpu, hw.mfu)
    n_gpus, source = hw.n_gpus, "given" if hw.n_gpus is not None else None
    if n_gpus is None and hw.days is not None:
        n_gpus, source = gpus_for_days(hours, hw.days), "fewest that meet --days"
    memory = state_memory(shape_counts.params_total, hw.gpu.memory_gb, n_gpus)
    warnings: list[str] = []
    best = hw.gpu.best_published_mfu(hw.dtype)
    if best is not None and hw.mfu > best:
        warnings.append(
            f"MFU {hw.mfu:g} is above the best published {hw.dtype} MFU on {hw.gpu.id}, "
            f"{best:g} ({hw.gpu.best_published_source(hw.dtype)})"
        )
    if memory.fits_zero3 is False:
        warnings.append(
            f"the model and optimizer states ({memory.states_bytes / 1e9:,.0f} GB at "
            f"{BYTES_PER_PARAM} bytes/parameter) do not fit on {n_gpus:,} {hw.gpu.id} of "
            f"{hw.gpu.memory_gb:g} GB even fully sharded (ZeRO-3): at least "
            f"{memory.min_gpus_zero3:,} GPUs are needed, before activations"
        )
    return Cost(
        hardware=hw,
        flops_per_token_hardware=flops_per_token,
        tokens=float(tokens),
        gpu_hours=hours,
        n_gpus=n_gpus,
        gpus_source=source,
        memory=memory,
        feasibility=_feasibility(hours, hw),
        compute_flops_available=compute_flops_available,
        warnings=tuple(warnings),
    )


def plan_for_cluster(hw: Hardware, options: PlanOptions | None = None) -> tuple[Plan, Cost]:
    """The inverse mode: plan for the compute a cluster delivers in a given time.

    The cluster executes C_hw = GPUs x dense peak x MFU x time hardware FLOPs. A plan's budget C is
    M x D, which leaves out the output head, so the plan is sized to C = C_hw x M / (M + 6 V d) of
    its own shape (a fixed point, found in a few steps) and then uses the cluster's time exactly.

    Raises:
        InputError: ``hw`` lacks a GPU count or a deadline.
    """
    # Start-up laziness, not a cycle: costing a given shape (`dsplan model --gpu`) needs no planner.
    from dsplan.planning.plan import plan

    return size_to_cluster(
        hw,
        lambda c: plan(c, options),
        lambda p: (p.architecture.counts, p.training.tokens),
    )


def size_to_cluster(
    hw: Hardware,
    make: Callable[[float], P],
    used: Callable[[P], tuple[Counts | MoeCounts, float]],
) -> tuple[P, Cost]:
    """The plan ``make(C)`` whose hardware FLOPs use the cluster's time, and its cost.

    ``used`` gives a plan's counts and tokens. The fixed point of :func:`plan_for_cluster`, for
    any planner (dense or mixture-of-experts).

    Raises:
        InputError: ``hw`` lacks a GPU count or a deadline.
    """
    if hw.n_gpus is None or hw.days is None:
        raise InputError(
            "without a compute budget C, give the GPU, the GPU count and the days to derive one"
        )
    available = cluster_flops(hw.n_gpus, hw.peak_flops_per_gpu, hw.mfu, hw.days)
    compute = available
    result = make(compute)
    tried = [result]
    for _ in range(8):
        c = used(result)[0]
        target = available * c.flops_per_token / c.flops_per_token_hardware
        if abs(target - compute) <= RELATIVE_TOLERANCE * available:
            break
        compute = target
        result = make(compute)
        tried.append(result)
    else:
        # No fixed point: on small clusters the head is a large share of the work and the shape
        # search can cycle between shapes whose head differs (e.g. 8 H800s for 0.01 days). Take
        # the plan that uses most of the cluster without overrunning it, so that the tool never
        # sizes a plan that misses the deadline it was given.
        def hardware_flops(p: P) -> float:
            c, tokens = used(p)
            return c.flops_per_token_hardware * tokens

        fitting = [p for p in tried if hardware_flops(p) <= available * (1 + RELATIVE_TOLERANCE)]
        result = max(fitting, key=hardware_flops) if fitting else min(tried, key=hardware_flops)
    counts, tokens = used(result)
    cost = estimate(counts, tokens, hw, compute_flops_available=available)
    return result, cost
