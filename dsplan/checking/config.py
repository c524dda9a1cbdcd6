"""Run configs: the stable import path for the schema, the reader and the writers.

A run config describes one pretraining run in five tables (every key, unit and default is in
:data:`SCHEMA` and in docs/check.md)::

    [model]     n_layers, d_model, n_heads, n_kv_heads, d_ff, vocab_size, seq_len
                (or hf_config = "path/to/config.json")
    [training]  tokens, batch_size_tokens | batch_size_sequences, learning_rate, warmup_steps,
                schedule = "multistep" | "cosine" | "wsd" | "constant", and its milestones
    [data]      preset = "current" (an id or a path)
    [hardware]  gpu, num_gpus, mfu, expected_days, budget_usd (all optional)
    [check]     ignore = ["DSP302"] (rule ids or prefixes to skip for this file)

The code lives in four modules: :mod:`~dsplan.checking.schema` (keys, defaults, load problems),
:mod:`~dsplan.checking.toml_lines` (which line a key is written on), :mod:`~dsplan.checking.reader`
(TOML text to a typed :class:`RunConfig`) and :mod:`~dsplan.checking.writers` (plans and sweep runs
to TOML). This module re-exports their public names, which documented code imports from here.
"""

from __future__ import annotations

from dsplan.checking.files import load_config, read_config_text
from dsplan.checking.reader import parse_config
from dsplan.checking.run_config import HardwareConfig, ModelConfig, RunConfig, TrainingConfig
from dsplan.checking.schema import (
    CONFIG_SCHEMA_VERSION,
    DEFAULT_STAGE_FACTORS,
    DEFAULT_STAGE_FRACTIONS,
    DEFAULT_WARMUP_STEPS,
    SCHEDULES,
    SCHEMA,
    STDIN_NAME,
    TABLES,
    ConfigProblems,
    Key,
    Problem,
    closest_key,
)
from dsplan.checking.toml_lines import key_lines
from dsplan.checking.writers import config_toml, model_table, preset_reference

__all__ = [
    "CONFIG_SCHEMA_VERSION",
    "DEFAULT_STAGE_FACTORS",
    "DEFAULT_STAGE_FRACTIONS",
    "DEFAULT_WARMUP_STEPS",
    "SCHEDULES",
    "SCHEMA",
    "STDIN_NAME",
    "TABLES",
    "ConfigProblems",
    "HardwareConfig",
    "Key",
    "ModelConfig",
    "Problem",
    "RunConfig",
    "TrainingConfig",
    "closest_key",
    "config_toml",
    "key_lines",
    "load_config",
    "model_table",
    "parse_config",
    "preset_reference",
    "read_config_text",
]
