"""The core's errors name quantities, never CLI flags; the CLI names the flag (issue #13).

A library user calling ``SearchOptions(aspect_ratio=-1)`` has no ``--aspect-ratio`` to fix: the core
says "the aspect ratio ..." and sets ``InputError.quantity``; ``cli._output.exit_on_error`` adds the
option that set it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

from dsplan.cli._output import flag_for
from dsplan.errors import InputError
from dsplan.model.shape import SearchOptions

PACKAGE = Path(__file__).resolve().parent.parent / "dsplan"
FLAG = re.compile(r"(?<![\w-])--[a-z]")
# A whole command quoted as advice (`dsplan model --hf-config`) names a command, not a value's flag.
COMMAND = re.compile(r"`dsplan [^`]*`")
# The rooms that speak to users in flags: the commands, and the renderers they pick.
CLI_ROOMS = ("cli", "output")


def _core_modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in CLI_ROOMS
    ]


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_errors_name_no_flag(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [
        f"{path.name}:{node.lineno}: {text!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise) and node.exc is not None
        for text in _strings(node.exc)
        if FLAG.search(COMMAND.sub("", text))
    ]
    assert not found, found


def test_the_cli_adds_the_flag_of_the_quantity() -> None:
    with pytest.raises(InputError) as info:
        SearchOptions(aspect_ratio=-1.0)
    assert str(info.value).startswith("the aspect ratio") and info.value.quantity == "aspect_ratio"
    assert_input_error(
        run_cli("budget", "1e24", "--aspect-ratio", "-1"),
        "the aspect ratio d_model / n_layers must be a positive number, got -1.0 (--aspect-ratio)",
    )


@pytest.mark.parametrize(
    ("quantity", "flag"),
    [("aspect_ratio", "--aspect-ratio"), ("n_gpus", "--gpus"), ("extended_tokens", "--extend-to")],
)
def test_flag_for(quantity: str, flag: str) -> None:
    assert flag_for(quantity) == flag
