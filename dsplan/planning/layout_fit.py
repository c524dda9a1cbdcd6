"""Will the plan fit its cluster: the best parallel layout on N GPUs, or the fewest GPUs that hold one.

``dsplan budget C --gpu G --gpus N`` asks :func:`fit_layout` for the layout of its plan: the layout
search (:func:`dsplan.planning.layout.search_layouts`) on the N GPUs, and, when no layout fits there,
the fewest GPUs on which one does. That count comes from the least-memory settings of every
tensor- and pipeline-parallel size (micro-batch 1, full recomputation, the highest ZeRO stage
searched, no interleaving; for an MoE model the largest expert parallelism DP allows): a dense
model's per-GPU memory only falls as data parallelism grows (ZeRO shards more, fewer micro-batches
are in flight), so the smallest data-parallel size that fits is found by bisection over the
divisors of the global batch (an MoE model's in turn); the search then confirms the count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.planning.layout import (
    DEFAULT_MAX_ZERO,
    Candidate,
    LayoutSearch,
    search_layouts,
)
from dsplan.planning.memory import DEFAULT_ALLOWANCE, Layout, run_memory
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.model.moe import MoeShape
    from dsplan.planning.cost import Cost, Hardware

# A bound on the GPU counts tried for "needs at least K GPUs" (as `dsplan layout --gpus`).
MAX_GPUS = 2**20
# Counts confirmed by a full search before giving up (each a few milliseconds).
MAX_CONFIRMATIONS = 8
# The search for the fewest GPUs stops after this many layers' worth of memory estimates (an
# estimate costs about a microsecond a layer): some 4,000 estimates of a 126-layer model, 140 of a
# 3,500-layer one, a second or two either way. Deterministic, unlike a time limit; the verdict says
# when it stopped (`budget 1e30 --gpu h800 --gpus 64` took 160 s before).
MAX_LAYER_ESTIMATES = 500_000

FITS, DOES_NOT_FIT, NEEDS_MORE = "fits", "does not fit", "needs more GPUs"


@record
class LayoutFit:
    """The layout of one plan on ``gpus`` GPUs: the best that fits, or the fewest GPUs that hold one.

    ``gpus_needed`` is the fewest GPUs on which a layout fits (None when none fits up to
    :data:`MAX_GPUS`); it is computed only when no layout fits on ``gpus``. ``exhaustive`` is False
    when that search stopped at :data:`MAX_LAYER_ESTIMATES` before it was done: ``gpus_needed`` is
    then the fewest found so far, or None.
    """

    gpus: int
    gpu: str
    gpu_memory_gb: float
    search: LayoutSearch
    gpus_needed: int | None = None
    exhaustive: bool = True

    @property
    def best(self) -> Candidate | None:
        return self.search.candidates[0] if self.search.candidates else None

    @property
    def fits(self) -> bool:
        return bool(self.search.candidates)

    @property
    def verdict(self) -> str:
        """``fits``, ``needs more GPUs`` (``gpus_needed`` more than ``gpus``) or ``does not fit``."""
        if self.fits:
            return FITS
        if self.gpus_needed is not None and self.gpus_needed > self.gpus:
            return NEEDS_MORE
        return DOES_NOT_FIT

    def reason(self) -> str | None:
        """Why the plan is infeasible on its GPUs, in one clause (None when a layout fits)."""
        if self.fits:
            return None
        where = f"{self.gpus:,} {self.gpu} GPUs of {self.gpu_memory_gb:g} GB"
        stopped = (
            f"the search for the fewest GPUs stopped after {MAX_LAYER_ESTIMATES:,} layers' worth "
            "of memory estimates"
        )
        if self.gpus_needed is None:
            if not self.exhaustive:
                return f"no parallel layout fits in memory on {where}; {stopped}, finding none"
            return (
                f"no parallel layout fits in memory on {where}, nor on any count up to {MAX_GPUS:,}"
            )
        if self.gpus_needed > self.gpus:
            if not self.exhaustive:
                return (
                    f"no parallel layout fits in memory on {where}: one fits on "
                    f"{self.gpus_needed:,} GPUs ({stopped}: fewer may do)"
                )
            return (
                f"no parallel layout fits in memory on {where}: needs at least "
                f"{self.gpus_needed:,} GPUs"
            )
        return (
            f"no parallel layout of {where}: the global batch ({self.search.global_batch:,} "
            f"sequences), the heads and the layers do not split over them; "
            f"{_gpus(self.gpus_needed)} {'holds' if self.gpus_needed == 1 else 'hold'} one"
        )

    def to_dict(self) -> dict[str, Any]:
        s = self.search
        best = self.best
        return {
            "verdict": self.verdict,
            "fits": self.fits,
            "gpus": self.gpus,
            "gpus_needed": self.gpus_needed,
            "gpus_needed_exhaustive": self.exhaustive,
            "global_batch_sequences": s.global_batch,
            "node_size": s.node_size,
            "allowance": s.allowance,
            "max_zero": s.max_zero,
            "examined": s.examined,
            "best": None if best is None else best.to_dict(),
            "note": s.to_dict()["note"],
        }


def _gpus(n: int) -> str:
    return f"{n:,} GPU" + ("" if n == 1 else "s")


def fit_layout(
    shape: Shape | MoeShape,
    hardware: Hardware,
    *,
    n_gpus: int,
    global_batch: int,
    node_size: int | None = None,
    allowance: float = DEFAULT_ALLOWANCE,
    max_zero: int = DEFAULT_MAX_ZERO,
    best_only: bool = False,
) -> LayoutFit:
    """The best layout of ``shape`` on ``n_gpus`` GPUs of ``hardware``, or the fewest GPUs needed.

    Args:
        shape: The model; its ``seq_len`` is the training sequence length.
        hardware: The GPU, precision and MFU.
        n_gpus: The cluster's GPU count.
        global_batch: Sequences per optimizer step.
        node_size: GPUs per node, the largest tensor-parallel size (default: the GPU table's,
            else 8).
        allowance: Fraction of each GPU's memory set aside (``run_memory``).
        max_zero: The highest ZeRO stage searched.
        best_only: Find the best layout alone (``search_layouts``' bounded search), not all that fit.
    """
    search = search_layouts(
        shape,
        hardware,
        n_gpus=n_gpus,
        global_batch=global_batch,
        node_size=node_size,
        allowance=allowance,
        max_zero=max_zero,
        best_only=best_only,
    )
    gpu = hardware.gpu
    fit = LayoutFit(n_gpus, gpu.id, gpu.memory_gb, search)
    if search.candidates:
        return fit
    node = search.node_size
    counts, exhaustive = _fewest_counts(
        shape, gpu.memory_gb, global_batch, node, allowance, max_zero
    )
    fit = replace(fit, exhaustive=exhaustive)
    for count in counts:
        if count == n_gpus:
            continue
        confirm = search_layouts(
            shape,
            hardware,
            n_gpus=count,
            global_batch=global_batch,
            node_size=node_size,
            allowance=allowance,
            max_zero=max_zero,
            best_only=True,
        )
        if confirm.candidates:
            return replace(fit, gpus_needed=count)
    return fit


def _divisors(n: int) -> list[int]:
    small = [k for k in range(1, int(n**0.5) + 1) if n % k == 0]
    return sorted({d for k in small for d in (k, n // k)})


def _fewest_counts(
    shape: Shape | MoeShape,
    gpu_memory_gb: float,
    global_batch: int,
    node_size: int,
    allowance: float,
    max_zero: int,
) -> tuple[list[int], bool]:
    """Candidate GPU counts, fewest first: for each TP x PP, times the smallest DP that fits with
    the least-memory settings. At most :data:`MAX_CONFIRMATIONS` of them, and whether the search
    ran to its end (False: it stopped at :data:`MAX_LAYER_ESTIMATES`)."""
    dps = _divisors(global_batch)
    experts = getattr(shape, "n_experts", 0)
    expert_sizes = _divisors(experts) if experts else [1]
    estimates_left = MAX_LAYER_ESTIMATES // shape.n_layers

    def fits(tp: int, pp: int, dp: int) -> bool:
        nonlocal estimates_left
        if estimates_left <= 0:
            raise _Stopped
        estimates_left -= 1
        # An MoE model's routed experts spread over the largest EP that divides both the experts
        # and DP: the least memory for this TP x PP x DP.
        ep = max(e for e in expert_sizes if dp % e == 0)
        lay = Layout(
            tp=tp,
            pp=pp,
            dp=dp,
            zero=max_zero,
            micro_batch=1,
            recompute="full",
            sequence_parallel=tp > 1,
            ep=ep,
        )
        try:
            mem = run_memory(
                shape,
                lay,
                gpu_memory_gb=gpu_memory_gb,
                global_batch=global_batch,
                allowance=allowance,
            )
        except InputError:
            return False
        return mem.fits

    counts: set[int] = set()
    try:
        _scan(shape, dps, node_size, experts, fits, counts)
    except _Stopped:
        return sorted(counts)[:MAX_CONFIRMATIONS], False
    return sorted(counts)[:MAX_CONFIRMATIONS], True


class _Stopped(Exception):
    """The search for the fewest GPUs used up its estimates."""


def _scan(
    shape: Shape | MoeShape,
    dps: list[int],
    node_size: int,
    experts: int,
    fits: Callable[[int, int, int], bool],
    counts: set[int],
) -> None:
    """Add to ``counts``, for each TP x PP, TP x PP x the smallest DP that fits."""
    tp = 1
    while tp <= node_size:
        if shape.n_heads % tp == 0 and shape.n_kv_heads % tp == 0:
            for pp in range(1, shape.n_layers + 1):
                if tp * pp > MAX_GPUS:
                    break
                best = min(counts, default=MAX_GPUS + 1)
                # Only counts below the fewest found so far can be the fewest.
                under = [dp for dp in dps if tp * pp * dp < best]
                if not under:
                    break  # more stages only add GPUs
                smallest = _smallest_dp(under, partial(fits, tp, pp), experts)
                if smallest is None:
                    continue
                if tp * pp * smallest <= MAX_GPUS:
                    counts.add(tp * pp * smallest)
                if smallest == 1:
                    break  # more stages only add GPUs
        tp *= 2


def _smallest_dp(dps: list[int], fits: Callable[[int], bool], experts: int) -> int | None:
    """The smallest DP of ``dps`` (ascending) that fits. A dense model's memory only falls as DP
    grows, so it is found by bisection; an MoE model's expert parallelism follows DP's divisors, so
    its DPs are tried in turn."""
    if experts:
        return next((dp for dp in dps if fits(dp)), None)
    if not fits(dps[-1]):
        return None
    lo, hi = 0, len(dps) - 1  # dps[hi] fits; find the first that does
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(dps[mid]):
            hi = mid
        else:
            lo = mid + 1
    return dps[lo]


def with_layout(cost: Cost, fit: LayoutFit) -> Cost:
    """``cost`` with its feasibility corrected by the layout: infeasible when none fits in memory."""
    feas = cost.feasibility
    reason = fit.reason()
    reasons = feas.reasons if reason is None else (*feas.reasons, reason)
    return replace(
        cost,
        feasibility=replace(
            feas,
            feasible=feas.feasible and fit.fits,
            reasons=reasons,
            fits_memory=fit.fits,
            gpus_required_memory=fit.gpus_needed,
        ),
    )
