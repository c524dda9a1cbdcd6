"""Time, cost, feasibility, memory and the inverse mode, on hand-checked numbers."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.errors import InputError, PresetError
from dsplan.model.flops import Shape, counts
from dsplan.planning.cost import (
    cluster_flops,
    estimate,
    gpu_hours,
    gpus_for_days,
    plan_for_cluster,
    resolve_hardware,
    wall_clock_days,
)
from dsplan.planning.memory import BYTES_PER_PARAM, state_memory
from dsplan.planning.plan import plan


def _counts(flops_per_token_hardware: int, params_total: int):  # type: ignore[no-untyped-def]
    """Counts of a made-up shape with round numbers, for arithmetic by hand."""
    base = counts(Shape.build(2, 128, n_heads=2))
    return dataclasses.replace(
        base, flops_per_token_hardware=flops_per_token_hardware, params_total=params_total
    )


def test_gpu_hours_by_hand() -> None:
    # 1e24 FLOPs at 1e15 FLOP/s x 0.5 = 2e9 GPU-seconds = 555,555.6 GPU-hours.
    assert gpu_hours(1e24, 1e15, 0.5) == pytest.approx(2e9 / 3600, rel=1e-12)
    assert wall_clock_days(2400.0, 10) == pytest.approx(10.0, rel=1e-12)
    assert gpus_for_days(2400.0, 10) == 10
    assert gpus_for_days(2400.1, 10) == 11
    # C = GPUs x peak x MFU x seconds: 2048 x 989e12 x 0.4 x 30 x 86,400 = 2.1000093696e24.
    assert cluster_flops(2048, 989e12, 0.4, 30) == pytest.approx(2.1000093696e24, rel=1e-12)


def test_estimate_by_hand() -> None:
    hw = resolve_hardware("h100", mfu=0.5, n_gpus=8, price_usd_per_gpu_hour=4.0)
    cost = estimate(_counts(10**9, 10**10), 1e12, hw)
    # 1e9 FLOPs/token x 1e12 tokens = 1e21 FLOPs; 989e12 x 0.5 = 4.945e14 FLOP/s per GPU
    # -> 2,022,244.7 GPU-seconds = 561.73 GPU-hours; / 8 GPUs / 24 = 2.9257 days; x $4 = $2,246.9.
    assert cost.training_flops_hardware == 1e21
    assert cost.gpu_hours == pytest.approx(561.7346, rel=1e-6)
    assert cost.wall_clock_days == pytest.approx(2.92570, rel=1e-5)
    assert cost.cost_usd == pytest.approx(2246.938, rel=1e-6)
    d = cost.to_dict()
    for key in ("gpu", "peak_flops_per_gpu", "mfu", "flops_per_token_hardware", "gpu_hours"):
        assert key in d
    assert d["gpu"] == "h100-sxm" and d["peak_flops_per_gpu"] == 989e12 and d["mfu"] == 0.5
    assert d["wall_clock_days"] == cost.wall_clock_days and d["cost_usd"] == cost.cost_usd
    assert any("dense bf16 peak" in n for n in d["notes"])
    assert any("6 x vocab x d_model" in n for n in d["notes"])


def test_no_gpu_count_no_wall_clock_and_no_price_no_cost() -> None:
    hw = resolve_hardware("mi300x")
    d = estimate(_counts(10**9, 10**9), 1e12, hw).to_dict()
    assert "wall_clock_days" not in d and "cost_usd" not in d
    assert d["gpus"] is None and d["price_usd_per_gpu_hour"] is None


def test_hardware_flops_add_the_output_head() -> None:
    p = plan(1e24)
    s = p.architecture.shape
    cost = estimate(p.architecture.counts, p.training.tokens, resolve_hardware("h800"))
    head = 6 * s.vocab_size * s.d_model
    assert cost.flops_per_token_hardware == p.architecture.flops_per_token + head


def test_deepseek_67b_on_h800_implies_a_published_range_mfu() -> None:
    # DeepSeek-V2 (arXiv 2405.04434, "Training and Inference Efficiency"): DeepSeek 67B takes
    # 300.6K H800 GPU-hours per trillion tokens, 601.2K for its 2T tokens. The MFU that makes our
    # estimate match is hardware FLOPs / (989e12 x 601.2e3 x 3600) = 0.409 (our arithmetic; the
    # paper reports no MFU); it must lie in the published H100-class range (0.38-0.48).
    shape = Shape.build(95, 8192, n_kv_heads=8)
    hw = resolve_hardware("h800", mfu=1.0)
    cost = estimate(counts(shape), 2e12, hw)
    implied = cost.gpu_hours / 601.2e3
    assert implied == pytest.approx(0.409, rel=0.01)
    assert 0.38 <= implied <= 0.48


def test_days_alone_gives_the_gpu_count() -> None:
    hw = resolve_hardware("h100", mfu=0.5, days=1.0)
    cost = estimate(_counts(10**9, 10**9), 1e12, hw)
    # 561.73 GPU-hours in 24 hours -> 23.4 -> 24 GPUs.
    assert cost.n_gpus == 24 and cost.gpus_source == "fewest that meet --days"
    assert cost.feasibility.feasible and cost.feasibility.gpus_required == 24
    assert cost.wall_clock_days is not None and cost.wall_clock_days <= 1.0


def test_missed_deadline_says_by_how_much() -> None:
    hw = resolve_hardware("h100", mfu=0.5, n_gpus=8, days=2.0)
    cost = estimate(_counts(10**9, 10**9), 1e12, hw)
    f = cost.feasibility
    assert not f.feasible and f.fits_days is False
    assert f.days_over == pytest.approx(0.92570, rel=1e-4)
    assert f.gpus_required == 12  # 561.73 / 48 = 11.7
    assert f.reasons == (
        "needs 2.9 days on 8 h100-sxm GPUs at MFU 0.5, 0.93 days (46%) over the 2-day deadline; "
        "12 GPUs would meet it",
    )


def test_spending_limit() -> None:
    hw = resolve_hardware("h100", mfu=0.5, price_usd_per_gpu_hour=4.0, max_cost_usd=2000)
    f = estimate(_counts(10**9, 10**9), 1e12, hw).feasibility
    assert not f.feasible and f.fits_cost is False
    assert f.cost_over_usd == pytest.approx(246.938, rel=1e-5)
    assert f.gpu_hours_affordable == 500
    hw_ok = dataclasses.replace(hw, max_cost_usd=3000.0)
    assert estimate(_counts(10**9, 10**9), 1e12, hw_ok).feasibility.feasible


def test_memory_by_hand() -> None:
    # 1e10 params x 16 bytes = 1.6e11 bytes; on 80 GB: ZeRO-3 needs 2 GPUs. ZeRO-1 keeps 4 bytes
    # (4e10) on each GPU and shards 12 (1.2e11) over what is left (4e10 each): 3 GPUs.
    m = state_memory(10**10, 80, n_gpus=2)
    assert BYTES_PER_PARAM == 16
    assert m.states_bytes == 1.6e11 and m.min_gpus_zero3 == 2 and m.min_gpus_zero1 == 3
    assert m.fits_zero3 is True and m.fits_zero1 is False
    assert m.zero1_bytes_per_gpu(2) == pytest.approx(4e10 + 6e10)
    assert m.zero3_bytes_per_gpu(2) == pytest.approx(8e10)
    # 1e11 params: 4e11 replicated bytes overflow 80 GB, so no ZeRO-1 count exists.
    big = state_memory(10**11, 80)
    assert big.min_gpus_zero3 == 20 and big.min_gpus_zero1 is None and big.fits_zero3 is None


def test_memory_warning_when_states_do_not_fit() -> None:
    hw = resolve_hardware("h100", n_gpus=8)
    cost = estimate(_counts(10**9, 10**11), 1e12, hw)
    assert cost.memory.fits_zero3 is False
    assert any("at least 20 GPUs are needed" in w for w in cost.warnings)


def test_mfu_above_best_published_warns() -> None:
    cost = estimate(_counts(10**9, 10**9), 1e12, resolve_hardware("h100", mfu=0.6))
    assert len(cost.warnings) == 1
    assert "above the best published bf16 MFU on h100-sxm, 0.48" in cost.warnings[0]
    quiet = estimate(_counts(10**9, 10**9), 1e12, resolve_hardware("h100", mfu=0.48))
    assert quiet.warnings == ()


def test_fp8_uses_the_fp8_dense_peak_and_its_own_defaults() -> None:
    hw = resolve_hardware("h100", dtype="fp8")
    assert hw.peak_flops_per_gpu == 1979e12 and hw.mfu == 0.30
    assert resolve_hardware("v100").dtype == "fp16"
    # fp16 where only a bf16 default exists: the bf16 default, said so.
    fp16 = resolve_hardware("a100", dtype="fp16")
    assert fp16.mfu == 0.5 and "bf16 default" in fp16.mfu_source


@pytest.mark.parametrize(
    ("kwargs", "message", "quantity"),
    [
        ({"mfu": 0.0}, "the MFU must be a fraction in (0, 1], got 0.0", "mfu"),
        ({"mfu": 1.01}, "the MFU must be a fraction in (0, 1], got 1.01", "mfu"),
        ({"mfu": -0.3}, "the MFU must be a fraction in (0, 1]", "mfu"),
        ({"mfu": math.nan}, "the MFU must be a fraction in (0, 1]", "mfu"),
        (
            {"dtype": "fp8", "gpu": "a100"},
            "a100-80gb has no fp8 peak in the GPU table; choose bf16 or fp16",
            "dtype",
        ),
        ({"dtype": "int8"}, "the precision must be one of bf16, fp16, fp8, got 'int8'", "dtype"),
        ({"n_gpus": 0}, "the GPU count must be a positive integer, got 0", "n_gpus"),
        ({"days": 0.0}, "the deadline in days must be a positive finite number", "days"),
        (
            {"price_usd_per_gpu_hour": -1.0},
            "the price per GPU-hour must be a positive finite number",
            "price_per_gpu_hour",
        ),
        (
            {"gpu": "mi300x", "max_cost_usd": 1e6},
            "a spending limit needs a price",
            "price_per_gpu_hour",
        ),
    ],
)
def test_bad_hardware_inputs(kwargs: dict[str, object], message: str, quantity: str) -> None:
    # The core names the quantity, never a flag; the CLI adds the flag (test_cli_budget_hardware).
    gpu = str(kwargs.pop("gpu", "h100"))
    with pytest.raises(InputError) as info:
        resolve_hardware(gpu, **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "--" not in str(info.value)
    assert info.value.quantity == quantity


def test_unknown_gpu_is_a_preset_error() -> None:
    with pytest.raises(PresetError, match="unknown GPU"):
        resolve_hardware("h900")


def test_inverse_mode_uses_the_cluster_exactly() -> None:
    hw = resolve_hardware("h800", n_gpus=2048, days=30)
    p, cost = plan_for_cluster(hw)
    available = 2048 * 989e12 * 0.4 * 30 * 86_400
    assert cost.compute_flops_available == pytest.approx(available, rel=1e-12)
    # The plan's C = M x D leaves out the head, so it sits just below the cluster's FLOPs ...
    assert p.compute_flops < available
    # ... and the hardware FLOPs (head included) use the 30 days exactly.
    assert cost.training_flops_hardware == pytest.approx(available, rel=1e-9)
    assert cost.wall_clock_days == pytest.approx(30.0, rel=1e-9)
    assert cost.feasibility.feasible


@pytest.mark.parametrize(("n_gpus", "days"), [(8, 0.01), (16, 0.005), (8, 0.02), (1, 0.1)])
def test_inverse_mode_on_a_small_cluster_never_misses_its_own_deadline(
    n_gpus: int, days: float
) -> None:
    # At ~1e18 FLOPs the output head is ~40% of the work and the shape search can cycle between
    # shapes (8 H800s for 0.01 days: 7x960 -> 13x512 -> 7x832 -> 8x704 -> 13x512 ...). Whatever it
    # picks, the plan it sized itself must fit the cluster's time: no exit 1 for the inverse mode.
    _, cost = plan_for_cluster(resolve_hardware("h800", n_gpus=n_gpus, days=days))
    assert cost.feasibility.feasible
    assert cost.wall_clock_days is not None and cost.wall_clock_days <= days * (1 + 1e-9)
    assert cost.training_flops_hardware >= 0.8 * cost.compute_flops_available  # type: ignore[operator]


def test_short_deadline_is_not_printed_as_zero_days() -> None:
    hw = resolve_hardware("h100", mfu=0.5, n_gpus=8, days=0.05)
    f = estimate(_counts(10**9, 10**9), 1e11, hw).feasibility
    # 56.17 GPU-hours / 8 / 24 = 0.2926 days, 0.2426 over a 0.05-day deadline.
    assert f.reasons == (
        "needs 0.29 days on 8 h100-sxm GPUs at MFU 0.5, 0.24 days (485%) over the 0.05-day "
        "deadline; 47 GPUs would meet it",
    )


def test_inverse_mode_needs_gpus_and_days() -> None:
    with pytest.raises(InputError, match="give the GPU, the GPU count and the days"):
        plan_for_cluster(resolve_hardware("h800", n_gpus=8))


@settings(max_examples=40, deadline=None)
@given(
    flops=st.floats(1e18, 1e27),
    mfu=st.floats(0.05, 1.0),
    days=st.floats(0.5, 400),
)
def test_time_and_deadline_invariants(flops: float, mfu: float, days: float) -> None:
    peak = 989e12
    hours = gpu_hours(flops, peak, mfu)
    assert hours * 3600 * peak * mfu == pytest.approx(flops, rel=1e-9)
    n = gpus_for_days(hours, days)
    assert wall_clock_days(hours, n) <= days * (1 + 1e-9)
    if n > 1:
        assert wall_clock_days(hours, n - 1) > days * (1 - 1e-9)
    # The inverse: a cluster's FLOPs over the same time need exactly that cluster.
    assert gpu_hours(cluster_flops(n, peak, mfu, days), peak, mfu) == pytest.approx(
        n * days * 24, rel=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(params=st.integers(10**6, 10**13), memory_gb=st.floats(8, 300))
def test_min_gpus_are_minimal(params: int, memory_gb: float) -> None:
    m = state_memory(params, memory_gb)
    cap = memory_gb * 1e9
    assert m.zero3_bytes_per_gpu(m.min_gpus_zero3) <= cap * (1 + 1e-12)
    if m.min_gpus_zero3 > 1:
        assert m.zero3_bytes_per_gpu(m.min_gpus_zero3 - 1) > cap
    if m.min_gpus_zero1 is not None:
        assert m.zero1_bytes_per_gpu(m.min_gpus_zero1) <= cap * (1 + 1e-12)
        assert m.min_gpus_zero1 >= m.min_gpus_zero3
