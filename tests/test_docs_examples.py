"""The docs' examples are real: every `$ dsplan ...` block of the README and docs/ matches what the
command prints now, and every Python block runs and returns what it shows.

A block may leave lines out (an ellipsis line, or a chart): its lines must then appear, in order,
in the real output. Not replayed here: blocks with more than one command or with redirections, and
`fit` and `check`, which read files the docs only describe (docs/check.md's examples are replayed in
tests/test_cli_check.py).
"""

from __future__ import annotations

import doctest
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


# Python blocks: every one is a doctest session (```pycon, `>>>` prompts with the results shown). A
# page's blocks run in order in one namespace (a later block may use an earlier one's names), in a
# fresh folder, so what the docs show a call returning is what it returns.
PYTHON_BLOCK = re.compile(r"```(?P<lang>python|pycon|py)\n(?P<body>.*?)```", re.S)


def _python_blocks(page: Path) -> list[tuple[int, str, str]]:
    text = page.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 2, m.group("lang"), m.group("body"))
        for m in PYTHON_BLOCK.finditer(text)
    ]


PYTHON_PAGES = [page for page in PAGES if _python_blocks(page)]


def test_the_readme_has_python_examples() -> None:
    assert ROOT / "README.md" in PYTHON_PAGES
    assert len(_python_blocks(ROOT / "README.md")) >= 3


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[p.name for p in PYTHON_PAGES])
def test_python_examples_run_as_shown(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for line, lang, body in _python_blocks(page):
        where = f"{page.name}:{line}"
        assert lang == "pycon" and body.lstrip().startswith(">>> "), (
            f"{where}: a Python example is a ```pycon session that shows its results"
        )
        test = doctest.DocTestParser().get_doctest(body, namespace, where, where, line - 1)
        assert any(ex.want for ex in test.examples), f"{where}: the example shows no result"
        out: list[str] = []
        runner.run(test, out=out.append, clear_globs=False)
        assert runner.failures == 0, "".join(out)
        namespace = test.globs
