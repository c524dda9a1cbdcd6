"""The memory of a training run on a layout: the published activation formulas and the anchors.

Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models" (arXiv
2205.05198), Section 4: bytes per layer of a GPT-3 block (16-bit activations, 1-byte dropout masks),
s sequence, b micro-batch, h width, a heads, t tensor-parallel size.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.errors import InputError
from dsplan.model.flops import Shape, counts
from dsplan.planning.activations import ActivationBlock, layer_activations
from dsplan.planning.memory import (
    BYTES_PER_PARAM,
    Layout,
    run_memory,
    stage_layers,
    state_memory,
)

GPT3_CASES = [
    # (s, b, h, a, t): the 22B, 175B, 530B and 1T blocks of the paper's Table 3, and small ones.
    (2048, 1, 6144, 64, 8),
    (2048, 1, 12288, 96, 8),
    (2048, 1, 20480, 128, 8),
    (2048, 1, 25600, 160, 8),
    (128, 4, 256, 4, 2),
    (512, 2, 1024, 16, 4),
]


@pytest.mark.parametrize(("s", "b", "h", "a", "t"), GPT3_CASES)
def test_gpt3_block_reproduces_korthikanti(s: int, b: int, h: int, a: int, t: int) -> None:
    block = ActivationBlock.gpt3(h, a)
    sbh, score = s * b * h, 5 * a * s * s * b

    # Eq. 1, no parallelism: sbh(34 + 5as/h).
    one = layer_activations(block, s, b, recompute="none")
    assert one.tp == 1 and one.kept + one.split == 34 * sbh + score
    # Eq. 2, tensor parallelism: sbh(10 + 24/t + 5as/(ht)); 10 sbh kept whole on every GPU.
    tp = layer_activations(block, s, b, tp=t)
    assert (tp.kept, tp.split) == (10 * sbh, 24 * sbh + score)
    assert tp.bytes == pytest.approx(sbh * (10 + 24 / t + 5 * a * s / (h * t)), rel=1e-15)
    # Eq. 3, tensor and sequence parallelism: sbh(34/t + 5as/(ht)).
    sp = layer_activations(block, s, b, tp=t, sequence_parallel=True)
    assert (sp.kept, sp.split) == (0, 34 * sbh + score)
    # Section 5, selective recomputation with sequence parallelism: sbh 34/t.
    sel = layer_activations(block, s, b, tp=t, sequence_parallel=True, recompute="selective")
    assert (sel.kept, sel.split) == (0, 34 * sbh)
    # Full recomputation: only the layer input, 2sbh.
    full = layer_activations(block, s, b, recompute="full")
    assert (full.kept, full.split) == (2 * sbh, 0)


def test_dsplan_block_by_hand() -> None:
    # Llama 3 405B's block (h 16384, 128 heads of 128, 8 KV heads, SwiGLU d_ff 53248), no dropout:
    # norms and projection inputs 2+2+2+2 h, Q and attention output 2+2 h, K and V 2+2 x 1024,
    # gate, up and down inputs 3 x 2 d_ff; flash attention adds 4 bytes a per token.
    block = ActivationBlock(16384, 128, 8, 128, 53248)
    s, b = 8192, 1
    per_token = 8 * 16384 + 4 * 16384 + 4 * 1024 + 6 * 53248
    none = layer_activations(block, s, b, tp=8, recompute="none")
    assert none.kept == 8 * 16384 * s * b
    assert none.split == (per_token - 8 * 16384) * s * b + 2 * 128 * s * s * b
    flash = layer_activations(block, s, b, tp=8, sequence_parallel=True, flash_attention=True)
    assert (flash.kept, flash.split) == (0, (per_token + 4 * 128) * s * b)
    # With flash attention, selective recomputation has nothing left to drop.
    sel = layer_activations(
        block, s, b, tp=8, sequence_parallel=True, flash_attention=True, recompute="selective"
    )
    assert sel == flash


def test_stage_layers() -> None:
    # Llama 3 405B: 126 layers on 16 stages, the first and the last one layer short (Section 3.3.2).
    assert stage_layers(126, 16) == (7,) + (8,) * 14 + (7,)
    assert stage_layers(96, 8) == (12,) * 8
    assert stage_layers(10, 4) == (2, 3, 3, 2)  # 12 = 10 + 2 is divisible by 4
    assert stage_layers(11, 4) == (2, 3, 3, 3)
    with pytest.raises(InputError, match="exceeds the layers"):
        stage_layers(4, 5)


LLAMA3_405B = Shape(126, 16384, 128, 8, 53248, vocab_size=128256, seq_len=8192)
# 16M tokens per step at 8,192 tokens: 2,048 sequences (arXiv 2407.21783, Table 4).
LLAMA3_BATCH = 16 * 1024 * 1024 // 8192


def test_llama3_405b_fits_as_meta_laid_it_out() -> None:
    # Table 4: 8,192 H100-80GB, TP 8, CP 1, PP 16, DP 64, no activation checkpointing at 8K
    # (Section 3.3.2); its FSDP shards optimizer states and gradients and keeps the weights
    # gathered between forward and backward, which is ZeRO-2 at the peak.
    lay = Layout(tp=8, pp=16, dp=64, zero=2, micro_batch=1, recompute="none")
    mem = run_memory(LLAMA3_405B, lay, gpu_memory_gb=80, global_batch=LLAMA3_BATCH)
    assert lay.n_gpus == 8192 and mem.micro_batches == 32
    assert mem.fits
    peak = mem.peak
    # By part, in GB, on the fullest stage (the second: 8 layers, 15 micro-batches in flight).
    assert (peak.stage, peak.layers, peak.in_flight) == (1, 8, 15)
    assert peak.weights / 1e9 == pytest.approx(6.38, abs=0.01)
    assert peak.activations / 1e9 == pytest.approx(63.98, abs=0.01)
    assert mem.required_bytes / 1e9 == pytest.approx(75.06, abs=0.01)
    assert mem.bubble == pytest.approx(15 / 32)
    # The last stage carries the output head's inputs and one micro-batch of fp32 logits.
    last = mem.stages[-1]
    assert last.output_head == 4 * 8192 * 16384 / 8 + 4 * 8192 * 128256 / 8
    # The first stage carries the embedding and holds p = 16 micro-batches.
    assert mem.stages[0].in_flight == 16
    assert mem.stages[0].params == 7 * mem.stages[1].params // 8 + 128256 * 16384 // 8


def test_llama3_405b_refused_without_model_parallelism() -> None:
    lay = Layout(tp=1, pp=1, dp=8192, zero=1, micro_batch=1, recompute="full")
    mem = run_memory(LLAMA3_405B, lay, gpu_memory_gb=80, global_batch=8192)
    assert not mem.fits
    # The replicated bf16 weights alone: 2 bytes x 405.9B parameters, about 810 GB.
    assert mem.peak.weights == 2 * counts(LLAMA3_405B).params_total
    assert 805e9 < mem.peak.weights < 815e9


@pytest.mark.parametrize(
    ("layers", "h", "a", "pp", "gpus"),
    [(105, 20480, 128, 35, 280), (128, 25600, 160, 64, 512)],
    ids=["530B", "1T"],
)
def test_korthikanti_530b_and_1t(layers: int, h: int, a: int, pp: int, gpus: int) -> None:
    # Table 3: GPT-3 blocks, seq 2048, vocab 51200, TP 8, micro-batch 1, batch = GPUs, A100-80GB.
    # Figure 1 and Section 6: sequence parallelism with selective recomputation fits them; the
    # tensor-parallel baseline without recomputation does not; full recomputation does.
    shape = Shape(layers, h, a, a, 4 * h, vocab_size=51200, seq_len=2048)
    block = ActivationBlock.gpt3(h, a)

    def fits(recompute: str, sp: bool) -> bool:
        lay = Layout(
            tp=8,
            pp=pp,
            dp=gpus // (8 * pp),
            zero=0,
            recompute=recompute,
            sequence_parallel=sp,
            flash_attention=False,
        )
        mem = run_memory(shape, lay, gpu_memory_gb=80, global_batch=gpus, block=block)
        return mem.fits

    assert fits("selective", True)
    assert fits("full", False)
    assert not fits("none", False)
    assert not fits("none", True)


def test_gpt3_weights_count_two_mlp_matrices() -> None:
    shape = Shape(105, 20480, 128, 128, 4 * 20480, vocab_size=51200, seq_len=2048)
    lay = Layout(tp=8, pp=35, dp=1, zero=0, flash_attention=False)
    mem = run_memory(
        shape, lay, gpu_memory_gb=80, global_batch=280, block=ActivationBlock.gpt3(20480, 128)
    )
    total = sum(s.params for s in mem.stages) * 8
    assert 529e9 < total < 532e9  # the "530B" of the paper


def test_interleaved_first_stage_holds_more() -> None:
    # Korthikanti et al. 2022, Section 4.2.3: interleaving multiplies the first stage's
    # activations by 1 + (p - 1) / (p v), v the interleaved chunks per GPU.
    shape = Shape(32, 1024, 8, 8, 2816, vocab_size=32000, seq_len=1024)
    base = Layout(tp=1, pp=4, dp=1, zero=1)
    plain = run_memory(shape, base, gpu_memory_gb=80, global_batch=16)
    inter = run_memory(
        shape, dataclasses.replace(base, virtual_stages=2), gpu_memory_gb=80, global_batch=16
    )
    ratio = inter.stages[0].activations / plain.stages[0].activations
    assert ratio == pytest.approx(1 + 3 / 8)
    assert inter.bubble == pytest.approx(plain.bubble / 2) == pytest.approx(3 / 32)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"zero": 4}, "ZeRO stage"),
        ({"tp": 3}, "tensor-parallel size \\(3\\) must divide n heads"),
        ({"dp": 3}, "must divide the global batch"),
        ({"pp": 40}, "exceeds the layers"),
        ({"recompute": "some"}, "recomputation must be one of"),
        ({"stage_layers": (20, 10)}, "stage layers"),
        ({"pp": 4, "virtual_stages": 3}, "virtual stages \\(3\\) must divide"),
        ({"pp": 4, "virtual_stages": 2, "dp": 4}, "multiple of the pipeline-parallel size"),
        ({"micro_batch": 0}, "micro batch must be a positive integer"),
    ],
)
def test_errors_name_quantities(change: dict[str, object], match: str) -> None:
    shape = Shape(32, 1024, 8, 8, 2816, vocab_size=32000, seq_len=1024)
    lay = dataclasses.replace(Layout(tp=1, pp=2, dp=1), **change)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=match):
        run_memory(shape, lay, gpu_memory_gb=80, global_batch=8)


def test_bad_allowance_and_memory() -> None:
    shape = Shape(2, 128, 2, 2, 512, vocab_size=1000, seq_len=64)
    with pytest.raises(InputError, match="allowance"):
        run_memory(shape, Layout(), gpu_memory_gb=80, global_batch=1, allowance=1.0)
    with pytest.raises(InputError, match="GPU memory"):
        run_memory(shape, Layout(), gpu_memory_gb=0, global_batch=1)


@settings(max_examples=60, deadline=None)
@given(
    n_layers=st.integers(1, 48),
    width=st.sampled_from([256, 512, 1024, 2048]),
    kv=st.sampled_from([1, 2, 4, 8]),
    tied=st.booleans(),
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.integers(1, 16),
    dp=st.sampled_from([1, 2, 3, 8, 64]),
    zero=st.sampled_from([0, 1, 2, 3]),
    recompute=st.sampled_from(["none", "selective", "full"]),
)
def test_states_floor_is_a_lower_bound(
    n_layers: int,
    width: int,
    kv: int,
    tied: bool,
    tp: int,
    pp: int,
    dp: int,
    zero: int,
    recompute: str,
) -> None:
    # Whatever the layout, the fullest GPU holds at least the ZeRO-3 share of the 16 bytes per
    # parameter over all its GPUs: the floor `budget --gpu` reports stays a floor.
    pp, tp = min(pp, n_layers), min(tp, kv)  # Megatron-LM: TP divides the KV heads
    shape = Shape(
        n_layers, width, 8, kv, 4 * width, vocab_size=32000, seq_len=512, tied_embeddings=tied
    )
    lay = Layout(tp=tp, pp=pp, dp=dp, zero=zero, recompute=recompute)
    mem = run_memory(shape, lay, gpu_memory_gb=80, global_batch=dp * 4)
    floor = state_memory(counts(shape).params_total, 80, n_gpus=lay.n_gpus)
    assert mem.peak.total >= floor.zero3_bytes_per_gpu(lay.n_gpus) * (1 - 1e-12)
    assert mem.required_bytes >= mem.peak.total
    assert mem.peak.states >= BYTES_PER_PARAM * mem.peak.params / dp * (1 - 1e-12)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("pp", [1, 3])
def test_weights_cover_every_parameter(tied: bool, pp: int) -> None:
    # One GPU per stage (TP 1): the stages hold every parameter once, and a tied embedding twice
    # when the first and last stage differ (the last stage keeps its own copy of the matrix).
    shape = Shape(6, 512, 4, 2, 1536, vocab_size=1000, seq_len=128, tied_embeddings=tied)
    mem = run_memory(shape, Layout(tp=1, pp=pp, dp=1, zero=0), gpu_memory_gb=80, global_batch=4)
    total = counts(shape).params_total
    copies = 1000 * 512 if tied and pp > 1 else 0
    assert sum(s.params for s in mem.stages) == total + copies


@pytest.mark.parametrize(
    ("zero", "weights", "gradients", "optimizer"),
    [(0, 2, 2, 12), (1, 2, 2, 12 / 4), (2, 2, 2 / 4, 12 / 4), (3, 2 / 4, 2 / 4, 12 / 4)],
)
def test_zero_stages_shard_by_hand(
    zero: int, weights: float, gradients: float, optimizer: float
) -> None:
    # Rajbhandari et al. 2020, Section 5: P_os (stage 1), P_os+g (2), P_os+g+p (3), DP 4 here.
    shape = Shape(2, 256, 2, 2, 768, vocab_size=1024, seq_len=64)
    mem = run_memory(shape, Layout(tp=2, pp=1, dp=4, zero=zero), gpu_memory_gb=80, global_batch=4)
    (stage,) = mem.stages
    assert stage.weights == weights * stage.params
    assert stage.gradients == gradients * stage.params
    assert stage.optimizer == optimizer * stage.params
    # TP 2 splits the matrices, the embedding and the head; the norm weights stay whole.
    norms = 2 * 2 * 256 + 256
    assert stage.params == (counts(shape).params_total - norms) // 2 + norms


def test_context_parallel_divides_the_sequence_and_shards_like_dp() -> None:
    # Context parallelism gives each GPU s / cp tokens of every sequence: the activations, the
    # head's inputs and the logits shrink by cp; the cp ranks hold the same weights, so ZeRO
    # shards across dp x cp (Megatron-LM's distributed optimizer). Llama 3 405B's long-context
    # layout (arXiv 2407.21783, Table 4): TP 8, CP 16, PP 16, DP 8 at 131,072 tokens.
    shape = dataclasses.replace(LLAMA3_405B, seq_len=131072)
    lay = Layout(tp=8, pp=16, cp=16, dp=8, zero=1, recompute="full")
    assert lay.n_gpus == 16384 and lay.to_dict()["cp"] == 16 and lay.to_dict()["ep"] == 1
    mem = run_memory(shape, lay, gpu_memory_gb=80, global_batch=128)
    one = run_memory(
        dataclasses.replace(shape, seq_len=131072 // 16),
        dataclasses.replace(lay, cp=1, dp=128),
        gpu_memory_gb=80,
        global_batch=128 * 16,  # the same 16 micro-batches a step
    )
    assert mem.per_layer.bytes == one.per_layer.bytes == 2 * 8192 * 16384 / 8
    for a, b in zip(mem.stages, one.stages, strict=True):
        assert (a.activations, a.output_head, a.optimizer) == (
            b.activations,
            b.output_head,
            b.optimizer,
        )
    assert mem.fits
    with pytest.raises(InputError, match="context-parallel size \\(3\\) must divide"):
        run_memory(shape, dataclasses.replace(lay, cp=3), gpu_memory_gb=80, global_batch=128)
    with pytest.raises(InputError, match="mixture-of-experts"):
        run_memory(shape, dataclasses.replace(lay, ep=2), gpu_memory_gb=80, global_batch=128)
