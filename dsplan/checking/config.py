"""Run configs: the TOML schema that ``dsplan check`` validates, its loader and its writer.

A run config describes one pretraining run in four tables (every key, unit and default is in
:data:`SCHEMA` and in docs/check.md)::

    [model]     n_layers, d_model, n_heads, n_kv_heads, d_ff, vocab_size, seq_len
                (or hf_config = "path/to/config.json")
    [training]  tokens, batch_size_tokens | batch_size_sequences, learning_rate, warmup_steps,
                schedule = "multistep" | "cosine" | "wsd" | "constant", and its milestones
    [data]      preset = "current" (an id or a path)
    [hardware]  gpu, num_gpus, mfu, expected_days, budget_usd (all optional)
    [check]     ignore = ["DSP302"] (rule ids to skip for this file)

The loader only checks what a schema can: TOML syntax, known keys, value types, required keys.
It collects every such problem in a file before it raises, naming the file, the line (the TOML
parser's line for syntax errors; for keys, the line where the key is written) and the key. Whether
the values make sense is :mod:`dsplan.checking.rules`'s business: those are findings, not load errors.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsplan.catalog.presets import Preset, load_preset, looks_like_path, presets_dir
from dsplan.errors import ConfigError, InputError, PresetError
from dsplan.scheduling.schedules import DEFAULT_DECAY_FRACTION, DEFAULT_FINAL_LR_FRACTION

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.planning.cost import Cost
    from dsplan.planning.plan import Plan

CONFIG_SCHEMA_VERSION = 1
SCHEDULES = ("multistep", "cosine", "wsd", "constant")
STDIN_NAME = "<stdin>"

# Defaults of the schedule keys: the multi-step ones are DeepSeek's (arXiv 2401.02954, Section 2.3);
# the cosine/WSD floor and the WSD decay fraction are `dsplan schedule`'s (dsplan.scheduling.schedules).
DEFAULT_STAGE_FRACTIONS = (0.8, 0.9)
DEFAULT_STAGE_FACTORS = (0.316, 0.1)
DEFAULT_WARMUP_STEPS = 2000


@dataclass(frozen=True)
class Key:
    """One key of the run-config schema."""

    table: str
    name: str
    kind: str  # "int", "number", "string", "bool", "numbers" (array), "strings" (array)
    unit: str
    default: Any
    description: str
    required: bool = False

    @property
    def path(self) -> str:
        return f"{self.table}.{self.name}" if self.table else self.name


_NO_DEFAULT = None

SCHEMA: tuple[Key, ...] = (
    Key("", "schema_version", "int", "", 1, "Version of this schema; 1."),
    # [model]: required unless hf_config is given; the defaults are DeepSeek's.
    Key("model", "n_layers", "int", "layers", _NO_DEFAULT, "Transformer blocks.", required=True),
    Key("model", "d_model", "int", "", _NO_DEFAULT, "Hidden width.", required=True),
    Key("model", "n_heads", "int", "heads", _NO_DEFAULT, "Query heads.", required=True),
    Key("model", "n_kv_heads", "int", "heads", "n_heads", "Key/value heads (GQA); MHA if omitted."),
    Key("model", "d_ff", "int", "", "8/3 d_model rounded up to 256", "SwiGLU inner width."),
    Key("model", "vocab_size", "int", "tokens", 102_400, "Vocabulary size."),
    Key("model", "seq_len", "int", "tokens", 4096, "Training sequence length."),
    Key("model", "tied_embeddings", "bool", "", False, "Input embedding shared with the head."),
    Key(
        "model",
        "hf_config",
        "string",
        "path",
        _NO_DEFAULT,
        "A Hugging Face config.json (relative to this file) instead of the shape keys; "
        "seq_len may still be given and wins over max_position_embeddings.",
    ),
    # [training]
    Key("training", "tokens", "number", "tokens", _NO_DEFAULT, "Training tokens D.", required=True),
    Key(
        "training",
        "batch_size_tokens",
        "number",
        "tokens/step",
        _NO_DEFAULT,
        "Global batch in tokens (give this or batch_size_sequences).",
    ),
    Key(
        "training",
        "batch_size_sequences",
        "int",
        "sequences/step",
        _NO_DEFAULT,
        "Global batch in sequences of seq_len tokens.",
    ),
    Key(
        "training",
        "learning_rate",
        "number",
        "",
        _NO_DEFAULT,
        "Peak learning rate (after warm-up).",
        required=True,
    ),
    Key("training", "warmup_steps", "int", "steps", DEFAULT_WARMUP_STEPS, "Linear warm-up length."),
    Key("training", "schedule", "string", "", "multistep", "multistep, cosine, wsd or constant."),
    Key(
        "training",
        "stage_fractions",
        "numbers",
        "fraction of tokens",
        list(DEFAULT_STAGE_FRACTIONS),
        "multistep: where the rate drops, as fractions of the training tokens.",
    ),
    Key(
        "training",
        "stage_tokens",
        "numbers",
        "tokens",
        _NO_DEFAULT,
        "multistep: where the rate drops, in tokens (instead of stage_fractions).",
    ),
    Key(
        "training",
        "stage_factors",
        "numbers",
        "fraction of peak",
        list(DEFAULT_STAGE_FACTORS),
        "multistep: the rate after each drop.",
    ),
    Key(
        "training",
        "final_lr_fraction",
        "number",
        "fraction of peak",
        DEFAULT_FINAL_LR_FRACTION,
        "cosine and wsd: the rate at the end of the run.",
    ),
    Key(
        "training",
        "decay_fraction",
        "number",
        "fraction of tokens",
        DEFAULT_DECAY_FRACTION,
        "wsd: the final part of the run over which the rate decays.",
    ),
    # [data]
    Key("data", "preset", "string", "", "current", "Law preset: an id or a path to a .toml file."),
    Key(
        "data",
        "hyperparameters",
        "string",
        "",
        "the preset's own Eq. 1, else the law it names",
        "Hyperparameter law id or file (as `dsplan budget --hyperparameters`).",
    ),
    # [hardware]: all optional
    Key("hardware", "gpu", "string", "", _NO_DEFAULT, "GPU id or alias (see `dsplan gpus`)."),
    Key(
        "hardware",
        "dtype",
        "string",
        "",
        "bf16 (fp16 where the GPU has no bf16)",
        "Training precision; MFU is against its dense peak.",
    ),
    Key("hardware", "num_gpus", "int", "GPUs", _NO_DEFAULT, "GPUs the run uses."),
    Key("hardware", "mfu", "number", "fraction", _NO_DEFAULT, "Model FLOPs utilisation planned."),
    Key("hardware", "expected_days", "number", "days", _NO_DEFAULT, "Wall-clock time claimed."),
    Key("hardware", "budget_usd", "number", "USD", _NO_DEFAULT, "Money available for the run."),
    Key(
        "hardware",
        "price_usd_per_gpu_hour",
        "number",
        "USD/GPU-hour",
        "the GPU table's price",
        "Price used against budget_usd.",
    ),
    # [check]
    Key("check", "ignore", "strings", "rule ids", [], "Rules to skip for this file."),
)

TABLES = ("model", "training", "data", "hardware", "check")
_BY_PATH = {k.path: k for k in SCHEMA}
_SHAPE_KEYS = ("n_layers", "d_model", "n_heads", "n_kv_heads", "d_ff", "vocab_size")

# Names people carry over from other frameworks, mapped to ours, for the "did you mean" hint.
_ALIASES = {
    "lr": "training.learning_rate",
    "peak_lr": "training.learning_rate",
    "max_lr": "training.learning_rate",
    "batch_size": "training.batch_size_sequences",
    "global_batch_size": "training.batch_size_sequences",
    "train_batch_size": "training.batch_size_sequences",
    "micro_batch_size": "training.batch_size_sequences",
    "batch_tokens": "training.batch_size_tokens",
    "tokens_per_step": "training.batch_size_tokens",
    "warmup": "training.warmup_steps",
    "warmup_iters": "training.warmup_steps",
    "lr_warmup_steps": "training.warmup_steps",
    "train_tokens": "training.tokens",
    "total_tokens": "training.tokens",
    "n_tokens": "training.tokens",
    "lr_schedule": "training.schedule",
    "scheduler": "training.schedule",
    "num_hidden_layers": "model.n_layers",
    "num_layers": "model.n_layers",
    "n_layer": "model.n_layers",
    "hidden_size": "model.d_model",
    "n_embd": "model.d_model",
    "dim": "model.d_model",
    "num_attention_heads": "model.n_heads",
    "n_head": "model.n_heads",
    "num_key_value_heads": "model.n_kv_heads",
    "n_kv_head": "model.n_kv_heads",
    "intermediate_size": "model.d_ff",
    "ffn_dim": "model.d_ff",
    "ffn_hidden_size": "model.d_ff",
    "max_position_embeddings": "model.seq_len",
    "seq_length": "model.seq_len",
    "context_length": "model.seq_len",
    "block_size": "model.seq_len",
    "max_seq_len": "model.seq_len",
    "n_vocab": "model.vocab_size",
    "gpus": "hardware.num_gpus",
    "n_gpus": "hardware.num_gpus",
    "gpu_count": "hardware.num_gpus",
    "days": "hardware.expected_days",
    "budget": "hardware.budget_usd",
    "cost_usd": "hardware.budget_usd",
}


@dataclass(frozen=True)
class Problem:
    """One reason a config cannot be loaded: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigProblems(ConfigError):
    """Every problem found while loading one config file (exit 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class ModelConfig:
    """The ``[model]`` table, with defaults filled in. Sizes are not validated here (see check)."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab_size: int
    seq_len: int
    tied_embeddings: bool

    def shape(self) -> Shape:
        """The :class:`~dsplan.model.flops.Shape`; raises InputError if the sizes are inconsistent."""
        from dsplan.model.flops import Shape

        return Shape(
            n_layers=self.n_layers,
            d_model=self.d_model,
            n_heads=self.n_heads,
            n_kv_heads=self.n_kv_heads,
            d_ff=self.d_ff,
            vocab_size=self.vocab_size,
            seq_len=self.seq_len,
            tied_embeddings=self.tied_embeddings,
        )


@dataclass(frozen=True)
class TrainingConfig:
    """The ``[training]`` table, with defaults filled in."""

    tokens: float
    learning_rate: float
    batch_size_tokens: float | None
    batch_size_sequences: int | None
    warmup_steps: int
    schedule: str
    stage_fractions: tuple[float, ...] | None
    stage_tokens: tuple[float, ...] | None
    stage_factors: tuple[float, ...]
    final_lr_fraction: float
    decay_fraction: float


@dataclass(frozen=True)
class HardwareConfig:
    """The ``[hardware]`` table; every key optional."""

    gpu: str | None = None
    dtype: str | None = None
    num_gpus: int | None = None
    mfu: float | None = None
    expected_days: float | None = None
    budget_usd: float | None = None
    price_usd_per_gpu_hour: float | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


@dataclass(frozen=True)
class RunConfig:
    """A loaded run config: typed values, where each key was written, and what was given."""

    file: str
    model: ModelConfig
    training: TrainingConfig
    preset: str
    hardware: HardwareConfig
    ignore: tuple[str, ...] = ()
    hyperparameters: str | None = None
    given: frozenset[str] = frozenset()
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def line_of(self, key: str) -> int | None:
        """The line where ``key`` (``training.learning_rate``) or its table is written, if known."""
        return _line_of(self.lines, key)


def _line_of(lines: dict[str, int], key: str) -> int | None:
    if key in lines:
        return lines[key]
    return lines.get(key.split(".", 1)[0])


# A TOML key: bare, "quoted" or 'literal' parts joined by dots (``a."b".c``).
_KEY = r"""(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*"""
_HEADER = re.compile(rf"^\s*\[\s*({_KEY})\s*\]")
_ASSIGN = re.compile(rf"^\s*({_KEY})\s*=")
_KEY_PART = re.compile(r"""[A-Za-z0-9_\-]+|"([^"]*)"|'([^']*)'""")


def _key_parts(key: str) -> list[str]:
    return [m.group(1) or m.group(2) or m.group(0) for m in _KEY_PART.finditer(key)]


def key_lines(text: str) -> dict[str, int]:
    """Map ``table.key`` (and ``table``) to the 1-based line it is written on.

    A light scan of the common TOML layout (``[table]`` headers, ``key = value`` lines, with bare,
    quoted or dotted keys; a dotted key also places each of its prefixes). Keys it cannot place
    (inside inline tables) simply have no line, and their table's line is used.
    """
    lines: dict[str, int] = {}
    table = ""
    in_multiline = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if raw.count('"""') % 2 or raw.count("'''") % 2:
                in_multiline = False
            continue
        header = _HEADER.match(raw)
        if header:
            table = ".".join(_key_parts(header.group(1)))
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(raw)
        if assign:
            parts = [*([table] if table else []), *_key_parts(assign.group(1))]
            for end in range(1, len(parts) + 1):
                lines.setdefault(".".join(parts[:end]), number)
            if raw.count('"""') % 2 or raw.count("'''") % 2:
                in_multiline = True
    return lines


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def closest_key(path: str) -> str | None:
    """The known key closest to an unknown ``table.key`` (aliases first, then spelling)."""
    table, _, name = path.rpartition(".")
    if name in _ALIASES:
        return _ALIASES[name]
    # The right name in the wrong table (learning_rate under [model]).
    elsewhere = [k.path for k in SCHEMA if k.name == name]
    if elsewhere:
        return elsewhere[0]
    same_table = [k.name for k in SCHEMA if k.table == table]
    close = difflib.get_close_matches(name, same_table, n=1, cutoff=0.6)
    if close:
        return f"{table}.{close[0]}" if table else close[0]
    close = difflib.get_close_matches(name, [k.name for k in SCHEMA], n=1, cutoff=0.75)
    if close:
        return next(k.path for k in SCHEMA if k.name == close[0])
    return None


class _Reader:
    """Collects typed values and problems while walking one parsed config."""

    def __init__(self, data: dict[str, Any], file: str, lines: dict[str, int]) -> None:
        self.data = data
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []
        self.given: set[str] = set()
        self.suggested: set[str] = set()  # known keys offered for unknown ones

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, _line_of(self.lines, key), key, message))

    def check_unknown(self) -> None:
        for name, value in self.data.items():
            if name in TABLES:
                if not isinstance(value, dict):
                    self.problem(name, f"must be a table [{name}], got {_type_name(value)}")
                    continue
                for key in value:
                    path = f"{name}.{key}"
                    if path not in _BY_PATH:
                        self._unknown(path)
            elif name not in _BY_PATH:
                if isinstance(value, dict):
                    close = difflib.get_close_matches(name, TABLES, n=1, cutoff=0.6)
                    hint = f"; did you mean [{close[0]}]?" if close else ""
                    self.problem(
                        name, f"unknown table [{name}]{hint} (tables: {', '.join(TABLES)})"
                    )
                else:
                    self._unknown(name)

    def _unknown(self, path: str) -> None:
        parent, _, name = path.rpartition(".")
        if parent and name in TABLES:  # [model] training.tokens = ...: a table in the wrong one
            nested = self.data.get(parent, {}).get(name)
            if isinstance(nested, dict):  # its keys are not missing, only misplaced
                self.suggested.update(f"{name}.{key}" for key in nested)
            self.problem(path, f"unknown key; move it to the top-level [{name}] table")
            return
        close = closest_key(path)
        if close:
            self.suggested.add(close)
        hint = f"; did you mean {close}?" if close else ""
        self.problem(path, f"unknown key{hint}")

    def raw(self, path: str) -> Any:
        table, _, name = path.rpartition(".")
        node = self.data.get(table, {}) if table else self.data
        if not isinstance(node, dict) or name not in node:
            return None
        self.given.add(path)
        return node[name]

    def get(self, path: str) -> Any:
        """The value at ``path`` checked against the schema's kind; ``None`` if absent or wrong."""
        spec = _BY_PATH[path]
        value = self.raw(path)
        if value is None:
            return None
        kind = spec.kind
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                self.problem(path, f"expected an integer, got {_type_name(value)} ({value!r})")
                return None
            return value
        if kind == "number":
            if not _is_number(value):
                self.problem(path, f"expected a number, got {_type_name(value)} ({value!r})")
                return None
            if not math.isfinite(value):
                self.problem(path, f"expected a finite number, got {value!r}")
                return None
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                self.problem(path, f"expected true or false, got {_type_name(value)} ({value!r})")
                return None
            return value
        if kind == "string":
            if not isinstance(value, str):
                self.problem(path, f"expected a string, got {_type_name(value)} ({value!r})")
                return None
            return value
        if kind == "numbers":
            if not isinstance(value, list) or not all(
                _is_number(v) and math.isfinite(v) for v in value
            ):
                self.problem(
                    path,
                    f"expected an array of finite numbers, got {_type_name(value)} ({value!r})",
                )
                return None
            return tuple(float(v) for v in value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(path, f"expected an array of strings, got {_type_name(value)} ({value!r})")
            return None
        return tuple(value)

    def required(self, path: str, value: Any, why: str = "") -> None:
        # A misspelt key already says "did you mean <this>": no second line for the same mistake.
        if value is None and path not in self.given and path not in self.suggested:
            self.problem(path, f"missing required key{why}")


def _model(r: _Reader, base_dir: Path) -> ModelConfig | None:
    hf = r.get("model.hf_config")
    seq_len = r.get("model.seq_len")
    if hf is not None:
        table = r.data["model"]
        clash = [f"model.{k}" for k in (*_SHAPE_KEYS, "tied_embeddings") if k in table]
        for key in clash:
            r.problem(key, "give either model.hf_config or the shape keys, not both")
        if clash:
            return None
        from dsplan.model.hf_config import shape_from_hf_config

        hf_path = Path(hf)
        if not hf_path.is_absolute():
            hf_path = base_dir / hf_path
        try:
            shape = shape_from_hf_config(hf_path)
        except InputError as exc:
            r.problem("model.hf_config", str(exc))
            return None
        return ModelConfig(
            n_layers=shape.n_layers,
            d_model=shape.d_model,
            n_heads=shape.n_heads,
            n_kv_heads=shape.n_kv_heads,
            d_ff=shape.d_ff,
            vocab_size=shape.vocab_size,
            seq_len=shape.seq_len if seq_len is None else seq_len,
            tied_embeddings=shape.tied_embeddings,
        )
    values = {k: r.get(f"model.{k}") for k in _SHAPE_KEYS}
    tied = r.get("model.tied_embeddings")
    for key in ("n_layers", "d_model", "n_heads"):
        r.required(f"model.{key}", values[key], " (or give model.hf_config)")
    if any(values[k] is None for k in ("n_layers", "d_model", "n_heads")):
        return None
    if any(f"model.{k}" in r.given and values[k] is None for k in _SHAPE_KEYS):
        return None
    from dsplan.model.flops import swiglu_d_ff

    d_model = values["d_model"]
    return ModelConfig(
        n_layers=values["n_layers"],
        d_model=d_model,
        n_heads=values["n_heads"],
        n_kv_heads=values["n_kv_heads"] if values["n_kv_heads"] is not None else values["n_heads"],
        d_ff=values["d_ff"] if values["d_ff"] is not None else swiglu_d_ff(max(d_model, 1)),
        vocab_size=values["vocab_size"] if values["vocab_size"] is not None else 102_400,
        seq_len=seq_len if seq_len is not None else 4096,
        tied_embeddings=bool(tied),
    )


def _training(r: _Reader) -> TrainingConfig | None:
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
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise ConfigProblems([Problem(file, line, "", f"not valid TOML: {exc}")]) from None
    lines = key_lines(text)
    r = _Reader(data, file, lines)
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
    hyper_value = r.get("data.hyperparameters")
    if hyper_value is not None:
        from dsplan.catalog.presets import load_hyperparameter_law

        hyper_value = _resolve(hyper_value, base)
        try:
            load_hyperparameter_law(hyper_value)
        except InputError as exc:
            r.problem("data.hyperparameters", str(exc))
    hardware = HardwareConfig(**{k.name: r.get(k.path) for k in SCHEMA if k.table == "hardware"})
    if hardware.gpu is not None:
        hardware = replace(hardware, gpu=_resolve(hardware.gpu, base))
    _check_gpu(r, hardware)
    ignore = r.get("check.ignore") or ()
    chosen = preset or preset_value or "current"
    if preset is None and preset_value is not None:
        chosen = _resolve(preset_value, base)
        try:
            load_preset(chosen)
        except PresetError as exc:
            r.problem("data.preset", str(exc))
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
        lines=lines,
    )


def _check_gpu(r: _Reader, hw: HardwareConfig) -> None:
    """An unknown GPU or a precision it lacks is a load error, like an unknown preset."""
    if hw.gpu is None:
        if hw.dtype is not None:
            r.problem("hardware.dtype", "hardware.dtype needs hardware.gpu")
        return
    from dsplan.catalog.gpus import TRAINING_DTYPES, get_gpu

    try:
        gpu = get_gpu(hw.gpu)
    except InputError as exc:
        r.problem("hardware.gpu", str(exc))
        return
    if hw.dtype is not None:
        have = [d for d in TRAINING_DTYPES if gpu.peak_flops(d) is not None]
        if hw.dtype not in have:
            r.problem(
                "hardware.dtype",
                f"{gpu.id} has no {hw.dtype!r} peak in the GPU table; choose {' or '.join(have)}",
            )


def _resolve(name: str, base: Path) -> str:
    """A preset, law or GPU name, with a relative file path taken from the config's folder."""
    if looks_like_path(name) and not Path(name).is_absolute():
        return str(base / name)
    return name


def read_config_text(name: str) -> tuple[str, str, Path]:
    """Read a config file (or standard input for ``-``).

    Returns:
        ``(text, display_name, base_dir)``.

    Raises:
        ConfigProblems: the file is missing, unreadable or not UTF-8.
    """
    if name == "-":
        return sys.stdin.read().removeprefix("\ufeff"), STDIN_NAME, Path()
    path = Path(name)
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not TOML syntax.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigProblems([Problem(name, None, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigProblems([Problem(name, None, "", "is a directory, not a file")]) from None
    except UnicodeDecodeError:
        raise ConfigProblems([Problem(name, None, "", "not UTF-8 text")]) from None
    except OSError as exc:
        raise ConfigProblems([Problem(name, None, "", f"cannot read: {exc.strerror}")]) from None
    return text, name, path.parent


def load_config(name: str, *, preset: str | None = None) -> RunConfig:
    """Read and parse one run config (``-`` for standard input); see :func:`parse_config`."""
    text, display, base = read_config_text(name)
    return parse_config(text, display, base_dir=base, preset=preset)


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
            lines.append(
                f"price_usd_per_gpu_hour = {_toml_number('price_usd_per_gpu_hour', hw.price_usd_per_gpu_hour)}"
            )
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
