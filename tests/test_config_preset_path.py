"""`dsplan budget --format toml` with a preset file: the config can be checked from any folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from dsplan.catalog.presets import presets_dir


def test_budget_toml_with_a_preset_file_checks_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text(
        (presets_dir() / "current.toml").read_text().replace('id = "current"', 'id = "mine"')
    )
    config = run_cli("budget", "1e21", "--preset", "mine.toml", "--format", "toml")
    assert config.exit_code == 0, config.stderr
    assert f'preset = "{tmp_path / "mine.toml"}"' in config.stdout
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "run.toml").write_text(config.stdout)
    checked = run_cli("check", str(runs / "run.toml"), "--format", "json")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
