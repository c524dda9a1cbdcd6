"""Preset files: every shipped preset loads and is sourced; bad files fail with file and key."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from dsplan.catalog.presets import load_preset, preset_ids, presets_dir
from dsplan.errors import PresetError

CURRENT = (presets_dir() / "current.toml").read_text()


@pytest.mark.parametrize("preset_id", preset_ids())
def test_every_preset_loads_and_is_sourced(preset_id: str) -> None:
    p = load_preset(preset_id)
    assert p.id == preset_id
    assert p.source.strip() and p.description.strip()
    laws = [p.model_scaling, p.data_scaling, p.learning_rate, p.batch_size]
    # Laws of other forms fill only the tables they need (tests/test_presets_laws.py checks them).
    for law in (law for law in laws if law is not None):
        assert math.isfinite(law.coefficient) and law.coefficient > 0
        assert math.isfinite(law.exponent)
    lo, hi = p.fit_range.compute_min, p.fit_range.compute_max
    if lo is not None and hi is not None:
        assert 0 < lo <= hi


def test_current_is_eq1_and_eq4_as_printed() -> None:
    # arXiv 2401.02954 Eq. 1 and Eq. 4.
    p = load_preset("current")
    assert (p.model_scaling.coefficient, p.model_scaling.exponent) == (0.1715, 0.5243)
    assert (p.data_scaling.coefficient, p.data_scaling.exponent) == (5.8316, 0.4757)
    assert (p.learning_rate.coefficient, p.learning_rate.exponent) == (0.3118, -0.1250)
    assert (p.batch_size.coefficient, p.batch_size.exponent) == (0.2920, 0.3271)
    assert p.assumption is None


@pytest.mark.parametrize("preset_id", ["early", "openwebtext2"])
def test_unpublished_coefficients_are_labelled(preset_id: str) -> None:
    p = load_preset(preset_id)
    assert p.assumption and "assumption" in (p.verification or "")
    text = (presets_dir() / f"{preset_id}.toml").read_text()
    assert "NOT" in text and "anchored (assumption)" in text


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(CURRENT.replace('id = "current"', 'id = "mine"'))
    assert load_preset(str(path)).id == "mine"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("[batch_size]", "[batch]"), "missing table [batch_size]"),
        (lambda t: t.replace("coefficient = 0.2920\n", ""), "missing key batch_size.coefficient"),
        (
            lambda t: t.replace("coefficient = 0.1715", 'coefficient = "x"'),
            "model_scaling.coefficient must be a finite number",
        ),
        (
            lambda t: t.replace("coefficient = 0.1715", "coefficient = -1.0"),
            "model_scaling.coefficient must be positive",
        ),
        (
            lambda t: t.replace("schema_version = 1", "schema_version = 9"),
            "schema_version must be 1",
        ),
        (lambda t: t.replace('source = "', "source = 7 #"), "source must be a string"),
        (lambda t: t + "\n[[[", "not valid TOML"),
        (
            lambda t: t.replace("compute_max = 3e20", "compute_max = 1e10"),
            "compute_min <= compute_max",
        ),
    ],
    ids=["table", "key", "type", "sign", "schema", "source", "toml", "range"],
)
def test_bad_preset_files(tmp_path: Path, edit: object, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(edit(CURRENT))  # type: ignore[operator]
    with pytest.raises(PresetError, match=re.escape(message)) as info:
        load_preset(str(path))
    assert str(path) in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(PresetError, match="no such file"):
        load_preset("/nonexistent/preset.toml")
