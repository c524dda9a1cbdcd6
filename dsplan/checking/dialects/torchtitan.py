"""torchtitan's job TOML as a run config (``[model]``, ``[training]``, ``[optimizer]``, ...).

Keys and defaults are torchtitan's job config dataclasses (pytorch/torchtitan v0.2.2, commit
73a0e69, ``torchtitan/config/job_config.py``); the learning-rate schedule is its warm-up, stable,
decay (``torchtitan/components/lr_scheduler.py``); DP = replicate x shard, with a shard degree of
-1 taking the rest of the world (``torchtitan/distributed/parallel_dims.py``). The table of keys and
defaults is in docs/check.md.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from dsplan.checking.dialects._common import Collector, build, number, schedule_fields
from dsplan.checking.run_config import Layout, ModelConfig, RunConfig
from dsplan.checking.schema import SHAPE_KEYS, ConfigProblems, Problem
from dsplan.checking.toml_lines import key_lines
from dsplan.errors import InputError
from dsplan.io import UnreadableFile, loads_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

RELEASE = "torchtitan v0.2.2 (73a0e69)"
FLAVORS_FILE = Path("trainers") / "torchtitan.toml"

# Every key read, with its default when absent (v0.2.2's).
DEFAULTS: dict[str, Any] = {
    "model.name": "llama3",
    "model.flavor": "debugmodel",
    "model.hf_assets_path": "./tests/assets/tokenizer",
    "training.local_batch_size": 8,
    "training.batch_size": 8,  # its name before torchtitan 8570415
    "training.global_batch_size": -1,
    "training.seq_len": 2048,
    "training.steps": 10000,
    "optimizer.lr": 8e-4,
    "lr_scheduler.warmup_steps": 200,
    "lr_scheduler.decay_ratio": None,
    "lr_scheduler.decay_type": "linear",
    "lr_scheduler.min_lr_factor": 0.0,
    "parallelism.data_parallel_replicate_degree": 1,
    "parallelism.data_parallel_shard_degree": -1,
    "parallelism.tensor_parallel_degree": 1,
    "parallelism.context_parallel_degree": 1,
    "parallelism.pipeline_parallel_degree": 1,
    "parallelism.expert_parallel_degree": 1,
    "activation_checkpoint.mode": "selective",
}
DECAY_TYPES = ("linear", "sqrt", "cosine")
# Mixture-of-experts models of torchtitan whose flavors are not in the table.
MOE_MODELS = ("deepseek_v3", "llama4", "qwen3_moe", "gpt_oss")


class _Job:
    def __init__(self, data: dict[str, Any], lines: dict[str, int], c: Collector) -> None:
        self.data, self.lines, self.c = data, lines, c

    def line(self, path: str) -> int | None:
        return self.lines.get(path) or self.lines.get(path.split(".", 1)[0])

    def has(self, path: str) -> bool:
        table, _, key = path.partition(".")
        node = self.data.get(table)
        return isinstance(node, dict) and key in node

    def get(self, path: str, kind: str) -> Any:
        """The value at ``path`` (its default if absent), checked to be of ``kind``."""
        if not self.has(path):
            return DEFAULTS[path]
        table, _, key = path.partition(".")
        value = self.data[table][key]
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": number(value),
            "string": isinstance(value, str),
        }[kind]
        if not ok:
            want = {"int": "an integer", "number": "a finite number", "string": "a string"}[kind]
            self.c.problem(self.line(path), path, f"expected {want}, got {value!r}")
            return None
        return float(value) if kind == "number" else value


@functools.cache
def _flavor_table() -> dict[str, Any]:
    """The flavor table shipped in presets/ (read once a process: many job files, one table)."""
    from dsplan.catalog.presets import presets_dir
    from dsplan.io import read_input

    return loads_toml(read_input(presets_dir() / FLAVORS_FILE), str(FLAVORS_FILE))


def _flavor_shape(name: str, flavor: str) -> dict[str, Any] | None:
    model = _flavor_table().get(name)
    if not isinstance(model, dict):
        return None
    found = model.get(flavor)
    return found if isinstance(found, dict) else None


def known_flavors() -> list[str]:
    data = _flavor_table()
    return [f"{m}/{f}" for m, table in data.items() if isinstance(table, dict) for f in table]


def _model(job: _Job, base_dir: Path, hf_config: str | None, seq_len: int) -> ModelConfig | None:
    c = job.c
    name = job.get("model.name", "string")
    flavor = job.get("model.flavor", "string")
    assets = job.get("model.hf_assets_path", "string")
    if name is None or flavor is None or assets is None:
        return None
    where = job.line("model.flavor") or job.line("model.name")
    candidates: list[tuple[Path, str]] = []
    assets_json = Path(assets) / "config.json"
    if not assets_json.is_absolute():
        assets_json = base_dir / assets_json
    try:
        if assets_json.is_file():
            candidates.append((assets_json, "model.hf_assets_path"))
    except OSError:  # a path the system cannot even stat (too long, ...): not there
        pass
    if not candidates and hf_config is not None:
        candidates.append((Path(hf_config), "--hf-config"))
    if candidates:
        from dsplan.model.hf_config import read_hf_config

        path, key = candidates[0]
        try:
            shape = read_hf_config(path, seq_len=seq_len).shape
        except InputError as exc:
            c.problem(job.line(key) if key.startswith("model.") else None, key, str(exc))
            return None
        return ModelConfig.from_shape(shape, seq_len)
    table = _flavor_shape(name, flavor)
    if table is None and name in MOE_MODELS:
        c.problem(
            where,
            "model.flavor",
            f"{name}/{flavor} is a mixture-of-experts model dsplan has no flavor table for "
            f"(it knows {', '.join(known_flavors())} from {RELEASE}); write it as a dsplan config "
            "with [model.moe]",
        )
        return None
    if table is None:
        c.problem(
            where,
            "model.flavor",
            f"unknown torchtitan model {name}/{flavor} (dsplan knows {', '.join(known_flavors())} "
            f"from {RELEASE}); pass --hf-config PATH with the model's config.json, or put it in "
            "model.hf_assets_path",
        )
        return None
    from dsplan.checking.run_config import MlaTable, MoeTable
    from dsplan.model.flops import Block

    block = None if table.get("qk_norm", "none") == "none" else Block(qk_norm=table["qk_norm"])
    moe = MoeTable(**table["moe"]) if "moe" in table else None
    mla = MlaTable(**table["mla"]) if "mla" in table else None
    return ModelConfig(
        n_layers=table["n_layers"],
        d_model=table["d_model"],
        n_heads=table["n_heads"],
        n_kv_heads=table["n_kv_heads"],
        d_ff=table["d_ff"],
        vocab_size=table["vocab_size"],
        seq_len=seq_len,
        tied_embeddings=bool(table.get("tied_embeddings", False)),
        head_dim=table.get("head_dim", 0),
        block=block,
        moe=moe,
        mla=mla,
    )


def _parse(text: str, file: str) -> dict[str, Any]:
    try:
        return loads_toml(text, file)
    except UnreadableFile as exc:
        raise ConfigProblems([Problem(file, None, "", exc.reason)]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigProblems([Problem(file, None, "", f"not valid TOML: {exc}")]) from None


def translate(
    text: str,
    file: str,
    *,
    base_dir: Path,
    preset: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
) -> RunConfig:
    """A torchtitan job file as a run config; see the module's docstring."""
    data = _parse(text, file)
    c = Collector(file)
    job = _Job(data, key_lines(text), c)
    for table in ("model", "training", "optimizer", "lr_scheduler", "parallelism"):
        if table in data and not isinstance(data[table], dict):
            c.problem(job.line(table), table, f"must be a table [{table}]")
    c.raise_if_any()
    batch_key = "training.local_batch_size"
    if not job.has(batch_key) and job.has("training.batch_size"):  # before torchtitan 8570415
        batch_key = "training.batch_size"
    seq_len = job.get("training.seq_len", "int")
    steps = job.get("training.steps", "int")
    local = job.get(batch_key, "int")
    global_batch = job.get("training.global_batch_size", "int")
    lr = job.get("optimizer.lr", "number")
    warmup = job.get("lr_scheduler.warmup_steps", "int")
    decay_ratio = (
        job.get("lr_scheduler.decay_ratio", "number")
        if job.has("lr_scheduler.decay_ratio")
        else None
    )
    decay_type = job.get("lr_scheduler.decay_type", "string")
    min_factor = job.get("lr_scheduler.min_lr_factor", "number")
    degrees = {
        k: job.get(f"parallelism.{k}_degree", "int")
        for k in (
            "data_parallel_replicate",
            "data_parallel_shard",
            "tensor_parallel",
            "context_parallel",
            "pipeline_parallel",
            "expert_parallel",
        )
    }
    if decay_type is not None and decay_type not in DECAY_TYPES:
        c.problem(
            job.line("lr_scheduler.decay_type"),
            "lr_scheduler.decay_type",
            f"unknown decay_type {decay_type!r} (torchtitan has {', '.join(DECAY_TYPES)})",
        )
    c.raise_if_any()
    model = _model(job, base_dir, hf_config, seq_len) if seq_len > 0 else None
    if seq_len <= 0:
        c.problem(job.line("training.seq_len"), "training.seq_len", "must be positive")
    rep, shard = degrees["data_parallel_replicate"], degrees["data_parallel_shard"]
    tp, cp, pp = (
        degrees["tensor_parallel"],
        degrees["context_parallel"],
        degrees["pipeline_parallel"],
    )
    for name, value in degrees.items():
        if value == 0 or (value < 0 and name != "data_parallel_shard") or value < -1:
            c.problem(
                job.line(f"parallelism.{name}_degree"),
                f"parallelism.{name}_degree",
                f"must be positive{' or -1' if name == 'data_parallel_shard' else ''}, got {value}",
            )
    c.raise_if_any()
    others = rep * tp * cp * pp
    world = world_size
    if shard > 0:
        world = rep * shard * tp * cp * pp
        if world_size is not None and world_size != world:
            world = world_size  # the layout rule reports the mismatch
    data_parallel = None
    if shard > 0:
        data_parallel = rep * shard
    elif world is not None and world % others == 0:
        data_parallel = rep * (world // others)
    if global_batch is not None and global_batch > 0:
        gbs = global_batch
    elif data_parallel is not None:
        gbs = local * data_parallel
    else:
        c.problem(
            job.line("parallelism.data_parallel_shard_degree") or job.line("training"),
            "training.global_batch_size",
            "the global batch is local_batch_size x DP, and DP takes the rest of the world "
            "(data_parallel_shard_degree = -1): give training.global_batch_size, or the "
            "world size with --world-size",
        )
        gbs = 0
    c.raise_if_any()
    assert model is not None  # every way to None records a problem
    # Where each dsplan quantity is written in the job file, and under which torchtitan key.
    model_key = "model.flavor" if job.has("model.flavor") else "model.name"
    batch_source = (
        "training.global_batch_size" if job.has("training.global_batch_size") else batch_key
    )
    placed = [
        *((f"model.{k}", model_key, True) for k in SHAPE_KEYS),
        ("model.seq_len", "training.seq_len", True),
        ("training.tokens", "training.steps", True),
        ("training.batch_size_sequences", batch_source, True),
        ("training.learning_rate", "optimizer.lr", True),
        ("training.warmup_steps", "lr_scheduler.warmup_steps", True),
        ("training.schedule", "lr_scheduler.decay_type", True),
        ("training.decay_fraction", "lr_scheduler.decay_ratio", True),
        ("training.final_lr_fraction", "lr_scheduler.min_lr_factor", True),
        ("layout.tensor", "parallelism.tensor_parallel_degree", False),
        ("layout.pipeline", "parallelism.pipeline_parallel_degree", False),
        ("layout.context", "parallelism.context_parallel_degree", False),
        ("layout.expert", "parallelism.expert_parallel_degree", False),
        ("layout.data", "parallelism.data_parallel_shard_degree", False),
        ("layout.micro_batch", batch_key, False),
        ("layout.global_batch", batch_source, False),
    ]
    for key, trainer, counts in placed:
        present = job.has(trainer)
        line = job.line(trainer) if present else job.line(trainer.split(".", 1)[0])
        c.place(key, line, given=counts and present, name=trainer if present else None)
    c.place("model", job.line(model_key) or job.line("model"), given=False)
    c.place("training", job.line("training"), given=False)
    c.place("layout", job.line("parallelism"), given=False)
    decay = round(steps * decay_ratio) if decay_ratio is not None else steps - warmup
    style = "cosine" if decay_type == "cosine" and decay_ratio is None else "wsd"
    if warmup >= steps or decay <= 0:
        style = "wsd"
    layout = Layout(
        tensor=tp,
        pipeline=pp,
        context=cp,
        expert=degrees["expert_parallel"],
        data=data_parallel,
        world_size=world,
        micro_batch=local,
        global_batch=gbs,
        split="torchtitan",
    )
    from dsplan.numbers import text as number_text

    # The schedule in torchtitan's words, for findings (RunConfig.terms).
    terms = {
        "warmup": f"lr_scheduler.warmup_steps {warmup}",
        "steps": f"training.steps {steps}",
        "peak": f"optimizer.lr {number_text('learning_rate', lr)}",
        "floor": f"lr_scheduler.min_lr_factor {min_factor:g}",
    }
    return build(
        c,
        dialect="torchtitan",
        model=model,
        tokens=float(steps) * gbs * seq_len,
        learning_rate=lr,
        global_batch=gbs,
        schedule=schedule_fields(style, warmup, steps, decay, min_factor),
        preset=preset,
        layout=layout,
        terms=terms,
    )
