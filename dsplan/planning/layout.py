"""The layout search: which tensor/context/pipeline/data-parallel layouts of a model fit a cluster.

Enumerates TP (powers of two up to the node size, dividing the heads and KV heads), CP (powers of
two that leave every rank at least :data:`CP_MIN_TOKENS` of each sequence), PP (any stage count up
to the layers, split by :func:`dsplan.planning.memory.stage_layers`), DP (the rest, which must
divide the global batch), EP for a mixture-of-experts model (:func:`expert_parallel_sizes`), the
micro-batch, interleaved virtual stages, the ZeRO stage and the recomputation; keeps what fits (:func:`dsplan.planning.memory.run_memory`) and ranks it by an
estimated step time: compute at the MFU, recomputation, the exposed communication
(:mod:`dsplan.planning.communication`) and the pipeline bubble (docs/memory.md, "The layout search").
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from dsplan.errors import InputError
from dsplan.model.flops import counts
from dsplan.planning.communication import (
    OVERLAP_NOTE,
    Links,
    StepCommunication,
    links_of,
    repeated_seconds,
    step_communication,
)
from dsplan.planning.memory import DEFAULT_ALLOWANCE, Layout, RunMemory, run_memory
from dsplan.records import record
from dsplan.units import positive_int

if TYPE_CHECKING:
    from dsplan.model.flops import Counts, Shape
    from dsplan.model.moe import MoeCounts, MoeShape
    from dsplan.planning.cost import Hardware

# GPUs per node, the ceiling of tensor parallelism (NVLink domain of an HGX/DGX board), when the GPU
# table states none.
DEFAULT_NODE_SIZE = 8
MICRO_BATCHES = (1, 2, 4, 8)
# Context parallelism is searched in powers of two that leave every rank at least this many tokens
# of each sequence (and split it into 2 cp equal chunks, as Megatron-LM's causal load balancing
# does): Llama 3 405B ran CP 16 on 131,072-token sequences, 8,192 tokens a rank.
CP_MIN_TOKENS = 8192
VIRTUAL_STAGES = (1, 2, 4)
# Tried in this order; the first that fits is kept: less sharding, less recomputation first.
# ZeRO-3 gathers the weights again for every micro-batch; it is searched only when asked for
# (``max_zero=3``).
ZERO_ORDER = (1, 2, 3)
DEFAULT_MAX_ZERO = 2
RECOMPUTE_ORDER = ("none", "full")
SEARCH_NOTE = (
    "step time = compute at the MFU + full recomputation (one more forward pass of the layers) + "
    "exposed communication + pipeline bubble (the per-micro-batch part x (p - 1) / (v m)); "
    + OVERLAP_NOTE
    + "; ZeRO-3 is searched only when asked for; sequence parallelism with TP, flash attention, 1F1B"
)


@record
class Candidate:
    """A layout that fits, with its memory and its estimated step time in seconds: compute,
    recomputation, the exposed communication and the bubble."""

    memory: RunMemory
    compute_seconds: float
    recompute_seconds: float
    bubble_seconds: float
    communication: StepCommunication | None = None

    @property
    def communication_seconds(self) -> float:
        """The communication the step waits for (none when it was not priced)."""
        return self.communication.exposed if self.communication is not None else 0.0

    @property
    def step_seconds(self) -> float:
        return (
            self.compute_seconds
            + self.recompute_seconds
            + self.communication_seconds
            + self.bubble_seconds
        )

    def to_dict(self) -> dict[str, Any]:
        mem = self.memory
        peak = mem.peak
        return {
            "layout": {**mem.layout.to_dict(), "stage_layers": [s.layers for s in mem.stages]},
            "micro_batches": mem.micro_batches,
            "bubble": mem.bubble,
            "step_seconds": self.step_seconds,
            "compute_seconds": self.compute_seconds,
            "recompute_seconds": self.recompute_seconds,
            "bubble_seconds": self.bubble_seconds,
            "communication_seconds": self.communication_seconds,
            "communication": (
                self.communication.to_dict() if self.communication is not None else None
            ),
            "memory": {
                "peak_stage": peak.stage,
                "weights_bytes": peak.weights,
                "gradients_bytes": peak.gradients,
                "optimizer_bytes": peak.optimizer,
                "activations_bytes": peak.activations,
                "output_head_bytes": peak.output_head,
                "allowance_bytes": mem.allowance_bytes,
                "required_bytes": mem.required_bytes,
                "gpu_memory_bytes": mem.gpu_memory_bytes,
                **({"expert_params": peak.expert_params} if mem.moe else {}),
            },
        }


@record
class LayoutSearch:
    """Every layout of ``shape`` on ``n_gpus`` that fits, best first."""

    shape: Shape | MoeShape
    gpu: str
    dtype: str
    mfu: float
    n_gpus: int
    global_batch: int
    node_size: int
    allowance: float
    max_zero: int
    examined: int
    candidates: tuple[Candidate, ...]
    links: Links | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": self.shape.to_dict(),
            "gpu": self.gpu,
            "dtype": self.dtype,
            "mfu": self.mfu,
            "gpus": self.n_gpus,
            "seq_len": self.shape.seq_len,
            "global_batch_sequences": self.global_batch,
            "global_batch_tokens": self.global_batch * self.shape.seq_len,
            "node_size": self.node_size,
            "links": self.links.to_dict() if self.links is not None else None,
            "allowance": self.allowance,
            "max_zero": self.max_zero,
            "examined": self.examined,
            "fitting": len(self.candidates),
            "note": SEARCH_NOTE,
            "layouts": [c.to_dict() for c in self.candidates],
        }


def _divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def expert_parallel_sizes(shape: Shape | MoeShape, ranks: int) -> list[int]:
    """The expert-parallel sizes searched for ``ranks`` = DP x CP GPUs holding the same dense
    weights: 1 for a dense model; for a mixture-of-experts model every divisor of its routed experts
    that divides ``ranks`` (Megatron-LM carves EP out of DP x CP)."""
    experts = getattr(shape, "n_experts", 0)
    if not experts:
        return [1]
    return [e for e in _divisors(experts, ranks) if ranks % e == 0]


def _counts(shape: Shape | MoeShape) -> Counts | MoeCounts:
    if not getattr(shape, "n_experts", 0):
        # Only a mixture-of-experts model imports its module (start-up of `budget --gpus`).
        return counts(cast("Shape", shape))
    from dsplan.model.moe import moe_counts

    return moe_counts(cast("MoeShape", shape))


def context_parallel_sizes(seq_len: int, n_gpus: int) -> list[int]:
    """The context-parallel sizes searched: 1, and the powers of two that split ``seq_len`` into
    2 cp equal chunks of at least :data:`CP_MIN_TOKENS` / 2 tokens and divide the GPUs."""
    out = [1]
    cp = 2
    while seq_len % (2 * cp) == 0 and seq_len // cp >= CP_MIN_TOKENS and n_gpus % cp == 0:
        out.append(cp)
        cp *= 2
    return out


def search_layouts(
    shape: Shape | MoeShape,
    hardware: Hardware,
    *,
    n_gpus: int,
    global_batch: int,
    node_size: int | None = None,
    allowance: float = DEFAULT_ALLOWANCE,
    max_zero: int = DEFAULT_MAX_ZERO,
    links: Links | None = None,
    best_only: bool = False,
) -> LayoutSearch:
    """Search the layouts of ``shape`` on ``n_gpus`` GPUs of ``hardware`` that fit, best first.

    Args:
        shape: The model; its ``seq_len`` is the training sequence length.
        hardware: The GPU, precision and MFU (``dsplan.planning.cost.resolve_hardware``).
        n_gpus: The cluster's GPU count.
        global_batch: Sequences per optimizer step.
        node_size: GPUs per node, the largest tensor-parallel size (default: the GPU table's,
            else 8).
        allowance: Fraction of each GPU's memory set aside (see ``run_memory``).
        max_zero: The highest ZeRO stage to search (1, 2 or 3).
        links: The node size and bandwidths (default: ``links_of(hardware.gpu)``); ``node_size``
            overrides its node size.
        best_only: Find only the best layout (the one a full search ranks first): layouts are
            visited by a lower bound of their step time, compute x (1 + bubble), and the search
            stops once that bound exceeds the best step time found. ``candidates`` then holds the
            best alone and ``examined`` counts the memory estimates made.

    Returns:
        A :class:`LayoutSearch`. For each TP x CP x PP x DP, micro-batch and interleaving it keeps
        the lowest ZeRO stage (1, 2, 3) and the least recomputation (none, full) that fit, priced
        with its communication.
    """
    positive_int(n_gpus, "n_gpus", "the GPU count")
    positive_int(global_batch, "global_batch", "the global batch")
    if node_size is not None:
        positive_int(node_size, "node_size", "the node size")
    if max_zero not in ZERO_ORDER:
        raise InputError(
            f"the highest ZeRO stage must be 1, 2 or 3, got {max_zero!r}", quantity="max_zero"
        )
    zeros = tuple(z for z in ZERO_ORDER if z <= max_zero)
    if isinstance(allowance, bool) or not 0 <= allowance < 1:
        raise InputError(
            f"the allowance must be in [0, 1), got {allowance!r}", quantity="allowance"
        )
    if links is None:
        links = links_of(hardware.gpu, node_size=node_size)
    elif node_size is not None:
        links = Links(
            node_size, links.intra_node_gb_per_s, links.inter_node_gb_per_s, links.assumed
        )
    node = links.node_size
    compute, recompute_full = _step_compute(shape, hardware, n_gpus, global_batch)
    gpu_gb = hardware.gpu.memory_gb
    bases: list[tuple[float, Layout]] = []
    cps = context_parallel_sizes(shape.seq_len, n_gpus)
    tp = 1
    while tp <= node:
        if n_gpus % tp or shape.n_heads % tp or shape.n_kv_heads % tp:
            tp *= 2
            continue
        for cp in cps:
            if (n_gpus // tp) % cp:
                continue
            for pp in _divisors(n_gpus // (tp * cp), shape.n_layers):
                dp = n_gpus // (tp * cp * pp)
                if global_batch % dp:
                    continue
                for mb in MICRO_BATCHES:
                    if (global_batch // dp) % mb:
                        continue
                    m = global_batch // (dp * mb)
                    for v in VIRTUAL_STAGES:
                        if v > 1 and (pp == 1 or m % pp):
                            continue
                        for ep in expert_parallel_sizes(shape, dp * cp):
                            lay = Layout(
                                tp=tp,
                                pp=pp,
                                cp=cp,
                                dp=dp,
                                ep=ep,
                                micro_batch=mb,
                                sequence_parallel=tp > 1,
                                virtual_stages=v,
                            )
                            bound = _step_floor(shape, lay, m, compute, links) if best_only else 0.0
                            bases.append((bound, lay))
        tp *= 2
    if best_only:
        # Measured (bench/startup.py, budget-gpu): 1e24 on 2,048 H800 makes 296 memory estimates
        # in a full search and a few dozen here; the full search doubled `budget --gpus`' start-up.
        bases.sort(key=lambda pair: pair[0])
    candidates: list[Candidate] = []
    examined = 0
    for bound, lay in bases:
        if best_only and candidates and bound > candidates[0].step_seconds:
            break
        mem, tried = _first_fit(shape, lay, zeros, gpu_gb, global_batch, allowance)
        examined += tried
        if mem is None:
            continue
        found = _price(shape, mem, links, compute, recompute_full)
        if not best_only:
            candidates.append(found)
        elif not candidates or _rank(found) < _rank(candidates[0]):
            candidates = [found]
    candidates.sort(key=_rank)
    return LayoutSearch(
        shape,
        hardware.gpu.id,
        hardware.dtype,
        hardware.mfu,
        n_gpus,
        global_batch,
        node,
        allowance,
        max_zero,
        examined,
        tuple(candidates),
        links,
    )


def _step_compute(
    shape: Shape | MoeShape, hardware: Hardware, n_gpus: int, global_batch: int
) -> tuple[float, float]:
    """Seconds per step of the compute at the MFU and of a full recomputation's extra forward."""
    c = _counts(shape)
    cluster = n_gpus * hardware.peak_flops_per_gpu * hardware.mfu
    tokens = global_batch * shape.seq_len
    return c.flops_per_token_hardware * tokens / cluster, c.flops_per_token / 3 * tokens / cluster


def _step_floor(
    shape: Shape | MoeShape, lay: Layout, micro_batches: int, compute: float, links: Links
) -> float:
    """No step of ``lay`` is shorter: compute and the repeated traffic without recomputation, on a
    stage of the fewest layers one can hold, stretched by the bubble; data-parallel traffic and
    recomputation (which need the memory estimate) counted as nothing."""
    layers = -(-shape.n_layers // lay.pp)
    repeated = repeated_seconds(
        shape, lay, seq_len=shape.seq_len, micro_batches=micro_batches, layers=layers, links=links
    )
    return (compute + sum(repeated)) * (1 + (lay.pp - 1) / (lay.virtual_stages * micro_batches))


def _price(
    shape: Shape | MoeShape, mem: RunMemory, links: Links, compute: float, recompute_full: float
) -> Candidate:
    rec = recompute_full if mem.layout.recompute == "full" else 0.0
    comm = step_communication(shape, mem, links, compute_seconds=compute, recompute_seconds=rec)
    bubble = (compute + rec + comm.per_micro_batch) * mem.bubble
    return Candidate(mem, compute, rec, bubble, comm)


def price_layout(
    shape: Shape | MoeShape,
    hardware: Hardware,
    layout: Layout,
    *,
    global_batch: int,
    allowance: float = DEFAULT_ALLOWANCE,
    links: Links | None = None,
) -> Candidate:
    """The memory and estimated step time of one given ``layout``, whether it fits or not.

    The same estimate as :func:`search_layouts` (``candidate.memory.fits`` says whether it fits);
    ``links`` default to the GPU table's (:func:`dsplan.planning.communication.links_of`).
    """
    mem = run_memory(
        shape,
        layout,
        gpu_memory_gb=hardware.gpu.memory_gb,
        global_batch=global_batch,
        allowance=allowance,
    )
    compute, recompute_full = _step_compute(shape, hardware, layout.n_gpus, global_batch)
    return _price(shape, mem, links or links_of(hardware.gpu), compute, recompute_full)


def _first_fit(
    shape: Shape | MoeShape,
    base: Layout,
    zeros: tuple[int, ...],
    gpu_gb: float,
    global_batch: int,
    allowance: float,
) -> tuple[RunMemory | None, int]:
    tried = 0
    for recompute in RECOMPUTE_ORDER:
        for zero in zeros:
            lay = replace(base, zero=zero, recompute=recompute)
            tried += 1
            try:
                mem = run_memory(
                    shape, lay, gpu_memory_gb=gpu_gb, global_batch=global_batch, allowance=allowance
                )
            except InputError:
                # An interleaving the stage split does not allow: not a layout.
                return None, tried
            if mem.fits:
                return mem, tried
    return None, tried


def _rank(c: Candidate) -> tuple[Any, ...]:
    lay = c.memory.layout
    return (
        c.step_seconds,
        lay.tp,
        lay.cp,
        lay.ep,
        lay.zero,
        lay.pp,
        lay.virtual_stages,
        -lay.micro_batch,
        c.memory.required_bytes,
    )
