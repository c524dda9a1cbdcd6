"""`dsplan budget --inference-tokens`: the inference-aware plan (Sardana et al. 2023)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

A3 = ("--preset", "chinchilla-a3")


def test_match_quality_reproduces_sardana_fig1() -> None:
    """Sardana et al. 2023 (arXiv 2401.00448), Fig. 1: 13B of Chinchilla quality and 2T tokens
    served -> ~7B; with the unrounded Approach-3 constants 7.12B on 1.30T, 16.3% saved."""
    result = run_cli(
        "budget", "--match-quality", "13e9", "--inference-tokens", "2e12", *A3, "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    inf = doc["inference"]
    assert inf["target"]["kind"] == "model_size"
    assert inf["model_size"] == pytest.approx(7.12e9, rel=5e-3)
    assert inf["tokens"] == pytest.approx(1.30e12, rel=5e-3)
    assert inf["saving_fraction"] == pytest.approx(0.163, abs=5e-4)
    assert inf["compute_optimal"]["model_size"] == 13_000_000_000
    assert inf["compute_optimal"]["tokens_per_param"] == pytest.approx(47.5, abs=0.05)
    # The plan trains the shape nearest 7.12B parameters on D* tokens: C' = M x D*.
    assert doc["architecture"]["params_total"] == pytest.approx(7.12e9, rel=0.02)
    assert doc["training"]["tokens"] == inf["tokens"]
    assert doc["training"]["tokens"] * doc["architecture"]["flops_per_token"] == pytest.approx(
        doc["compute_flops"], rel=1e-6
    )


def test_a_budget_keeps_the_loss_of_its_compute_optimal_plan() -> None:
    plain = run_cli("budget", "1e22", *A3, "--format", "json").json()
    result = run_cli("budget", "1e22", "--inference-tokens", "2e12", *A3, "--format", "json")
    inf = result.json()["inference"]
    assert inf["target"] == {
        "kind": "compute",
        "value": 1e22,
        "loss": pytest.approx(2.114916, rel=1e-6),
    }
    assert inf["compute_optimal"]["plan_compute_flops"] == 1e22
    assert inf["compute_optimal"]["plan_params_total"] == plain["architecture"]["params_total"]
    assert inf["model_size"] < plain["optimal"]["model_size"]
    assert inf["tokens"] > plain["optimal"]["law_tokens"]
    assert inf["saving_flops"] > 0


def test_target_loss_text_env_and_field() -> None:
    args = ("budget", "--target-loss", "2.1", "--inference-tokens", "1e12", *A3)
    text = run_cli(*args)
    assert text.exit_code == 0, text.stderr
    assert "Inference-aware allocation" in text.stdout
    assert "target: 2.1000 nats (as given)" in text.stdout
    env = run_cli(*args, "--format", "env").stdout
    assert "DSPLAN_INFERENCE_SAVING_FRACTION=" in env
    field = run_cli(*args, "--field", "inference.target.loss")
    assert field.stdout.strip() == "2.1"


def test_with_a_gpu_both_trainings_are_costed() -> None:
    result = run_cli(
        "budget", "1e22", "--inference-tokens", "2e12", *A3, "--gpu", "h100", "--format", "json"
    )
    cost = result.json()["inference"]["cost"]
    assert cost["inference_priced"] is False
    assert cost["training_cost_usd"] > cost["compute_optimal_training_cost_usd"] > 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("1e22", "--inference-tokens", "2e12"), "--preset current has none"),
        (("1e22", "--inference-tokens", "2e12", "--preset", "early"), "use --preset chinchilla-a3"),
        (
            ("--target-loss", "1.5", "--inference-tokens", "2e12", *A3),
            "irreducible loss E = 1.693: no model and data reach it (--target-loss)",
        ),
        (
            ("1e22", "--target-loss", "2.1", "--inference-tokens", "2e12", *A3),
            "give no compute budget C",
        ),
        (("--target-loss", "2.1", *A3), "add --inference-tokens"),
        (("--inference-tokens", "2e12", *A3), "give a compute budget C"),
        (("1e22", "--inference-tokens", "-1", *A3), "--inference-tokens must be a positive"),
        (
            ("--target-loss", "2.1", "--match-quality", "1e9", "--inference-tokens", "1e9", *A3),
            "not both",
        ),
        (("1e22", "--inference-tokens", "2e12", "--unique-tokens", "1e11", *A3), "--unique-tokens"),
        (
            ("1e24", "--moe", "--n-experts", "64", "--top-k", "6", "--inference-tokens", "2e12"),
            "cannot be used with --moe",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], fragment: str) -> None:
    assert_input_error(run_cli("budget", *args), fragment)


def run_config(*args: str) -> str:
    result = run_cli("budget", *args, "--format", "toml")
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("args", "beyond_2x_d_opt"),
    [
        (("--match-quality", "13e9", "--inference-tokens", "2e12", *A3), False),
        (("1e20", "--inference-tokens", "1e14", *A3, "--gpu", "h100"), True),
        (("1e22", "--inference-tokens", "2e13", "--preset", "epoch"), True),
    ],
)
def test_the_written_config_states_its_demand_and_checks_strict(
    args: tuple[str, ...], beyond_2x_d_opt: bool
) -> None:
    """What dsplan writes, dsplan accepts: the over-training is declared in [plan], and DSP302
    measures the tokens against the inference-aware allocation instead of D_opt."""
    text = run_config(*args)
    assert "[plan]" in text and "inference_tokens = " in text
    assert "inference-aware run" in text
    result = run_cli("check", "--strict", "--format", "json", "-", input=text)
    assert result.exit_code == 0, result.stdout
    rules = {f["rule"] for f in result.json()["files"][0]["findings"]}
    assert "DSP302" not in rules
    # Without the declaration, the same run is over-trained against D_opt(C) (the 13B anchor's
    # 7.1B on 1.3T is 2x D_opt at its own C, at the edge of the band).
    bare = text.replace("inference_tokens = ", "# inference_tokens = ")
    plain = run_cli("check", "--format", "json", "-", input=bare).json()
    assert ("DSP302" in {f["rule"] for f in plain["files"][0]["findings"]}) is beyond_2x_d_opt


def test_a_declared_demand_too_small_for_the_tokens_is_still_reported() -> None:
    text = run_config("1e20", "--inference-tokens", "1e14", *A3)
    text = text.replace("inference_tokens = 100000000000000", "inference_tokens = 1000000000")
    result = run_cli("check", "-", input=text)
    assert "DSP302" in result.stdout
    assert "over-trained even for that inference demand" in result.stdout


def test_a_demand_under_a_preset_without_a_loss_law_is_said_so() -> None:
    text = run_config("1e20", "--inference-tokens", "1e14", *A3)
    result = run_cli("check", "--preset", "current", "-", input=text)
    assert "preset current has no loss law" in result.stdout


def test_a_negative_demand_is_a_load_error() -> None:
    text = run_config("1e20", "--inference-tokens", "1e14", *A3)
    text = text.replace("inference_tokens = 100000000000000", "inference_tokens = -5")
    result = run_cli("check", "-", input=text)
    assert result.exit_code == 2
    assert "plan.inference_tokens: must be 0 or more tokens" in result.stderr


def test_compare_gains_the_inference_aware_allocation_per_law() -> None:
    args = ("compare", "1e22", "--preset", "chinchilla-a3", "--preset", "current")
    plain = run_cli(*args, "--format", "json")
    assert "inference_tokens" not in plain.json()["inputs"]
    assert all("inference" not in row for row in plain.json()["budgets"][0]["laws"])
    result = run_cli(*args, "--inference-tokens", "2e12", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["inputs"]["inference_tokens"] == 2e12
    a3, current = doc["budgets"][0]["laws"]
    planned = run_cli("budget", "1e22", "--inference-tokens", "2e12", *A3, "--format", "json")
    inf = planned.json()["inference"]
    assert a3["inference"]["available"] is True
    for key in ("model_size", "tokens", "total_flops", "saving_flops", "saving_fraction"):
        assert a3["inference"][key] == inf[key]
    assert a3["inference"]["compute_optimal_total_flops"] == inf["compute_optimal"]["total_flops"]
    assert current["inference"]["available"] is False
    assert "no loss law" in current["inference"]["reason"]
    text = run_cli(*args, "--inference-tokens", "2e12")
    assert "Inference-aware (Sardana et al. 2023): 2T tokens served" in text.stdout
    assert "N/A: current predicts the allocation directly" in text.stdout


def test_compare_rejects_bad_inference_tokens() -> None:
    assert_input_error(
        run_cli("compare", "1e22", "--inference-tokens", "lots"), "--inference-tokens must be"
    )


M_LAW = """schema_version = 1
id = "m-law"
description = "Parametric loss L(M, D), issue #16's synthetic law"
source = "tests: L = 1.7 + 400 / M^0.34 + 410 / D^0.28 (issue #16, section 0)"
predicts = "flops_per_token"
form = "parametric_loss"

[loss]
e = 1.7
a = 400.0
b = 410.0
alpha = 0.34
beta = 0.28

[fit_range]
compute_min = 1e17
compute_max = 1e25
"""


def test_a_law_in_m_serves_at_m_over_3_per_token(tmp_path: Path) -> None:
    """M units: training M D, inference M / 3 per token (the forward pass; our convention)."""
    from dsplan.laws.inference import inference_optimum, loss_at_compute
    from dsplan.laws.loss import ParametricLoss

    preset = tmp_path / "m-law.toml"
    preset.write_text(M_LAW)
    args = ("budget", "1e21", "--inference-tokens", "1e12", "--preset", str(preset))
    result = run_cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    inf = doc["inference"]
    law = ParametricLoss(e=1.7, a=400.0, b=410.0, alpha=0.34, beta=0.28)
    core = inference_optimum(law, loss_at_compute(law, 1e21, 1.0), 1e12, 1.0)
    assert inf["model_size_unit"] == "flops_per_token"
    assert inf["tokens_per_param"] is None
    assert inf["model_size"] == pytest.approx(core.optimum.model_size, rel=1e-6)
    assert inf["inference_flops"] == pytest.approx(inf["model_size"] * 1e12 / 3, rel=1e-6)
    assert inf["compute_optimal"]["training_flops"] == pytest.approx(1e21, rel=1e-9)
    assert doc["architecture"]["flops_per_token"] == pytest.approx(inf["model_size"], rel=0.03)
    assert doc["training"]["tokens"] == inf["tokens"]
    shown = run_cli(*args).stdout
    assert "Allocation (inference-aware)" in shown and "Eq. 4" not in shown
    text = run_cli(*args, "--format", "toml").stdout
    check = run_cli("check", "--strict", "--format", "json", "-", input=text)
    assert check.exit_code == 0, check.stdout
    assert "DSP302" not in {f["rule"] for f in check.json()["files"][0]["findings"]}


def test_a_trainer_config_of_an_inference_aware_plan_says_so() -> None:
    result = run_cli("budget", "1e22", "--inference-tokens", "2e13", *A3, "--format", "nanotron")
    assert result.exit_code == 0, result.stderr
    assert "inference-aware run under preset 'chinchilla-a3'" in result.stdout.splitlines()[0]
