"""The output contract's numbers (dsplan/numbers.py; README, "Output contract")."""

from __future__ import annotations

import doctest
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dsplan.numbers as numbers
from dsplan.numbers import INT64_MAX, clean, is_integer_key, number, rounded, whole


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(numbers).failed == 0


@pytest.mark.parametrize(
    ("noisy", "written"),
    [
        # The cases issue #12 saw in dsplan's own output.
        (0.00031180000000000004, 0.0003118),
        (9.852880000000002e-05, 9.85288e-05),
        (4.6770000000000004e-07, 4.677e-07),
        (0.1 + 0.2, 0.3),
    ],
)
def test_rates_lose_their_noise(noisy: float, written: float) -> None:
    assert repr(rounded(noisy)) == repr(written)


def test_whole_quantities_are_integers() -> None:
    assert whole(172298882819.55737) == 172298882820
    assert whole(2.5) == 2 and whole(3.5) == 4  # half to even
    assert whole(1e18) == 10**18  # not int(1e18) = 1000000000000000000 by luck: from its digits
    assert whole(1.2345678901234567e18) == 1234567890123460000
    assert whole(-3.0) == -3


def test_beyond_64_bits_a_whole_quantity_stays_a_float_without_binary_digits() -> None:
    # int(1e24) would print 999999999999999983222784.
    assert whole(1e24) == 1e24 and isinstance(whole(1e24), float)
    assert number("compute_flops", 10**24) == 1e24  # an exact int beyond 64 bits too
    assert whole(2.0**63) == 9.22337203685478e18  # 2**63 is one past the range: 15 digits


@pytest.mark.parametrize(
    "key",
    ["tokens", "total_steps", "batch_size_sequences", "params_total", "compute_flops",
     "flops_per_token", "target_flops_per_token", "tokens_per_step", "states_bytes", "model_size",
     "law_batch_size_tokens", "zero1_bytes_per_gpu"],
)  # fmt: skip
def test_whole_keys(key: str) -> None:
    assert is_integer_key(key)


@pytest.mark.parametrize(
    "key",
    ["learning_rate", "mfu", "tokens_per_param", "flops_per_token_error", "params_vs_median",
     "batch_size_sequences_exact", "stage_fractions", "gpu_hours", "cost_usd", "epochs",
     "effective_flops_per_gpu", "learning_rate_drift", "allocation_orders_beyond"],
)  # fmt: skip
def test_rate_and_ratio_keys(key: str) -> None:
    assert not is_integer_key(key)


def test_clean_keeps_keys_and_non_numbers() -> None:
    doc = {"tokens": 3.0, "stage_fractions": [0.8, 0.9000000000000001], "ok": True, "x": None}
    assert clean(doc) == {"tokens": 3, "stage_fractions": [0.8, 0.9], "ok": True, "x": None}
    assert (
        json.dumps(clean(doc))
        == '{"tokens": 3, "stage_fractions": [0.8, 0.9], "ok": true, "x": null}'
    )


@given(st.floats(min_value=1e-300, max_value=1e300))
def test_rounding_is_idempotent_and_within_the_stated_precision(value: float) -> None:
    once = rounded(value)
    assert rounded(float(repr(once))) == once
    assert once == pytest.approx(value, rel=5e-7)
    assert len(repr(once).split("e")[0].replace(".", "").strip("0")) <= 7


@given(st.floats(min_value=0, max_value=1e30))
def test_a_whole_number_is_within_half_of_the_value(value: float) -> None:
    w = whole(value)
    if isinstance(w, int):
        assert abs(w - value) <= max(0.5, value * 1e-14)
    else:
        assert w > INT64_MAX and math.isclose(w, value, rel_tol=1e-14)
