"""The memory of mixture-of-experts and MLA layers, and DeepSeek-V3's layout as its report gives it.

DeepSeek-V3 (arXiv 2412.19437): 671B parameters, 61 layers of width 7168, MLA (q_lora_rank 1536,
kv_lora_rank 512, 128 heads of 128 + 64 query/key and 128 value dims), 256 routed experts of 2048
with top-8 routing and one shared expert, the first 3 layers dense (d_ff 18432), vocabulary 129280,
one multi-token-prediction module; read from its published config.json (tests/data/hf/).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.errors import InputError
from dsplan.model.hf_moe import read_hf_moe_config
from dsplan.model.moe import Mla, MoeShape, moe_counts
from dsplan.planning.activations import ActivationBlock, MoeFfn, layer_activations
from dsplan.planning.memory import Layout, run_memory, stage_layers, state_memory

HF = Path(__file__).resolve().parent / "data" / "hf"
V3 = read_hf_moe_config(HF / "deepseek-ai--DeepSeek-V3.json", seq_len=4096).shape
# Section 4.2: the batch ramps from 3,072 to 15,360 sequences of 4,096 tokens, then stays.
V3_BATCH = 15360
V3_MLA = Mla(
    kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128, q_lora_rank=1536
)


def test_mla_attention_by_hand() -> None:
    # V3's MLA per token, in bytes (16-bit): the attention norm's input and the down-projections'
    # input 2h each; the query latent (its norm's input) and the normed latent (the up-projection's
    # input) 2 x 1536 each; the key/value latent likewise 2 x 512 each; the up-projected queries
    # and keys 2 x 128 x 192 each, values 2 x 128 x 128; flash attention's fp32 log-sum-exp
    # 4 x 128; the output projection's input 2 x 128 x 128.
    h = 7168
    block = ActivationBlock(h, 128, 128, 192, 18432, mla=V3_MLA)
    attention = 2 * h + 2 * h + 2 * 2 * 1536 + 2 * 2 * 512 + 2 * 2 * 128 * 192 + 2 * 128 * 128
    attention += 4 * 128 + 2 * 128 * 128
    assert attention == 201216
    # Then the dense SwiGLU MLP: norm input and MLP input 2h each, gate, up and down 3 x 2 d_ff.
    mlp = 2 * h + 2 * h + 3 * 2 * 18432
    s, b = 4096, 2
    one = layer_activations(block, s, b, flash_attention=True)
    assert one.kept + one.split == (attention + mlp) * s * b
    # Tensor parallelism splits the heads (queries, keys, values, log-sum-exp, output projection
    # input) and the MLP's hidden layer; the latents and the h-wide inputs are split only with
    # sequence parallelism.
    seq = 4 * h + 2 * 2 * 1536 + 2 * 2 * 512 + 4 * h
    tp = layer_activations(block, s, b, tp=8, flash_attention=True)
    assert (tp.kept, tp.split) == (seq * s * b, (attention + mlp - seq) * s * b)
    sp = layer_activations(block, s, b, tp=8, sequence_parallel=True, flash_attention=True)
    assert (sp.kept, sp.split) == (0, (attention + mlp) * s * b)
    # Without flash attention, the softmax output: 2 bytes per head and key position.
    plain = layer_activations(block, s, b)
    assert plain.kept + plain.split == (attention - 4 * 128 + mlp) * s * b + 2 * 128 * s * s * b


def test_moe_layer_by_hand() -> None:
    # A small MoE layer (h 64, 4 heads of 16, 2 KV heads; 8 experts of 32, top-2, one shared of 32).
    # Per token: attention 2h + 2h + q 2 x 64 + k, v 2 x 32 each + log-sum-exp 4 x 4 + output
    # projection input 2 x 64; MLP norm and MLP input 2h each; fp32 router scores 4 x 8 and routing
    # weights 4 x 2; each routed token's expert input 2h twice (top-2), gate, up and down
    # 3 x 2 x 32 twice, expert output 2h twice; the shared expert's gate, up and down 3 x 2 x 32.
    h, k = 64, 2
    moe = MoeFfn(n_experts=8, top_k=k, d_ff_expert=32, n_shared_experts=1, d_ff_shared=32)
    block = ActivationBlock(h, 4, 2, 16, 0, moe=moe)
    attention = 4 * h + 2 * 64 + 2 * 2 * 32 + 4 * 4 + 2 * 64
    inputs, outputs = 2 * k * h, 2 * k * h
    mlp = 4 * h + 4 * 8 + 4 * k + inputs + k * 3 * 2 * 32 + outputs + 3 * 2 * 32
    s, b = 128, 4
    one = layer_activations(block, s, b, flash_attention=True)
    assert one.kept + one.split == (attention + mlp) * s * b
    # With TP 2 and sequence parallelism the routed experts' inputs, gathered across the group
    # before the experts' split projections, stay whole on every GPU; the rest is split.
    sp = layer_activations(block, s, b, tp=2, sequence_parallel=True, flash_attention=True)
    assert (sp.kept, sp.split) == (inputs * s * b, (attention + mlp - inputs) * s * b)
    # Full recomputation keeps the layer's input only.
    full = layer_activations(block, s, b, recompute="full")
    assert (full.kept, full.split) == (2 * h * s * b, 0)


def test_v3_layer_activations() -> None:
    # A V3 MoE layer: 201,216 bytes a token of MLA and 369,696 of MoE (norm and MLP input 2h each,
    # router 4 x 256, weights 4 x 8, expert inputs and outputs 2 x 8 x 7168 each, routed gate, up
    # and down 3 x 2 x 8 x 2048, shared 3 x 2 x 2048): 2.34 GB per 4,096-token sequence, of which
    # the top-8 copies of the expert inputs and outputs are 0.94 GB.
    moe = 2 * 2 * 7168 + 4 * 256 + 4 * 8 + 2 * (2 * 8 * 7168) + 3 * 2 * 8 * 2048 + 3 * 2 * 2048
    assert moe == 369696
    lay = Layout(tp=1, pp=16, dp=128, ep=64, zero=1, recompute="none")
    mem = run_memory(V3, lay, gpu_memory_gb=80, global_batch=V3_BATCH)
    assert mem.per_layer.bytes == (201216 + moe) * 4096
    dense = mem.dense_layer
    assert dense is not None and dense.bytes == (201216 + 4 * 7168 + 6 * 18432) * 4096


def test_deepseek_v3_fits_as_deepseek_laid_it_out() -> None:
    # arXiv 2412.19437, Section 3.2: 2,048 H800 (80 GB), 16-way pipeline parallelism, 64-way expert
    # parallelism across 8 nodes, ZeRO-1 data parallelism, no tensor parallelism; 15,360 sequences
    # of 4,096 tokens a step (Section 4.2). DP = 2048 / 16 = 128, so 120 micro-batches of one.
    lay = Layout(tp=1, pp=16, dp=128, ep=64, zero=1, micro_batch=1, recompute="full")
    assert lay.n_gpus == 2048 and lay.expert_dp == 2
    mem = run_memory(V3, lay, gpu_memory_gb=80, global_batch=V3_BATCH)
    assert mem.micro_batches == 120
    # 61 layers on 16 stages: 3, then 4 on thirteen stages, then 3, 3 (stage_layers).
    assert [s.layers for s in mem.stages] == list(stage_layers(61, 16)) == [3] + [4] * 13 + [3, 3]
    assert mem.fits
    # Each GPU holds 4 of the 256 routed experts of its layers: 4 x 3 x 7168 x 2048 per MoE layer.
    middle = mem.stages[1]
    assert middle.expert_params == 4 * 4 * 3 * 7168 * 2048
    # ZeRO-1: optimizer states over DP 128 for the dense part, over the 2 copies of each expert.
    dense = middle.params - middle.expert_params
    assert middle.optimizer == pytest.approx(12 * dense / 128 + 12 * middle.expert_params / 2)
    # With full recomputation the fullest GPU is the last stage (3 layers, the output head, the
    # multi-token-prediction module and its second pass through the head): 23.9 GB with the
    # allowance, of 80.
    assert mem.peak.stage == 15
    assert mem.required_bytes / 1e9 == pytest.approx(23.90, abs=0.01)
    # Every parameter is held once per expert-parallel group: the dense ones on one GPU of each
    # stage, the routed experts spread over the 64 ranks; the MTP module (counted apart) included.
    c = moe_counts(V3)
    held = sum(s.params - s.expert_params + 64 * s.expert_params for s in mem.stages)
    assert held == c.params_total + c.params_mtp


def test_deepseek_v3_does_not_fit_without_recomputation() -> None:
    # Without recomputation the second stage keeps 15 micro-batches in flight through 4 MoE layers
    # of 2.34 GB each: 140.3 GB of activations, 155.2 GB with the states and the allowance.
    lay = Layout(tp=1, pp=16, dp=128, ep=64, zero=1, micro_batch=1, recompute="none")
    mem = run_memory(V3, lay, gpu_memory_gb=80, global_batch=V3_BATCH)
    assert not mem.fits
    peak = mem.peak
    assert (peak.stage, peak.layers, peak.in_flight) == (1, 4, 15)
    assert peak.activations == 15 * 4 * mem.per_layer.bytes
    assert peak.activations / 1e9 == pytest.approx(140.31, abs=0.01)
    assert mem.required_bytes / 1e9 == pytest.approx(155.17, abs=0.01)


def test_expert_parallelism_shards_only_the_routed_experts() -> None:
    shape = MoeShape(
        n_layers=4, d_model=256, n_heads=2, n_experts=8, top_k=2, d_ff_expert=128, seq_len=64
    )
    one = run_memory(shape, Layout(dp=8, zero=0), gpu_memory_gb=80, global_batch=8)
    four = run_memory(shape, Layout(dp=8, ep=4, zero=0), gpu_memory_gb=80, global_batch=8)
    a, b = one.stages[0], four.stages[0]
    assert a.expert_params == 4 * b.expert_params == 4 * 8 * 3 * 256 * 128
    assert a.params - a.expert_params == b.params - b.expert_params
    assert a.activations == b.activations  # balanced routing: each GPU sees its tokens' k copies
    # ZeRO-1 across DP 8: dense optimizer states over 8, experts over the 8 / 4 = 2 copies.
    z1 = run_memory(shape, Layout(dp=8, ep=4, zero=1), gpu_memory_gb=80, global_batch=8)
    c = z1.stages[0]
    dense = c.params - c.expert_params
    assert c.optimizer == 12 * dense / 8 + 12 * c.expert_params / 2


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"ep": 3, "dp": 3}, "expert-parallel size \\(3\\) must divide the routed experts"),
        ({"ep": 4, "dp": 2}, "must divide the data-parallel x context-parallel"),
        ({"tp": 2}, "tensor-parallel size \\(2\\) must divide n heads"),
    ],
)
def test_moe_layout_errors(change: dict[str, object], match: str) -> None:
    shape = MoeShape(
        n_layers=4, d_model=384, n_heads=3, n_experts=8, top_k=2, d_ff_expert=128, seq_len=64
    )
    lay = dataclasses.replace(Layout(dp=4), **change)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=match):
        run_memory(shape, lay, gpu_memory_gb=80, global_batch=12)
    with pytest.raises(InputError, match="give no block"):
        run_memory(
            shape,
            Layout(dp=4),
            gpu_memory_gb=80,
            global_batch=12,
            block=ActivationBlock.gpt3(384, 3),
        )


@settings(max_examples=60, deadline=None)
@given(
    n_layers=st.integers(2, 24),
    dense=st.integers(0, 2),
    experts=st.sampled_from([4, 8, 16, 64]),
    shared=st.integers(0, 2),
    mla=st.booleans(),
    tp=st.sampled_from([1, 2, 4]),
    pp=st.integers(1, 8),
    dp=st.sampled_from([1, 2, 4, 8, 16]),
    zero=st.sampled_from([0, 1, 2, 3]),
    recompute=st.sampled_from(["none", "full"]),
    mtp=st.integers(0, 1),
)
def test_moe_states_floor_is_a_lower_bound(
    n_layers: int,
    dense: int,
    experts: int,
    shared: int,
    mla: bool,
    tp: int,
    pp: int,
    dp: int,
    zero: int,
    recompute: str,
    mtp: int,
) -> None:
    # Whatever the layout, the fullest GPU holds at least the ZeRO-3 share of the 16 bytes per
    # parameter over all its GPUs (the floor `budget --gpu` reports), and the stages hold every
    # parameter at least once per tensor- and expert-parallel group.
    shape = MoeShape(
        n_layers=n_layers,
        d_model=512,
        n_heads=4,
        n_experts=experts,
        top_k=2,
        d_ff_expert=256,
        n_shared_experts=shared,
        n_dense_layers=min(dense, n_layers - 1),
        d_ff=1024,
        vocab_size=1000,
        seq_len=128,
        mla=Mla(64, 64, 32, 64, 128 if mla else 0) if mla else None,
        mtp_layers=mtp,
    )
    pp = min(pp, n_layers)
    ep = math.gcd(experts, dp)
    lay = Layout(tp=tp, pp=pp, dp=dp, ep=ep, zero=zero, recompute=recompute)
    mem = run_memory(shape, lay, gpu_memory_gb=80, global_batch=dp * 2)
    c = moe_counts(shape)
    floor = state_memory(c.params_total, 80, n_gpus=lay.n_gpus)
    assert mem.peak.total >= floor.zero3_bytes_per_gpu(lay.n_gpus) * (1 - 1e-12)
    held = sum((s.params - s.expert_params) * tp + s.expert_params * tp * ep for s in mem.stages)
    assert held >= c.params_total + c.params_mtp
