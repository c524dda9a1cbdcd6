"""Law presets and hyperparameter laws: every one loads and is sourced; the schema grows backward-compatibly."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dsplan.catalog.presets import (
    PREDICTS,
    STATUSES,
    all_hyperparameter_laws,
    hyperparameter_law_ids,
    load_hyperparameter_law,
    load_preset,
    parse_preset,
    preset_ids,
    read_toml,
)
from dsplan.errors import PresetError

REQUIRED_IDS = {
    "chinchilla-a1",
    "chinchilla-a2",
    "chinchilla-a3",
    "chinchilla-20x",
    "epoch",
    "kaplan",
    "llama3",
    "porian-rw",
    "porian-owt2",
    "minicpm",
    "muennighoff",
    "current",
    "early",
    "openwebtext2",
}


def test_required_ids_ship() -> None:
    assert set(preset_ids()) >= REQUIRED_IDS
    assert {"deepseek", "step-law", "kaplan"} <= set(hyperparameter_law_ids())


def _numbers(value: object) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


@pytest.mark.parametrize("preset_id", preset_ids())
def test_every_preset_loads_sourced_finite_positive(preset_id: str) -> None:
    p = load_preset(preset_id)
    assert p.id == preset_id
    assert p.source.strip()
    assert p.predicts in PREDICTS
    assert p.status_label in STATUSES
    doc = p.to_dict()
    for key in ("model_scaling", "data_scaling", "loss", "fit_range", "repetition"):
        for x in _numbers(doc.get(key, {})):
            assert math.isfinite(x)
            if key != "model_scaling" and key != "data_scaling":
                assert x > 0
    for key in ("model_scaling", "data_scaling"):
        if key in doc:
            assert doc[key]["coefficient"] > 0
    if p.hyperparameter_law_id is not None:
        load_hyperparameter_law(p.hyperparameter_law_id)


@pytest.mark.parametrize("law", all_hyperparameter_laws(), ids=lambda law: law.id)
def test_every_hyperparameter_law_is_sourced(law: object) -> None:
    doc = law.to_dict()  # type: ignore[attr-defined]
    assert doc["source"].strip()
    assert doc["status"] in STATUSES
    assert all(math.isfinite(x) for x in _numbers(doc))


ORIGINAL_CURRENT = """
schema_version = 1
id = "current"
description = "DeepSeek LLM, current in-house data (Eq. 4)"
source = "arXiv 2401.02954, Eq. 1 and Eq. 4"
[model_scaling]
coefficient = 0.1715
exponent = 0.5243
[data_scaling]
coefficient = 5.8316
exponent = 0.4757
[learning_rate]
coefficient = 0.3118
exponent = -0.1250
[batch_size]
coefficient = 0.2920
exponent = 0.3271
[fit_range]
compute_min = 1e17
compute_max = 3e20
"""


def test_schema_1_file_without_new_keys_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text(ORIGINAL_CURRENT)
    p = load_preset(str(path))
    assert p.predicts == "flops_per_token"
    assert p.form == "power_law"
    assert p.has_own_hyperparameters
    assert p.hyperparameter_law_id is None
    assert p.model_scaling == load_preset("current").model_scaling


def _parse(tmp_path: Path, text: str) -> object:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return parse_preset(read_toml(path), path)


BASE = 'schema_version = 1\nid = "x"\ndescription = "d"\nsource = "s"\n[fit_range]\ncompute_min = 1e18\ncompute_max = 1e20\n'


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ('predicts = "widgets"\n', "predicts must be one of"),
        ('predicts = "params_total"\nform = "parametric_loss"\n', "needs a [loss] table"),
        ('predicts = "params_total"\nform = "fixed_ratio"\n', "needs tokens_per_param"),
        ('predicts = "tokens"\n', "needs [data_scaling]"),
        ('form = "fixed_ratio"\ntokens_per_param = 20\n', "needs predicts = a parameter count"),
        ('predicts = "params_total"\nstatus = "probably"\n', "status must be one of"),
        ('predicts = "params_total"\ncompute_fraction = 2\n', "compute_fraction must lie in"),
    ],
)
def test_bad_new_keys_are_named(tmp_path: Path, extra: str, fragment: str) -> None:
    # TOML: top-level keys must come before the first table.
    with pytest.raises(PresetError, match=None) as info:
        _parse(tmp_path, extra + BASE)
    assert fragment in str(info.value)


def test_fit_range_needs_a_bound(tmp_path: Path) -> None:
    text = 'schema_version = 1\nid = "x"\ndescription = "d"\nsource = "s"\npredicts = "params_total"\nform = "fixed_ratio"\ntokens_per_param = 20\n[fit_range]\n'
    with pytest.raises(PresetError, match="needs at least one bound"):
        _parse(tmp_path, text)


def test_unknown_hyperparameter_law_suggests() -> None:
    with pytest.raises(PresetError, match="did you mean step-law"):
        load_hyperparameter_law("steplaw")


def test_law_file_is_not_a_hyperparameter_law() -> None:
    path = Path(load_preset("current").path)
    with pytest.raises(PresetError, match='kind = "hyperparameters"'):
        load_hyperparameter_law(str(path))


def test_sweep_and_fit_refuse_laws_not_in_m() -> None:
    from dsplan.catalog.presets import resolve_hyperparameter_law
    from dsplan.laws.forms import m_form
    from dsplan.laws.hyperparameters import compute_hyperparameter_laws

    with pytest.raises(PresetError, match="'kaplan' predicts params_non_embedding"):
        m_form(load_preset("kaplan"), "dsplan sweep")
    assert m_form(load_preset("current"), "dsplan sweep").model_scaling.exponent == 0.5243
    # Laws deferring to DeepSeek Eq. 1 get it as power laws in C (kaplan too: plans default to
    # Eq. 1); a law in N or D (Step Law, Kaplan's LR(N)) cannot be.
    for preset_id in ("epoch", "kaplan"):
        preset = load_preset(preset_id)
        law = resolve_hyperparameter_law(preset)
        lr, batch = compute_hyperparameter_laws(preset, law, "x")
        assert (lr.coefficient, batch.exponent) == (0.3118, 0.3271)


@pytest.mark.parametrize("law_id", ["step-law", "kaplan"])
def test_hyperparameter_laws_not_in_c_alone_are_refused(tmp_path: Path, law_id: str) -> None:
    from dsplan.catalog.presets import resolve_hyperparameter_law
    from dsplan.laws.hyperparameters import compute_hyperparameter_laws

    path = tmp_path / "p.toml"
    path.write_text(f'hyperparameters = "{law_id}"\npredicts = "params_total"\n' + BASE)
    path.write_text(path.read_text() + "[model_scaling]\ncoefficient = 0.1\nexponent = 0.5\n")
    with pytest.raises(PresetError, match=f"needs hyperparameter laws in C alone.*'{law_id}'"):
        preset = load_preset(str(path))
        compute_hyperparameter_laws(preset, resolve_hyperparameter_law(preset), "x")


def test_kaplan_defaults_to_deepseek_and_names_its_own_law() -> None:
    # Kaplan's LR(N) breaks down above N = 1e10 (Appendix D.6), where its allocation lands above
    # ~3e21 FLOPs: plans default to DeepSeek Eq. 1, and the paper's own law stays one flag away.
    kaplan = load_preset("kaplan")
    assert kaplan.hyperparameter_law_id == "deepseek"
    assert kaplan.own_hyperparameters == "kaplan"
    doc = kaplan.to_dict()
    assert (doc["hyperparameters"], doc["own_hyperparameters"]) == ("deepseek", "kaplan")
    assert "own_hyperparameters" not in load_preset("current").to_dict()
