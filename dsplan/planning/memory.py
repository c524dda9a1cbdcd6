"""Memory of a training run on its GPUs: model and optimizer states, sharded by ZeRO.

Conventions (documented in docs/hardware.md): model and optimizer states take 16 bytes per
parameter (mixed-precision Adam): bf16 weights 2, bf16 gradients 2, fp32 master weights 4, Adam
first and second moments 4 + 4. ZeRO-3 shards all 16 over the GPUs; ZeRO-1 shards the 12 bytes of
optimizer state and keeps weights and gradients replicated. With a parallel layout, the states are
sharded by TP x PP (a mixture-of-experts model's routed experts by EP too) and then by the ZeRO
stage across DP x CP (routed experts: DP x CP / EP); activations per layer
(:mod:`dsplan.planning.activations`, :mod:`dsplan.planning.layer_memory`) follow Korthikanti et al.
2022 (arXiv 2205.05198), re-derived tensor by tensor for dsplan's block, MoE layers and MLA;
pipeline stages hold their 1F1B micro-batches in flight; a stated allowance covers buffers and
fragmentation. The derivation is docs/memory.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from dsplan.errors import InputError
from dsplan.planning.activations import ActivationBlock, LayerActivations
from dsplan.planning.layer_memory import (
    ModelMemory,
    chunk_bytes,
    dense_model_memory,
    moe_model_memory,
    stage_chunks,
)
from dsplan.records import record
from dsplan.units import positive_int

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.model.moe import MoeShape

# Mixed-precision Adam, per parameter (Rajbhandari et al. 2020, ZeRO, Section 3.1: 2 + 2 + 12 bytes).
STATE_BYTES_PER_PARAM = (
    ("weights_bf16", 2),
    ("gradients_bf16", 2),
    ("master_weights_fp32", 4),
    ("adam_m_fp32", 4),
    ("adam_v_fp32", 4),
)
BYTES_PER_PARAM = sum(b for _, b in STATE_BYTES_PER_PARAM)
# ZeRO-1 keeps weights and gradients replicated on every GPU and shards the rest.
ZERO1_REPLICATED_BYTES_PER_PARAM = 4

MEMORY_NOTE = (
    f"states only: {BYTES_PER_PARAM} bytes per parameter (bf16 weights 2, bf16 gradients 2, fp32 "
    "master weights 4, Adam m 4, Adam v 4); ZeRO-1 shards the 12 bytes of optimizer state, ZeRO-3 "
    "all 16; activations, buffers and fragmentation excluded; tensor or pipeline parallelism would "
    "also shard weights and gradients"
)


@record
class Memory:
    """Model and optimizer states against GPU memory, under ZeRO-1 and ZeRO-3 sharding."""

    params: int
    gpu_memory_bytes: float
    n_gpus: int | None
    min_gpus_zero3: int
    min_gpus_zero1: int | None

    @property
    def states_bytes(self) -> float:
        return float(self.params * BYTES_PER_PARAM)

    def zero1_bytes_per_gpu(self, n_gpus: int) -> float:
        sharded = BYTES_PER_PARAM - ZERO1_REPLICATED_BYTES_PER_PARAM
        return float(self.params * (ZERO1_REPLICATED_BYTES_PER_PARAM + sharded / n_gpus))

    def zero3_bytes_per_gpu(self, n_gpus: int) -> float:
        return self.states_bytes / n_gpus

    @property
    def fits_zero3(self) -> bool | None:
        return None if self.n_gpus is None else self.n_gpus >= self.min_gpus_zero3

    @property
    def fits_zero1(self) -> bool | None:
        if self.n_gpus is None:
            return None
        return self.min_gpus_zero1 is not None and self.n_gpus >= self.min_gpus_zero1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "params": self.params,
            "bytes_per_param": BYTES_PER_PARAM,
            "bytes_per_param_breakdown": dict(STATE_BYTES_PER_PARAM),
            "states_bytes": self.states_bytes,
            "gpu_memory_bytes": self.gpu_memory_bytes,
            "min_gpus_zero1": self.min_gpus_zero1,
            "min_gpus_zero3": self.min_gpus_zero3,
            "note": MEMORY_NOTE,
        }
        if self.n_gpus is not None:
            out.update(
                {
                    "gpus": self.n_gpus,
                    "zero1_bytes_per_gpu": self.zero1_bytes_per_gpu(self.n_gpus),
                    "zero3_bytes_per_gpu": self.zero3_bytes_per_gpu(self.n_gpus),
                    "fits_zero1": self.fits_zero1,
                    "fits_zero3": self.fits_zero3,
                }
            )
        return out


def state_memory(params: int, gpu_memory_gb: float, n_gpus: int | None = None) -> Memory:
    """How the 16 bytes per parameter of model and optimizer state fit on GPUs.

    Args:
        params: Parameters, embeddings included.
        gpu_memory_gb: Memory of one GPU in GB (1e9 bytes).
        n_gpus: GPU count to check, if known.

    Returns:
        A :class:`Memory` with the smallest GPU counts that hold the states under ZeRO-3 (all
        16 bytes sharded) and ZeRO-1 (12 bytes sharded, 4 replicated; None when the replicated
        part alone overflows one GPU).

    References:
        Rajbhandari et al. 2020 (ZeRO, arXiv 1910.02054), Section 5: stages 1 and 3. DeepSeek LLM
        trains with ZeRO-1 (arXiv 2401.02954, Section 2.4).
    """
    capacity = gpu_memory_gb * 1e9
    states = params * BYTES_PER_PARAM
    min_zero3 = max(1, math.ceil(states / capacity))
    replicated = params * ZERO1_REPLICATED_BYTES_PER_PARAM
    sharded = params * (BYTES_PER_PARAM - ZERO1_REPLICATED_BYTES_PER_PARAM)
    min_zero1 = (
        max(1, math.ceil(sharded / (capacity - replicated))) if replicated < capacity else None
    )
    return Memory(params, capacity, n_gpus, min_zero3, min_zero1)


# ---------------------------------------------------------------------------------------------
# The memory of a training run on a parallel layout (docs/memory.md has the derivation).
# Everything above this line is the states floor of `budget --gpu`; it keeps its API and outputs.

ZERO_STAGES = (0, 1, 2, 3)
# Bytes per parameter of (weights, gradients, optimizer states): bf16, bf16, fp32 master + Adam m, v.
WEIGHT_BYTES, GRADIENT_BYTES, OPTIMIZER_BYTES = 2, 2, 12
# Set aside from every GPU's memory for the CUDA context, communication buffers, the transient
# workspace of a layer's backward pass and allocator fragmentation. An assumption, not a measurement.
DEFAULT_ALLOWANCE = 0.05


@record
class Layout:
    """A parallel layout: tensor (``tp``), pipeline (``pp``, ``virtual_stages`` interleaved chunks
    per GPU), context (``cp``) and data (``dp``) parallel sizes, the ZeRO stage across data
    parallelism, the micro-batch in sequences, the recomputation, sequence parallelism and flash
    attention. ``stage_layers`` gives an uneven pipeline split (layers per stage, first to last);
    empty means :func:`stage_layers`'s split.

    The GPUs are ``tp * pp * cp * dp``. Expert parallelism (``ep``, mixture-of-experts models only)
    takes no GPUs of its own: as in Megatron-LM, the routed experts of a layer are spread over
    ``ep`` ranks carved out of the ``dp * cp`` ranks that hold the same dense weights (each expert
    split ``tp`` ways like the dense layers), so ``ep`` divides ``dp * cp`` and the routed experts
    are replicated ``dp * cp / ep`` times (the expert data-parallel size)."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    zero: int = 1
    micro_batch: int = 1
    recompute: str = "none"
    sequence_parallel: bool = True
    flash_attention: bool = True
    virtual_stages: int = 1
    stage_layers: tuple[int, ...] = ()
    cp: int = 1
    ep: int = 1

    @property
    def n_gpus(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def expert_dp(self) -> int:
        """Copies of each routed expert: the ``dp * cp`` ranks of a dense weight over ``ep``."""
        return self.dp * self.cp // self.ep

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "pp": self.pp,
            "dp": self.dp,
            "gpus": self.n_gpus,
            "zero": self.zero,
            "micro_batch": self.micro_batch,
            "recompute": self.recompute,
            "sequence_parallel": self.sequence_parallel,
            "flash_attention": self.flash_attention,
            "virtual_stages": self.virtual_stages,
            "stage_layers": list(self.stage_layers),
            "cp": self.cp,
            "ep": self.ep,
        }


def stage_layers(n_layers: int, pp: int) -> tuple[int, ...]:
    """Layers per pipeline stage, first to last.

    Even when ``pp`` divides ``n_layers``. Otherwise, when it divides ``n_layers + 2``, the first
    and the last stage take one layer fewer to carry the embedding and the output head (Llama 3 405B:
    126 layers on 16 stages as 7, 8, ..., 8, 7; arXiv 2407.21783, Section 3.3.2). Otherwise the
    ``n_layers % pp`` extra layers go one each to the stages after the first.
    """
    positive_int(pp, "pp", "the pipeline-parallel size")
    if pp > n_layers:
        raise InputError(
            f"the pipeline-parallel size ({pp}) exceeds the layers ({n_layers})", quantity="pp"
        )
    if n_layers % pp and pp > 2 and (n_layers + 2) % pp == 0:
        per = (n_layers + 2) // pp
        return (per - 1,) + (per,) * (pp - 2) + (per - 1,)
    base, extra = divmod(n_layers, pp)
    return tuple(base + (1 if 0 < i <= extra else 0) for i in range(pp))


@record
class StageMemory:
    """Per-GPU bytes of one pipeline stage, by part."""

    stage: int
    layers: int
    params: int
    weights: float
    gradients: float
    optimizer: float
    in_flight: int
    activations: float
    output_head: float
    expert_params: int = 0

    @property
    def states(self) -> float:
        return self.weights + self.gradients + self.optimizer

    @property
    def total(self) -> float:
        return self.states + self.activations + self.output_head

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "layers": self.layers,
            "params": self.params,
            "weights_bytes": self.weights,
            "gradients_bytes": self.gradients,
            "optimizer_bytes": self.optimizer,
            "in_flight_micro_batches": self.in_flight,
            "activations_bytes": self.activations,
            "output_head_bytes": self.output_head,
            "total_bytes": self.total,
            "expert_params": self.expert_params,
        }


@record
class RunMemory:
    """Per-GPU memory of a training run on a layout: every pipeline stage, the fullest one, the
    allowance and whether it fits."""

    layout: Layout
    seq_len: int
    global_batch: int
    micro_batches: int
    per_layer: LayerActivations
    stages: tuple[StageMemory, ...]
    gpu_memory_bytes: float
    allowance: float
    dense_layer: LayerActivations | None = None
    moe: bool = False

    @property
    def peak(self) -> StageMemory:
        """The stage that needs the most memory (the first of equals)."""
        return max(self.stages, key=lambda s: s.total)

    @property
    def allowance_bytes(self) -> float:
        return self.allowance * self.gpu_memory_bytes

    @property
    def required_bytes(self) -> float:
        return self.peak.total + self.allowance_bytes

    @property
    def fits(self) -> bool:
        return self.required_bytes <= self.gpu_memory_bytes

    @property
    def bubble(self) -> float:
        """Pipeline bubble over compute time, (p - 1) / (v m) (Narayanan et al. 2021, Section 2.2)."""
        lay = self.layout
        return (lay.pp - 1) / (lay.virtual_stages * self.micro_batches)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "layout": {**self.layout.to_dict(), "stage_layers": [s.layers for s in self.stages]},
            "seq_len": self.seq_len,
            "global_batch_sequences": self.global_batch,
            "micro_batches": self.micro_batches,
            "bubble": self.bubble,
            "layer_activations": self.per_layer.to_dict(),
            "gpu_memory_bytes": self.gpu_memory_bytes,
            "allowance": self.allowance,
            "allowance_bytes": self.allowance_bytes,
            "peak_stage": self.peak.stage,
            "required_bytes": self.required_bytes,
            "fits": self.fits,
            "stages": [s.to_dict() for s in self.stages],
        }
        if self.dense_layer is not None:
            out["dense_layer_activations"] = self.dense_layer.to_dict()
        return out


def _states(params: int, d: int, z: int) -> tuple[float, float, float]:
    """Weights, gradients and optimizer states of ``params`` under ZeRO stage ``z`` across ``d``
    GPUs: dense weights across dp x cp (the context-parallel ranks hold the same weights, as in
    Megatron-LM's distributed optimizer), routed experts across dp x cp / ep."""
    weights = WEIGHT_BYTES * params / (d if z >= 3 else 1)
    gradients = GRADIENT_BYTES * params / (d if z >= 2 else 1)
    optimizer = OPTIMIZER_BYTES * params / (d if z >= 1 else 1)
    return float(weights), float(gradients), float(optimizer)


def _in_flight(stage: int, pp: int, v: int, micro_batches: int) -> int:
    """Micro-batches (``v`` = 1) or model chunks (``v`` > 1) whose activations stage ``stage``
    holds at once under 1F1B: p - stage, capped at m; interleaved, Megatron-LM's warm-up
    2 (p - stage - 1) + (v - 1) p, plus one, capped at v m."""
    if v == 1:
        return min(pp - stage, micro_batches)
    return min(2 * (pp - stage - 1) + (v - 1) * pp + 1, v * micro_batches)


def run_memory(
    shape: Shape | MoeShape,
    layout: Layout,
    *,
    gpu_memory_gb: float,
    global_batch: int,
    allowance: float = DEFAULT_ALLOWANCE,
    block: ActivationBlock | None = None,
) -> RunMemory:
    """Per-GPU memory of training ``shape`` on ``layout`` with ``global_batch`` sequences a step.

    Args:
        shape: The model; its ``seq_len`` is the training sequence length.
        layout: The parallel layout.
        gpu_memory_gb: Memory of one GPU in GB (1e9 bytes).
        global_batch: Sequences per optimizer step; ``dp * micro_batch`` must divide it.
        allowance: Fraction of every GPU's memory set aside for context, buffers and fragmentation.
        block: What a layer stores (default: dsplan's block of ``shape``; ``ActivationBlock.gpt3``
            for the GPT-3 block, whose MLP has two matrices instead of three).

    Returns:
        A :class:`RunMemory`: per stage, weights, gradients and optimizer states (16 bytes per
        parameter, sharded by TP x PP, then by the ZeRO stage across DP), the activations of the
        micro-batches in flight under 1F1B, and on the last stage the output head's inputs and
        the fp32 logits of one micro-batch.
    """
    positive_int(global_batch, "global_batch", "the global batch")
    if not 0 <= allowance < 1:
        raise InputError(
            f"the allowance must be in [0, 1), got {allowance!r}", quantity="allowance"
        )
    if not gpu_memory_gb > 0:
        raise InputError(
            f"the GPU memory must be positive, got {gpu_memory_gb!r}", quantity="gpu_memory"
        )
    for name in ("tp", "pp", "cp", "dp", "ep", "micro_batch", "virtual_stages"):
        positive_int(getattr(layout, name), name, f"the {name.replace('_', ' ')}")
    if layout.zero not in ZERO_STAGES:
        raise InputError(
            f"the ZeRO stage must be 0, 1, 2 or 3, got {layout.zero!r}", quantity="zero"
        )
    pp, v = layout.pp, layout.virtual_stages
    layers = layout.stage_layers or stage_layers(shape.n_layers, pp)
    if len(layers) != pp or sum(layers) != shape.n_layers or min(layers) < 1:
        raise InputError(
            f"the stage layers {list(layers)} must be {pp} positive counts summing to the "
            f"{shape.n_layers} layers",
            quantity="stage_layers",
        )
    if v > 1 and any(n % v for n in layers):
        raise InputError(
            f"the virtual stages ({v}) must divide every stage's layers {list(layers)}",
            quantity="virtual_stages",
        )
    per_rank = layout.dp * layout.micro_batch
    if global_batch % per_rank:
        raise InputError(
            f"the data-parallel size x micro-batch ({layout.dp} x {layout.micro_batch}) must "
            f"divide the global batch ({global_batch} sequences)",
            quantity="global_batch",
        )
    m = global_batch // per_rank
    if v > 1 and m % pp:
        raise InputError(
            f"an interleaved schedule needs the micro-batches per step ({m}) to be a multiple "
            f"of the pipeline-parallel size ({pp})",
            quantity="virtual_stages",
        )
    model = _model_memory(shape, layout, block)
    dense_d = layout.dp * layout.cp
    expert_d = dense_d // layout.ep
    stages = []
    for i, (n, chunks) in enumerate(zip(layers, stage_chunks(layers, v), strict=True)):
        on_stage = [run for a, z in chunks for run in model.between(a, z)]
        params = sum(layer.params * k for layer, k in on_stage)
        experts = sum(layer.expert_params * k for layer, k in on_stage)
        head = 0.0
        if i == 0:
            params += model.embedding
        flight = _in_flight(i, pp, v, m)
        activations = max(chunk_bytes(model.between(a, z), flight) for a, z in chunks)
        if i == pp - 1:
            if pp > 1 or not model.tied_embeddings:
                params += model.embedding
            params += model.final_norm
            head = model.head_activations
            for extra in model.last_stage_extra:
                params += extra.params
                experts += extra.expert_params
                activations += extra.activation_bytes  # one micro-batch: the last stage's
        weights, gradients, optimizer = _states(params - experts, dense_d, layout.zero)
        if experts:
            expert_states = _states(experts, expert_d, layout.zero)
            weights += expert_states[0]
            gradients += expert_states[1]
            optimizer += expert_states[2]
        stages.append(
            StageMemory(
                i, n, params, weights, gradients, optimizer, flight, activations, head, experts
            )
        )
    return RunMemory(
        layout,
        shape.seq_len,
        global_batch,
        m,
        model.per_layer,
        tuple(stages),
        gpu_memory_gb * 1e9,
        allowance,
        model.dense_layer,
        any(layer.kind == "moe" for layer, _ in model.runs),
    )


def _model_memory(
    shape: Shape | MoeShape, layout: Layout, block: ActivationBlock | None
) -> ModelMemory:
    parallel: dict[str, Any] = {
        "tp": layout.tp,
        "cp": layout.cp,
        "micro_batch": layout.micro_batch,
        "sequence_parallel": layout.sequence_parallel,
        "recompute": layout.recompute,
        "flash_attention": layout.flash_attention,
    }
    # Told apart by their experts, so that a dense plan does not import the MoE module (start-up).
    if getattr(shape, "n_experts", 0):
        shape = cast("MoeShape", shape)
        if block is not None:
            raise InputError("a mixture-of-experts model's layers are its own: give no block")
        if (layout.dp * layout.cp) % layout.ep:
            raise InputError(
                f"the expert-parallel size ({layout.ep}) must divide the data-parallel x "
                f"context-parallel ranks ({layout.dp} x {layout.cp})",
                quantity="ep",
            )
        return moe_model_memory(shape, ep=layout.ep, **parallel)
    if layout.ep > 1:
        raise InputError(
            f"expert parallelism ({layout.ep}) needs a mixture-of-experts model", quantity="ep"
        )
    dense = cast("Shape", shape)
    blk = block if block is not None else ActivationBlock.of_shape(dense)
    return dense_model_memory(dense, blk, **parallel)
