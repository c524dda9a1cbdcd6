"""The schedule core: DeepSeek's multi-step golden numbers, every boundary step, cosine, WSD, extension."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.catalog.presets import load_preset
from dsplan.errors import InputError
from dsplan.scheduling.continual import COSINE_REUSE_TOLERANCE, extend
from dsplan.scheduling.schedules import (
    MAX_WARMUP_FRACTION,
    build,
    clamp_warmup,
    cosine,
    learning_rate_at,
    multistep,
    rate_table,
    total_steps_for,
    wsd,
)

# DeepSeek LLM 7B (arXiv 2401.02954, Table 2): 2304 sequences x 4096 tokens, peak 4.2e-4, 2.0T tokens.
BATCH_7B = 2304 * 4096
PEAK_7B = 4.2e-4
TOKENS_7B = 2e12


@pytest.fixture
def deepseek_7b():
    return multistep(PEAK_7B, TOKENS_7B, BATCH_7B)


def by_name(schedule):
    return {m.name: m for m in schedule.milestones}


# --- DeepSeek golden numbers -------------------------------------------------------------------


def test_7b_drops_at_1_6t_and_1_8t(deepseek_7b) -> None:
    # DeepSeek-LLM README (github.com/deepseek-ai/DeepSeek-LLM): the rate drops at 1.6T tokens (to
    # 31.6%) and 1.8T tokens (to 10%); arXiv 2401.02954 Section 2.3: after 80% and 90% of tokens.
    # Integer steps move the drop by under one batch (9.4M tokens), hence rel=1e-5.
    m = by_name(deepseek_7b)
    assert m["stage2"].tokens == pytest.approx(1.6e12, rel=1e-5)
    assert m["stage3"].tokens == pytest.approx(1.8e12, rel=1e-5)
    assert m["stage2"].learning_rate == pytest.approx(0.316 * PEAK_7B, rel=1e-12)
    assert m["stage3"].learning_rate == pytest.approx(0.1 * PEAK_7B, rel=1e-12)
    assert m["warmup_end"].step == 2000  # Section 2.3: 2000 warm-up steps
    assert m["warmup_end"].learning_rate == PEAK_7B


def test_7b_step_counts(deepseek_7b) -> None:
    # deepseek-llm.md §4: 9.44M tokens/step, about 211.9K steps for 2T tokens.
    assert deepseek_7b.total_steps == math.ceil(TOKENS_7B / BATCH_7B) == 211_928
    assert deepseek_7b.total_steps == pytest.approx(211.9e3, rel=1e-3)
    m = by_name(deepseek_7b)
    assert m["stage2"].step == round(0.8 * 211_928) == 169_542
    assert m["stage3"].step == round(0.9 * 211_928) == 190_735
    assert m["end"].step == 211_928
    assert m["end"].tokens == TOKENS_7B


def test_7b_extended_to_3t_reuses_the_1_6t_checkpoint(deepseek_7b) -> None:
    # The README worked example: extended to 3T, the checkpoint at the end of stage 1 (1.6T) is
    # reused and the drops move to 80% and 90% of 3T (arXiv 2401.02954, Section 2.3).
    ext = extend(deepseek_7b, 3e12)
    assert ext.reusable_tokens == pytest.approx(1.6e12, rel=1e-5)
    assert ext.reusable_tokens == by_name(deepseek_7b)["stage2"].tokens
    assert ext.reusable_step == by_name(deepseek_7b)["stage2"].step
    assert ext.reuse_fraction == pytest.approx(0.8, rel=1e-5)
    assert ext.lost_tokens == pytest.approx(0.4e12, rel=1e-4)
    longer = by_name(ext.schedule)
    assert longer["stage2"].tokens == pytest.approx(2.4e12, rel=1e-5)
    assert longer["stage3"].tokens == pytest.approx(2.7e12, rel=1e-5)
    assert longer["end"].tokens == 3e12
    assert ext.drift is None
    assert any("drift cannot be computed" in n for n in ext.notes)


def test_7b_extension_drift_from_eq1() -> None:
    # arXiv 2401.02954 Eq. 1: lr = 0.3118 C^-0.125, B = 0.2920 C^0.3271 (tokens). The 7B's M is
    # about 4.23e10 and C = M x 2T about 8.46e22 (laws.md §5a); at 3T, C2 = M x 3T.
    from dsplan.model.flops import Shape, counts

    m = counts(Shape.build(30, 4096)).flops_per_token
    assert m * 2e12 == pytest.approx(8.46e22, rel=0.01)
    ext = extend(
        multistep(PEAK_7B, TOKENS_7B, BATCH_7B), 3e12, flops_per_token=m, preset=load_preset()
    )
    d = ext.drift
    assert d is not None
    c2 = m * 3e12
    assert d.compute_flops == pytest.approx(c2, rel=1e-12)
    assert d.law_learning_rate == pytest.approx(0.3118 * c2**-0.125, rel=1e-12)
    assert d.law_batch_size_tokens == pytest.approx(0.2920 * c2**0.3271, rel=1e-12)
    assert d.learning_rate_drift == pytest.approx(d.law_learning_rate / PEAK_7B - 1, rel=1e-12)
    assert d.batch_size_drift == pytest.approx(d.law_batch_size_tokens / BATCH_7B - 1, rel=1e-12)
    # The longer run asks for a lower rate and a larger batch: Eq. 1's exponents have those signs.
    assert d.learning_rate_drift < 0 < d.batch_size_drift
    assert d.orders_beyond_fit > 0  # 1.3e23 lies far above Eq. 1's fit range (1e17 to 2e19)


# --- every boundary of the rate ---------------------------------------------------------------


def test_multistep_rate_at_every_boundary(deepseek_7b) -> None:
    m = by_name(deepseek_7b)
    s2, s3, end = m["stage2"].step, m["stage3"].step, m["end"].step
    at = lambda step: learning_rate_at(deepseek_7b, step)  # noqa: E731
    assert at(0) == 0.0
    assert at(1) == pytest.approx(PEAK_7B / 2000, rel=1e-12)
    assert at(1999) == pytest.approx(PEAK_7B * 1999 / 2000, rel=1e-12)
    assert at(2000) == PEAK_7B
    assert at(s2 - 1) == PEAK_7B
    assert at(s2) == pytest.approx(0.316 * PEAK_7B, rel=1e-12)
    assert at(s3 - 1) == pytest.approx(0.316 * PEAK_7B, rel=1e-12)
    assert at(s3) == pytest.approx(0.1 * PEAK_7B, rel=1e-12)
    assert at(end - 1) == pytest.approx(0.1 * PEAK_7B, rel=1e-12)
    assert at(end) == pytest.approx(0.1 * PEAK_7B, rel=1e-12)
    with pytest.raises(InputError, match="step must not be negative"):
        at(-1)


def test_cosine_boundaries() -> None:
    s = cosine(1e-3, 1_000_000, 1000, warmup_steps=100, final_lr_fraction=0.1)
    m = by_name(s)
    assert s.total_steps == 1000
    assert learning_rate_at(s, 99) == pytest.approx(1e-3 * 99 / 100, rel=1e-12)
    assert learning_rate_at(s, 100) == pytest.approx(1e-3, rel=1e-12)
    assert m["half"].step == 550
    assert m["half"].learning_rate == pytest.approx((1e-3 + 1e-4) / 2, rel=1e-12)
    assert learning_rate_at(s, 999) > 1e-4
    assert learning_rate_at(s, 1000) == pytest.approx(1e-4, rel=1e-12)
    assert m["end"].learning_rate == pytest.approx(1e-4, rel=1e-12)
    assert s.final_learning_rate == pytest.approx(1e-4, rel=1e-12)


def test_cosine_may_decay_to_zero() -> None:
    s = cosine(1e-3, 1e6, 1000, warmup_steps=0, final_lr_fraction=0.0)
    assert learning_rate_at(s, 0) == pytest.approx(1e-3, rel=1e-12)
    assert learning_rate_at(s, s.total_steps) == 0.0


def test_wsd_boundaries() -> None:
    s = wsd(1e-3, 1_000_000, 1000, warmup_steps=100, decay_fraction=0.2, final_lr_fraction=0.1)
    m = by_name(s)
    assert m["decay_start"].step == 800 == s.decay_start_step
    assert learning_rate_at(s, 799) == 1e-3
    assert learning_rate_at(s, 800) == 1e-3
    # Linear decay (dsplan's choice of MiniCPM's f): halfway through it, halfway down.
    assert learning_rate_at(s, 900) == pytest.approx((1e-3 + 1e-4) / 2, rel=1e-12)
    assert learning_rate_at(s, 1000) == pytest.approx(1e-4, rel=1e-12)
    assert m["end"].learning_rate == pytest.approx(1e-4, rel=1e-12)


def test_total_steps_round_up() -> None:
    assert total_steps_for(10_000, 100) == 100
    assert total_steps_for(10_001, 100) == 101  # a partly filled last step
    assert total_steps_for(1, 100) == 1


def test_boundary_rounds_to_nearest_with_ties_to_even() -> None:
    # 0.9 x 5 = 4.5 exactly: Python's round gives 4 (ties to even), as the docs state.
    s = multistep(1e-3, 5, 1, warmup_steps=0, fractions=(0.5, 0.9), factors=(0.5, 0.1))
    assert [m.step for m in s.milestones] == [0, 2, 4, 5]


def test_boundary_never_before_warmup_end() -> None:
    s = multistep(1e-3, 100_000, 1, warmup_steps=2000, fractions=(0.01,), factors=(0.5,))
    assert by_name(s)["stage2"].step == 2000


def test_warmup_clamp_boundaries() -> None:
    assert MAX_WARMUP_FRACTION == 0.1
    assert clamp_warmup(2000, 20_000) == (2000, None)  # exactly 10%: kept
    warmup, note = clamp_warmup(2000, 19_999)
    assert warmup == 1999
    assert note is not None and "warm-up shortened from 2000 to 1999 steps" in note
    s = multistep(1e-3, 100 * 1000, 1000)  # 100 steps
    assert s.warmup_steps == 10
    assert s.notes and "only 100 steps" in s.notes[0]


def test_rate_table_every_k_keeps_the_last_step() -> None:
    s = multistep(1e-3, 1000 * 10, 10, warmup_steps=10)
    rows = list(rate_table(s, 300))
    assert [r[0] for r in rows] == [0, 300, 600, 900, 999]
    assert [r[1] for r in rows] == [0, 3000, 6000, 9000, 9990]
    assert len(list(rate_table(s))) == s.total_steps
    with pytest.raises(
        InputError, match="the step interval of the table must be a positive integer"
    ):
        list(rate_table(s, 0))


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": (0.9, 0.8)}, "increase strictly"),
        ({"fractions": (0.8, 0.8)}, "increase strictly"),
        ({"fractions": (0.0, 0.9)}, "lie in (0, 1)"),
        ({"fractions": (0.8, 1.0)}, "lie in (0, 1)"),
        ({"factors": (0.316, 0.0)}, "factors must lie in (0, 1]"),
        ({"factors": (1.5, 0.1)}, "factors must lie in (0, 1]"),
        ({"factors": (0.316,)}, "as many stage factors"),
        ({"warmup_steps": -1}, "must not be negative"),
    ],
)
def test_multistep_rejects(kwargs, message) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        multistep(1e-3, 1e9, 1000, **kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.0, 1e9, 1000), "learning rate must be positive"),
        ((-1e-3, 1e9, 1000), "learning rate must be positive"),
        ((1e-3, 0.0, 1000), "tokens and batch size must be positive"),
        ((1e-3, 1e9, 0), "tokens and batch size must be positive"),
        ((1e-3, math.inf, 1000), "tokens must be finite"),
    ],
)
@pytest.mark.parametrize("kind", ["multistep", "cosine", "wsd"])
def test_every_kind_rejects_non_positive(kind, args, message) -> None:
    with pytest.raises(InputError, match=message):
        build(kind, *args)


@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5, math.nan])
def test_final_lr_fraction_range(value) -> None:
    with pytest.raises(InputError, match=r"final learning-rate fraction must lie in \[0, 1\)"):
        cosine(1e-3, 1e9, 1000, final_lr_fraction=value)


@pytest.mark.parametrize("value", [0.0, 1.0, -0.5])
def test_decay_fraction_range(value) -> None:
    with pytest.raises(InputError, match=r"decay fraction must lie in \(0, 1\)"):
        wsd(1e-3, 1e9, 1000, decay_fraction=value)


def test_unknown_kind() -> None:
    with pytest.raises(InputError, match="unknown schedule kind 'linear'"):
        build("linear", 1e-3, 1e9, 1000)


@pytest.mark.parametrize("d2", [2e12, 1e12, math.inf])
def test_extend_must_grow(deepseek_7b, d2) -> None:
    with pytest.raises(
        InputError, match="the extended run must be longer than the planned 2e\\+12"
    ):
        extend(deepseek_7b, d2)


def test_extend_just_above_planned_is_accepted(deepseek_7b) -> None:
    ext = extend(deepseek_7b, 2e12 + 1)
    assert ext.reusable_step == by_name(deepseek_7b)["stage2"].step


# --- invariants ----------------------------------------------------------------------------------

kinds = st.sampled_from(["multistep", "cosine", "wsd"])
steps = st.integers(min_value=1, max_value=400)
batches = st.integers(min_value=1, max_value=64)
warmups = st.integers(min_value=0, max_value=60)


@settings(max_examples=40, deadline=None)
@given(kind=kinds, n_steps=steps, batch=batches, warmup=warmups)
def test_rate_bounded_and_non_increasing_after_warmup(kind, n_steps, batch, warmup) -> None:
    s = build(kind, 1e-3, n_steps * batch, batch, warmup_steps=warmup)
    rates = [learning_rate_at(s, k) for k in range(s.total_steps + 1)]
    assert all(0 <= r <= 1e-3 * (1 + 1e-12) for r in rates)
    after = rates[s.warmup_steps :]
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(after))
    assert s.warmup_steps <= MAX_WARMUP_FRACTION * s.total_steps
    for i, m in enumerate(s.milestones):
        assert 0 <= m.step <= s.total_steps
        later = s.milestones[i + 1 :]
        if kind == "multistep" and any(n.step == m.step and n.name != "end" for n in later):
            continue  # on a very short run two drops can share a step: the later one holds
        assert m.learning_rate == pytest.approx(learning_rate_at(s, m.step), rel=1e-12)
    assert [m.step for m in s.milestones] == sorted(m.step for m in s.milestones)


@settings(max_examples=40, deadline=None)
@given(kind=kinds, n_steps=steps, batch=batches, warmup=warmups, grow=st.floats(1.01, 4.0))
def test_reused_checkpoint_matches_the_longer_run(kind, n_steps, batch, warmup, grow) -> None:
    s = build(kind, 1e-3, n_steps * batch, batch, warmup_steps=warmup)
    ext = extend(s, s.tokens * grow)
    assert s.warmup_steps <= ext.reusable_step <= s.total_steps
    assert ext.reusable_tokens <= s.tokens
    assert ext.reuse_fraction == pytest.approx(ext.reusable_tokens / s.tokens, rel=1e-12)
    longer = ext.schedule
    for k in range(ext.reusable_step):
        planned, wanted = learning_rate_at(s, k), learning_rate_at(longer, k)
        if kind == "cosine":
            assert planned >= (1 - COSINE_REUSE_TOLERANCE) * wanted
        else:  # multistep and WSD: the reused steps ran exactly the longer run's rates
            assert planned == pytest.approx(wanted, rel=1e-12)
    if kind == "cosine":
        # The search finds the first step out of tolerance, as a step-by-step scan does.
        failing = [
            k
            for k in range(s.total_steps)
            if learning_rate_at(s, k) < (1 - COSINE_REUSE_TOLERANCE) * learning_rate_at(longer, k)
        ]
        assert ext.reusable_step == (failing[0] if failing else s.total_steps)
