"""The layout search: which tensor/pipeline/data-parallel layouts of a model fit a cluster, ranked.

Enumerates TP (powers of two up to the node size, dividing the heads and KV heads), PP (any stage
count up to the layers, split by :func:`dsplan.planning.memory.stage_layers`), DP (the rest, which
must divide the global batch), EP for a mixture-of-experts model (:func:`expert_parallel_sizes`),
the micro-batch, interleaved virtual stages, the ZeRO stage and the recomputation; keeps what fits (:func:`dsplan.planning.memory.run_memory`) and ranks it by an
estimated step time: compute at the MFU, recomputation included, stretched by the pipeline bubble.
Communication is not modelled yet (docs/memory.md, "The layout search").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.model.flops import counts
from dsplan.planning.memory import DEFAULT_ALLOWANCE, Layout, RunMemory, run_memory
from dsplan.records import record
from dsplan.units import positive_int

if TYPE_CHECKING:
    from dsplan.model.flops import Counts, Shape
    from dsplan.model.moe import MoeCounts, MoeShape
    from dsplan.planning.cost import Hardware

# GPUs per node, the ceiling of tensor parallelism (NVLink domain of an HGX/DGX board).
DEFAULT_NODE_SIZE = 8
MICRO_BATCHES = (1, 2, 4, 8)
VIRTUAL_STAGES = (1, 2, 4)
# Tried in this order; the first that fits is kept: less sharding, less recomputation first.
# ZeRO-3 gathers the weights again for every micro-batch, traffic this estimate cannot price:
# it is searched only when asked for (``max_zero=3``).
ZERO_ORDER = (1, 2, 3)
DEFAULT_MAX_ZERO = 2
RECOMPUTE_ORDER = ("none", "full")
SEARCH_NOTE = (
    "step time = compute at the MFU (a full recomputation adds one forward pass of the layers) "
    "x (1 + pipeline bubble); communication is not modelled, so ties go to less tensor "
    "parallelism, a lower ZeRO stage and fewer stages, and ZeRO-3 is searched only when asked "
    "for; sequence parallelism with TP, flash attention, 1F1B"
)


@record
class Candidate:
    """A layout that fits, with its memory and its estimated step time in seconds."""

    memory: RunMemory
    compute_seconds: float
    recompute_seconds: float
    bubble_seconds: float

    @property
    def step_seconds(self) -> float:
        return self.compute_seconds + self.recompute_seconds + self.bubble_seconds

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
    from dsplan.model.moe import MoeShape

    if not isinstance(shape, MoeShape):
        return [1]
    return [e for e in _divisors(shape.n_experts, ranks) if ranks % e == 0]


def _counts(shape: Shape | MoeShape) -> Counts | MoeCounts:
    from dsplan.model.moe import MoeShape, moe_counts

    return moe_counts(shape) if isinstance(shape, MoeShape) else counts(shape)


def search_layouts(
    shape: Shape | MoeShape,
    hardware: Hardware,
    *,
    n_gpus: int,
    global_batch: int,
    node_size: int = DEFAULT_NODE_SIZE,
    allowance: float = DEFAULT_ALLOWANCE,
    max_zero: int = DEFAULT_MAX_ZERO,
) -> LayoutSearch:
    """Search the layouts of ``shape`` on ``n_gpus`` GPUs of ``hardware`` that fit, best first.

    Args:
        shape: The model; its ``seq_len`` is the training sequence length.
        hardware: The GPU, precision and MFU (``dsplan.planning.cost.resolve_hardware``).
        n_gpus: The cluster's GPU count.
        global_batch: Sequences per optimizer step.
        node_size: GPUs per node, the largest tensor-parallel size.
        allowance: Fraction of each GPU's memory set aside (see ``run_memory``).
        max_zero: The highest ZeRO stage to search (1, 2 or 3).

    Returns:
        A :class:`LayoutSearch`. For each TP x PP x DP, micro-batch and interleaving it keeps the
        lowest ZeRO stage (1, 2, 3) and the least recomputation (none, full) that fit.
    """
    positive_int(n_gpus, "n_gpus", "the GPU count")
    positive_int(global_batch, "global_batch", "the global batch")
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
    peak = hardware.peak_flops_per_gpu
    c = _counts(shape)
    tokens = global_batch * shape.seq_len
    cluster = n_gpus * peak * hardware.mfu
    compute = c.flops_per_token_hardware * tokens / cluster
    recompute_full = c.flops_per_token / 3 * tokens / cluster
    gpu_gb = hardware.gpu.memory_gb
    candidates: list[Candidate] = []
    examined = 0
    tp = 1
    while tp <= node_size:
        if n_gpus % tp or shape.n_heads % tp or shape.n_kv_heads % tp:
            tp *= 2
            continue
        for pp in _divisors(n_gpus // tp, shape.n_layers):
            dp = n_gpus // (tp * pp)
            if global_batch % dp:
                continue
            for mb in MICRO_BATCHES:
                if (global_batch // dp) % mb:
                    continue
                m = global_batch // (dp * mb)
                for v in VIRTUAL_STAGES:
                    if v > 1 and (pp == 1 or m % pp):
                        continue
                    for ep in expert_parallel_sizes(shape, dp):
                        found = _first_fit(
                            shape, tp, pp, dp, ep, mb, v, zeros, gpu_gb, global_batch, allowance
                        )
                        examined += found[1]
                        mem = found[0]
                        if mem is None:
                            continue
                        rec = recompute_full if mem.layout.recompute == "full" else 0.0
                        bubble = (compute + rec) * mem.bubble
                        candidates.append(Candidate(mem, compute, rec, bubble))
        tp *= 2
    candidates.sort(key=_rank)
    return LayoutSearch(
        shape,
        hardware.gpu.id,
        hardware.dtype,
        hardware.mfu,
        n_gpus,
        global_batch,
        node_size,
        allowance,
        max_zero,
        examined,
        tuple(candidates),
    )


def _first_fit(
    shape: Shape | MoeShape,
    tp: int,
    pp: int,
    dp: int,
    ep: int,
    mb: int,
    v: int,
    zeros: tuple[int, ...],
    gpu_gb: float,
    global_batch: int,
    allowance: float,
) -> tuple[RunMemory | None, int]:
    tried = 0
    for recompute in RECOMPUTE_ORDER:
        for zero in zeros:
            lay = Layout(
                tp=tp,
                pp=pp,
                dp=dp,
                ep=ep,
                zero=zero,
                micro_batch=mb,
                recompute=recompute,
                sequence_parallel=tp > 1,
                virtual_stages=v,
            )
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
        lay.ep,
        lay.zero,
        lay.pp,
        lay.virtual_stages,
        -lay.micro_batch,
        c.memory.required_bytes,
    )
