"""`dsplan layout` of mixture-of-experts models: a trained one (--hf-config) or a `budget --moe` plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from dsplan.model.hf_moe import read_hf_moe_config
from dsplan.planning.layout import expert_parallel_sizes

V3_CONFIG = str(Path(__file__).resolve().parent / "data" / "hf" / "deepseek-ai--DeepSeek-V3.json")
# arXiv 2412.19437: 15,360 sequences of 4,096 tokens a step after the ramp (Section 4.2) on 2,048
# H800 (Section 3.2).
V3_ARGS = (
    "layout",
    "--hf-config",
    V3_CONFIG,
    "--seq-len",
    "4096",
    "--batch-size-tokens",
    str(15360 * 4096),
    "--gpu",
    "h800",
    "--gpus",
    "2048",
)


def test_deepseek_v3_layout_is_searched_and_deepseeks_own_fits() -> None:
    result = run_cli(*V3_ARGS, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["shape"]["n_experts"] == 256 and doc["global_batch_sequences"] == 15360
    layouts = [c["layout"] for c in doc["layouts"]]
    # Every layout's EP divides the 256 routed experts and its DP x CP ranks; several are searched.
    assert all(256 % lay["ep"] == 0 and (lay["dp"] * lay["cp"]) % lay["ep"] == 0 for lay in layouts)
    assert len({lay["ep"] for lay in layouts}) > 3
    # DeepSeek's own (Section 3.2): TP 1, PP 16, EP 64, ZeRO-1; it fits with full recomputation
    # (the search keeps the least recomputation that fits, so it is listed with "full").
    (own,) = [
        c
        for c in doc["layouts"]
        if (c["layout"]["tp"], c["layout"]["pp"], c["layout"]["ep"], c["layout"]["micro_batch"])
        == (1, 16, 64, 1)
        and c["layout"]["virtual_stages"] == 1
    ]
    assert own["layout"]["zero"] == 1 and own["layout"]["recompute"] == "full"
    assert own["memory"]["required_bytes"] / 1e9 == pytest.approx(23.90, abs=0.01)
    # The fullest GPU is the last stage: 4 routed experts in each of its 3 MoE layers and in the
    # multi-token-prediction module's.
    assert own["memory"]["peak_stage"] == 15
    assert own["memory"]["expert_params"] == 4 * 3 * 7168 * 2048 * (3 + 1)


def test_deepseek_v3_text_names_the_experts() -> None:
    result = run_cli(*V3_ARGS, "--top", "3")
    assert result.exit_code == 0, result.stderr
    assert "256 routed experts (top-8) + 1 shared" in result.stdout
    header = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("#"))
    assert " EP " in header


def test_budget_moe_plan_is_laid_out() -> None:
    args = ("--moe", "--n-experts", "64", "--top-k", "6", "--n-shared-experts", "2")
    result = run_cli(
        "layout", "--budget", "1e22", *args, "--gpu", "h100", "--gpus", "64", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    planned = run_cli("budget", "1e22", *args, "--format", "json").json()
    assert doc["shape"]["n_layers"] == planned["architecture"]["n_layers"]
    assert doc["shape"]["n_experts"] == 64 and doc["shape"]["top_k"] == 6
    assert doc["global_batch_sequences"] == planned["hyperparameters"]["batch_size_sequences"]
    assert doc["layouts"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--moe",), "--moe plans a mixture-of-experts model for --budget C"),
        (("--budget", "1e22", "--n-experts", "8"), "--n-experts plan a mixture-of-experts model"),
        (("--budget", "1e22", "--moe", "--top-k", "2"), "--moe needs --n-experts"),
        (
            ("--budget", "1e22", "--moe", "--n-experts", "4", "--top-k", "8"),
            "--top-k (8) must be at most --n-experts (4)",
        ),
    ],
)
def test_moe_flag_errors(args: tuple[str, ...], message: str) -> None:
    result = run_cli("layout", *args, "--gpu", "h100", "--gpus", "8")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_expert_parallel_sizes() -> None:
    v3 = read_hf_moe_config(V3_CONFIG).shape
    assert expert_parallel_sizes(v3, 128) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert expert_parallel_sizes(v3, 96) == [1, 2, 4, 8, 16, 32]
