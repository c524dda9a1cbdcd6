"""Start-up: what the common commands import (bench/startup.py times them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "matplotlib", "pandas", "pydantic")


def _imported_after(args: list[str], prefixes: tuple[str, ...], codes: tuple[int, ...]) -> str:
    """Run ``dsplan ARGS`` in a fresh interpreter; the modules it imported that start with one of
    ``prefixes``, space-separated. Its stdout must not be empty, and its exit code one of ``codes``.
    """
    code = (
        "import sys\n"
        f"sys.argv = ['dsplan', *{args!r}]\n"
        "from dsplan.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        f"    assert (exc.code or 0) in {codes!r}, exc.code\n"
        f"found = sorted(m for m in sys.modules if m.split('.')[0] in {prefixes!r})\n"
        "print('found:', *found, file=sys.stderr)\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS")
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout
    return done.stderr.splitlines()[-1].removeprefix("found:").strip()


@pytest.mark.parametrize(
    "args",
    [
        ["budget", "1e24", "--format", "json"],
        ["budget", "1e24", "--seq-len", "2048", "--aspect-ratio", "100", "-f", "env"],
        [
            "schedule",
            "--tokens",
            "2e9",
            "--batch-size-tokens",
            "1048576",
            "--learning-rate",
            "1e-3",
            "--kind",
            "cosine",
            "--format",
            "json",
        ],
    ],
)
def test_common_commands_import_nothing_heavy(args: list[str]) -> None:
    # typer >= 0.29 would import pydantic to coerce the options (dsplan/cli/_coercion.py).
    assert _imported_after(args, HEAVY, (0,)) == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--seq-len", "abc", "Invalid value for '--seq-len': 'abc' is not a valid int."),
        ("--mfu", "x", "Invalid value for '--mfu': 'x' is not a valid float."),
        (
            "--format",
            "xml",
            "Invalid value for '--format' / '-f': 'xml' is not one of text, json, env, toml",
        ),
    ],
)
def test_option_errors_read_the_same_with_any_typer(
    cli: object, option: str, value: str, message: str
) -> None:
    from conftest import assert_input_error, run_cli

    args = ["budget", "1e24", option, value]
    if option == "--mfu":
        args += ["--gpu", "h800"]
    result = run_cli(*args)
    assert_input_error(result, message)


CONFIG = "tests/data/configs/valid/deepseek-67b.toml"


@pytest.mark.parametrize(
    "args",
    [
        ["budget", "1e24"],
        ["budget", "1e24", "--gpu", "h800", "--gpus", "2048"],
        ["check", CONFIG],
        [
            "schedule",
            "--tokens",
            "2e12",
            "--batch-size-tokens",
            "9437184",
            "--learning-rate",
            "4.2e-4",
        ],
    ],
)
def test_piped_text_paths_import_no_rich(args: list[str]) -> None:
    # rich's console and table modules are a third of these commands' start-up (bench/startup.py);
    # piped, the text is laid out without them (dsplan/output/table.py, checking/reporters.py).
    assert _imported_after(args, ("rich",), (0, 1)) == ""


def test_every_option_is_coerced_without_pydantic() -> None:
    # A parameter type that dsplan/cli/_coercion.py does not know falls back to typer's pydantic
    # path, and every run of that command would pay ~55 ms for it (typer >= 0.29).
    from typer.main import get_command

    from dsplan.cli import COMMANDS, app
    from dsplan.cli._coercion import _converter

    root = get_command(app)
    commands = [root]
    for name in COMMANDS:
        cmd = root.get_command(None, name)  # type: ignore[attr-defined]
        commands += [cmd, *getattr(cmd, "commands", {}).values()]
    params = [p for c in commands for p in c.params]
    typed = [p for p in params if hasattr(p, "type_descriptor")]
    if not typed:
        pytest.skip("typer < 0.29: click's own types, no pydantic")
    unknown = [
        f"{p.name}: {p.type_descriptor.annotation}"
        for p in typed
        if _converter(p.type_descriptor.annotation, p.type_descriptor.parameter_info) is None
    ]
    assert not unknown
