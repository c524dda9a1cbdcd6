"""Piped text output laid out without rich (dsplan/output/table.py, for start-up) is byte for byte
what rich lays out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from dsplan.output import table

CASES = [
    (["budget", "1e24"], True),
    (["budget", "1e21", "1e22", "1e23"], True),
    (["budget", "1e24", "--gpu", "h800", "--gpus", "2048"], True),
    (["budget", "1e22", "1e23", "--gpu", "h100", "--days", "30"], True),
    (["budget", "1e24", "--preset", "chinchilla-a3"], True),
    (["budget", "1e24", "--unique-tokens", "3e11"], True),
    (
        [
            "schedule",
            "--tokens",
            "2e12",
            "--batch-size-tokens",
            "9437184",
            "--learning-rate",
            "4.2e-4",
        ],
        True,
    ),
    (
        [
            "schedule",
            "--tokens",
            "2e12",
            "--batch-size-tokens",
            "9437184",
            "--learning-rate",
            "4.2e-4",
            "--extend-to",
            "3e12",
            "--n-layers",
            "30",
            "--d-model",
            "4096",
        ],
        True,
    ),
    (["schedule", "--budget", "1e22", "--kind", "wsd"], True),
    (["schedule", "--budget", "1e22", "--kind", "cosine", "--extend-to", "5e11"], True),
    (["gpus"], None),
    (["presets"], None),
    (["compare", "1e24"], None),
    (["sweep", "--budgets", "1e18,1e19", "--format", "text"], None),
]


@pytest.mark.parametrize(("args", "plain"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_plain_layout_is_riches(
    args: list[str], plain: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Any, ...]] = []
    real = table.to_text

    def spy(*renderables: Any) -> str:
        seen.append(renderables)
        return real(*renderables)

    monkeypatch.setattr(table, "to_text", spy)
    result = run_cli(*args)
    assert result.exit_code in (0, 1), result.stderr
    assert seen
    for renderables in seen:
        fast = table._plain_text(renderables, table.PIPE_WIDTH)
        if plain:
            assert fast is not None, "the fast path was not taken"
        if fast is not None:
            assert fast == table._rich_text(*renderables)
            assert fast in result.stdout


def test_a_table_rich_would_wrap_goes_to_rich() -> None:
    t = table.FitTable([table.Column("a", "text"), table.Column("b")])
    t.add_row("word " * 50, "1")
    assert t.plain_lines(80) is None
    assert t.plain_lines(300) is not None


def test_markup_and_emoji_codes_go_to_rich() -> None:
    assert table._plain_text(["[bold]x[/]"], 200) is None
    assert table._plain_text(["a :smile: b"], 200) is None
    assert table._plain_text(["ratio 1:2"], 200) == "ratio 1:2"


CONFIGS = sorted((Path(__file__).parent / "data" / "configs").glob("*/*.toml"))


@pytest.mark.parametrize("quiet", [False, True])
def test_check_text_without_rich_is_riches_without_styles(quiet: bool) -> None:
    from rich.console import Console

    from dsplan.checking.reporters import render
    from dsplan.checking.rules import check_files

    names = [str(p) for p in CONFIGS]
    report = check_files(names, strict=True)
    assert any(f.findings for f in report.files)
    console = Console(highlight=False, soft_wrap=True, no_color=True, width=200)
    with console.capture() as capture:
        console.print(render(report, "text", quiet=quiet))
    assert render(report, "text", quiet=quiet, styled=False) + "\n" == capture.get()


@pytest.mark.parametrize("width", [30, 45, 60, 80, 120, 200])
@pytest.mark.parametrize("kind", ["multistep", "cosine", "wsd"])
def test_schedule_text_at_any_width(width: int, kind: str) -> None:
    from rich.console import Console

    from dsplan.output.schedule_chart import ScheduleText
    from dsplan.planning.schedule_report import explicit_run, schedule_report

    run = explicit_run(2e12, 9437184, 4.2e-4, n_layers=30, d_model=4096)
    report = schedule_report(run, kind, extend_to=3e12)
    text = ScheduleText(report)
    lines = text.plain_lines(width)
    console = Console(highlight=False, width=width, no_color=True)
    with console.capture() as capture:
        console.print(text)
    rich_lines = [line.rstrip() for line in capture.get().splitlines()]
    if lines is not None:
        assert [line.rstrip() for line in lines] == rich_lines
    else:
        assert any(
            len(line) > width for line in "".join(t for t, _ in text.segments(width)).split("\n")
        )
