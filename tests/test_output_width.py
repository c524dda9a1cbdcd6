"""Text output at any terminal width: a number is never cut (issue #12, "Terminals and pipes").

Every command that prints a table runs at COLUMNS = 40, 60, 80 and 200. Each number of the wide
output must appear whole in the narrow one (a table too wide for its numbers is printed one block
per row instead), nothing is shortened with an ellipsis, and what dsplan lays out itself (rich
tables and charts) stays within the width.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from _synthetic import Law, grid_csv, isoflop_csv
from conftest import run_cli

WIDTHS = (40, 60, 80, 200)
CONFIG = Path(__file__).parent / "data" / "configs" / "valid" / "budget-1e21.toml"
# A number as the text formats print one: 1.00e+24, 3.118e-04, 1,234, 17.6, 105B, 0.30%.
NUMBER = re.compile(r"(?<![\w.+-])[+-]?\d[\d,]*(?:\.\d+)?(?:e[+-]\d+)?")

COMMANDS: dict[str, tuple[str, ...]] = {
    "budget": ("budget", "1e24"),
    "budget-several": ("budget", "1e21", "1e22", "1e23"),
    "budget-gpu": ("budget", "1e24", "--gpu", "h800", "--gpus", "2048", "--days", "30"),
    "budget-gpu-several": ("budget", "1e21", "1e22", "--gpu", "h800", "--gpus", "64"),
    "compare": ("compare", "1e24"),
    "gpus": ("gpus",),
    "presets": ("presets",),
    "sweep": ("sweep", "--budgets", "1e18,1e19", "--points", "5", "--format", "text"),
    "schedule": ("schedule", "--budget", "1e22"),
    "schedule-extended": tuple(
        shlex.split(
            "schedule --tokens 2e12 --batch-size-tokens 9437184 --learning-rate 4.2e-4 "
            "--extend-to 3e12 --n-layers 30 --d-model 4096"
        )
    ),
    "model": (
        "model",
        "--n-layers",
        "30",
        "--d-model",
        "4096",
        "--tokens",
        "2e12",
        "--gpu",
        "h800",
    ),
    "shapes": ("shapes", "4e10"),
    "check": ("check", str(CONFIG)),
}
# Laid out by dsplan's own tables and charts (the others print lines a terminal wraps itself).
WITHIN_WIDTH = {
    "budget", "budget-several", "budget-gpu", "budget-gpu-several", "compare", "gpus", "presets",
    "sweep", "schedule", "schedule-extended", "fit",
}  # fmt: skip


@pytest.fixture(scope="module")
def fit_args(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    folder = tmp_path_factory.mktemp("fit")
    results, grid = folder / "results.csv", folder / "grid.csv"
    results.write_text(isoflop_csv(Law()))
    grid.write_text(grid_csv())
    return ("fit", str(results), "--hyperparameters", str(grid), "--predict", "1e21")


def _run(args: tuple[str, ...], width: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    r = run_cli(*args)
    assert r.exit_code == 0, r.stderr
    return r.stdout.splitlines()


def _numbers(lines: list[str]) -> set[str]:
    return {n for line in lines for n in NUMBER.findall(line)}


@pytest.mark.parametrize("width", WIDTHS[:-1])
@pytest.mark.parametrize("name", [*COMMANDS, "fit"])
def test_no_number_is_cut(
    name: str, width: int, monkeypatch: pytest.MonkeyPatch, fit_args: tuple[str, ...]
) -> None:
    args = fit_args if name == "fit" else COMMANDS[name]
    wide = _run(args, 200, monkeypatch)
    narrow = _run(args, width, monkeypatch)
    assert not any("…" in line for line in narrow)
    missing = _numbers(wide) - _numbers(narrow)
    assert not missing, f"cut or lost at {width} columns: {sorted(missing)[:10]}"
    if name in WITHIN_WIDTH:
        too_wide = [line for line in narrow if len(line) > width]
        assert not too_wide, too_wide[:3]


def test_wide_enough_keeps_the_table_and_narrow_switches_to_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wide = "\n".join(_run(COMMANDS["budget-several"], 200, monkeypatch))
    narrow = "\n".join(_run(COMMANDS["budget-several"], 80, monkeypatch))
    assert "┃ C (FLOPs) ┃" in wide
    assert "C (FLOPs):" in narrow and "1.00e+21" in narrow and "┃" not in narrow


def test_piped_output_is_200_columns_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    lines = run_cli("compare", "1e24").stdout.splitlines()
    assert max(len(line) for line in lines) > 120  # one row per law, not blocks
    assert lines == _run(("compare", "1e24"), 200, monkeypatch)
