"""Communication of one training step on a parallel layout: what each group moves, over which link.

Pure functions of the layout, the model's widths and the links of the GPU table
(:mod:`dsplan.catalog.gpus`: ``node_size``, ``intra_node_gb_per_s``, ``inter_node_gb_per_s``).
Collectives are priced by their bandwidth term under the ring algorithm (latency ignored): an
all-reduce of B bytes over n GPUs costs 2 (n - 1) / n x B / bandwidth, a reduce-scatter or an
all-gather (n - 1) / n x B / bandwidth, a point-to-point send B / bandwidth. A group uses the
intra-node bandwidth when it fits in one node, the inter-node bandwidth otherwise. Which traffic the
step waits for (exposed) and which hides under compute is our assumption, stated in
:data:`OVERLAP_NOTE`. The derivation is docs/memory.md, "Communication".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.catalog.gpus import Gpu
    from dsplan.model.flops import Shape
    from dsplan.model.moe import MoeShape
    from dsplan.planning.memory import Layout, RunMemory, StageMemory

# Activations, their gradients, weights and weight gradients travel in bf16.
WIRE_BYTES = 2
# When the GPU table gives no links: an HGX-style node of 8 and one 400 Gb/s NIC per GPU (ours).
DEFAULT_NODE_SIZE = 8
DEFAULT_INTER_NODE_GB_PER_S = 50.0
# Tensor parallelism with sequence parallelism, per layer and micro-batch (Korthikanti et al. 2022,
# Section 4.2.2): the forward pass all-gathers the input of the attention and of the MLP and
# reduce-scatters their outputs (2 + 2), the backward pass does the conjugates (2 + 2); each moves
# the layer's full activation, s b h values. Full recomputation repeats the forward's four.
TP_COLLECTIVES = 8
TP_RECOMPUTE_COLLECTIVES = 4
# Context parallelism (ring attention, as Megatron-LM's): the forward all-gathers K and V, the
# backward gathers them again and reduce-scatters their gradients; full recomputation gathers once more.
CP_COLLECTIVES = 3
CP_RECOMPUTE_COLLECTIVES = 1
OVERLAP_NOTE = (
    "our assumption: tensor-, context- and expert-parallel collectives and pipeline sends are "
    "exposed (and stretched by the bubble); the data-parallel gradient reduce-scatter hides under "
    "the backward of the last micro-batch and the parameter all-gather under the forward of the "
    "first, except the last (first) layer's bucket; ring collectives at the link's one-direction "
    "bandwidth, latency ignored; groups ordered TP, CP, DP, PP across the GPUs"
)


@record
class Links:
    """The scale-up domain (``node_size`` GPUs) and one direction's bandwidth per GPU, in GB/s,
    within a node and across nodes; ``assumed`` names the figures dsplan supplied itself."""

    node_size: int
    intra_node_gb_per_s: float
    inter_node_gb_per_s: float
    assumed: tuple[str, ...] = ()

    def bandwidth(self, span: int) -> float:
        """Bytes per second for a group whose GPUs lie within ``span`` consecutive ranks."""
        gb = self.intra_node_gb_per_s if span <= self.node_size else self.inter_node_gb_per_s
        return gb * 1e9

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_size": self.node_size,
            "intra_node_gb_per_s": self.intra_node_gb_per_s,
            "inter_node_gb_per_s": self.inter_node_gb_per_s,
            "assumed": list(self.assumed),
        }


def links_of(
    gpu: Gpu,
    *,
    node_size: int | None = None,
    intra_node_gb_per_s: float | None = None,
    inter_node_gb_per_s: float | None = None,
) -> Links:
    """The links of ``gpu`` from the GPU table, each overridable; missing ones get stated defaults.

    Defaults (ours): a node of 8; within it half the bidirectional ``interconnect_gb_per_s``
    headline, else the inter-node figure; across nodes 50 GB/s (one 400 Gb/s NIC per GPU).
    """
    for name, value in (
        ("intra_node_gb_per_s", intra_node_gb_per_s),
        ("inter_node_gb_per_s", inter_node_gb_per_s),
    ):
        if value is not None and (isinstance(value, bool) or not 0 < value < float("inf")):
            raise InputError(f"the {name} must be a positive number, got {value!r}", quantity=name)
    if node_size is not None and (isinstance(node_size, bool) or node_size < 1):
        raise InputError(f"the node size must be positive, got {node_size!r}", quantity="node_size")
    assumed = []
    node = node_size or gpu.node_size
    if node is None:
        node = DEFAULT_NODE_SIZE
        assumed.append("node_size")
    inter = inter_node_gb_per_s or gpu.inter_node_gb_per_s
    if inter is None:
        inter = DEFAULT_INTER_NODE_GB_PER_S
        assumed.append("inter_node_gb_per_s")
    intra = intra_node_gb_per_s or gpu.intra_node_gb_per_s
    if intra is None:
        headline = gpu.interconnect_gb_per_s
        intra = headline / 2 if headline is not None else inter
        assumed.append("intra_node_gb_per_s")
    return Links(node, float(intra), float(inter), tuple(assumed))


def all_reduce_seconds(nbytes: float, n: int, bandwidth: float) -> float:
    """A ring all-reduce of ``nbytes`` over ``n`` GPUs: 2 (n - 1) / n x bytes / bandwidth."""
    return 2 * (n - 1) / n * nbytes / bandwidth if n > 1 else 0.0


def gather_seconds(nbytes: float, n: int, bandwidth: float) -> float:
    """A ring all-gather (or reduce-scatter) whose gathered tensor is ``nbytes``: (n - 1) / n x
    bytes / bandwidth."""
    return (n - 1) / n * nbytes / bandwidth if n > 1 else 0.0


def tensor_parallel_seconds(
    tokens: int, d_model: int, tp: int, layer_passes: int, bandwidth: float, *, recompute: bool
) -> float:
    """Tensor- and sequence-parallel collectives of ``layer_passes`` (layers x micro-batches) with
    ``tokens`` tokens each (s b, over the context-parallel ranks): 8 all-gathers or
    reduce-scatters of tokens x d_model bf16 values per layer, 12 with full recomputation."""
    count = TP_COLLECTIVES + (TP_RECOMPUTE_COLLECTIVES if recompute else 0)
    return layer_passes * count * gather_seconds(WIRE_BYTES * tokens * d_model, tp, bandwidth)


def context_parallel_seconds(
    tokens: int, kv_width: int, cp: int, layer_passes: int, bandwidth: float, *, recompute: bool
) -> float:
    """Ring attention's K and V traffic: per layer and micro-batch, gathers of the K and V of the
    whole sequence (``tokens`` = s b, ``kv_width`` = KV heads x head size over TP): 3, 4 with
    full recomputation."""
    count = CP_COLLECTIVES + (CP_RECOMPUTE_COLLECTIVES if recompute else 0)
    kv = 2 * WIRE_BYTES * tokens * kv_width
    return layer_passes * count * gather_seconds(kv, cp, bandwidth)


def pipeline_seconds(
    boundary_bytes: float, pp: int, chunks: int, micro_batches: int, bandwidth: float
) -> float:
    """Point-to-point sends of one GPU: per micro-batch and model chunk, the activation forward
    and its gradient backward, ``boundary_bytes`` each (none without pipelining)."""
    return 2 * chunks * micro_batches * boundary_bytes / bandwidth if pp > 1 else 0.0


def expert_parallel_seconds(
    tokens: int, d_model: int, top_k: int, ep: int, layer_passes: int, bandwidth: float
) -> float:
    """Expert-parallel all-to-alls of ``layer_passes`` MoE layers x micro-batches: dispatch and
    combine forward and their gradients backward, each sending the (ep - 1) / ep of ``tokens`` x
    top-k routed copies of d_model bf16 values that leave the GPU."""
    if ep <= 1:
        return 0.0
    routed = WIRE_BYTES * tokens * top_k * d_model
    return layer_passes * 4 * (ep - 1) / ep * routed / bandwidth


def data_parallel_seconds(
    params: int, n: int, zero: int, micro_batches: int, bandwidth: float
) -> tuple[float, float]:
    """(reduce, gather) seconds of the data-parallel traffic of ``params`` parameters per GPU over
    ``n`` ranks: ZeRO 0 all-reduces the bf16 gradients; ZeRO 1 and 2 reduce-scatter them and
    all-gather the updated bf16 weights (as much traffic); ZeRO 3 gathers the weights for the
    forward and again for the backward and reduce-scatters the gradients of every micro-batch."""
    one = gather_seconds(WIRE_BYTES * params, n, bandwidth)
    if zero == 0:
        return 2 * one, 0.0
    if zero in (1, 2):
        return one, one
    return 2 * micro_batches * one, micro_batches * one


def data_parallel_exposed(
    reduce: float,
    gather: float,
    zero: int,
    *,
    forward: float,
    backward: float,
    layers: int,
    micro_batches: int,
) -> float:
    """What the step waits for of the data-parallel traffic (:data:`OVERLAP_NOTE`): each part hides
    under the compute it overlaps (``forward`` / ``backward``: one micro-batch's seconds on the
    stage) except at least its last layer's bucket."""

    def left(traffic: float, cover: float) -> float:
        return max(traffic - cover, traffic / layers) if traffic else 0.0

    if zero == 3:
        m = micro_batches
        # Per micro-batch: the forward's gather under the forward; the backward's gather and the
        # gradients' reduce-scatter (``reduce`` holds both) under the backward.
        return m * (left(gather / m, forward) + left(reduce / m, backward))
    return left(reduce, backward) + left(gather, forward)


def _stage_data_parallel(
    stage: StageMemory, lay: Layout, micro_batches: int, links: Links
) -> tuple[float, float]:
    """(reduce, gather) seconds of one stage's data-parallel traffic. Dense parameters are
    replicated over DP x CP; a routed expert only over its dp*cp/ep copies (EP is carved out of
    DP x CP: an EP group is consecutive, so an expert's copies lie tp*ep ranks apart and span the
    whole tp*cp*dp block)."""
    d, span = lay.dp * lay.cp, links.bandwidth(lay.tp * lay.cp * lay.dp)
    dense = stage.params - stage.expert_params
    reduce, gather = data_parallel_seconds(dense, d, lay.zero, micro_batches, span)
    if stage.expert_params:
        more = data_parallel_seconds(
            stage.expert_params, d // lay.ep, lay.zero, micro_batches, span
        )
        reduce, gather = reduce + more[0], gather + more[1]
    return reduce, gather


@record
class StepCommunication:
    """Seconds of communication per step on the busiest GPU, by group; ``data_parallel`` is the
    traffic, ``data_parallel_exposed`` what the step waits for of it."""

    tensor_parallel: float
    context_parallel: float
    pipeline: float
    expert_parallel: float
    data_parallel: float
    data_parallel_exposed: float

    @property
    def per_micro_batch(self) -> float:
        """The exposed traffic that repeats with every micro-batch, stretched by the bubble."""
        return self.tensor_parallel + self.context_parallel + self.pipeline + self.expert_parallel

    @property
    def exposed(self) -> float:
        return self.per_micro_batch + self.data_parallel_exposed

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensor_parallel_seconds": self.tensor_parallel,
            "context_parallel_seconds": self.context_parallel,
            "pipeline_seconds": self.pipeline,
            "expert_parallel_seconds": self.expert_parallel,
            "data_parallel_seconds": self.data_parallel,
            "data_parallel_exposed_seconds": self.data_parallel_exposed,
        }


def repeated_seconds(
    shape: Shape | MoeShape,
    lay: Layout,
    *,
    seq_len: int,
    micro_batches: int,
    layers: int,
    links: Links,
    moe_layers: int | None = None,
    top_k: int | None = None,
) -> tuple[float, float, float, float]:
    """(TP, CP, PP, EP) seconds per step of the traffic that repeats with every micro-batch, on a
    stage of ``layers`` layers: what :func:`step_communication` stretches by the bubble. It needs
    no memory estimate, so the layout search also uses it to bound a layout's step time."""
    tp, pp, dp, m = lay.tp, lay.pp, lay.dp, micro_batches
    cp, ep = lay.cp, lay.ep
    h, b = shape.d_model, lay.micro_batch
    local = seq_len // cp * b
    routed = getattr(shape, "n_moe_layers", 0)
    if moe_layers is None:
        moe_layers = min(layers, routed)
    if top_k is None:
        top_k = getattr(shape, "top_k", 0)
    full = lay.recompute == "full"
    tp_time = tensor_parallel_seconds(local, h, tp, layers * m, links.bandwidth(tp), recompute=full)
    kv_width = shape.n_kv_heads * shape.head_dim // tp
    cp_time = context_parallel_seconds(
        seq_len * b, kv_width, cp, layers * m, links.bandwidth(tp * cp), recompute=full
    )
    boundary = WIRE_BYTES * local * h / (tp if lay.sequence_parallel else 1)
    pp_time = pipeline_seconds(
        boundary, pp, lay.virtual_stages, m, links.bandwidth(2 * tp * cp * dp)
    )
    ep_time = expert_parallel_seconds(local, h, top_k, ep, moe_layers * m, links.bandwidth(tp * ep))
    return tp_time, cp_time, pp_time, ep_time


def step_communication(
    shape: Shape | MoeShape,
    memory: RunMemory,
    links: Links,
    *,
    compute_seconds: float,
    recompute_seconds: float = 0.0,
    moe_layers: int | None = None,
    top_k: int | None = None,
) -> StepCommunication:
    """The communication of one step of ``shape`` on ``memory.layout``, on its busiest GPU.

    Args:
        shape: The model.
        memory: :func:`dsplan.planning.memory.run_memory` of the layout (its stages, micro-batches).
        links: The node size and bandwidths (:func:`links_of`).
        compute_seconds: The step's compute per GPU (its thirds: forward, two: backward), against
            which the data-parallel traffic overlaps.
        recompute_seconds: A full recomputation's extra forward, part of the backward.
        moe_layers: Layers with routed experts on the busiest stage (default: a mixture-of-experts
            shape's MoE layers, at most the stage's layers; none for a dense model).
        top_k: Routed experts per token (default: the shape's; 0 for a dense model).

    Ranks are ordered TP, CP, DP, PP (Megatron-LM's default): a group of size n with stride S lies
    within n S consecutive ranks, on one node when that is at most the node size.
    """
    lay = memory.layout
    m = memory.micro_batches
    layers = max(s.layers for s in memory.stages)
    tp_time, cp_time, pp_time, ep_time = repeated_seconds(
        shape,
        lay,
        seq_len=memory.seq_len,
        micro_batches=m,
        layers=layers,
        links=links,
        moe_layers=moe_layers,
        top_k=top_k,
    )
    reduce, gather = max(
        (_stage_data_parallel(stage, lay, m, links) for stage in memory.stages), key=sum
    )
    forward = compute_seconds / (3 * m)
    backward = (2 * compute_seconds + 3 * recompute_seconds) / (3 * m)
    exposed = data_parallel_exposed(
        reduce,
        gather,
        lay.zero,
        forward=forward,
        backward=backward,
        layers=layers,
        micro_batches=m,
    )
    return StepCommunication(tp_time, cp_time, pp_time, ep_time, reduce + gather, exposed)
