"""The docs' examples are real: every `$ dsplan ...` block of the README and docs/ matches what the
command prints now.

A block may leave lines out (an ellipsis line, or a chart): its lines must then appear, in order,
in the real output. Not replayed here: blocks with more than one command or with redirections, and
`fit` and `check`, which read files the docs only describe (docs/check.md's examples are replayed in
tests/test_cli_check.py).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```[a-z]*\n\$ dsplan (?P<args>[^\n]*)\n(?P<body>.*?)```", re.S)


def _examples() -> list[tuple[str, list[str]]]:
    out = []
    for page in PAGES:
        for m in BLOCK.finditer(page.read_text(encoding="utf-8")):
            args, body = m.group("args"), m.group("body")
            if "\n$ " in "\n" + body or any(c in args for c in "<>|#"):
                continue
            if args.split()[0] in ("fit", "check"):
                continue
            out.append((f"{page.name}: {args}", body.rstrip("\n").splitlines()))
    return out


EXAMPLES = _examples()


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize(("where", "shown"), EXAMPLES, ids=[a for a, _ in EXAMPLES])
def test_example_matches_the_tool(where: str, shown: list[str]) -> None:
    result = run_cli(*shlex.split(where.split(": ", 1)[1]))
    stdout = [line.rstrip() for line in result.stdout.splitlines()]
    actual = stdout + [line.rstrip() for line in result.stderr.splitlines()]
    wanted = [line.rstrip() for line in shown if line.strip() != "..."]
    if len(wanted) == len(shown):
        # A whole block: stdout, with or without the stderr lines shown after it.
        assert wanted in (stdout, actual)
        return
    # An abridged block: its lines appear in order in the real output.
    position = 0
    for line in wanted:
        assert line in actual[position:], f"README line not in the output: {line!r}"
        position = actual.index(line, position) + 1
