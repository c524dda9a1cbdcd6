"""DSP6xx: the parallel layout of a config (torchtitan, Megatron-LM, nanotron, OLMo, dsplan's
``[parallelism]``).

These rules read :attr:`RunConfig.layout <dsplan.checking.run_config.RunConfig.layout>`, which a
trainer dialect sets (:mod:`dsplan.checking.dialects`) and a dsplan config sets with its
``[parallelism]`` table; without either they stay silent. Each is a condition the trainer itself
would refuse at start-up, split badly or run out of memory on, found before the cluster is booked.
A fact the file does not state (the world size of a script that reads it from the environment, the
GPU) silences the rules that need it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from dsplan.checking.facts import ERROR, WARNING, Facts
from dsplan.checking.registry import Hit, rule
from dsplan.errors import InputError

# GPUs joined by NVLink in one node of the machines these trainers run on (DGX/HGX H100, A100:
# 8). Tensor parallelism all-reduces every layer's activations; across nodes that traffic leaves
# NVLink for the network, so Megatron-LM and torchtitan keep TP within a node.
GPUS_PER_NODE = 8


def _degrees(f: Facts) -> str:
    lay = f.cfg.layout
    assert lay is not None
    parts = [f"TP {lay.tensor}", f"PP {lay.pipeline}", f"CP {lay.context}"]
    return " x ".join(parts)


@rule(
    "DSP601",
    ERROR,
    "TP x PP x CP (x EP) larger than, or not dividing, the world size",
    "DP = world / (TP x PP x CP) must be a whole number of GPUs",
)
def degrees_divide_world(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    if lay is None or lay.world_size is None:
        return
    model = lay.tensor * lay.pipeline * lay.context
    world = lay.world_size
    if model > world or world % model:
        what = "larger than" if model > world else "does not divide"
        yield Hit(
            "layout.tensor",
            f"{_degrees(f)} = {model} GPUs per model replica {what} the world size {world}",
            f"a world size that is a multiple of {model}, or degrees whose product divides {world}",
        )
        return
    replicas = world // model
    if lay.split != "megatron" and lay.data is not None and lay.data * model != world:
        rest = "data_parallel_shard_degree = -1" if lay.split == "torchtitan" else "data_parallel"
        hint = f"{rest} = {replicas} (the rest of the world)"
        if lay.split == "nanotron":
            hint = f"parallelism.dp = {replicas} (nanotron needs tp x pp x dp x cp = the world)"
        yield Hit(
            "layout.data",
            f"DP {lay.data} x {_degrees(f)} = {lay.data * model} GPUs, but the world is {world}",
            hint,
        )
        return
    if lay.expert > 1 and (replicas * lay.context) % lay.expert:
        yield Hit(
            "layout.expert",
            f"EP {lay.expert} does not divide DP x CP = {replicas * lay.context}: the experts are "
            "sharded over the data-parallel ranks",
            "an expert-parallel degree that divides DP x CP",
        )


@rule(
    "DSP602",
    ERROR,
    "global batch not divisible by micro-batch x DP",
    "the trainer accumulates a whole number of micro-batches per step",
)
def batch_divides(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    if lay is None or lay.data is None or lay.micro_batch is None or lay.global_batch is None:
        return
    per_step = lay.micro_batch * lay.data
    if per_step <= 0 or lay.global_batch % per_step == 0:
        return
    low = max(per_step, lay.global_batch // per_step * per_step)
    yield Hit(
        "layout.global_batch",
        f"global batch {lay.global_batch} is not a multiple of micro-batch {lay.micro_batch} x "
        f"DP {lay.data} = {per_step} sequences (it would take {lay.global_batch / per_step:.4g} "
        "micro-batches per step)",
        f"global batch {low} or {low + per_step}",
    )


@rule(
    "DSP603",
    ERROR,
    "more pipeline stages than layers",
    "every pipeline stage holds at least one layer",
)
def stages_have_layers(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    layers = f.cfg.model.n_layers
    if lay is None or lay.pipeline <= layers:
        return
    yield Hit(
        "layout.pipeline",
        f"PP {lay.pipeline} stages for {layers} layers: some stages would hold none",
        f"PP of at most {layers}, a divisor such as {_largest_divisor(layers, lay.pipeline)}",
    )


@rule(
    "DSP604",
    ERROR,
    "pipeline stages do not split the layers evenly",
    "Megatron-LM splits the layers evenly unless the first/last stage sizes are given",
)
def stages_split_evenly(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    layers = f.cfg.model.n_layers
    if lay is None or lay.split != "megatron" or lay.pipeline <= 1 or lay.pipeline > layers:
        return
    first, last = lay.first_stage_layers, lay.last_stage_layers
    middle_stages = lay.pipeline - (first is not None) - (last is not None)
    rest = layers - (first or 0) - (last or 0)
    if middle_stages <= 0:
        if rest != 0:
            yield Hit(
                "layout.pipeline",
                f"the first and last stages hold {(first or 0) + (last or 0)} layers of {layers}",
                "first + last stage layers = --num-layers when PP is 2",
            )
        return
    if rest >= 0 and rest % middle_stages == 0:
        return
    if first is None and last is None:
        message = (
            f"{layers} layers do not split evenly over PP {lay.pipeline} stages "
            f"({layers / lay.pipeline:.4g} each)"
        )
        hint = (
            f"PP {_largest_divisor(layers, lay.pipeline)}, or --decoder-first-pipeline-num-layers /"
            " --decoder-last-pipeline-num-layers for uneven edge stages"
        )
    else:
        message = (
            f"after the edge stages, {rest} layers do not split evenly over the other "
            f"{middle_stages} stages"
        )
        hint = "edge-stage layers that leave a multiple of the middle stages"
    yield Hit("layout.pipeline", message, hint)


@rule(
    "DSP605",
    WARNING,
    "tensor parallelism across nodes",
    f"TP at most the node ({GPUS_PER_NODE} NVLink GPUs, or the GPU table's node) and dividing it",
)
def tensor_within_node(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    if lay is None or lay.tensor <= 1:
        return
    node = _node_size(f)
    if lay.tensor > node:
        yield Hit(
            "layout.tensor",
            f"TP {lay.tensor} spans more than one node of {node} GPUs: every layer's "
            "all-reduce leaves NVLink for the network",
            f"TP {node} or less, with pipeline or data parallelism across nodes",
        )
    elif node % lay.tensor:
        yield Hit(
            "layout.tensor",
            f"TP {lay.tensor} does not divide the node of {node} GPUs: the TP groups laid out "
            "rank by rank straddle two nodes, and their all-reduces cross the network",
            f"a TP size that divides {node}: {_largest_divisor(node, lay.tensor)}",
        )


def _node_size(f: Facts) -> int:
    """GPUs per node: the GPU table's node for the config's GPU where it has one, else the
    layout's (8, the NVLink domain of a DGX/HGX board)."""
    lay = f.cfg.layout
    assert lay is not None
    gpu_id = lay.gpu or f.cfg.hardware.gpu
    if gpu_id is not None:
        from dsplan.catalog.gpus import get_gpu

        try:
            node = getattr(get_gpu(gpu_id), "node_size", None)
        except InputError:
            node = None
        if isinstance(node, int) and node > 0:
            return node
    return lay.gpus_per_node


@rule(
    "DSP606",
    ERROR,
    "the layout does not fit in the GPU's memory",
    "per-GPU weights, gradients, optimizer states and activations of the fullest pipeline stage, "
    "plus a 5% allowance, against the GPU's memory (docs/memory.md); needs the GPU: "
    "[parallelism].gpu, [hardware].gpu or check --gpu",
)
def layout_fits_memory(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    if lay is None or lay.data is None or lay.global_batch is None or lay.zero is None:
        return
    gpu_id = lay.gpu or f.cfg.hardware.gpu
    m = f.cfg.model
    if gpu_id is None or f.counts is None:
        return  # no GPU named, or sizes the shape rules refuse
    from dataclasses import fields

    from dsplan.catalog.gpus import get_gpu
    from dsplan.planning.memory import Layout as MemoryLayout
    from dsplan.planning.memory import run_memory

    try:
        gpu = get_gpu(gpu_id)
    except InputError:
        return
    settings: dict[str, object] = {
        "tp": lay.tensor,
        "pp": lay.pipeline,
        "dp": lay.data,
        "zero": lay.zero,
        "micro_batch": lay.micro_batch or 1,
        "recompute": lay.recompute,
        "sequence_parallel": lay.tensor > 1
        if lay.sequence_parallel is None
        else lay.sequence_parallel,
        "virtual_stages": lay.virtual_stages,
        "stage_layers": lay.stage_layers or _edge_split(f),
    }
    known = {field.name for field in fields(MemoryLayout)}
    for name, value in (("cp", lay.context), ("ep", lay.expert)):
        if name in known:
            settings[name] = value
        elif value > 1:
            return  # a degree the memory model does not take yet
    try:
        mem = run_memory(
            m.shape() if m.moe is None else m.moe_shape(),
            MemoryLayout(**settings),  # type: ignore[arg-type]
            gpu_memory_gb=gpu.memory_gb,
            global_batch=lay.global_batch,
        )
    except InputError:
        return  # a layout the other DSP6xx rules refuse
    if mem.fits:
        return
    peak = mem.peak
    gb = 1e9
    yield Hit(
        "layout.memory",
        f"needs {mem.required_bytes / gb:,.1f} GB per GPU on pipeline stage {peak.stage} "
        f"(weights {peak.weights / gb:,.1f}, gradients {peak.gradients / gb:,.1f}, optimizer "
        f"{peak.optimizer / gb:,.1f}, activations {peak.activations / gb:,.1f}, head "
        f"{peak.output_head / gb:,.1f}, allowance {mem.allowance_bytes / gb:,.1f}), more than "
        f"the {gpu.memory_gb:g} GB of a {gpu.id}",
        f"`dsplan layout --gpu {gpu.id} --gpus {lay.world_size or lay.data}` lists layouts that "
        "fit: more TP or PP, a higher ZeRO stage, recomputation or a smaller micro-batch",
    )


def _edge_split(f: Facts) -> tuple[int, ...]:
    """Megatron's split with first/last stage layers given: those, then the rest evenly."""
    lay = f.cfg.layout
    assert lay is not None
    first, last = lay.first_stage_layers, lay.last_stage_layers
    if lay.split != "megatron" or (first is None and last is None):
        return ()
    middle = lay.pipeline - (first is not None) - (last is not None)
    rest = f.cfg.model.n_layers - (first or 0) - (last or 0)
    if middle <= 0 or rest < 0 or rest % middle:
        return ()
    split = [rest // middle] * middle
    return tuple(
        ([first] if first is not None else []) + split + ([last] if last is not None else [])
    )


@rule(
    "DSP607",
    ERROR,
    "an uneven pipeline split stated nowhere (dsplan's [parallelism])",
    "pipeline_parallel divides n_layers, or stage_layers gives PP counts that sum to n_layers, "
    "each a multiple of virtual_stages",
)
def stage_split_stated(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    layers = f.cfg.model.n_layers
    if lay is None or lay.split != "dsplan" or lay.pipeline < 1 or lay.pipeline > layers:
        return
    stages, pp, v = lay.stage_layers, lay.pipeline, max(lay.virtual_stages, 1)
    if not stages:
        if pp > 1 and layers % pp:
            yield Hit(
                "layout.stage_layers",
                f"{layers} layers do not split evenly over {pp} pipeline stages "
                f"({layers / pp:.4g} each) and stage_layers does not say how they are split",
                f"pipeline_parallel = {_largest_divisor(layers, pp)}, or stage_layers = "
                "[...] (Llama 3: the first and last stage one layer short)",
            )
        elif layers // pp % v:
            yield Hit(
                "layout.stage_layers",
                f"virtual_stages = {v} does not divide the {layers // pp} layers of each stage",
                "virtual_stages dividing every stage's layers",
            )
        return
    if len(stages) != pp or sum(stages) != layers:
        yield Hit(
            "layout.stage_layers",
            f"stage_layers {list(stages)} are {len(stages)} stages of {sum(stages)} layers, "
            f"not {pp} stages of the model's {layers}",
            f"{pp} counts summing to {layers}",
        )
    elif any(n % v for n in stages):
        yield Hit(
            "layout.stage_layers",
            f"virtual_stages = {v} does not divide every stage's layers {list(stages)}",
            "virtual_stages dividing every stage's layers",
        )


def _largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is at most ``at_most`` (1 at least), paired up to the
    square root of ``n`` so that a hostile layer count stays cheap."""
    small = [k for k in range(1, math.isqrt(max(n, 1)) + 1) if n % k == 0]
    return max((d for k in small for d in (k, n // k) if d <= at_most), default=1)


FAMILY = (
    degrees_divide_world,
    batch_divides,
    stages_have_layers,
    stages_split_evenly,
    tensor_within_node,
    layout_fits_memory,
    stage_split_stated,
)
