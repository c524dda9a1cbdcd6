"""DSP6xx: the parallel layout of a trainer's file (torchtitan, Megatron-LM) against its world.

These rules read :attr:`RunConfig.layout <dsplan.checking.run_config.RunConfig.layout>`, which only a
trainer dialect sets (:mod:`dsplan.checking.dialects`); on dsplan's own configs they stay silent.
Each is a condition the trainer itself would refuse at start-up or split badly, found before the
cluster is booked. A fact the file does not state (the world size of a script that reads it from the
environment) silences the rules that need it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from dsplan.checking.facts import ERROR, WARNING, Facts
from dsplan.checking.registry import Hit, rule

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
    if lay.split == "torchtitan" and lay.data is not None and lay.data * model != world:
        yield Hit(
            "layout.data",
            f"DP {lay.data} x {_degrees(f)} = {lay.data * model} GPUs, but the world is {world}",
            f"data_parallel_shard_degree = -1 (the rest of the world: DP {replicas})",
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
    "tensor parallelism larger than a node",
    f"TP at most {GPUS_PER_NODE}, the GPUs of one NVLink node",
)
def tensor_within_node(f: Facts) -> Iterator[Hit]:
    lay = f.cfg.layout
    if lay is None or lay.tensor <= GPUS_PER_NODE:
        return
    yield Hit(
        "layout.tensor",
        f"TP {lay.tensor} spans more than one node of {GPUS_PER_NODE} GPUs: every layer's "
        "all-reduce leaves NVLink for the network",
        f"TP {GPUS_PER_NODE} or less, with pipeline or data parallelism across nodes",
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
)
