"""The ``[parallelism]`` table of a run config: the layout that the DSP6xx rules check."""

from __future__ import annotations

from pathlib import Path

from dsplan.checking.run_config import HardwareConfig, Layout, TrainingConfig
from dsplan.checking.schema import SCHEMA
from dsplan.checking.values import ConfigReader, check_gpu, resolve_name

RECOMPUTE = ("none", "selective", "full")
# The layout rules' keys, and the [parallelism] keys whose line each finding points at (first found).
LAYOUT_KEYS = {
    "layout.tensor": ("tensor_parallel",),
    "layout.pipeline": ("pipeline_parallel",),
    "layout.context": ("context_parallel",),
    "layout.expert": ("expert_parallel",),
    "layout.data": ("data_parallel", "gpus"),
    "layout.world_size": ("gpus",),
    "layout.micro_batch": ("micro_batch",),
    "layout.global_batch": ("micro_batch",),
    "layout.stage_layers": ("stage_layers", "pipeline_parallel"),
    "layout.memory": ("gpu", "micro_batch"),
}


def parallelism_layout(
    r: ConfigReader, base: Path, hw: HardwareConfig, training: TrainingConfig, seq_len: int
) -> Layout | None:
    """The ``[parallelism]`` table as the layout the DSP6xx rules check (split ``dsplan``)."""
    v = {k.name: r.get(k.path) for k in SCHEMA if k.table == "parallelism"}
    if any(f"parallelism.{name}" in r.given and value is None for name, value in v.items()):
        return None  # a type problem, reported
    if v["recompute"] is not None and v["recompute"] not in RECOMPUTE:
        r.problem(
            "parallelism.recompute",
            f"unknown recomputation {v['recompute']!r} (choose one of: {', '.join(RECOMPUTE)})",
        )
    if v["zero_stage"] is not None and v["zero_stage"] not in (0, 1, 2, 3):
        r.problem("parallelism.zero_stage", f"must be 0, 1, 2 or 3, got {v['zero_stage']}")
    stages: tuple[int, ...] = ()
    if v["stage_layers"] is not None:
        if not all(x == int(x) and x >= 1 for x in v["stage_layers"]):
            r.problem("parallelism.stage_layers", "expected whole numbers of layers, each >= 1")
        else:
            stages = tuple(int(x) for x in v["stage_layers"])
    gpu = v["gpu"]
    if gpu is not None:
        gpu = resolve_name(gpu, base)
        if hw.gpu is not None and gpu != hw.gpu:
            r.problem("parallelism.gpu", f"{gpu!r} is not hardware.gpu ({hw.gpu!r})")
        else:
            check_gpu(r, HardwareConfig(gpu=gpu))
    gpus = v["gpus"]
    if gpus is not None and hw.num_gpus is not None and gpus != hw.num_gpus:
        r.problem("parallelism.gpus", f"{gpus} is not hardware.num_gpus ({hw.num_gpus})")
    tp = v["tensor_parallel"] or 1
    pp = v["pipeline_parallel"] or 1
    cp = v["context_parallel"] or 1
    world = gpus if gpus is not None else hw.num_gpus
    data = v["data_parallel"]
    if world is None and data is not None:
        world = data * tp * pp * cp
    if data is None and world is not None and tp * pp * cp > 0 and world % (tp * pp * cp) == 0:
        data = world // (tp * pp * cp)
    sequences = training.batch_size_sequences
    if sequences is None and training.batch_size_tokens is not None and seq_len > 0:
        whole = training.batch_size_tokens / seq_len
        sequences = int(whole) if whole == int(whole) else None
    header = r.lines.get("parallelism")
    for key, names in LAYOUT_KEYS.items():
        written = [f"parallelism.{n}" for n in names if f"parallelism.{n}" in r.lines]
        line = r.lines[written[0]] if written else header
        if line is not None:
            r.lines.setdefault(key, line)
        r.layout_names[key] = written[0] if written else "parallelism"
    return Layout(
        tensor=tp,
        pipeline=pp,
        context=cp,
        expert=v["expert_parallel"] or 1,
        data=data,
        world_size=world,
        micro_batch=v["micro_batch"] or 1,
        global_batch=sequences,
        split="dsplan",
        zero=1 if v["zero_stage"] is None else v["zero_stage"],
        recompute=v["recompute"] or "none",
        sequence_parallel=v["sequence_parallel"],
        virtual_stages=v["virtual_stages"] or 1,
        stage_layers=stages,
        gpu=gpu if gpu is not None else hw.gpu,
    )
