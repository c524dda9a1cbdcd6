"""``dsplan budget --moe``: the MoE shape search and the MoE plan (Eq. 4 on the activated compute)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

from dsplan.errors import InputError
from dsplan.model.hf_moe import read_hf_moe_config
from dsplan.model.moe import moe_counts
from dsplan.model.moe_shape import (
    MoeSearchOptions,
    best_moe_shape,
    expert_width,
    mla_for,
    search_moe,
)
from dsplan.planning.moe_plan import MoePlanOptions, moe_plan
from dsplan.planning.plan import plan

HF = Path(__file__).resolve().parent / "data" / "hf"
V3_FLAGS = ("--moe", "--n-experts", "256", "--top-k", "8", "--n-shared-experts", "1")


def test_expert_width_keeps_the_activated_experts_as_wide_as_a_dense_layer() -> None:
    # DeepSeekMoE (arXiv 2401.06066, Section 3.1) cuts an FFN into m experts of 1/m the width and
    # activates m times as many. DeepSeek-V3 (7168 wide, 8 routed + 1 shared) uses 2048; the rule
    # gives 8/3 * 7168 / 9 = 2123.9 -> 2176, the nearest multiple of 128.
    assert expert_width(7168, 8, 1) == 2176
    assert expert_width(5120, 6, 2) == 1664  # DeepSeek-V2: 8/3 * 5120 / 8 = 1706.7; its own 1536
    assert expert_width(512, 64, 0) == 128  # never below one multiple


def test_mla_sizes_follow_deepseek() -> None:
    # arXiv 2405.04434: V2-Lite (2048 wide) has no query compression, V2/V3 a rank of 1536.
    assert mla_for(2048).q_lora_rank == 0
    assert mla_for(5120).q_lora_rank == 1536
    assert (mla_for(7168).kv_lora_rank, mla_for(7168).qk_head_dim) == (512, 192)


@pytest.mark.parametrize("mla", [False, True])
@pytest.mark.parametrize("target", [3e9, 5e10, 2.76e11, 1.4e12])
def test_search_lands_within_tolerance_on_the_fixed_experts(target: float, mla: bool) -> None:
    options = MoeSearchOptions(n_experts=64, top_k=6, n_shared_experts=2, n_dense_layers=1, mla=mla)
    found = search_moe(target, options, limit=3)
    best = found[0]
    s = best.shape
    assert abs(best.relative_error) <= options.tolerance
    assert best.counts == moe_counts(s)
    assert best.counts.flops_per_token / target - 1 == best.relative_error
    assert (s.n_experts, s.top_k, s.n_shared_experts, s.n_dense_layers) == (64, 6, 2, 1)
    assert s.d_ff_expert % 128 == 0 and s.d_model % 128 == 0
    assert (s.mla is not None) is mla
    assert 20 <= s.d_model / s.n_layers <= 200
    assert len(found) == 3


def test_search_refuses_what_it_cannot_fit() -> None:
    with pytest.raises(InputError, match="too small"):
        best_moe_shape(1e6, MoeSearchOptions(n_experts=8, top_k=2))
    with pytest.raises(InputError, match="positive"):
        best_moe_shape(float("nan"), MoeSearchOptions(n_experts=8, top_k=2))
    with pytest.raises(InputError, match="top_k"):
        MoeSearchOptions(n_experts=4, top_k=8)


def _v3():  # type: ignore[no-untyped-def]
    return moe_counts(read_hf_moe_config(HF / "deepseek-ai--DeepSeek-V3.json").shape)


def test_deepseek_v3_trained_about_five_times_below_eq4() -> None:
    # arXiv 2412.19437: DeepSeek-V3 trained on 14.8T tokens. Its activated M at 4096 tokens is
    # 275.6 GFLOPs/token (reference moe-and-parallelism.md), so C = M D = 4.08e24; Eq. 4 at that C
    # asks for an M about five times larger (issue 14's worked example, docs/moe.md).
    m = _v3().flops_per_token
    c = m * 14.8e12
    assert c == pytest.approx(4.08e24, rel=0.005)
    p = plan(c)
    assert p.optimal.flops_per_token / m == pytest.approx(4.98, abs=0.01)
    assert 14.8e12 / p.optimal.tokens == pytest.approx(4.98, abs=0.01)


@pytest.mark.parametrize("mla", [False, True])
def test_moe_plan_is_eq4_and_eq1_at_the_activated_compute(mla: bool) -> None:
    c = 1e23
    options = MoePlanOptions(MoeSearchOptions(256, 8, 1, 3, mla=mla))
    p = moe_plan(c, options)
    dense = plan(c)
    assert p.optimal == dense.optimal  # Eq. 4's M_opt and D_opt, untouched
    assert p.hyperparameters.learning_rate == dense.hyperparameters.learning_rate  # Eq. 1 at C
    assert p.hyperparameters.batch_size_tokens == dense.hyperparameters.batch_size_tokens
    m = p.candidate.counts.flops_per_token
    assert m * p.tokens == pytest.approx(c, rel=1e-12)
    assert abs(m / p.optimal.flops_per_token - 1) <= 0.03
    doc = p.to_dict()
    assert doc["kind"] == "moe"
    assert "assumption" in doc["moe_assumption"]
    assert doc["architecture"]["params_total"] > doc["architecture"]["params_activated"]
    assert doc["schedule"]["peak_learning_rate"] == p.hyperparameters.learning_rate
    assert any("DeepSeek publishes no allocation law" in w for w in p.warnings)


def test_moe_plan_refuses_a_parameter_law() -> None:
    with pytest.raises(InputError, match="predicts"):
        moe_plan(1e22, MoePlanOptions(MoeSearchOptions(8, 2), preset="chinchilla-a3"))


def test_cli_moe_json_and_cost_on_total_parameters() -> None:
    r = run_cli(
        "budget",
        "1e23",
        *V3_FLAGS,
        "--first-dense-layers",
        "3",
        "--mla",
        "--format",
        "json",
        "--gpu",
        "h800",
        "--gpus",
        "2048",
    )
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    a = doc["architecture"]
    assert (a["attention"], a["n_experts"], a["top_k"], a["n_dense_layers"]) == ("mla", 256, 8, 3)
    # Memory of every parameter (16 bytes each under mixed-precision Adam), time of the activated path.
    assert doc["cost"]["memory"]["states_bytes"] == 16 * a["params_total"]
    assert (
        doc["cost"]["flops_per_token_hardware"] == a["flops_per_token"] + 6 * 102400 * a["d_model"]
    )
    again = run_cli(
        "budget",
        "1e23",
        *V3_FLAGS,
        "--first-dense-layers",
        "3",
        "--mla",
        "--format",
        "json",
        "--gpu",
        "h800",
        "--gpus",
        "2048",
    )
    assert again.stdout == r.stdout


def test_cli_moe_text_names_the_assumption() -> None:
    r = run_cli("budget", "1e22", *V3_FLAGS)
    assert r.exit_code == 0, r.stderr
    assert "dsplan's assumption" in r.stdout
    assert "activated" in r.stdout and "top 8 of 256" in r.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("budget", "1e22", "--n-experts", "8"), "add --moe"),
        (("budget", "1e22", "--mla"), "add --moe"),
        (("budget", "1e22", "--moe", "--top-k", "2"), "--n-experts"),
        (("budget", "1e22", "--moe", "--n-experts", "8"), "--top-k"),
        (("budget", "1e22", "--moe", "--n-experts", "2", "--top-k", "4"), "--top-k (4)"),
        (("budget", "1e22", "--moe", "--n-experts", "0", "--top-k", "0"), "--n-experts"),
        (("budget", "1e22", *V3_FLAGS, "--unique-tokens", "1e11"), "--unique-tokens"),
        (("budget", "1e22", *V3_FLAGS, "--format", "env"), "text, json"),
        (("budget", *V3_FLAGS, "--gpu", "h800"), "compute budget"),
        (("budget", "1e22", *V3_FLAGS, "--preset", "chinchilla-a3"), "predicts"),
    ],
)
def test_cli_moe_bad_input(args: tuple[str, ...], fragment: str) -> None:
    assert_input_error(run_cli(*args), fragment)


def test_cli_shapes_moe_lists_the_search_candidates() -> None:
    args = ("shapes", "2.76e11", *V3_FLAGS, "--first-dense-layers", "3", "--mla")
    r = run_cli(*args, "--format", "json", "--limit", "3")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["kind"] == "moe"
    options = MoeSearchOptions(256, 8, 1, 3, mla=True)
    expected = [c.to_dict() for c in search_moe(2.76e11, options, limit=3)]
    assert [row["n_layers"] for row in doc["candidates"]] == [c["n_layers"] for c in expected]
    assert [row["d_model"] for row in doc["candidates"]] == [c["d_model"] for c in expected]
    for row in doc["candidates"]:
        assert abs(row["relative_error"]) <= 0.03
        assert row["attention"] == "mla" and row["params_total"] > row["params_activated"]
    text = run_cli(*args)
    assert text.exit_code == 0 and "activated" in text.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("shapes", "1e11", "--top-k", "2"), "add --moe"),
        (("shapes", "1e11", "--moe", "--top-k", "2"), "--n-experts"),
        (("shapes", "1e11", *V3_FLAGS, "--n-kv-heads", "8"), "--n-kv-heads"),
        (("shapes", "1e11", "--moe", "--n-experts", "4", "--top-k", "8"), "--top-k (8)"),
    ],
)
def test_cli_shapes_moe_bad_input(args: tuple[str, ...], fragment: str) -> None:
    assert_input_error(run_cli(*args), fragment)


def test_cli_moe_inverse_mode_uses_the_cluster_time() -> None:
    # As the dense inverse mode: the plan's hardware FLOPs (activated M + output head, times D)
    # fill 2,048 H800s at the default MFU for the days given.
    r = run_cli(
        "budget",
        *V3_FLAGS,
        "--mla",
        "--gpu",
        "h800",
        "--gpus",
        "2048",
        "--days",
        "60",
        "--format",
        "json",
    )
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    cost = doc["cost"]
    assert cost["wall_clock_days"] == pytest.approx(60, rel=1e-6)
    available = 2048 * 989e12 * cost["mfu"] * 60 * 86400
    hardware = cost["flops_per_token_hardware"] * doc["training"]["tokens"]
    assert hardware == pytest.approx(available, rel=1e-6)
    assert doc["compute_flops"] == pytest.approx(
        doc["architecture"]["flops_per_token"] * doc["training"]["tokens"], rel=1e-9
    )
