"""Shared CLI plumbing: output formats, the stderr console, and the one place errors become exit codes."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

import typer

from dsplan.errors import DsplanError, InputError, ProblemFound

EXIT_OK = 0
EXIT_PROBLEM = 1  # the tool ran and found a problem: a failing check, an infeasible plan
EXIT_INPUT = 2  # bad input: usage, unknown preset, unreadable or invalid file


class Format(str, Enum):
    """Output formats; each command accepts the subset that maps cleanly onto its result."""

    text = "text"
    json = "json"
    env = "env"
    toml = "toml"
    csv = "csv"
    github = "github"
    nanotron = "nanotron"
    megatron = "megatron"


def error_line(message: str) -> None:
    """Print one ``error: ...`` line on stderr."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")


def warn_line(message: str) -> None:
    """Print one ``warning: ...`` line on stderr."""
    sys.stderr.write(f"warning: {' '.join(message.split())}\n")


# The flag that sets a quantity the core names in an error (``InputError.quantity``): the field
# name in kebab case (STYLE: flags = their field names), except where the option is named otherwise.
_FLAG_OF = {
    "n_gpus": "--gpus",
    "extended_tokens": "--extend-to",
    "every": "--every",
    "n_dense_layers": "--first-dense-layers",
}


def flag_for(quantity: str) -> str:
    """``"aspect_ratio"`` -> ``"--aspect-ratio"``: the option that sets a quantity."""
    return _FLAG_OF.get(quantity, "--" + quantity.replace("_", "-"))


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn a :class:`DsplanError` into one stderr line and its exit code (2 input, 1 problem).

    An input error about one quantity names the flag that set it: ``error: the aspect ratio must
    be a positive number, got -1.0 (--aspect-ratio)``.
    """
    try:
        yield
    except DsplanError as exc:
        quantity = getattr(exc, "quantity", None)
        error_line(f"{exc} ({flag_for(quantity)})" if quantity else str(exc))
        raise typer.Exit(EXIT_PROBLEM if isinstance(exc, ProblemFound) else EXIT_INPUT) from None


def format_option(allowed: tuple[Format, ...], help: str) -> Any:
    """The ``--format/-f`` option of a command that produces only the ``allowed`` formats.

    Its help and error list only those (one shared enum would offer every command every format).
    """
    names = [f.value for f in allowed]

    def parse(value: str) -> str:
        # Typer turns the name returned here into the Format member.
        name = value.value if isinstance(value, Format) else value
        if name in names:
            return name
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(names)}")

    return typer.Option(
        "--format", "-f", parser=parse, metavar="[" + "|".join(names) + "]", help=help
    )


def dumps(document: Any) -> str:
    """The JSON text of a result: sorted keys, no NaN, two-space indent, byte-identical per input.

    An infinite or NaN number (an intermediate overflowed) is an :class:`InputError` naming the value
    and the options given. Numbers are written by :func:`dsplan.numbers.clean` (whole quantities as integers, the
    rest to 7 significant digits).
    """
    from dsplan.numbers import clean

    try:
        return json.dumps(clean(document), sort_keys=True, indent=2, allow_nan=False)
    except ValueError:
        raise InputError(out_of_range(document)) from None


def require_finite(document: Any) -> None:
    """Refuse a result holding an infinite or NaN number, in every output format (see :func:`dumps`).

    Raises:
        InputError: naming the value and the options given.
    """
    if _non_finite(document, "") is not None:
        raise InputError(out_of_range(document))


def _non_finite(value: Any, path: str) -> str | None:
    """The dotted path of the first infinite or NaN number in ``value``, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path} = {value}"
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def out_of_range(document: Any) -> str:
    """Why ``document`` cannot be written: which value overflowed, for which given options."""
    found = _non_finite(document, "") or "a value"
    given = []
    get_context = getattr(typer.main, "get_current_context", None)
    ctx = get_context(silent=True) if get_context is not None else None
    if ctx is not None:
        for param in ctx.command.params:
            source = ctx.get_parameter_source(param.name)
            value = ctx.params.get(param.name)
            if param.name in ("format", "field"):
                continue
            if getattr(source, "name", "") == "COMMANDLINE" and value not in (None, False, ()):
                shown = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
                flag = param.opts[0] if param.opts and param.opts[0].startswith("-") else ""
                given.append(f"{flag} {shown}".strip())
    inputs = f" from {', '.join(given)}" if given else ""
    return f"out of range: {found}{inputs}; an input is too large or too small for a real run"


def out(text: str) -> None:
    """Write a result to stdout, with exactly one trailing newline."""
    sys.stdout.write(text.rstrip("\n") + "\n")
