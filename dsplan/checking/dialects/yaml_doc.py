"""A trainer's YAML config read safely: plain values only, bounded, with the line of every key.

PyYAML is an optional dependency (``pip install 'dsplan[yaml]'``), imported here and only when a
YAML file is read. The text is *composed* (parsed into nodes, never constructed into objects), so a
tag such as ``!!python/object`` is never acted on: it is reported. Values are built from the nodes
by :func:`_value`, which accepts the plain YAML types only (mappings, sequences, strings, numbers,
booleans, null) and counts every node it builds, so that an alias bomb (the "billion laughs":
aliases of aliases that expand exponentially) stops at :data:`MAX_NODES`. The composer is libyaml's
where PyYAML has it (libyaml 0.2.5 or later stops at 1000 levels of nesting itself), else PyYAML's
pure-Python one, which recursion bounds: either way a file nested thousands of levels deep is an
error, not a crash. The pure-Python one reads some 50 KiB a second on a loaded machine (libyaml some
twenty times more), so a YAML config is refused above :data:`MAX_YAML_BYTES` (a trainer's config is
a few KiB).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dsplan.checking.dialects._common import Collector, number
from dsplan.checking.schema import ConfigProblems, Problem
from dsplan.errors import InputError

MAX_YAML_BYTES = 256 * 1024
"""The largest YAML config dsplan reads (256 KiB, some fifty times a real trainer config)."""
MAX_NODES = 100_000
"""The most values a YAML config may hold once its aliases are expanded."""

INSTALL_HINT = "reading a YAML config needs PyYAML: pip install 'dsplan[yaml]'"

_PLAIN = "tag:yaml.org,2002:"
_SCALARS = {f"{_PLAIN}{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")}


class _TooMany(Exception):
    """More than :data:`MAX_NODES` values after aliases are expanded."""


def _yaml() -> Any:
    """The ``yaml`` module, or InputError naming the extra that installs it."""
    try:
        import yaml
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return yaml


def _loader(yaml: Any) -> Any:
    """libyaml's safe composer where PyYAML has it and libyaml bounds nesting (0.2.5 and later
    stop at 1000 levels; an older one would recurse in C until the stack runs out), else the
    pure-Python one, which recursion bounds. libyaml composes a config some twenty times faster."""
    c_loader = getattr(yaml, "CSafeLoader", None)
    try:
        version = tuple(yaml._yaml.get_version()) if c_loader is not None else ()
    except AttributeError:  # PyYAML without its C extension
        version = ()
    return c_loader if version >= (0, 2, 5) else yaml.SafeLoader


def load(text: str, file: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping at the top of a YAML config, and the 1-based line of each dotted key path.

    ``model.model_config.hidden_size`` (and each prefix, ``model``) maps to the line of the key;
    an item of a sequence is numbered (``data_stages.0.name``).

    Raises:
        InputError: PyYAML is not installed.
        ConfigProblems: too large, not valid YAML, nested too deeply, an alias bomb, a tag that is
            not a plain YAML value, or a top level that is not a mapping.
    """
    yaml = _yaml()
    size = len(text.encode("utf-8"))
    if size > MAX_YAML_BYTES:
        raise _problem(
            file,
            None,
            f"larger than {MAX_YAML_BYTES // 1024} KiB, the most dsplan reads of a YAML config",
        )
    try:
        root = yaml.compose(text, Loader=_loader(yaml))
    except RecursionError:
        raise _problem(file, None, "not valid YAML: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        if "nesting depth" in str(exc.problem):  # libyaml's bound, as the recursion bound says it
            raise _problem(file, line, "not valid YAML: nested too deeply") from None
        raise _problem(file, line, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise _problem(file, None, f"not valid YAML: {exc}") from None
    if root is None:
        raise _problem(file, None, "an empty YAML document")
    if not isinstance(root, yaml.MappingNode):
        raise _problem(
            file, root.start_mark.line + 1, "the top of a trainer config must be a mapping"
        )
    lines: dict[str, int] = {}
    budget = [MAX_NODES]
    scalar = yaml.constructor.SafeConstructor().construct_object
    try:
        data = _value(yaml, root, "", lines, budget, file, scalar)
    except _TooMany:
        raise _problem(
            file,
            None,
            f"more than {MAX_NODES} values once its aliases are expanded (an alias bomb?)",
        ) from None
    except RecursionError:
        raise _problem(file, None, "not valid YAML: nested too deeply") from None
    assert isinstance(data, dict)
    return data, lines


def _problem(file: str, line: int | None, message: str) -> ConfigProblems:
    return ConfigProblems([Problem(file, line, "", message)])


def _value(
    yaml: Any,
    node: Any,
    path: str,
    lines: dict[str, int],
    budget: list[int],
    file: str,
    scalar: Any,
) -> Any:
    """The plain Python value of ``node``, recording key lines under ``path``."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooMany
    plain = {
        yaml.ScalarNode: _SCALARS,
        yaml.SequenceNode: {f"{_PLAIN}seq"},
        yaml.MappingNode: {f"{_PLAIN}map"},
    }[type(node)]
    if node.tag not in plain:
        raise _problem(
            file,
            node.start_mark.line + 1,
            f"tag {node.tag.replace(_PLAIN, '!!')} is not a plain YAML value; dsplan reads "
            "strings, numbers, booleans, lists and mappings only",
        )
    if isinstance(node, yaml.ScalarNode):
        try:
            return scalar(node)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:  # 4301 digits, 2024-13-45
            raise _problem(
                file, node.start_mark.line + 1, f"a value dsplan cannot read: {exc}"
            ) from None
    if isinstance(node, yaml.SequenceNode):
        return [
            _value(yaml, item, _join(path, str(i)), lines, budget, file, scalar)
            for i, item in enumerate(node.value)
        ]
    out: dict[str, Any] = {}
    merged: list[Any] = []
    for key_node, value_node in node.value:
        if key_node.tag == f"{_PLAIN}merge":  # ``<<: *base``: the base's keys, unless set here
            merged += (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            continue
        key = _value(yaml, key_node, path, {}, budget, file, scalar)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise _problem(
                file, key_node.start_mark.line + 1, "a mapping key must be a plain value"
            )
        name = _join(path, str(key))
        if str(key) in out:  # YAML requires unique keys; PyYAML would keep the last silently
            raise _problem(
                file,
                key_node.start_mark.line + 1,
                f"{name} is written twice (first on line {lines.get(name)}): keep one",
            )
        lines.setdefault(name, key_node.start_mark.line + 1)
        out[str(key)] = _value(yaml, value_node, name, lines, budget, file, scalar)
    for base in merged:
        value = _value(yaml, base, path, {}, budget, file, scalar)
        if not isinstance(value, dict):
            raise _problem(file, base.start_mark.line + 1, "a merge key (<<) takes a mapping")
        for key, item in value.items():
            out.setdefault(key, item)
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# 3e-4 and 1E5: numbers to a reader, strings to YAML 1.1's resolver (no dot in the mantissa).
_YAML11_EXPONENT = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")

_KINDS = {
    "int": "an integer",
    "number": "a finite number",
    "string": "a string",
    "bool": "a boolean",
}


class Doc:
    """A loaded YAML config: values by dotted path, their lines, and the problems of the file."""

    def __init__(
        self,
        data: dict[str, Any],
        lines: dict[str, int],
        c: Collector,
        *,
        exponent_floats: bool = False,
    ) -> None:
        """``exponent_floats``: the trainer reads ``4e-4`` as a number (OmegaConf's loader, OLMo's),
        where PyYAML's own (nanotron's) reads it as a string."""
        self.data, self.lines, self.c = data, lines, c
        self.exponent_floats = exponent_floats

    def line(self, path: str) -> int | None:
        """The line of ``path``, else of its nearest written parent."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None

    def node(self, path: str) -> Any:
        value: Any = self.data
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def has(self, path: str) -> bool:
        """Whether ``path`` is written with a value (``key: null`` counts as absent, as the
        trainers' dataclasses read it: the default applies)."""
        return self.node(path) is not None

    def get(self, path: str, kind: str, default: Any = None) -> Any:
        """The value at ``path`` (``default`` if absent), checked to be of ``kind``; None (and a
        problem) if it is not."""
        if not self.has(path):
            return default
        value = self.node(path)
        if (
            kind == "number"
            and self.exponent_floats
            and isinstance(value, str)
            and _YAML11_EXPONENT.match(value)
        ):
            value = float(value)
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "number": number(value),
            "string": isinstance(value, str),
            "bool": isinstance(value, bool),
        }[kind]
        if not ok:
            hint = ""
            if kind == "number" and isinstance(value, str) and _YAML11_EXPONENT.match(value):
                # YAML 1.1 (PyYAML, and so nanotron and OLMo) needs a dot before the exponent.
                mantissa, _, exponent = value.lower().partition("e")
                hint = f"; YAML reads {value} as a string: write {mantissa}.0e{exponent}"
            self.c.problem(self.line(path), path, f"expected {_KINDS[kind]}, got {value!r}{hint}")
            return None
        return float(value) if kind == "number" else value

    def required(self, path: str, kind: str, why: str = "") -> Any:
        if not self.has(path):
            self.c.problem(self.line(path), path, f"missing required key{why}")
            return None
        return self.get(path, kind)

    def table(self, path: str) -> None:
        """A problem if ``path`` is written but is not a mapping."""
        value = self.node(path)
        if value is not None and not isinstance(value, dict):
            self.c.problem(self.line(path), path, f"must be a mapping, got {value!r}")

    def positive(self, values: Iterable[tuple[str, int]]) -> None:
        """A problem at each ``(path, value)`` whose value is not positive."""
        for path, value in values:
            if value <= 0:
                self.c.problem(self.line(path), path, f"must be positive, got {value}")

    def place(self, placed: Iterable[tuple[str, str]]) -> None:
        """Point each dsplan quantity of ``(quantity, trainer path)`` at the line of the trainer
        key that sets it; one written counts as given, except the layout's (which rules read, not
        ``--strict``'s "given" checks)."""
        for key, path in placed:
            present = self.has(path)
            given = present and not key.startswith("layout.")
            self.c.place(key, self.line(path), given=given, name=path if present else None)


# ``# dsplan: ignore DSP305, DSP106 (why)``: a trainer's YAML has no room for a [check] table (nanotron
# refuses unknown keys), so a comment carries it.
_IGNORE = re.compile(r"^\s*#\s*dsplan:\s*ignore\s+((?:DSP\w*)(?:\s*,\s*DSP\w*)*)", re.IGNORECASE)


def comment_ignores(text: str) -> tuple[tuple[str, ...], int | None]:
    """The rule codes of every ``# dsplan: ignore CODES`` comment, and the line of the first."""
    codes: list[str] = []
    first = None
    for number_, raw in enumerate(text.splitlines(), start=1):
        found = _IGNORE.match(raw)
        if found:
            codes += [code.strip() for code in found.group(1).split(",")]
            first = first or number_
    return tuple(codes), first


# ``# dsplan: preset kaplan`` and ``# dsplan: hyperparameters step-law``: a YAML config's
# [data] preset and hyperparameters, which only dsplan reads.
_SETTING = re.compile(r"^\s*#\s*dsplan:\s*(preset|hyperparameters)\s+(\S+)", re.IGNORECASE)


def comment_settings(text: str, base_dir: Path, c: Collector) -> dict[str, str]:
    """The ``preset`` and ``hyperparameters`` of ``# dsplan: NAME VALUE`` comments (the first of
    each), a relative file path taken from the config's folder, each loaded once to check it (a
    problem at the comment's line if it cannot be)."""
    from dsplan.catalog.presets import load_hyperparameter_law, load_preset, looks_like_path

    found: dict[str, str] = {}
    for number_, raw in enumerate(text.splitlines(), start=1):
        match = _SETTING.match(raw)
        if not match or match.group(1).lower() in found:
            continue
        name, value = match.group(1).lower(), match.group(2)
        if looks_like_path(value) and not Path(value).is_absolute():
            value = str(base_dir / value)
        try:
            (load_preset if name == "preset" else load_hyperparameter_law)(value)
        except InputError as exc:
            c.problem(number_, f"data.{name}", str(exc))
            continue
        found[name] = value
    return found
