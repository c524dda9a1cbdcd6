"""``dsplan budget`` with law presets, --hyperparameters and --unique-tokens."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import OUTPUT_REL, assert_input_error, run_cli

from dsplan.catalog.presets import load_preset, preset_ids


@pytest.mark.parametrize("preset_id", ["current", "early", "openwebtext2"])
def test_deepseek_documents_keep_their_keys(preset_id: str) -> None:
    # The DeepSeek presets' documents keep their shape: the law's own prediction (issue #7's stable
    # optimal.model_size) is M_opt itself, and no keys of the parameter laws appear.
    doc = run_cli("budget", "1e24", "--preset", preset_id, "--format", "json").json()
    o = doc["optimal"]
    assert set(o) == {"flops_per_token", "tokens", "model_size", "model_size_unit"}
    assert (o["model_size"], o["model_size_unit"]) == (o["flops_per_token"], "flops_per_token")
    assert not {"law", "hyperparameter_law", "data_constrained"} & set(doc)
    assert "model_size_error" not in doc["architecture"]
    assert "allocation_range" not in doc["fit_range"]


@pytest.mark.parametrize("preset_id", preset_ids())
def test_every_preset_plans_at_1e24(preset_id: str) -> None:
    r = run_cli("budget", "1e24", "--preset", preset_id, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["training"]["tokens"] * doc["architecture"]["flops_per_token"] == pytest.approx(1e24)


def test_param_law_json_contract() -> None:
    doc = run_cli("budget", "5.76e23", "--preset", "chinchilla-a3", "--format", "json").json()
    o = doc["optimal"]
    assert o["model_size_unit"] == "params_total"
    assert o["model_size"] == pytest.approx(40.4e9, rel=0.01)  # Chinchilla's 40B (unrounded)
    assert doc["architecture"]["params_total"] == pytest.approx(o["model_size"], rel=0.02)
    assert o["tokens"] == doc["training"]["tokens"]
    assert doc["law"]["status"] == "verified"
    assert doc["hyperparameter_law"]["id"] == "deepseek"


def test_field_reads_model_size() -> None:
    r = run_cli("budget", "1e21", "--preset", "kaplan", "--field", "optimal.model_size_unit")
    assert r.stdout == "params_non_embedding\n"


def test_hyperparameters_option_picks_step_law() -> None:
    base = run_cli("budget", "1e24", "--format", "json").json()
    step = run_cli("budget", "1e24", "--hyperparameters", "step-law", "--format", "json").json()
    assert step["architecture"] == base["architecture"]  # allocation unchanged
    assert step["hyperparameter_law"]["id"] == "step-law"
    assert step["hyperparameters"]["learning_rate"] < base["hyperparameters"]["learning_rate"]


def test_kaplan_lr_beyond_1e10_is_an_input_error() -> None:
    # Kaplan et al. 2020, Appendix D.6: LR(N) "breaks down for N > 10^10"; at 1e24 the law asks for
    # 7.25e11 non-embedding parameters and the nearest real shape has 7.26e11.
    assert_input_error(
        run_cli("budget", "1e24", "--preset", "kaplan", "--hyperparameters", "kaplan"),
        "kaplan: the learning-rate law is undefined at N = 7.26e+11 (it breaks down above 1e+10 "
        "parameters); choose another hyperparameter law (e.g. deepseek or step-law) "
        "(--hyperparameters)",
    )


def test_kaplan_plans_with_deepseek_hyperparameters_by_default() -> None:
    r = run_cli("budget", "1e24", "--preset", "kaplan", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["optimal"]["model_size"] == pytest.approx(7.25e11, rel=0.01)  # reference §10
    assert doc["hyperparameter_law"]["id"] == "deepseek"
    assert doc["hyperparameters"]["learning_rate"] == pytest.approx(0.3118 * 1e24**-0.125)
    assert any("its paper's own law is --hyperparameters kaplan" in w for w in doc["warnings"])
    explicit = run_cli(
        "budget", "1e24", "--preset", "kaplan", "--hyperparameters", "deepseek", "--format", "json"
    ).json()
    assert explicit["hyperparameters"] == doc["hyperparameters"]


def test_kaplan_own_law_where_it_is_defined() -> None:
    # At 1e21 Kaplan's N is 4.68B (< 1e10): LR(N) = 0.003239 - 0.0001395 ln N on the shape's N.
    doc = run_cli(
        "budget", "1e21", "--preset", "kaplan", "--hyperparameters", "kaplan", "--format", "json"
    ).json()
    n = doc["architecture"]["params_non_embedding"]
    assert doc["hyperparameters"]["learning_rate"] == pytest.approx(
        0.003239 - 0.0001395 * math.log(n), rel=OUTPUT_REL
    )
    assert not any("its paper's own law" in w for w in doc["warnings"])


def test_unique_tokens_plenty_of_data() -> None:
    doc = run_cli("budget", "1e24", "--unique-tokens", "1e13", "--format", "json").json()
    dc = doc["data_constrained"]
    assert dc["epochs"] < 1
    assert dc["reallocated"] is None
    assert dc["effective_tokens"] == doc["training"]["tokens"]


def test_unique_tokens_scarce_data_reallocates_and_warns() -> None:
    r = run_cli("budget", "1e24", "--unique-tokens", "2e11", "--format", "json")
    assert r.exit_code == 0
    dc = r.json()["data_constrained"]
    assert dc["epochs"] == pytest.approx(r.json()["training"]["tokens"] / 2e11)
    assert dc["effective_tokens"] < r.json()["training"]["tokens"]
    realloc = dc["reallocated"]
    assert realloc["tokens"] * realloc["flops_per_token"] == pytest.approx(1e24)
    assert realloc["factor"] < 1  # Muennighoff: more epochs, fewer excess parameters
    assert any("beyond about 4 epochs" in w for w in r.json()["warnings"])


def test_unique_tokens_text() -> None:
    r = run_cli("budget", "1e24", "--unique-tokens", "2e11")
    assert r.exit_code == 0
    assert "Data (Muennighoff 2023)" in r.stdout
    assert "re-allocated" in r.stdout
    assert "warning: the plan repeats" in r.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--hyperparameters", "step_law"), "did you mean step-law"),
        (("--unique-tokens", "many"), "--unique-tokens must be a positive number"),
        (("--preset", "chinchilla"), "unknown preset 'chinchilla'"),
    ],
)
def test_budget_input_errors(args: tuple[str, ...], fragment: str) -> None:
    assert_input_error(run_cli("budget", "1e24", *args), fragment)


def test_presets_lists_laws_with_units() -> None:
    r = run_cli("presets", "--format", "json")
    items = {p["id"]: p for p in r.json()}
    assert items["llama3"]["predicts"] == "tokens"
    assert items["kaplan"]["hyperparameters"] == "deepseek"
    assert items["kaplan"]["own_hyperparameters"] == "kaplan"
    kaplan = run_cli("presets", "show", "kaplan").stdout
    assert "paper's own hyperparameter law: kaplan (--hyperparameters kaplan" in kaplan
    assert items["current"]["predicts"] == "flops_per_token"
    shown = run_cli("presets", "show", "chinchilla-a3")
    assert "parametric_loss" in shown.stdout and "status:        verified" in shown.stdout


def test_budget_json_stays_light() -> None:
    # `dsplan budget 1e24 --format json` imports no numpy/scipy/matplotlib and reads one preset.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dsplan.cli import app\n"
        "from dsplan.catalog.presets import read_toml\n"
        "try:\n"
        "    app(['budget', '1e24', '--format', 'json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('numpy', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print(heavy, read_toml.cache_info().currsize, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stderr.strip() == "[] 1"


def test_model_names_the_hyperparameter_law(tmp_path: Path) -> None:
    # `dsplan model --tokens` under a non-DeepSeek preset: the law is named (not "Eq. 1"), and an
    # undefined learning rate (Kaplan's LR(N) at 67B) is reported, not a traceback.
    shape = (
        "model",
        "--n-layers",
        "95",
        "--d-model",
        "8192",
        "--n-kv-heads",
        "8",
        "--tokens",
        "2e12",
    )
    r = run_cli(*shape, "--preset", "chinchilla-a3")
    assert r.exit_code == 0, r.stderr
    assert "deepseek law: peak learning rate 3.1" in r.stdout
    path = tmp_path / "k.toml"
    text = Path(load_preset("kaplan").path).read_text()
    path.write_text(text.replace('own_hyperparameters = "kaplan"', 'hyperparameters = "kaplan"'))
    r = run_cli(*shape, "--preset", str(path))
    assert r.exit_code == 0, r.stderr
    assert "kaplan law: peak learning rate undefined, batch" in r.stdout
    assert "kaplan: the learning-rate law is undefined at N = " in r.stdout
    doc = run_cli(*shape, "--preset", str(path), "--format", "json").json()["hyperparameters"]
    assert (doc["law"], doc["learning_rate"]) == ("kaplan", None)
