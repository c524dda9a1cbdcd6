"""Loading a run config: TOML text to a typed :class:`RunConfig`, or every problem of the file.

The loader only checks what a schema can: TOML syntax, known keys, value types, required keys.
It collects every such problem in a file before it raises, naming the file, the line (the TOML
parser's line for syntax errors; for keys, the line where the key is written) and the key. Whether
the values make sense is the rules' business (:mod:`dsplan.checking.rules`): those are findings,
not load errors.
Finding config files, reading them and choosing a dialect is :mod:`dsplan.checking.files`.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from dsplan.catalog.presets import load_preset
from dsplan.checking.parallelism import parallelism_layout
from dsplan.checking.run_config import (
    HardwareConfig,
    MlaTable,
    ModelConfig,
    MoeTable,
    RunConfig,
    TrainingConfig,
)
from dsplan.checking.schema import (
    CONFIG_SCHEMA_VERSION,
    DEFAULT_STAGE_FACTORS,
    DEFAULT_STAGE_FRACTIONS,
    DEFAULT_WARMUP_STEPS,
    SCHEDULES,
    SCHEMA,
    SHAPE_KEYS,
    ConfigProblems,
    Problem,
)
from dsplan.checking.toml_lines import key_lines
from dsplan.checking.values import ConfigReader, check_gpu, resolve_name
from dsplan.errors import InputError, PresetError
from dsplan.io import UnreadableFile, loads_toml
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.flops import swiglu_d_ff
from dsplan.scheduling.schedules import DEFAULT_DECAY_FRACTION, DEFAULT_FINAL_LR_FRACTION

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def _model(r: ConfigReader, base_dir: Path) -> ModelConfig | None:
    model = _dense_model(r, base_dir)
    table = r.data["model"]
    if not any(isinstance(table.get(sub), dict) for sub in ("moe", "mla")):
        return model
    if "hf_config" in table:
        r.problem("model.moe", "give either model.hf_config or [model.moe], not both")
        return None
    moe = _moe_table(r) if isinstance(table.get("moe"), dict) else None
    mla = _mla_table(r) if isinstance(table.get("mla"), dict) else None
    if "moe" not in table:
        r.problem("model.mla", "[model.mla] needs [model.moe]: dsplan counts MLA in MoE models")
        return None
    if model is None or moe is None or ("mla" in table and mla is None):
        return None
    if mla is not None and "model.n_kv_heads" not in r.given:
        model = replace(model, n_kv_heads=model.n_heads)  # MLA: a key/value head per query head
    return replace(model, moe=moe, mla=mla)


def _table_values(r: ConfigReader, table: str) -> dict[str, Any] | None:
    """The keys of a sub-table, type-checked, with the required ones present; else None."""
    values = {k.name: r.get(k.path) for k in SCHEMA if k.table == table}
    for k in SCHEMA:
        if k.table == table and k.required:
            r.required(k.path, values[k.name])
    if any(f"{table}.{name}" in r.given and v is None for name, v in values.items()):
        return None
    if any(values[k.name] is None for k in SCHEMA if k.table == table and k.required):
        return None
    return {name: v for name, v in values.items() if v is not None}


def _moe_table(r: ConfigReader) -> MoeTable | None:
    values = _table_values(r, "model.moe")
    return None if values is None else MoeTable(**values)


def _mla_table(r: ConfigReader) -> MlaTable | None:
    values = _table_values(r, "model.mla")
    return None if values is None else MlaTable(**values)


def _dense_model(r: ConfigReader, base_dir: Path) -> ModelConfig | None:
    hf = r.get("model.hf_config")
    seq_len = r.get("model.seq_len")
    if hf is not None:
        table = r.data["model"]
        clash = [f"model.{k}" for k in (*SHAPE_KEYS, "tied_embeddings") if k in table]
        for key in clash:
            r.problem(key, "give either model.hf_config or the shape keys, not both")
        if clash:
            return None
        from dsplan.model.hf_moe import HfMoeConfig, read_any_hf_config

        hf_path = Path(hf)
        if not hf_path.is_absolute():
            hf_path = base_dir / hf_path
        try:
            read = read_any_hf_config(hf_path)
        except InputError as exc:
            r.problem("model.hf_config", str(exc))
            return None
        if isinstance(read, HfMoeConfig):
            return ModelConfig.from_moe_shape(read.shape, seq_len)
        return ModelConfig.from_shape(read.shape, seq_len)
    values = {k: r.get(f"model.{k}") for k in SHAPE_KEYS}
    tied = r.get("model.tied_embeddings")
    for key in ("n_layers", "d_model", "n_heads"):
        r.required(f"model.{key}", values[key], " (or give model.hf_config)")
    if any(values[k] is None for k in ("n_layers", "d_model", "n_heads")):
        return None
    if any(f"model.{k}" in r.given and values[k] is None for k in SHAPE_KEYS):
        return None
    d_model = values["d_model"]
    return ModelConfig(
        n_layers=values["n_layers"],
        d_model=d_model,
        n_heads=values["n_heads"],
        n_kv_heads=values["n_kv_heads"] if values["n_kv_heads"] is not None else values["n_heads"],
        d_ff=values["d_ff"] if values["d_ff"] is not None else swiglu_d_ff(max(d_model, 1)),
        vocab_size=values["vocab_size"] if values["vocab_size"] is not None else DEFAULT_VOCAB_SIZE,
        seq_len=seq_len if seq_len is not None else DEFAULT_SEQ_LEN,
        tied_embeddings=bool(tied),
    )


def _training(r: ConfigReader) -> TrainingConfig | None:
    t = {k.name: r.get(k.path) for k in SCHEMA if k.table == "training"}
    r.required("training.tokens", t["tokens"])
    r.required("training.learning_rate", t["learning_rate"])
    batch_keys = {"training.batch_size_tokens", "training.batch_size_sequences"}
    if not batch_keys & (r.given | r.suggested):
        r.problem(
            "training",
            "missing the batch size: give training.batch_size_tokens or "
            "training.batch_size_sequences",
        )
    schedule = t["schedule"]
    if schedule is not None and schedule not in SCHEDULES:
        close = difflib.get_close_matches(schedule, SCHEDULES, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        r.problem(
            "training.schedule",
            f"unknown schedule {schedule!r}{hint} (choose one of: {', '.join(SCHEDULES)})",
        )
        return None
    if t["stage_fractions"] is not None and t["stage_tokens"] is not None:
        r.problem(
            "training.stage_tokens",
            "give either training.stage_fractions or training.stage_tokens, not both",
        )
    given_bad = any(
        k.path in r.given and t[k.name] is None for k in SCHEMA if k.table == "training"
    )
    if given_bad or t["tokens"] is None or t["learning_rate"] is None:
        return None
    if t["batch_size_tokens"] is None and t["batch_size_sequences"] is None:
        return None
    fractions = t["stage_fractions"]
    if fractions is None and t["stage_tokens"] is None:
        fractions = DEFAULT_STAGE_FRACTIONS
    return TrainingConfig(
        tokens=t["tokens"],
        learning_rate=t["learning_rate"],
        batch_size_tokens=t["batch_size_tokens"],
        batch_size_sequences=t["batch_size_sequences"],
        warmup_steps=DEFAULT_WARMUP_STEPS if t["warmup_steps"] is None else t["warmup_steps"],
        schedule=schedule or "multistep",
        stage_fractions=fractions,
        stage_tokens=t["stage_tokens"],
        stage_factors=DEFAULT_STAGE_FACTORS if t["stage_factors"] is None else t["stage_factors"],
        final_lr_fraction=(
            DEFAULT_FINAL_LR_FRACTION if t["final_lr_fraction"] is None else t["final_lr_fraction"]
        ),
        decay_fraction=(
            DEFAULT_DECAY_FRACTION if t["decay_fraction"] is None else t["decay_fraction"]
        ),
    )


def parse_config(
    text: str, file: str, *, base_dir: Path | None = None, preset: str | None = None
) -> RunConfig:
    """Parse and type-check the text of a run config.

    Args:
        text: The TOML text.
        file: The name to report (a path, or ``<stdin>``).
        base_dir: Where relative paths in the config (hf_config, a preset file) are resolved;
            the current directory if ``None``.
        preset: A preset id or path that overrides ``[data].preset`` (the CLI's ``--preset``).

    Raises:
        ConfigProblems: every syntax, unknown-key, type and missing-key problem of the file.
    """
    base = base_dir if base_dir is not None else Path()
    try:
        data = loads_toml(text, file)
    except UnreadableFile as exc:
        raise ConfigProblems([Problem(file, None, "", exc.reason)]) from None
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise ConfigProblems([Problem(file, line, "", f"not valid TOML: {exc}")]) from None
    lines = key_lines(text)
    r = ConfigReader(data, file, lines)
    r.check_unknown()
    version = r.get("schema_version")
    if version is not None and version != CONFIG_SCHEMA_VERSION:
        r.problem(
            "schema_version",
            f"unsupported schema_version {version}; this dsplan reads {CONFIG_SCHEMA_VERSION}",
        )
    for table in ("model", "training"):
        if table not in data:
            r.problem(table, f"missing table [{table}]")
    model = _model(r, base) if isinstance(data.get("model"), dict) else None
    training = _training(r) if isinstance(data.get("training"), dict) else None
    preset_value = r.get("data.preset")
    hyper_value = _hyperparameters(r, base)
    hardware = _hardware(r, base)
    ignore = r.get("check.ignore") or ()
    inference_tokens = r.get("plan.inference_tokens")
    if inference_tokens is not None and inference_tokens < 0:
        r.problem("plan.inference_tokens", f"must be 0 or more tokens, got {inference_tokens!r}")
    chosen = _preset(r, base, preset, preset_value)
    layout = None
    if isinstance(data.get("parallelism"), dict) and model is not None and training is not None:
        layout = parallelism_layout(r, base, hardware, training, model.seq_len)
    if r.problems or model is None or training is None:
        raise ConfigProblems(r.problems)
    return RunConfig(
        file=file,
        model=model,
        training=training,
        preset=chosen,
        hardware=hardware,
        ignore=tuple(ignore),
        hyperparameters=hyper_value,
        given=frozenset(r.given),
        inference_tokens=inference_tokens,
        lines=lines,
        layout=layout,
        trainer_keys=r.layout_names,
    )


def _hyperparameters(r: ConfigReader, base: Path) -> str | None:
    """``data.hyperparameters``, resolved from the config's folder and loaded once to check it."""
    value = r.get("data.hyperparameters")
    if value is None:
        return None
    from dsplan.catalog.presets import load_hyperparameter_law

    value = resolve_name(value, base)
    try:
        load_hyperparameter_law(value)
    except InputError as exc:
        r.problem("data.hyperparameters", str(exc))
    return str(value)


def _hardware(r: ConfigReader, base: Path) -> HardwareConfig:
    hardware = HardwareConfig(**{k.name: r.get(k.path) for k in SCHEMA if k.table == "hardware"})
    if hardware.gpu is not None:
        hardware = replace(hardware, gpu=resolve_name(hardware.gpu, base))
    check_gpu(r, hardware)
    return hardware


def _preset(r: ConfigReader, base: Path, override: str | None, value: str | None) -> str:
    """The preset to check against: ``--preset``, else ``data.preset`` (loaded to check it)."""
    if override is not None or value is None:
        return override or "current"
    chosen = resolve_name(value, base)
    try:
        load_preset(chosen)
    except PresetError as exc:
        r.problem("data.preset", str(exc))
    return chosen
