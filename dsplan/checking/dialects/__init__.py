"""Trainer dialects: ``dsplan check`` reads a trainer's own file as it is.

A dialect module translates one trainer's file (torchtitan's job TOML, a Megatron-LM launch script
or argument file, a nanotron or OLMo training YAML) into dsplan's :class:`~dsplan.checking.run_config.RunConfig`, with the trainer's
defaults filled in where a key is absent, a :class:`~dsplan.checking.run_config.Layout` of the run on
its GPUs, and a map from each dsplan key (``training.learning_rate``) to the line of the trainer's
key or argument, so that every finding points into the trainer's file. The rules then run on the
translation unchanged.

:func:`detect` names the dialect of a text from its content; the dialect modules are imported only
when a file of theirs is read (start-up laziness: ``dsplan check`` on dsplan's own TOML imports
none of them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from dsplan.errors import InputError

if TYPE_CHECKING:
    from dsplan.checking.run_config import RunConfig

DIALECTS = ("dsplan", "torchtitan", "megatron", "nanotron", "olmo")
# The YAML dialects need PyYAML, an optional extra (dialects/yaml_doc.py).
YAML_DIALECTS = ("nanotron", "olmo")
YAML_SUFFIXES = (".yaml", ".yml")

# Tables only a torchtitan job file has (torchtitan/config/job_config.py), and its parallel
# degrees; dsplan's own schema has none of them (its [parallelism] table says tensor_parallel,
# torchtitan's tensor_parallel_degree).
_TORCHTITAN_TABLES = re.compile(
    r"^\s*(\[\s*(job|lr_scheduler|activation_checkpoint|float8)\s*\]|flavor\s*=|"
    r"(parallelism\s*\.\s*)?\w+_parallel(_replicate|_shard)?_degree\s*=)",
    re.MULTILINE,
)
# A Megatron-LM argument: the model-shape flags of its parser (megatron/training/arguments.py).
# It must stand outside a comment (a dsplan TOML may say where it came from in one).
_MEGATRON_FLAGS = re.compile(
    r"^[^#\n]*?(?:^|[\s\"'(=])--(num-layers|hidden-size|num-attention-heads|seq-length|"
    r"global-batch-size|micro-batch-size|train-iters|train-samples|tensor-model-parallel-size)\b",
    re.MULTILINE,
)


# nanotron's keys (src/nanotron/config/config.py): its model config sits under model.model_config,
# and a run has tokens and parallelism sections. A YAML key is "name:", which TOML never writes.
_NANOTRON_MODEL = re.compile(r"^\s+model_config\s*:", re.MULTILINE)
_NANOTRON_TOKENS = re.compile(r"^tokens\s*:", re.MULTILINE)
_NANOTRON_PARALLELISM = re.compile(r"^parallelism\s*:", re.MULTILINE)
# OLMo's top-level training keys (olmo/config.py TrainConfig).
_OLMO_KEYS = re.compile(
    r"^(global_train_batch_size|device_train_microbatch_size|max_duration)\s*:", re.MULTILINE
)


def check_dialect(name: str) -> str:
    """``name`` if it is a dialect dsplan reads, else InputError naming the choices."""
    if name not in DIALECTS:
        raise InputError(f"unknown dialect {name!r}; choose one of: {', '.join(DIALECTS)}")
    return name


def detect(text: str) -> str:
    """The dialect of a config's text: ``nanotron``, ``olmo``, ``megatron``, ``torchtitan`` or
    ``dsplan`` (the default)."""
    if _NANOTRON_MODEL.search(text) or (
        _NANOTRON_TOKENS.search(text) and _NANOTRON_PARALLELISM.search(text)
    ):
        return "nanotron"
    if _OLMO_KEYS.search(text):
        return "olmo"
    if _TORCHTITAN_TABLES.search(text):
        return "torchtitan"
    if _MEGATRON_FLAGS.search(text):
        return "megatron"
    return "dsplan"


def translate(
    dialect: str,
    text: str,
    file: str,
    *,
    base_dir: Path,
    preset: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
) -> RunConfig:
    """Translate a trainer file of ``dialect`` (not ``dsplan``) into a run config.

    Raises:
        ConfigProblems: every problem of the file (an unreadable value, an unknown flavor, a
            variable the script does not define), each naming its line.
    """
    # Imported here, not at the top: only a file of this dialect needs its module (start-up).
    if dialect == "torchtitan":
        from dsplan.checking.dialects import torchtitan

        return torchtitan.translate(
            text, file, base_dir=base_dir, preset=preset, hf_config=hf_config, world_size=world_size
        )
    if dialect == "nanotron":
        from dsplan.checking.dialects import nanotron

        return nanotron.translate(
            text, file, base_dir=base_dir, preset=preset, hf_config=hf_config, world_size=world_size
        )
    if dialect == "olmo":
        from dsplan.checking.dialects import olmo

        return olmo.translate(
            text, file, base_dir=base_dir, preset=preset, hf_config=hf_config, world_size=world_size
        )
    from dsplan.checking.dialects import megatron

    return megatron.translate(
        text, file, base_dir=base_dir, preset=preset, hf_config=hf_config, world_size=world_size
    )
