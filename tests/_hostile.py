"""A generator of hostile command lines for every dsplan command (issue 12, point 5).

The options come from the Click command objects that Typer builds, so an option added tomorrow is
attacked tomorrow without a change here. Each option gets the values of its type's class:

* integers: 10**30 and 2**63 (overflow), 0 and negatives, non-ASCII digits, floats and words;
* floats: 1e308, 1e-308, 5e-324, inf, nan, -0, 1e999, words;
* text: every number above (dsplan reads budgets and token counts as text), non-ASCII digits in a
  ``--field`` path, and every hostile file (a text option may name a preset, GPU or law file);
* paths: every hostile file (read options) or unwritable targets (write options).

The hostile files: non-UTF-8 bytes, NUL bytes, 10,000-deep nested TOML, JSON and YAML, a YAML alias
bomb and a YAML tag that would run code, ``/dev/zero``, a
file larger than dsplan's read bound (sparse, so it costs nothing to make), an empty file, a
directory, a FIFO whose writer never stops, and valid files of each kind (preset, GPU table, run
config, config.json, results CSV) with one value made hostile (wrong type, NaN, 1e308, 10**30, ...).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from dsplan.cli import COMMANDS, DsplanGroup, app

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
DEPTH = 10_000  # nesting depth of the deep TOML and JSON files
BIG_BYTES = 17 * 1024 * 1024  # just over dsplan's 16 MiB read bound

INTS = [str(10**30), str(-(10**30)), str(2**63), "0", "-1", "1.5", "1e3", "x", "", "²", "٣", "１"]
INTS += ["100000", "1000000000"]  # sizes: points, rows, steps
FLOATS = ["1e308", "-1e308", "1e-308", "5e-324", "inf", "-inf", "nan", "-0", "0", "1e999", "x", ""]
NUMBER_TEXTS = [
    *FLOATS,
    str(10**30),
    "1e300",
    "1e-300",
    "1e15",
    "²",
    "٣٤",
    "1e22,1e308",
    "1e17..1e308",
]
FIELD_TEXTS = ["milestones.²", "schedule.milestones.٣", "schedule.milestones.99999999999999999999"]
CHOICE_TEXTS = ["x", "", "²"]
FIFO = "@FIFO@"  # replaced by a fresh FIFO with an endless writer when the case runs

# Path options that write a file (everything else reads). A test fails when a new path option is
# in neither set, so a new option is classified before it is attacked.
WRITE_OPTIONS = {"--plot", "--output", "--configs-dir"}


@dataclass(frozen=True)
class Case:
    """One hostile command line."""

    args: tuple[str, ...]
    fmt: str  # the output format the command line asks for
    label: str  # the class of the hostile value, for failure messages

    @property
    def id(self) -> str:
        return " ".join(self.args)


@dataclass
class Corpus:
    """The hostile files (in ``root``) and the valid files the base command lines need."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # label -> hostile file
    config: Path = Path()
    results: Path = Path()
    grid: Path = Path()
    hf_config: Path = Path()

    def fifo(self) -> Path:
        """A FIFO with a writer that writes until the reader closes (a fresh one per use)."""
        path = self.root / f"fifo-{next(_fifo_counter)}.toml"
        os.mkfifo(path)

        def write_forever() -> None:
            try:
                fd = os.open(path, os.O_WRONLY)
            except OSError:
                return
            chunk = b"a" * 65536
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:  # BrokenPipeError once the reader is gone
                pass
            finally:
                os.close(fd)

        threading.Thread(target=write_forever, daemon=True).start()
        return path


def _counter() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


_fifo_counter = _counter()


def release_fifo(path: Path) -> None:
    """Let a FIFO's writer go if nothing opened the FIFO (open for reading, then close)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)


def _one_number_hostile(text: str, values: list[str], stride: int) -> Iterator[tuple[int, str]]:
    """Variants of ``text`` with the k-th number replaced by a hostile value (every stride-th)."""
    spans = [m.span() for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])", text)]
    # Numbers inside quoted strings ("Eq. 1" in a source) are prose, not values.
    spans = [(a, b) for a, b in spans if text[text.rfind("\n", 0, a) + 1 : a].count('"') % 2 == 0]
    for k in range(0, len(spans), stride):
        start, end = spans[k]
        value = values[k % len(values)]
        yield k, text[:start] + value + text[end:]


def build_corpus(root: Path, config_text: str, results_csv: str, grid_csv: str) -> Corpus:
    """Write every hostile file under ``root``; ``config_text`` is a valid run config."""
    c = Corpus(root)
    f = c.files

    def put(label: str, name: str, data: bytes | str) -> None:
        path = root / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        f[label] = path

    put("empty", "empty.toml", b"")
    put("non-utf8", "latin1.toml", 'name = "caf\xe9"\n'.encode("latin-1"))
    put("nul-bytes", "nul.toml", b"\x00" * 64)
    put("deep-toml-array", "deep-array.toml", "a = " + "[" * DEPTH + "]" * DEPTH + "\n")
    put("deep-toml-inline", "deep-inline.toml", "a = " + "{b = " * DEPTH + "1" + "}" * DEPTH)
    put("deep-toml-dotted", "deep-dotted.toml", "a" + ".a" * DEPTH + " = 1\n")
    put("deep-toml-tables", "deep-tables.toml", "[" + ".".join(["t"] * DEPTH) + "]\nx = 1\n")
    put("deep-json-array", "deep-array.json", "[" * DEPTH + "]" * DEPTH)
    put("deep-json-object", "deep-object.json", '{"a": ' * DEPTH + "1" + "}" * DEPTH)
    put("binary", "binary.csv", bytes(range(256)) * 4)
    # YAML (the nanotron and OLMo dialects of check): nested past the recursion bound, an alias
    # bomb of 10^9 values once expanded, a tag that would run code if constructed, Latin-1 bytes.
    put("deep-yaml", "deep.yaml", "model:\n  model_config: " + "[" * DEPTH + "]" * DEPTH + "\n")
    laughs = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    laughs += "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
    put("yaml-alias-bomb", "laughs.yaml", laughs + "tokens: *l8\nparallelism: {}\n")
    put("yaml-python-tag", "tag.yaml", "max_duration: !!python/object/apply:os.getcwd []\n")
    put("yaml-non-utf8", "latin1.yaml", "max_duration: caf\xe9\n".encode("latin-1"))
    # A file past the read bound, sparse: it costs no disk and no time to make.
    big = root / "big.toml"
    with big.open("wb") as fh:
        fh.truncate(BIG_BYTES)
    f["big-sparse"] = big
    # One long line just past the bound, as a text file a user might really have.
    put("big-line", "big-line.csv", "compute_flops," + "9" * BIG_BYTES + "\n")
    (root / "a-directory.toml").mkdir()
    f["directory"] = root / "a-directory.toml"
    f["dev-zero"] = Path("/dev/zero")
    f["missing"] = root / "missing" / "nothing.toml"

    # Valid files of each kind, then one value at a time made hostile.
    c.config = root / "run.toml"
    c.config.write_text(config_text, encoding="utf-8")
    c.results = root / "results.csv"
    c.results.write_text(results_csv, encoding="utf-8")
    c.grid = root / "grid.csv"
    c.grid.write_text(grid_csv, encoding="utf-8")
    hf = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "max_position_embeddings": 4096,
        "num_attention_heads": 32,
        "num_hidden_layers": 30,
        "num_key_value_heads": 32,
        "vocab_size": 102400,
        "tie_word_embeddings": False,
    }
    c.hf_config = root / "config.json"
    c.hf_config.write_text(json.dumps(hf), encoding="utf-8")

    toml_values = ["1e308", "1e-308", "nan", "inf", "-inf", "0", "-1", str(10**30), '"x"', "[1]"]
    csv_values = ["nan", "inf", "1e308", "5e-324", str(10**30), "-0", "x", "", "²"]
    json_values = ['"eight"', "[8]", "NaN", "Infinity", "1e308", str(10**30), "-1", "true", "null"]
    preset_text = (REPO / "presets" / "current.toml").read_text(encoding="utf-8")
    gpu_text = _one_gpu_table(REPO / "presets" / "hardware" / "gpus.toml", "h800")
    law_text = (REPO / "presets" / "hyperparameters" / "deepseek.toml").read_text(encoding="utf-8")
    for kind, text, values, stride, suffix in (
        ("preset", preset_text, toml_values, 3, "toml"),
        ("gpu", gpu_text, toml_values, 1, "toml"),
        ("law", law_text, toml_values, 2, "toml"),
        ("config", config_text, toml_values, 1, "toml"),
        ("hf", json.dumps(hf, indent=1), json_values, 1, "json"),
        ("results", _head(results_csv, 12), csv_values, 5, "csv"),
        ("grid", _head(grid_csv, 12), csv_values, 5, "csv"),
    ):
        for k, variant in _one_number_hostile(text, values, stride):
            put(f"{kind}-{k}", f"{kind}-{k}.{suffix}", variant)
    put("gpu-peak-huge", "gpu-peak-huge.toml", re.sub(r"bf16 = \d+", "bf16 = 1e308", gpu_text))
    put("gpu-peak-tiny", "gpu-peak-tiny.toml", re.sub(r"bf16 = \d+", "bf16 = 1e-308", gpu_text))
    put("results-header-only", "header.csv", "compute_flops,flops_per_token,tokens,loss\n")
    put("results-ragged", "ragged.csv", _head(results_csv, 4) + "1,2,3,4,5,6,7,8\n")
    put("hf-list", "hf-list.json", "[1, 2, 3]")
    put("hf-nan", "hf-nan.json", json.dumps({**hf, "hidden_size": float("nan")}))
    return c


def _head(text: str, lines: int) -> str:
    return "".join(text.splitlines(keepends=True)[:lines])


def _one_gpu_table(path: Path, gpu_id: str) -> str:
    """The ``[gpus.ID]`` table of one GPU, cut from the shipped table's text."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"[gpus.{gpu_id}]")
    end = text.find("\n[gpus.", start + 1)
    return text[start : end if end != -1 else len(text)]


def commands() -> dict[str, Any]:
    """Every command (and sub-command) by its path, built by Typer as the CLI builds it."""
    group = DsplanGroup(name="dsplan")
    found: dict[str, Any] = {}
    for name in sorted(COMMANDS):
        cmd = group.get_command(None, name)
        found[name] = cmd
        for sub_name, sub in sorted(getattr(cmd, "commands", {}).items()):
            found[f"{name} {sub_name}"] = sub
    return found


def bases(corpus: Corpus) -> dict[str, list[list[str]]]:
    """Valid command lines that each hostile value is added to, per command."""
    return {
        "budget": [["1e22"], ["1e22", "--gpu", "h800", "--gpus", "64"]],
        "check": [[str(corpus.config)]],
        "compare": [["1e22"]],
        "fit": [[str(corpus.results)], [str(corpus.grid), "--kind", "hyperparameters"]],
        "gpus": [[], ["h800"]],
        "layout": [
            ["--budget", "1e22", "--gpu", "h800", "--gpus", "64"],
            [
                "--n-layers",
                "30",
                "--d-model",
                "4096",
                "--batch-size-tokens",
                "4194304",
                "--gpu",
                "h800",
                "--gpus",
                "64",
            ],
        ],
        "model": [
            ["--n-layers", "30", "--d-model", "4096"],
            ["--n-layers", "30", "--d-model", "4096", "--tokens", "2e12", "--gpu", "h800"],
        ],
        "presets": [[]],
        "presets show": [["current"]],
        "schedule": [
            ["--budget", "1e22"],
            ["--tokens", "2e12", "--batch-size-tokens", "4e8", "--learning-rate", "3e-4"],
        ],
        "shapes": [["4.25e10"]],
        "sweep": [["--budgets", "1e18,1e19"], ["--kind", "hyperparameters"]],
    }


def formats_of(cmd: Any) -> list[str]:
    for p in cmd.params:
        if "--format" in getattr(p, "opts", ()):
            return re.findall(r"\w+", p.metavar or "") or ["text"]
    return ["text"]


def _type_name(param: Any) -> str:
    """integer, float, path, choice, boolean or text, from the Click type's class (typer < 0.29)
    or the annotation typer >= 0.29 keeps instead."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        annotation = descriptor.annotation
        name = {int: "Int", float: "Float", bool: "Bool"}.get(annotation, "")
        if isinstance(annotation, type) and issubclass(annotation, PurePath):
            name = "Path"
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            name = "Choice"
        if descriptor.parameter_info.parser is not None:
            name = ""  # a parser's own values, as click's FuncParamType: text
    else:
        name = type(param.type).__name__
    for kind in ("Int", "Float", "Path", "Choice", "Bool"):
        if kind in name:
            return {"Int": "integer", "Bool": "boolean"}.get(kind, kind.lower())
    return "text"


FILE_WORDS = ("toml", "csv", "file", "path", "config", "preset")


def takes_a_file(param: Any) -> bool:
    """A text parameter that may name a file, by its help (``a path to a .toml file``, ...)."""
    if _type_name(param) == "path":
        return True
    help_text = (getattr(param, "help", None) or "").lower()
    return _type_name(param) == "text" and any(word in help_text for word in FILE_WORDS)


def is_generic(label: str) -> bool:
    """A hostile file of no particular kind (not a valid file with one value changed)."""
    return not re.fullmatch(r"file:\w+-\d+", label)


def values_for(param: Any, corpus: Corpus) -> list[tuple[str, str]]:
    """(label, value) pairs of the hostile class of one parameter."""
    kind = _type_name(param)
    name = (param.opts or [param.name])[0]
    files = [(f"file:{label}", str(path)) for label, path in corpus.files.items()]
    files.append(("file:fifo-endless", FIFO))
    if kind == "integer":
        return [(f"int:{v}", v) for v in INTS]
    if kind == "float":
        return [(f"float:{v}", v) for v in FLOATS]
    if kind == "path" and name in WRITE_OPTIONS:
        targets = ["/dev/full/x.png", str(corpus.files["directory"]), "/proc/version/a.toml"]
        return [(f"write:{t}", t) for t in targets]
    if kind == "choice" or name == "--format":
        return [(f"choice:{v}", v) for v in CHOICE_TEXTS]
    texts = [] if kind == "path" else [(f"text:{v}", v) for v in NUMBER_TEXTS]
    if name == "--field":
        texts += [(f"field:{v}", v) for v in FIELD_TEXTS]
    if takes_a_file(param):
        return texts + files
    # Any text option may be handed a file by mistake: a few of the worst.
    return texts + [f for f in files if f[0] in ("file:big-sparse", "file:fifo-endless")]


def cases(corpus: Corpus) -> list[Case]:
    """Every hostile command line: each base line, each option, each value of its class."""
    found: list[Case] = []
    base_lines = bases(corpus)
    for path, cmd in commands().items():
        if getattr(cmd, "commands", None):  # a group: its sub-commands are attacked on their own
            for base in base_lines.get(path, []):
                for fmt in formats_of(cmd):
                    found.append(Case((*path.split(), *base, "--format", fmt), fmt, "base"))
            continue
        formats = formats_of(cmd)
        first = "json" if "json" in formats else formats[0]
        for base in base_lines[path]:
            head = (*path.split(), *base)
            for other in formats:  # each base line in each format, as it is
                found.append(Case((*head, "--format", other), other, "base"))
            for param in cmd.params:
                if param.name == "help":
                    continue
                if param.param_type_name == "argument":
                    for label, value in values_for(param, corpus):
                        # The hostile value replaces the base line's first argument.
                        args = (*path.split(), value, *base[1:], "--format", first)
                        found.append(Case(args, first, f"{param.name}={label}"))
                    continue
                if getattr(param, "is_flag", False):
                    found.append(Case((*head, param.opts[0], "--format", first), first, "flag"))
                    continue
                option = param.opts[0]
                fmt = first
                if option == "--format":
                    for label, value in values_for(param, corpus):
                        found.append(Case((*head, option, value), first, label))
                    continue
                for label, value in values_for(param, corpus):
                    # Numbers in every format by turns (an overflow must not reach text or env
                    # either); files in json, the strictest.
                    if not label.startswith("file:"):
                        fmt = formats[zlib.crc32(f"{head}{option}{value}".encode()) % len(formats)]
                    args = (*head, option, value, "--format", fmt)
                    found.append(Case(args, fmt, f"{option}={label}"))
    return found


def sample(all_cases: list[Case], per_mille: int) -> list[Case]:
    """A deterministic sample: each case is kept when the CRC of its command line says so.

    Kept whatever the rate: every base line (each command in each format), every generic hostile
    file on every option that reads files, and each hostile value at least once per command.
    """
    kept: list[Case] = []
    seen: set[tuple[str, str]] = set()
    for case in all_cases:
        value = case.label.split("=", 1)[-1]
        key = (case.args[0], value)
        crc = zlib.crc32(case.id.encode("utf-8")) % 1000
        generic_file = value.startswith("file:") and is_generic(value)
        if case.label == "base" or generic_file or crc < per_mille or key not in seen:
            kept.append(case)
            seen.add(key)
    return kept


# --- what a well-behaved run looks like -------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON output")


def _finite_everywhere(value: Any) -> None:
    if isinstance(value, float):
        assert value == value and abs(value) != float("inf"), value
    elif isinstance(value, dict):
        for v in value.values():
            _finite_everywhere(v)
    elif isinstance(value, list):
        for v in value:
            _finite_everywhere(v)


def check_stdout(fmt: str, stdout: str, args: tuple[str, ...] = ()) -> None:
    """Raise AssertionError unless ``stdout`` is a valid document of format ``fmt``."""
    if "--field" in args:
        return  # one bare value, whatever the format
    if fmt == "json":
        json.loads(stdout, parse_constant=_no_constant)
    elif fmt == "toml":
        _finite_everywhere(tomllib.loads(stdout))
    elif fmt == "nanotron":
        import yaml

        _finite_everywhere(yaml.safe_load(stdout))
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(stdout)))
        assert rows, "empty CSV"
        widths = {len(r) for r in rows if r}
        assert len(widths) == 1, f"ragged CSV: widths {widths}"
        bad = {c for r in rows for c in r if c.strip().lower() in {"nan", "inf", "-inf"}}
        assert not bad, f"non-finite cells {bad}"
    elif fmt == "text":
        bad = re.findall(r"(?<![\w.])-?(?:inf|nan)(?![\w])", stdout, re.IGNORECASE)
        assert not bad, f"non-finite numbers {bad} in text"
    elif fmt == "env":
        for line in stdout.splitlines():
            if line.strip() and not line.startswith("#"):
                assert re.match(r"^(export )?[A-Z_][A-Z0-9_]*=", line), line
                assert not re.search(r"=(-?inf|nan)$", line, re.IGNORECASE), line


def run(case: Case, corpus: Corpus) -> tuple[int, str, str, BaseException | None]:
    """Run one case in-process: (exit code, stdout, stderr, unexpected exception or None)."""
    from typer.testing import CliRunner

    args = list(case.args)
    fifo = None
    if FIFO in args:
        fifo = corpus.fifo()
        args = [str(fifo) if a == FIFO else a for a in args]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        if fifo is not None:
            release_fifo(fifo)
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return result.exit_code, result.stdout, result.stderr, exc
