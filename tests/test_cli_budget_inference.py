"""`dsplan budget --inference-tokens`: the inference-aware plan (Sardana et al. 2023)."""

from __future__ import annotations

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
    # The plan is that of the new training compute, with the shape nearest 7.12B parameters.
    assert doc["compute_flops"] == pytest.approx(inf["training_flops"], rel=1e-6)
    assert doc["architecture"]["params_total"] == pytest.approx(7.12e9, rel=0.02)
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
