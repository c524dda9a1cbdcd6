"""Communication in the layout search: the collectives by hand, the links, and rankings that move the
way the physics says they should."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.catalog.gpus import get_gpu
from dsplan.errors import InputError
from dsplan.model.flops import Shape
from dsplan.planning.communication import (
    Links,
    all_reduce_seconds,
    data_parallel_exposed,
    data_parallel_seconds,
    expert_parallel_seconds,
    gather_seconds,
    links_of,
    step_communication,
)
from dsplan.planning.cost import resolve_hardware
from dsplan.planning.layout import context_parallel_sizes, price_layout, search_layouts
from dsplan.planning.memory import Layout, run_memory

# Llama 3 405B (arXiv 2407.21783, Table 3); Table 4's runs on H100-80GB with 16M-token batches.
LLAMA3 = Shape(126, 16384, 128, 8, 53248, vocab_size=128256, seq_len=8192)
LLAMA3_LONG = Shape(126, 16384, 128, 8, 53248, vocab_size=128256, seq_len=131072)
# The same with 16 KV heads, so that tensor parallelism may reach 16.
KV16 = Shape(126, 16384, 128, 16, 53248, vocab_size=128256, seq_len=8192)
H100 = resolve_hardware("h100", mfu=0.43)
META_8K = Layout(tp=8, pp=16, dp=64, zero=2)


def test_ring_collectives() -> None:
    # 1 GB over 8 GPUs at 100 GB/s: an all-reduce moves 2 x 7/8 GB per GPU, a gather 7/8 GB.
    assert all_reduce_seconds(1e9, 8, 100e9) == pytest.approx(0.0175)
    assert gather_seconds(1e9, 8, 100e9) == pytest.approx(0.00875)
    assert all_reduce_seconds(1e9, 1, 100e9) == gather_seconds(1e9, 1, 100e9) == 0.0


def test_meta_layout_by_hand() -> None:
    # Llama 3 405B on 8,192 H100 (Table 4: TP 8, CP 1, PP 16, DP 64), micro-batch 1, so 2,048 / 64
    # = 32 micro-batches a step; the fullest stages hold 8 of the 126 layers (7, 8, ..., 8, 7).
    mem = run_memory(LLAMA3, META_8K, gpu_memory_gb=80, global_batch=2048)
    links = links_of(get_gpu("h100"))
    comm = step_communication(LLAMA3, mem, links, compute_seconds=12.0)
    # TP with sequence parallelism: 8 gathers or reduce-scatters per layer and micro-batch, each
    # 7/8 of s h = 8192 x 16384 bf16 values, over NVLink at 450 GB/s per direction.
    tp = 8 * 32 * 8 * (7 / 8) * (2 * 8192 * 16384) / 450e9
    assert comm.tensor_parallel == pytest.approx(tp)
    assert comm.tensor_parallel == pytest.approx(1.069, abs=1e-3)
    # PP: per micro-batch an activation forward and its gradient backward, s h / t bf16 values
    # (the sequence-parallel shard), between nodes (stages are 8 x 64 ranks apart) at 50 GB/s.
    pp = 2 * 32 * (2 * 8192 * 16384 / 8) / 50e9
    assert comm.pipeline == pytest.approx(pp)
    # DP under ZeRO-2: reduce-scatter the bf16 gradients and all-gather the bf16 weights of the
    # fullest GPU's parameters over 64 ranks across nodes.
    params = max(s.params for s in mem.stages)
    assert comm.data_parallel == pytest.approx(2 * (63 / 64) * 2 * params / 50e9)
    assert comm.context_parallel == comm.expert_parallel == 0.0


def test_tp_across_nodes_is_worse_than_tp_8() -> None:
    # Nodes of 8 H100 (Llama 3 405B with 16 KV heads): TP 16 puts its per-layer collectives on the 50 GB/s network instead of
    # NVLink's 450, and the step slows although its memory would fit.
    tp8 = price_layout(KV16, H100, Layout(tp=8, pp=16, dp=64, zero=2), global_batch=2048)
    tp16 = price_layout(KV16, H100, Layout(tp=16, pp=16, dp=32, zero=2), global_batch=2048)
    assert tp16.communication is not None and tp8.communication is not None
    assert tp16.communication.tensor_parallel > 4 * tp8.communication.tensor_parallel
    assert tp16.step_seconds > tp8.step_seconds
    # Within a 16-GPU node (an override of the node size) the same TP 16 costs NVLink time only.
    inside = Links(16, 450, 50)
    tp16_in = price_layout(
        KV16, H100, Layout(tp=16, pp=16, dp=32, zero=2), global_batch=2048, links=inside
    )
    assert tp16_in.communication_seconds < tp16.communication_seconds


def test_search_never_crosses_the_node_with_tp() -> None:
    found = search_layouts(KV16, H100, n_gpus=8192, global_batch=2048)
    assert max(c.memory.layout.tp for c in found.candidates) == 8
    wider = search_layouts(KV16, H100, n_gpus=8192, global_batch=2048, node_size=16)
    assert wider.node_size == 16 and max(c.memory.layout.tp for c in wider.candidates) == 16


def test_dp_traffic_grows_with_model_size() -> None:
    # The same layout: a model twice as wide has about four times the parameters to reduce.
    small = Shape(32, 4096, 32, 8, 14336, vocab_size=128256, seq_len=8192)
    big = Shape(32, 8192, 64, 8, 28672, vocab_size=128256, seq_len=8192)
    lay = Layout(tp=8, pp=4, dp=32, zero=1)
    links = links_of(get_gpu("h100"))
    seconds = [
        step_communication(
            s, run_memory(s, lay, gpu_memory_gb=80, global_batch=1024), links, compute_seconds=1.0
        ).data_parallel
        for s in (small, big)
    ]
    assert seconds[1] > 3 * seconds[0]


def test_slower_network_moves_the_ranking_off_data_parallel_traffic() -> None:
    # With 5 GB/s across nodes instead of 50, communication grows and the best layout changes to
    # one with more stages and less data parallelism (PP 32 x DP 32 instead of PP 16 x DP 64).
    fast = search_layouts(LLAMA3, H100, n_gpus=8192, global_batch=2048)
    slow = search_layouts(LLAMA3, H100, n_gpus=8192, global_batch=2048, links=Links(8, 450, 5))
    assert slow.candidates[0].communication_seconds > fast.candidates[0].communication_seconds
    best_fast, best_slow = fast.candidates[0].communication, slow.candidates[0].communication
    assert best_fast is not None and best_slow is not None
    # Bytes, not seconds: the slow network's best moves less data-parallel traffic, on fewer ranks.
    assert best_slow.data_parallel / 10 < best_fast.data_parallel
    assert slow.candidates[0].memory.layout.dp < fast.candidates[0].memory.layout.dp


def test_zero_stages_traffic() -> None:
    # ZeRO 0: one all-reduce; ZeRO 1/2: reduce-scatter + all-gather, the same bytes; ZeRO 3:
    # two gathers and one reduce-scatter for each of the m micro-batches.
    one = gather_seconds(2 * 1e9, 64, 50e9)
    assert data_parallel_seconds(10**9, 64, 0, 8, 50e9) == pytest.approx((2 * one, 0.0))
    assert data_parallel_seconds(10**9, 64, 1, 8, 50e9) == pytest.approx((one, one))
    assert data_parallel_seconds(10**9, 64, 2, 8, 50e9) == pytest.approx((one, one))
    assert data_parallel_seconds(10**9, 64, 3, 8, 50e9) == pytest.approx((16 * one, 8 * one))


def test_dp_overlap_assumption() -> None:
    # Hidden under the last micro-batch's backward, except the last layer's bucket ...
    assert data_parallel_exposed(
        1.0, 1.0, 1, forward=5, backward=10, layers=10, micro_batches=4
    ) == pytest.approx(0.2)
    # ... and what the compute cannot cover is exposed.
    assert data_parallel_exposed(
        4.0, 4.0, 2, forward=1, backward=2, layers=10, micro_batches=4
    ) == pytest.approx(2 + 3)


def test_expert_parallel_hook_by_hand() -> None:
    # DeepSeek-V3-like: 4,096 tokens, width 7,168, top-8 routing, EP 64 across nodes: per MoE
    # layer, dispatch and combine forward and backward each send 63/64 of 4096 x 8 x 7168 bf16.
    seconds = expert_parallel_seconds(4096, 7168, 8, 64, 1, 50e9)
    assert seconds == pytest.approx(4 * (63 / 64) * 2 * 4096 * 8 * 7168 / 50e9)
    assert expert_parallel_seconds(4096, 7168, 8, 1, 1, 50e9) == 0.0


def test_links_from_the_table_and_defaults() -> None:
    # DeepSeek-V3 (arXiv 2412.19437, Section 3.2): nodes of 8 H800, 160 GB/s NVLink, 50 GB/s IB.
    assert links_of(get_gpu("h800")) == Links(8, 160, 50)
    # No links in the table: a node of 8, half the bidirectional headline, 50 GB/s; said.
    l4 = links_of(get_gpu("l4"))
    assert (l4.node_size, l4.intra_node_gb_per_s, l4.inter_node_gb_per_s) == (8, 32, 50)
    assert set(l4.assumed) == {"node_size", "intra_node_gb_per_s", "inter_node_gb_per_s"}
    over = links_of(get_gpu("h100"), node_size=4, inter_node_gb_per_s=100)
    assert over == Links(4, 450, 100)
    with pytest.raises(InputError, match="inter_node_gb_per_s"):
        links_of(get_gpu("h100"), inter_node_gb_per_s=-1.0)


def test_context_parallel_sizes() -> None:
    # At least 8,192 tokens a rank: none at 8,192; up to Llama 3's CP 16 at 131,072.
    assert context_parallel_sizes(8192, 8192) == [1]
    assert context_parallel_sizes(131072, 16384) == [1, 2, 4, 8, 16]
    assert context_parallel_sizes(131072, 24) == [1, 2, 4, 8]


def test_llama3_long_context_layout_ranks_among_the_best() -> None:
    # Table 4: 131,072-token sequences on 16,384 H100 with TP 8, CP 16, PP 16, DP 8; 16M tokens a
    # step are 128 sequences. It must fit and rank among the best few layouts.
    found = search_layouts(LLAMA3_LONG, H100, n_gpus=16384, global_batch=128)
    layouts = [c.memory.layout for c in found.candidates]
    meta = [
        i
        for i, lay in enumerate(layouts)
        if (lay.tp, lay.cp, lay.pp, lay.dp, lay.recompute) == (8, 16, 16, 8, "none")
    ]
    assert meta and meta[0] < 3
    best = found.candidates[meta[0]]
    assert best.memory.fits and best.communication is not None
    # Its ring attention crosses nodes (8 x 16 ranks): K and V of the sequence, gathered 3 times
    # per layer and micro-batch, 1,024 KV channels over TP 8.
    kv = 2 * 2 * 131072 * (1024 // 8)
    assert best.communication.context_parallel == pytest.approx(8 * 16 * 3 * (15 / 16) * kv / 50e9)
    # Without context parallelism, 128 sequences on 16,384 GPUs leave a pipeline one to four
    # micro-batches: every CP 1 layout pays a bubble that makes it several times slower.
    no_cp = [c.step_seconds for c in found.candidates if c.memory.layout.cp == 1]
    assert no_cp and min(no_cp) > 3 * best.step_seconds


def test_deepseek_v3_expert_parallel_traffic_is_about_its_compute() -> None:
    # DeepSeek-V3 (arXiv 2412.19437, Section 3.2): 2,048 H800 in nodes of 8, PP 16, EP 64 across 8
    # nodes, ZeRO-1, no TP; 15,360 sequences of 4,096 tokens. Section 3.2.1 puts the cross-node
    # expert parallelism at a computation-to-communication ratio of about 1:1 (hence DualPipe,
    # which hides it; dsplan prices 1F1B, where it is exposed).
    from pathlib import Path

    from dsplan.model.hf_moe import read_any_hf_config

    config = Path(__file__).parent / "data" / "hf" / "deepseek-ai--DeepSeek-V3.json"
    v3 = read_any_hf_config(config, seq_len=4096).shape
    lay = Layout(tp=1, pp=16, dp=128, ep=64, zero=1, recompute="full", sequence_parallel=False)
    priced = price_layout(v3, resolve_hardware("h800"), lay, global_batch=15360)
    assert priced.memory.fits and priced.communication is not None
    # By hand: per MoE layer and micro-batch, dispatch and combine, forward and backward, each
    # sends 63/64 of 4,096 tokens x top-8 x 7,168 bf16 over 50 GB/s InfiniBand; the fullest
    # stages hold 4 MoE layers; 15,360 / 128 = 120 micro-batches.
    per_layer = 4 * (63 / 64) * 2 * 4096 * 8 * 7168 / 50e9
    assert priced.communication.expert_parallel == pytest.approx(4 * 120 * per_layer)
    assert 0.5 < priced.communication.expert_parallel / priced.compute_seconds < 1.5


def test_expert_gradients_are_reduced_over_their_own_copies() -> None:
    # EP is carved out of DP x CP (Megatron-LM's expert-data-parallel group): a routed expert has
    # dp * cp / ep copies, so its gradients cross a ring of that size, the dense ones one of DP x CP.
    # DeepSeek-V3's layout (arXiv 2412.19437, Section 3.2): DP 128, EP 64, so 2 copies per expert.
    from pathlib import Path

    from dsplan.model.hf_moe import read_any_hf_config

    config = Path(__file__).parent / "data" / "hf" / "deepseek-ai--DeepSeek-V3.json"
    v3 = read_any_hf_config(config, seq_len=4096).shape
    lay = Layout(tp=1, pp=16, dp=128, ep=64, zero=1, recompute="full", sequence_parallel=False)
    priced = price_layout(v3, resolve_hardware("h800"), lay, global_batch=15360)
    assert priced.communication is not None
    ib = 50e9  # 128 ranks span 16 nodes: InfiniBand (Section 3.2)

    def by_hand(params: int, experts: int) -> float:  # ZeRO-1: reduce-scatter + all-gather, bf16
        return 2 * 2 * ((params - experts) * 127 / 128 + experts * 1 / 2) / ib

    stages = priced.memory.stages
    assert any(s.expert_params for s in stages)
    busiest = max(by_hand(s.params, s.expert_params) for s in stages)
    assert priced.communication.data_parallel == pytest.approx(busiest)
    # A stage of 4 MoE layers: 0.70B of its 1.64B parameters are experts with 2 copies each.
    links = links_of(get_gpu("h800"))
    one = step_communication(v3, replace(priced.memory, stages=stages[1:2]), links,
                             compute_seconds=priced.compute_seconds)  # fmt: skip
    assert one.data_parallel == pytest.approx(by_hand(stages[1].params, stages[1].expert_params))
    assert one.data_parallel < 0.8 * by_hand(stages[1].params, 0)  # 43% experts, half the ring


@settings(max_examples=30, deadline=None)
@given(
    log_c=st.floats(19.0, 25.5),
    log_gpus=st.integers(0, 14),
    gpu=st.sampled_from(["h800", "h100", "a100-80gb", "b200"]),
)
def test_the_bounded_search_finds_the_full_search_s_best(
    log_c: float, log_gpus: int, gpu: str
) -> None:
    # `budget --gpus` asks only for the best layout: the search visits layouts by a floor of their
    # step time and stops past the best found. It must pick exactly what a full search ranks first.
    from dsplan.planning.plan import plan

    p = plan(10**log_c)
    shape, batch = p.architecture.shape, p.hyperparameters.batch_size_sequences
    hw = resolve_hardware(gpu)
    full = search_layouts(shape, hw, n_gpus=2**log_gpus, global_batch=batch)
    best = search_layouts(shape, hw, n_gpus=2**log_gpus, global_batch=batch, best_only=True)
    assert best.candidates == full.candidates[:1]
    assert best.examined <= full.examined
