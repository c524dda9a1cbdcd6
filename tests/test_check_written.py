"""What dsplan writes, dsplan's own check passes, strict: `budget --format toml` and `sweep
--configs-dir` across budgets and presets (issue #12, point 6)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from dsplan.catalog.presets import load_preset, preset_ids

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
BUDGETS = ("1e17", "3e18", "1e20", "3e21", "1e23", "1e25")
# `dsplan sweep` needs a preset that predicts M with its own Eq. 1 (docs/sweep-and-fit.md).
SWEEP_PRESETS = [p for p in preset_ids() if load_preset(p).predicts == "flops_per_token"]


def _check_strict(folder: Path) -> dict[str, object]:
    """`dsplan check FOLDER --strict --format json` must pass: no error and no warning."""
    r = run_cli("check", str(folder), "--strict", "--format", "json")
    assert r.exit_code == 0, r.stdout or r.stderr
    summary = r.json()["summary"]
    assert summary["errors"] == 0
    assert summary["warnings"] == 0
    return dict(summary)


def _declared_ignores(path: Path) -> list[str]:
    """The rules a written config ignores; each must follow a comment naming it and the reason."""
    text = path.read_text(encoding="utf-8")
    ignores = tomllib.loads(text).get("check", {}).get("ignore", [])
    for rule in ignores:
        assert re.search(rf"^# (DSP\d+, )*{rule}(, DSP\d+)*: \S", text, re.MULTILINE), (path, rule)
    return list(ignores)


@pytest.mark.parametrize("preset", preset_ids())
def test_budget_toml_passes_check_strict(tmp_path: Path, preset: str) -> None:
    for budget in BUDGETS:
        r = run_cli("budget", budget, "--preset", preset, "--format", "toml")
        assert r.exit_code == 0, r.stderr
        (tmp_path / f"{budget}.toml").write_text(r.stdout, encoding="utf-8")
    assert _check_strict(tmp_path)["files"] == len(BUDGETS)
    for path in tmp_path.glob("*.toml"):
        # A plan is the law's own optimum: only what the budget asked for (a budget outside the
        # fit range, the shape the search could reach, a parameter law's C = 6ND) is declared.
        assert set(_declared_ignores(path)) <= {"DSP106", "DSP303", "DSP305"}, path


def test_budget_toml_inside_the_fit_range_declares_nothing(tmp_path: Path) -> None:
    r = run_cli("budget", "1e19", "--format", "toml")
    assert "[check]" not in r.stdout
    (tmp_path / "run.toml").write_text(r.stdout, encoding="utf-8")
    _check_strict(tmp_path)


@pytest.mark.parametrize("preset", SWEEP_PRESETS)
@pytest.mark.parametrize(
    ("kind", "declared"),
    [("isoflop", {"DSP302", "DSP303"}), ("hyperparameters", {"DSP201", "DSP202"})],
)
def test_sweep_configs_pass_check_strict(
    tmp_path: Path, preset: str, kind: str, declared: set[str]
) -> None:
    args = ["--kind", kind, "--preset", preset, "--budgets", "1e17..3e20", "--count", "4"]
    if kind == "isoflop":
        args += ["--points", "6"]
    r = run_cli("sweep", *args, "--configs-dir", str(tmp_path / "runs"))
    assert r.exit_code == 0, r.stderr
    summary = _check_strict(tmp_path / "runs")
    assert summary["files"] == len(list((tmp_path / "runs").glob("*.toml")))
    for path in (tmp_path / "runs").glob("*.toml"):
        ignores = set(_declared_ignores(path))
        # Every run declares what the sweep varies on purpose; DSP106 only for a shape outside
        # the width/depth band, DSP305 only for a budget below the preset's fit range.
        assert declared <= ignores <= declared | {"DSP106", "DSP305"}, path


def test_without_their_declarations_sweep_configs_would_warn(tmp_path: Path) -> None:
    # The [check] table is what makes them pass: the deviations are real, and declared.
    folder = tmp_path / "runs"
    assert (
        run_cli("sweep", "--kind", "hyperparameters", "--configs-dir", str(folder)).exit_code == 0
    )
    for path in folder.glob("*.toml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text[: text.index("[check]")], encoding="utf-8")
    r = run_cli("check", str(folder), "--strict", "--format", "json")
    assert r.exit_code == 1
    rules = {f["rule"] for file in r.json()["files"] for f in file["findings"]}
    assert rules == {"DSP201", "DSP202"}


# ------------------------------------------------------------------------------ pre-commit


def _hook_ids(text: str) -> list[str]:
    return re.findall(r"^\s*-\s*id:\s*(\S+)", text, re.MULTILINE)


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)


def test_pre_commit_snippets_name_shipped_hooks_and_no_missing_tag() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    shipped = _hook_ids(hooks)
    assert shipped == ["dsplan-check", "dsplan-check-strict"]
    snippets = [
        block
        for doc in ("README.md", "docs/check.md")
        for block in _yaml_blocks((ROOT / doc).read_text(encoding="utf-8"))
        if "pre-commit-config" in block
    ]
    assert snippets, "the pre-commit snippet is documented"
    for block in snippets:
        ids = _hook_ids(block)
        assert ids, block
        assert set(ids) <= set(shipped), block
        # dsplan has published no release tag: a snippet pins a commit (or uses repo: local).
        assert not re.search(r"^\s*rev:\s*v\d", block, re.MULTILINE), block
        if "repo: local" in block:
            # A local hook repeats the shipped hook's entry and files; they must not drift.
            for key in ("entry", "files"):
                shipped_values = set(re.findall(rf"^\s*{key}:\s*(.+)$", hooks, re.MULTILINE))
                for value in re.findall(rf"^\s*{key}:\s*(.+)$", block, re.MULTILINE):
                    assert value.strip() in shipped_values, (key, value)
