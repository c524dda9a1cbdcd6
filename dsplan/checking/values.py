"""Reading the values of a parsed run config: each key checked against the schema's kind, every
problem collected with its line (:class:`ConfigReader`), and the names a config gives (a GPU, a
preset file) resolved from the config's folder. :mod:`dsplan.checking.reader` builds the tables.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any

from dsplan.catalog.presets import looks_like_path
from dsplan.checking.run_config import HardwareConfig
from dsplan.checking.schema import BY_PATH, SUBTABLES, TABLES, Problem, closest_key
from dsplan.checking.toml_lines import line_of
from dsplan.errors import InputError


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


class ConfigReader:
    """Collects typed values and problems while walking one parsed config."""

    def __init__(self, data: dict[str, Any], file: str, lines: dict[str, int]) -> None:
        self.data = data
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []
        self.given: set[str] = set()
        self.suggested: set[str] = set()  # known keys offered for unknown ones
        self.layout_names: dict[str, str] = {}  # a layout rule's key -> the [parallelism] key

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, line_of(self.lines, key), key, message))

    def check_unknown(self) -> None:
        for name, value in self.data.items():
            if name in TABLES:
                if not isinstance(value, dict):
                    self.problem(name, f"must be a table [{name}], got {_type_name(value)}")
                    continue
                for key in value:
                    path = f"{name}.{key}"
                    if path in SUBTABLES:
                        if not isinstance(value[key], dict):
                            self.problem(path, f"must be a table [{path}], got a value")
                            continue
                        for inner in value[key]:
                            if f"{path}.{inner}" not in BY_PATH:
                                self._unknown(f"{path}.{inner}")
                    elif path not in BY_PATH:
                        self._unknown(path)
            elif name not in BY_PATH:
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
        node: Any = self.data
        for part in table.split(".") if table else ():
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if not isinstance(node, dict) or name not in node:
            return None
        self.given.add(path)
        return node[name]

    def get(self, path: str) -> Any:
        """The value at ``path`` checked against the schema's kind; ``None`` if absent or wrong."""
        spec = BY_PATH[path]
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


def check_gpu(r: ConfigReader, hw: HardwareConfig) -> None:
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


def resolve_name(name: str, base: Path) -> str:
    """A preset, law or GPU name, with a relative file path taken from the config's folder."""
    if looks_like_path(name) and not Path(name).is_absolute():
        return str(base / name)
    return name
