"""`dsplan check` on mixture-of-experts configs: [model.moe] and [model.mla], the DSP7xx rules,
LR and batch at the config's own activated C, and the round trip from `budget --moe --format toml`."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_cli

from dsplan.checking.config import parse_config
from dsplan.checking.rules import check_config
from dsplan.checking.schema import ConfigProblems
from dsplan.model.hf_moe import read_hf_moe_config
from dsplan.model.moe import moe_counts
from dsplan.planning.plan import plan

HF = Path(__file__).resolve().parent / "data" / "hf"

# DeepSeek-V3 as trained (arXiv 2412.19437: Section 4.2 and the config.json in tests/data/hf/):
# 14.8T tokens, peak LR 2.2e-4, the batch at its final 15,360 sequences of 4,096 tokens.
V3 = """\
[model]
n_layers = 61
d_model = 7168
n_heads = 128
d_ff = 18432
vocab_size = 129280
seq_len = 4096

[model.moe]
n_experts = 256
top_k = 8
d_ff_expert = 2048
n_shared_experts = 1
n_dense_layers = 3

[model.mla]
kv_lora_rank = 512
q_lora_rank = 1536
qk_nope_head_dim = 128
qk_rope_head_dim = 64
v_head_dim = 128

[training]
tokens = 14.8e12
batch_size_sequences = 15360
learning_rate = 2.2e-4
"""


def _findings(text: str) -> dict[str, str]:
    report = check_config(parse_config(text, "v3.toml"))
    return {f.rule: f.severity for f in report.findings}


def test_deepseek_v3_is_checked_at_its_own_activated_compute() -> None:
    cfg = parse_config(V3, "v3.toml")
    assert cfg.model.n_kv_heads == 128  # MLA: one key/value head per query head
    report = check_config(cfg)
    published = moe_counts(read_hf_moe_config(HF / "deepseek-ai--DeepSeek-V3.json").shape)
    assert report.derived.flops_per_token == published.flops_per_token  # 275.6 GFLOPs/token
    assert report.derived.params_total == published.params_total  # 671,026,404,352
    c = published.flops_per_token * 14.8e12
    assert report.derived.compute_flops == c
    dense = plan(c)  # Eq. 1 and Eq. 4 at the same C
    assert report.derived.learning_rate_law == dense.hyperparameters.learning_rate
    assert report.derived.batch_size_tokens_law == dense.hyperparameters.batch_size_tokens
    found = {f.rule for f in report.findings}
    # D far from Eq. 4's D_opt; no DSP7xx finding.
    assert "DSP302" in found  # over-trained: 4.98x Eq. 4's D_opt (docs/moe.md)
    assert not any(rule.startswith("DSP7") for rule in found)


@pytest.mark.parametrize(
    ("old", "new", "rule", "severity"),
    [
        ("n_experts = 256", "n_experts = 0", "DSP701", "error"),
        ("top_k = 8", "top_k = 300", "DSP702", "error"),
        ("d_ff_expert = 2048", "d_ff_expert = 2000", "DSP703", "info"),
        ("n_dense_layers = 3", "n_dense_layers = 61", "DSP704", "error"),
        ("n_shared_experts = 1", "n_shared_experts = 0\nd_ff_shared = 2048", "DSP705", "warning"),
        ("qk_rope_head_dim = 64", "qk_rope_head_dim = 63", "DSP706", "error"),
        ("kv_lora_rank = 512", "kv_lora_rank = 40000", "DSP706", "warning"),
        ("q_lora_rank = 1536", "q_lora_rank = 8192", "DSP706", "warning"),
        ("n_heads = 128", "n_heads = 128\nn_kv_heads = 8", "DSP706", "error"),
    ],
)
def test_moe_rules(old: str, new: str, rule: str, severity: str) -> None:
    assert old in V3
    found = _findings(V3.replace(old, new))
    assert found.get(rule) == severity, found


def test_dense_configs_meet_no_moe_rule() -> None:
    dense = V3.split("[model.moe]")[0] + V3[V3.index("[training]") :]
    assert not any(rule.startswith("DSP7") for rule in _findings(dense))


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("top_k = 8", "top_kk = 8", "model.moe.top_kk: unknown key"),
        ("n_experts = 256\n", "", "model.moe.n_experts: missing required key"),
        ("kv_lora_rank = 512\n", "", "model.mla.kv_lora_rank: missing required key"),
        ("top_k = 8", "top_k = 8.0", "model.moe.top_k: expected an integer"),
        ("[model.moe]", "[model.experts]", "model.experts: unknown key"),
    ],
)
def test_moe_load_problems(old: str, new: str, problem: str) -> None:
    with pytest.raises(ConfigProblems) as caught:
        parse_config(V3.replace(old, new), "v3.toml")
    assert any(problem in str(p) for p in caught.value.problems), caught.value.problems


def test_mla_needs_moe() -> None:
    text = V3[: V3.index("[model.moe]")] + V3[V3.index("[model.mla]") :]
    with pytest.raises(ConfigProblems, match=r"\[model.mla\] needs \[model.moe\]"):
        parse_config(text, "v3.toml")


BUDGETS = ("1e19", "1e21", "1e23", "4e24")


@pytest.mark.parametrize("attention", [(), ("--mla",)], ids=["gqa", "mla"])
@pytest.mark.parametrize("budget", BUDGETS)
def test_budget_moe_toml_round_trips_strict(budget: str, attention: tuple[str, ...]) -> None:
    args = (
        "--moe",
        "--n-experts",
        "64",
        "--top-k",
        "6",
        "--n-shared-experts",
        "2",
        "--first-dense-layers",
        "1",
        *attention,
    )
    written = run_cli("budget", budget, *args, "--format", "toml")
    assert written.exit_code == 0, written.stderr
    checked = run_cli("check", "--strict", "-", "--format", "json", input=written.stdout)
    assert checked.exit_code == 0, checked.stdout
    doc = checked.json()
    assert doc["summary"]["errors"] == doc["summary"]["warnings"] == 0
    derived = doc["files"][0]["derived"]
    planned = run_cli("budget", budget, *args, "--format", "json").json()
    assert derived["flops_per_token"] == planned["architecture"]["flops_per_token"]
    assert derived["compute_flops"] == pytest.approx(float(budget), rel=1e-9)
    assert derived["learning_rate_law"] == planned["hyperparameters"]["learning_rate"]


def test_budget_moe_toml_with_a_gpu_round_trips() -> None:
    args = ("--moe", "--n-experts", "256", "--top-k", "8", "--n-shared-experts", "1", "--mla")
    written = run_cli(
        "budget", "1e23", *args, "--gpu", "h800", "--gpus", "2048", "--format", "toml"
    )
    assert written.exit_code == 0, written.stderr
    assert "[hardware]" in written.stdout and "[model.mla]" in written.stdout
    checked = run_cli("check", "--strict", "-", input=written.stdout)
    assert checked.exit_code == 0, checked.stdout


def test_the_hints_use_the_sizes_the_search_uses() -> None:
    from dsplan.checking.rules.moe import DEEPSEEK_MLA
    from dsplan.model.moe_shape import mla_for

    a = mla_for(4096)
    assert {name: getattr(a, name) for name in DEEPSEEK_MLA} == DEEPSEEK_MLA


FIXTURES = sorted(
    p.stem
    for p in HF.glob("*.json")
    if p.stem
    in {
        "deepseek-ai--DeepSeek-V3",
        "deepseek-ai--DeepSeek-V2-Lite",
        "mistralai--Mixtral-8x7B-v0.1",
        "Qwen--Qwen3-30B-A3B",
        "Qwen--Qwen1.5-MoE-A2.7B",
        "openai--gpt-oss-20b",
    }
)


@pytest.mark.parametrize("stem", FIXTURES)
def test_an_moe_hf_config_is_counted_as_dsplan_model_counts_it(stem: str) -> None:
    # The same counts as `dsplan model --hf-config` (tests/test_moe.py pins them against
    # transformers): biases, sinks, q/k norms and shared-expert gates included.
    text = (
        f'[model]\nhf_config = "{HF / (stem + ".json")}"\n\n'
        "[training]\ntokens = 1e12\nbatch_size_sequences = 1024\nlearning_rate = 3e-4\n"
    )
    cfg = parse_config(text, "hf.toml")
    assert cfg.model.moe is not None
    published = moe_counts(read_hf_moe_config(HF / f"{stem}.json").shape)
    report = check_config(cfg)
    assert report.derived.params_total == published.params_total
    assert report.derived.flops_per_token == published.flops_per_token
    assert report.derived.compute_flops == published.flops_per_token * 1e12
    assert not [f for f in report.findings if f.rule.startswith("DSP1")], report.findings


def test_hf_config_and_an_moe_table_clash() -> None:
    text = (
        f'[model]\nhf_config = "{HF / "deepseek-ai--DeepSeek-V3.json"}"\n\n'
        + V3[V3.index("[model.moe]") :]
    )
    with pytest.raises(ConfigProblems, match=r"either model\.hf_config or"):
        parse_config(text, "v3.toml")
