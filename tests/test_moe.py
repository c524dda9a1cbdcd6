"""Mixture-of-experts and MLA: exact counts against transformers, published figures and costs.

The fixtures in tests/data/hf/ are published config.json files (each names its Hugging Face repo in
`_dsplan_source`). MOE_TRANSFORMERS_TOTALS were measured with transformers 5.25.0 and torch 2.13.0
on the meta device (`python bench/hf_counts.py`): the sum of `p.numel()` over `model.parameters()`
of `AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))` (auto_map and
quantization_config removed). transformers is not needed to run these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsplan.errors import InputError
from dsplan.model.flops import Block
from dsplan.model.hf_moe import read_any_hf_config, read_hf_moe_config
from dsplan.model.moe import Mla, MoeShape, moe_counts
from dsplan.planning.cost import estimate, resolve_hardware
from dsplan.planning.moe_report import moe_model_report

HF = Path(__file__).resolve().parent / "data" / "hf"

MOE_TRANSFORMERS_TOTALS = {
    "deepseek-ai--DeepSeek-V3": 671_026_404_352,  # MLA; 3 dense layers; MTP not built
    "deepseek-ai--DeepSeek-V2": 235_741_434_880,  # MLA; 1 dense layer
    "deepseek-ai--DeepSeek-V2-Lite": 15_706_484_224,  # MLA without query compression
    "mistralai--Mixtral-8x7B-v0.1": 46_702_792_704,
    "mistralai--Mixtral-8x22B-v0.1": 140_620_634_112,
    "Qwen--Qwen3-30B-A3B": 30_532_122_624,  # q/k norms over one head
    "Qwen--Qwen3-235B-A22B": 235_093_634_560,
    "allenai--OLMoE-1B-7B-0924": 6_919_161_856,  # q/k norms over the projections
    "Qwen--Qwen1.5-MoE-A2.7B": 14_315_784_192,  # q/k/v biases, a gated shared expert
    "openai--gpt-oss-20b": 20_914_757_184,  # biases everywhere, attention sinks
}


def _counts(stem: str):  # type: ignore[no-untyped-def]
    return moe_counts(read_hf_moe_config(HF / f"{stem}.json").shape)


@pytest.mark.parametrize(
    ("stem", "total"), MOE_TRANSFORMERS_TOTALS.items(), ids=MOE_TRANSFORMERS_TOTALS
)
def test_fixture_counts_as_transformers_builds_it(stem: str, total: int) -> None:
    assert _counts(stem).params_total == total


def test_exact_published_totals() -> None:
    # Issue 14 quotes them: DeepSeek-V3's main model without MTP (arXiv 2412.19437 reports 671B;
    # huggingface.co/deepseek-ai/DeepSeek-V3 README_WEIGHTS.md "Main Model Weights"), and
    # Mixtral-8x7B's safetensors total (huggingface.co/mistralai/Mixtral-8x7B-v0.1).
    assert _counts("deepseek-ai--DeepSeek-V3").params_total == 671_026_404_352
    assert _counts("mistralai--Mixtral-8x7B-v0.1").params_total == 46_702_792_704


# (fixture, published total, published activated, which activated count, allowed difference of
# the activated count). Totals: within 0.5%. Activated figures are printed to two or three digits:
# the allowance is half a unit of the last printed digit (0.5% where that is wider), except two
# that were cut rather than rounded, 2.451B printed as DeepSeek-V2-Lite's "2.4B" and 3.353B as
# Qwen3-30B-A3B's "3.3B": one unit minus a hair (0.06B).
WITH_BOTH = "params_activated"
WITH_HEAD = "params_activated_with_head"
PUBLISHED = [
    # arXiv 2412.19437 Section 1: 671B / 37B; DeepSeek-V3's README_WEIGHTS.md: 36.6B activated
    # "including 0.9B for the output Head", i.e. the output head without the input embedding.
    ("deepseek-ai--DeepSeek-V3", 671e9, 36.6e9, WITH_HEAD, 0.05e9),
    # arXiv 2405.04434, Abstract and Appendix B: 236B / 21B; V2-Lite 15.7B / 2.4B (with the head).
    ("deepseek-ai--DeepSeek-V2", 236e9, 21e9, WITH_HEAD, 0.5e9),
    ("deepseek-ai--DeepSeek-V2-Lite", 15.7e9, 2.4e9, WITH_HEAD, 0.06e9),
    # mistral.ai/news/mixtral-of-experts (46.7B, 12.9B per token); mistral.ai/news/mixtral-8x22b
    # (141B, 39B active).
    ("mistralai--Mixtral-8x7B-v0.1", 46.7e9, 12.9e9, WITH_BOTH, 0.05e9),
    ("mistralai--Mixtral-8x22B-v0.1", 141e9, 39e9, WITH_BOTH, 0.5e9),
    # huggingface.co/Qwen/Qwen3-30B-A3B: 30.5B total, 3.3B activated; Qwen3-235B-A22B: 235B, 22B.
    ("Qwen--Qwen3-30B-A3B", 30.5e9, 3.3e9, WITH_BOTH, 0.06e9),
    ("Qwen--Qwen3-235B-A22B", 235e9, 22e9, WITH_BOTH, 0.5e9),
    # arXiv 2409.02060 (OLMoE), Table 1: 6.9B total, 1.3B active.
    ("allenai--OLMoE-1B-7B-0924", 6.9e9, 1.3e9, WITH_BOTH, 0.05e9),
    # qwenlm.github.io/blog/qwen-moe: 14.3B total, 2.7B activated.
    ("Qwen--Qwen1.5-MoE-A2.7B", 14.3e9, 2.7e9, WITH_BOTH, 0.05e9),
    # OpenAI, gpt-oss model card (arXiv 2508.10925), Table 1: 20.91B total, 3.61B active, counting
    # the output head but not the input embedding.
    ("openai--gpt-oss-20b", 20.91e9, 3.61e9, WITH_HEAD, 0.005e9),
]


@pytest.mark.parametrize(
    ("stem", "total", "active", "key", "half_unit"), PUBLISHED, ids=[p[0] for p in PUBLISHED]
)
def test_published_totals_and_activated(
    stem: str, total: float, active: float, key: str, half_unit: float
) -> None:
    cfg = read_hf_moe_config(HF / f"{stem}.json")
    doc = moe_model_report(cfg.shape).to_dict()
    assert abs(doc["params_total"] - total) <= max(0.005 * total, 0.005e9)
    assert abs(doc[key] - active) <= max(half_unit, 0.005 * active), doc[key]


def test_deepseek_v3_mla_layer_and_m() -> None:
    # MLA per layer (reference moe-and-parallelism.md, from the V3 config): 187,105,280 matmul
    # weights + 2,048 latent norm weights.
    mla = Mla(
        kv_lora_rank=512,
        qk_nope_head_dim=128,
        qk_rope_head_dim=64,
        v_head_dim=128,
        q_lora_rank=1536,
    )
    assert mla.matmul_params(7168, 128) == 187_105_280
    assert mla.norm_params() == 2_048
    c = _counts("deepseek-ai--DeepSeek-V3")
    # 35.70B activated non-embedding parameters; M = 6 x 35.70B + 6 x 61 x 128 x (192 + 128) x
    # 4096 = 275.6 GFLOPs per token.
    assert c.params_activated_non_embedding == pytest.approx(35.70e9, rel=1e-3)
    assert c.attention_flops_per_token == 6 * 61 * 128 * (192 + 128) * 4096
    assert c.flops_per_token == pytest.approx(275.6e9, rel=1e-3)
    # The Eq. 2-style M of a dense model with the same activated parameters: 6 N + 12 n d l.
    assert (
        c.flops_per_token_dense_eq2 == 6 * c.params_activated_non_embedding + 12 * 61 * 7168 * 4096
    )


def test_deepseek_v3_mtp_is_counted_apart() -> None:
    c = _counts("deepseek-ai--DeepSeek-V3")
    d = 7168
    attention = 187_105_280 + 2_048 + 2 * d
    moe_layer = 256 * 3 * d * 2048 + 3 * d * 2048 + 256 * d
    assert c.params_mtp == 3 * d + 2 * d * d + attention + moe_layer
    assert c.params_total == 671_026_404_352  # MTP not in it


def test_v2_lite_has_no_query_compression() -> None:
    s = read_hf_moe_config(HF / "deepseek-ai--DeepSeek-V2-Lite.json").shape
    assert s.mla is not None and s.mla.q_lora_rank == 0 and s.n_dense_layers == 1


def test_dense_configs_read_as_before() -> None:
    cfg = read_any_hf_config(HF / "meta-llama--Llama-3.1-8B.json")
    assert not isinstance(cfg.shape, MoeShape)


# DeepSeek-V3 (arXiv 2412.19437, Table 1): 2.664M H800 GPU-hours of pre-training for 14.8T tokens.
V3_HOURS = 2.664e6
V3_TOKENS = 14.8e12


def test_deepseek_v3_gpu_hours_at_default_mfu() -> None:
    c = _counts("deepseek-ai--DeepSeek-V3")
    cost = estimate(c, V3_TOKENS, resolve_hardware("h800", n_gpus=2048))
    assert abs(cost.gpu_hours / V3_HOURS - 1) <= 0.25
    # Memory is of every parameter, not the activated ones.
    assert cost.memory.states_bytes == 16 * c.params_total


def test_deepseek_v3_implied_mfu() -> None:
    # The MFU that makes dsplan's estimate the published 2.664M GPU-hours (our arithmetic; the
    # paper reports none): 0.439 with the output head (dsplan's hardware FLOPs), 0.430 on M alone,
    # as moe-and-parallelism.md derives (425 TFLOP/s of 989).
    c = _counts("deepseek-ai--DeepSeek-V3")
    cost = estimate(c, V3_TOKENS, resolve_hardware("h800", mfu=1.0))
    assert cost.gpu_hours / V3_HOURS == pytest.approx(0.439, abs=0.001)
    on_m = c.flops_per_token * V3_TOKENS / (V3_HOURS * 3600 * 989e12)
    assert on_m == pytest.approx(0.430, abs=0.001)


def test_deepseek_v2_implied_mfu() -> None:
    # DeepSeek-V2 (arXiv 2405.04434, Section 3.2.3): 172.8K H800 GPU-hours per trillion tokens.
    # Under the same convention that is an MFU of 0.30 (our arithmetic), against DeepSeek 67B's
    # 0.41 from its 300.6K (tests/test_cost.py).
    c = _counts("deepseek-ai--DeepSeek-V2")
    cost = estimate(c, 1e12, resolve_hardware("h800", mfu=1.0))
    assert cost.gpu_hours / 172.8e3 == pytest.approx(0.302, abs=0.001)


def test_shape_validation() -> None:
    with pytest.raises(InputError, match=r"top_k \(9\) must be at most n_experts \(8\)"):
        MoeShape(n_layers=2, d_model=256, n_heads=2, n_experts=8, top_k=9, d_ff_expert=64)
    with pytest.raises(InputError, match="dense layers need their d_ff"):
        MoeShape(
            n_layers=2,
            d_model=256,
            n_heads=2,
            n_experts=8,
            top_k=2,
            d_ff_expert=64,
            n_dense_layers=1,
        )
    with pytest.raises(InputError, match="expert_bias"):
        MoeShape(
            n_layers=2,
            d_model=256,
            n_heads=2,
            n_experts=8,
            top_k=2,
            d_ff_expert=64,
            block=Block(mlp_bias=True),
        )
    mla = Mla(kv_lora_rank=64, qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32)
    with pytest.raises(InputError, match="n_kv_heads must be n_heads"):
        MoeShape(
            n_layers=2,
            d_model=256,
            n_heads=4,
            n_kv_heads=2,
            n_experts=8,
            top_k=2,
            d_ff_expert=64,
            mla=mla,
        )


def test_one_expert_of_one_is_the_dense_count() -> None:
    from dsplan.model.flops import Shape, counts

    dense = counts(Shape.build(4, 1024, d_ff=2816, vocab_size=1000))
    moe = moe_counts(
        MoeShape(
            n_layers=4,
            d_model=1024,
            n_heads=8,
            n_experts=1,
            top_k=1,
            d_ff_expert=2816,
            vocab_size=1000,
        )
    )
    # A one-expert MoE is the dense model plus a 1 x d router per layer.
    assert moe.params_total == dense.params_total + 4 * 1024
    assert moe.flops_per_token == dense.flops_per_token + 6 * 4 * 1024
    assert moe.params_activated == moe.params_total


def test_cli_hf_config_json_and_text() -> None:
    path = str(HF / "deepseek-ai--DeepSeek-V3.json")
    r = run_cli("model", "--hf-config", path, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = r.json()
    assert doc["kind"] == "moe" and doc["params_total"] == 671_026_404_352
    assert doc["shape"]["mla"]["q_lora_rank"] == 1536 and doc["shape"]["mtp_layers"] == 1
    assert doc["hf_config"]["family"] == "DeepSeek-V3"
    text = run_cli("model", "--hf-config", path).stdout
    assert "671,026,404,352" in text and "MTP modules (1, excluded)" in text


def test_cli_gpu_cost_uses_activated_m() -> None:
    path = str(HF / "deepseek-ai--DeepSeek-V3.json")
    doc = run_cli(
        "model",
        "--hf-config",
        path,
        "--tokens",
        "14.8e12",
        "--gpu",
        "h800",
        "--gpus",
        "2048",
        "--format",
        "json",
    ).json()
    assert doc["cost"]["flops_per_token_hardware"] == doc["flops_per_token_hardware"]
    assert doc["training"]["compute_flops"] == pytest.approx(doc["flops_per_token"] * 14.8e12)


def test_cli_flags_count_deepseek_v3() -> None:
    args = "--n-layers 61 --d-model 7168 --n-heads 128 --n-experts 256 --top-k 8 --d-ff-expert 2048 --n-shared-experts 1 --first-dense-layers 3 --d-ff 18432 --q-lora-rank 1536 --kv-lora-rank 512 --vocab-size 129280"
    doc = run_cli("model", *args.split(), "--format", "json").json()
    assert doc["params_total"] == 671_026_404_352


def test_cli_flags_count_mixtral() -> None:
    args = "--n-layers 32 --d-model 4096 --n-kv-heads 8 --n-experts 8 --top-k 2 --d-ff-expert 14336 --vocab-size 32000"
    doc = run_cli("model", *args.split(), "--format", "json").json()
    assert doc["params_total"] == 46_702_792_704


BAD = [
    (["--n-layers", "2", "--d-model", "256", "--n-experts", "8"], "give --top-k"),
    (["--n-layers", "2", "--d-model", "256", "--n-experts", "8", "--top-k", "9", "--d-ff-expert", "64"], "top_k (9) must be at most n_experts (8)"),
    (["--n-layers", "2", "--d-model", "256", "--n-experts", "8", "--top-k", "2", "--d-ff-expert", "64", "--first-dense-layers", "1"], "--first-dense-layers needs --d-ff"),
    (["--n-layers", "2", "--d-model", "256", "--n-experts", "8", "--top-k", "2", "--d-ff-expert", "64", "--v-head-dim", "64"], "--v-head-dim need --kv-lora-rank"),
    (["--n-layers", "2", "--d-model", "256", "--n-experts", "0", "--top-k", "2", "--d-ff-expert", "64"], "--n-experts must be a positive integer"),
    (["--hf-config", str(HF / "deepseek-ai--DeepSeek-V3.json"), "--n-experts", "8"], "give --hf-config or --n-experts, not both"),
    (["--n-layers", "2", "--d-model", "256", "--n-experts", "8", "--top-k", "2", "--d-ff-expert", "64", "--first-dense-layers", "3", "--d-ff", "128"], "n_dense_layers (3) must be at most n_layers (2) (--first-dense-layers)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "fragment"), BAD, ids=[b[1][:40] for b in BAD])
def test_cli_bad_moe_flags(args: list[str], fragment: str) -> None:
    assert_input_error(run_cli("model", *args), fragment)


def _variant(tmp_path: Path, stem: str, **changes: object) -> str:
    cfg = json.loads((HF / f"{stem}.json").read_text())
    cfg.update(changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_refused_by_name(tmp_path: Path) -> None:
    v3 = "deepseek-ai--DeepSeek-V3"
    assert_input_error(
        run_cli("model", "--hf-config", _variant(tmp_path, v3, attention_bias=True)),
        "attention_bias true",
    )
    assert_input_error(
        run_cli("model", "--hf-config", _variant(tmp_path, v3, moe_layer_freq=2)),
        "moe_layer_freq 2",
    )
    assert_input_error(
        run_cli("model", "--hf-config", _variant(tmp_path, v3, n_routed_experts=None)),
        "n_routed_experts must be a positive integer",
    )
    qwen = "Qwen--Qwen1.5-MoE-A2.7B"
    assert_input_error(
        run_cli("model", "--hf-config", _variant(tmp_path, qwen, mlp_only_layers="x")),
        "mlp_only_layers must be a list",
    )
    # check does not take an MoE config yet, and says so.
    with pytest.raises(InputError, match="`dsplan model` counts it"):
        from dsplan.model.hf_config import read_hf_config

        read_hf_config(HF / f"{v3}.json")


def test_qwen_dense_layers(tmp_path: Path) -> None:
    # decoder_sparse_step 2: layers 1, 3, ... are sparse; mlp_only_layers adds dense ones.
    stem = "Qwen--Qwen3-30B-A3B"
    s = read_hf_moe_config(
        _variant(tmp_path, stem, decoder_sparse_step=2, mlp_only_layers=[1])
    ).shape
    assert s.n_dense_layers == 25 and s.d_ff == 6144


# Each fixture with one key changed (None: removed), as transformers 5.25.0 counts it
# (`python bench/hf_counts.py --variants`): the switches that change an MoE count.
MOE_VARIANTS = [
    ("deepseek-ai--DeepSeek-V3", {"first_k_dense_replace": 0}, 703_797_812_224),
    ("deepseek-ai--DeepSeek-V3", {"tie_word_embeddings": True}, 670_099_725_312),
    ("deepseek-ai--DeepSeek-V2-Lite", {"first_k_dense_replace": 0}, 16_210_324_992),
    ("mistralai--Mixtral-8x7B-v0.1", {"head_dim": 64}, 46_031_704_064),
    ("Qwen--Qwen3-30B-A3B", {"head_dim": None}, 30_079_131_648),  # derived, not dense Qwen3's 128
    ("Qwen--Qwen3-30B-A3B", {"attention_bias": True}, 30_532_466_688),
    ("Qwen--Qwen3-30B-A3B", {"decoder_sparse_step": 2}, 16_936_286_208),
    ("Qwen--Qwen3-30B-A3B", {"mlp_only_layers": [0, 5]}, 29_399_136_256),
    ("Qwen--Qwen1.5-MoE-A2.7B", {"head_dim": 64}, 14_114_383_872),
    ("Qwen--Qwen1.5-MoE-A2.7B", {"decoder_sparse_step": 2}, 8_085_743_616),
    ("allenai--OLMoE-1B-7B-0924", {"attention_bias": True}, 6_919_292_928),
    ("allenai--OLMoE-1B-7B-0924", {"tie_word_embeddings": True}, 6_816_139_264),
    ("openai--gpt-oss-20b", {"head_dim": None}, 20_914_757_184),  # 64 by default
    ("openai--gpt-oss-20b", {"tie_word_embeddings": True}, 20_335_623_744),
]


@pytest.mark.parametrize(
    ("stem", "changes", "total"), MOE_VARIANTS, ids=[f"{v[0]}-{v[1]}" for v in MOE_VARIANTS]
)
def test_variants_count_as_transformers_does(
    tmp_path: Path, stem: str, changes: dict[str, object], total: int
) -> None:
    cfg = json.loads((HF / f"{stem}.json").read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key)
        else:
            cfg[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert moe_counts(read_hf_moe_config(path).shape).params_total == total


# Variants transformers counts in a way dsplan does not follow: refused by name, not miscounted.
MOE_REFUSED = [
    (
        "deepseek-ai--DeepSeek-V3",
        {"q_lora_rank": None},
        "missing key 'q_lora_rank'",
    ),  # default 1536
    ("deepseek-ai--DeepSeek-V2", {"n_shared_experts": None}, "missing key 'n_shared_experts'"),  # 2
    ("deepseek-ai--DeepSeek-V2", {"mlp_bias": True}, "mlp_bias true"),
    ("allenai--OLMoE-1B-7B-0924", {"head_dim": 64}, "head_dim 64 (not hidden_size"),
    (
        "mistralai--Mixtral-8x7B-v0.1",
        {"num_key_value_heads": None},
        "missing key 'num_key_value_heads'",
    ),
]


@pytest.mark.parametrize(
    ("stem", "changes", "fragment"), MOE_REFUSED, ids=[r[2][:30] for r in MOE_REFUSED]
)
def test_variants_refused_by_name(
    tmp_path: Path, stem: str, changes: dict[str, object], fragment: str
) -> None:
    cfg = json.loads((HF / f"{stem}.json").read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key)
        else:
            cfg[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert_input_error(run_cli("model", "--hf-config", str(path)), f"{path}: {fragment}")


MOE_READ_KEYS = [
    "hidden_size",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "tie_word_embeddings",
    "attention_bias",
    "mlp_bias",
    "num_experts_per_tok",
    "num_experts",
    "num_local_experts",
    "n_routed_experts",
    "n_shared_experts",
    "moe_intermediate_size",
    "intermediate_size",
    "shared_expert_intermediate_size",
    "first_k_dense_replace",
    "moe_layer_freq",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "num_nextn_predict_layers",
    "decoder_sparse_step",
    "mlp_only_layers",
    "max_position_embeddings",
]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stem=st.sampled_from(sorted(MOE_TRANSFORMERS_TOTALS)),
    key=st.sampled_from(MOE_READ_KEYS),
    value=JSON_VALUES | st.just(...),
)
def test_any_json_value_for_any_key_counts_or_is_an_input_error(
    tmp_path: Path, stem: str, key: str, value: object
) -> None:
    config = json.loads((HF / f"{stem}.json").read_text())
    if value is ...:
        config.pop(key, None)
    else:
        config[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    try:
        c = moe_counts(read_hf_moe_config(path).shape)
    except InputError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    assert 0 < c.params_activated <= c.params_total and c.flops_per_token > 0


def test_cli_text_with_gpu_names_the_conventions() -> None:
    path = str(HF / "openai--gpt-oss-20b.json")
    r = run_cli("model", "--hf-config", path, "--tokens", "1e12", "--gpu", "h100", "--gpus", "64")
    assert r.exit_code == 0, r.stderr
    assert "memory of all parameters" in r.stdout and "GPU-hours" in r.stdout
    assert "at the activated C (an assumption for MoE)" in r.stdout
    assert "with output head only" in r.stdout and "3,608" in r.stdout  # gpt-oss's 3.61B
    assert "q/k" not in r.stdout.splitlines()[0]  # GQA, not MLA
