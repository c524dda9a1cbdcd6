"""Writing run configs: the TOML that ``dsplan budget --format toml`` and ``dsplan sweep
--configs-dir`` produce, and that ``dsplan check --strict`` reads back without a finding."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dsplan.catalog.presets import Preset, presets_dir
from dsplan.checking.schema import (
    CONFIG_SCHEMA_VERSION,
    DEFAULT_STAGE_FACTORS,
    DEFAULT_STAGE_FRACTIONS,
)

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.planning.cost import Cost
    from dsplan.planning.plan import Plan


def _toml_number(key: str, value: float) -> str:
    """A finite number under ``key`` as TOML, written as every document is
    (:mod:`dsplan.output.numbers`: whole quantities as integers, the rest to 7 digits)."""
    from dsplan.output.numbers import text

    return text(key, float(value))


def config_toml(plan: Plan, cost: Cost | None = None) -> str:
    """The run config of a plan, as TOML that ``dsplan check`` reads back.

    The batch is written in sequences (what the plan rounds to) and the schedule as DeepSeek's
    multi-step one with the plan's warm-up; tokens are a whole number (C / M rounded) and rates
    keep 7 significant digits, well inside every tolerance of ``dsplan check``.
    With a ``cost`` (``dsplan budget --gpu ...``), a ``[hardware]`` table holds the GPU, precision,
    MFU and, where known, the GPU count, the wall-clock days and the spending limit.
    """
    h = plan.hyperparameters
    sched = plan.schedule
    preset = plan.preset
    stage_fractions = ", ".join(repr(f) for f in DEFAULT_STAGE_FRACTIONS)
    stage_factors = ", ".join(repr(f) for f in DEFAULT_STAGE_FACTORS)
    lines = [
        f"# dsplan budget {plan.compute_flops:.4g}: compute-optimal run under preset {preset.id!r}.",
        f"# C = M * D = {plan.architecture.flops_per_token} FLOPs/token x "
        f"{plan.training.tokens:.6g} tokens. Check it with: dsplan check FILE",
        f"schema_version = {CONFIG_SCHEMA_VERSION}",
        "",
        *model_table(plan.architecture.shape),
        "",
        "[training]",
        f"tokens = {_toml_number('tokens', plan.training.tokens)}",
        f"batch_size_sequences = {h.batch_size_sequences}  # {h.tokens_per_step} tokens per step",
        f"learning_rate = {_toml_number('learning_rate', h.learning_rate)}",
        f"warmup_steps = {sched.warmup_steps}",
        'schedule = "multistep"',
        f"stage_fractions = [{stage_fractions}]",
        f"stage_factors = [{stage_factors}]",
        "",
        "[data]",
        f"preset = {_toml_string(preset_reference(preset))}",
    ]
    if plan.options.hyperparameters is not None:
        lines.append(f"hyperparameters = {_toml_string(plan.options.hyperparameters)}")
    if cost is not None:
        hw = cost.hardware
        lines += [
            "",
            "[hardware]",
            f"gpu = {_toml_string(hw.gpu.id)}",
            f"dtype = {_toml_string(hw.dtype)}",
            f"mfu = {_toml_number('mfu', hw.mfu)}",
        ]
        if cost.n_gpus is not None:
            lines.append(f"num_gpus = {cost.n_gpus}")
        days = cost.wall_clock_days
        if days is not None:
            lines.append(f"expected_days = {_toml_number('expected_days', days)}")
        if hw.max_cost_usd is not None:
            lines.append(f"budget_usd = {_toml_number('budget_usd', hw.max_cost_usd)}")
        if hw.price_usd_per_gpu_hour is not None and hw.price_source == "given":
            price = _toml_number("price_usd_per_gpu_hour", hw.price_usd_per_gpu_hour)
            lines.append(f"price_usd_per_gpu_hour = {price}")
    return "\n".join(lines) + "\n"


def model_table(shape: Shape) -> list[str]:
    """The ``[model]`` table of a run config, one line per key."""
    return [
        "[model]",
        f"n_layers = {shape.n_layers}",
        f"d_model = {shape.d_model}",
        f"n_heads = {shape.n_heads}",
        f"n_kv_heads = {shape.n_kv_heads}",
        f"d_ff = {shape.d_ff}",
        f"vocab_size = {shape.vocab_size}",
        f"seq_len = {shape.seq_len}",
        f"tied_embeddings = {'true' if shape.tied_embeddings else 'false'}",
    ]


def preset_reference(preset: Preset, folder: Path | None = None) -> str:
    """How a run config names ``preset`` in ``data.preset``: its id when shipped, else its path.

    A config's relative preset path is resolved from the config's folder, so a config written into
    ``folder`` gets the path relative to that folder (absolute where none exists); a config whose
    folder is unknown (``dsplan budget --format toml`` writes to stdout) gets the absolute path.
    """
    target = Path(preset.path).resolve()
    if target.parent == presets_dir().resolve():
        return preset.id
    if folder is None:
        return str(target)
    try:
        return os.path.relpath(target, Path(folder).resolve())
    except ValueError:  # another drive on Windows: no relative path exists
        return str(target)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
