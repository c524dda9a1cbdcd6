"""The plan against the paper: Eq. 1, Eq. 4, Table 2, and the invariants of a plan."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsplan.catalog.presets import load_preset
from dsplan.errors import InputError, PresetError
from dsplan.planning.plan import PlanOptions, plan, round_batch_sequences

PRESETS = ["current", "early", "openwebtext2"]


def test_deepseek_7b_hyperparameters() -> None:
    # arXiv 2401.02954 Table 2: 7B trained with LR 4.2e-4 and 2304 sequences of 4096 tokens.
    # Its compute, Eq. 2 M (30 x 4096) times 2T tokens, is C = 8.456e22 (deepseek-llm.md §9).
    p = plan(8.456e22)
    assert p.hyperparameters.learning_rate == pytest.approx(4.2e-4, rel=0.03)
    assert p.hyperparameters.batch_size_sequences == pytest.approx(2304, rel=0.06)
    # Eq. 1 itself, before rounding: 4.246e-4 and 9.223e6 tokens = 2251.6 sequences (§9).
    assert p.hyperparameters.learning_rate == pytest.approx(4.246e-4, rel=1e-3)
    assert p.hyperparameters.batch_size_tokens == pytest.approx(9.223e6, rel=1e-3)
    assert p.hyperparameters.batch_size_sequences_exact == pytest.approx(2251.6, rel=1e-3)


def test_deepseek_67b_hyperparameters() -> None:
    # Table 2: 67B with LR 3.2e-4 and 4608 sequences; C = 9.946e23 from Eq. 2 (95 x 8192) x 2T.
    p = plan(9.946e23)
    assert p.hyperparameters.learning_rate == pytest.approx(3.2e-4, rel=0.03)
    assert p.hyperparameters.batch_size_sequences == pytest.approx(4608, rel=0.12)
    assert p.hyperparameters.batch_size_tokens == pytest.approx(2.065e7, rel=1e-3)


# deepseek-llm.md §9, "Eq. 1 and Eq. 4 on a half-decade grid": C, M_opt, D_opt, eta, B (tokens).
GRID = [
    (1e17, 1.404e8, 7.123e8, 2.338e-3, 1.062e5),
    (3e17, 2.498e8, 1.201e9, 2.038e-3, 1.521e5),
    (1e18, 4.695e8, 2.130e9, 1.753e-3, 2.255e5),
    (3e18, 8.353e8, 3.592e9, 1.528e-3, 3.230e5),
    (1e19, 1.570e9, 6.369e9, 1.315e-3, 4.789e5),
    (2e19, 2.258e9, 8.857e9, 1.206e-3, 6.008e5),
    (3e19, 2.793e9, 1.074e10, 1.146e-3, 6.860e5),
    (1e20, 5.251e9, 1.905e10, 9.860e-4, 1.017e6),
    (3e20, 9.342e9, 3.212e10, 8.595e-4, 1.457e6),
]


@pytest.mark.parametrize(("c", "m", "d", "lr", "b"), GRID, ids=[f"{g[0]:.0e}" for g in GRID])
def test_eq1_and_eq4_grid(c: float, m: float, d: float, lr: float, b: float) -> None:
    # arXiv 2401.02954 Eq. 1 (eta, B) and Eq. 4 (M_opt, D_opt); values to 4 digits from §9.
    p = plan(c)
    assert p.optimal.flops_per_token == pytest.approx(m, rel=1e-3)
    assert p.optimal.tokens == pytest.approx(d, rel=1e-3)
    assert p.hyperparameters.learning_rate == pytest.approx(lr, rel=1e-3)
    assert p.hyperparameters.batch_size_tokens == pytest.approx(b, rel=1e-3)


def test_eq4_at_the_67b_scale() -> None:
    # deepseek-llm.md §9: at C = 9.95e23, M_opt = 6.55e11 and D_opt = 1.52e12.
    p = plan(9.9455e23)
    assert p.optimal.flops_per_token == pytest.approx(6.55e11, rel=0.005)
    assert p.optimal.tokens == pytest.approx(1.52e12, rel=0.005)


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=30, deadline=None)
@given(log_c=st.floats(15, 27))
def test_budget_is_honoured(preset: str, log_c: float) -> None:
    c = 10**log_c
    p = plan(c, PlanOptions(preset=preset))
    # Eq. 4 as published: M_base * D_base = 1.0001 for 'current', 1 for the anchored presets.
    assert p.optimal.flops_per_token * p.optimal.tokens == pytest.approx(c, rel=2e-4)
    # The plan trains its exact shape on D = C / M_exact: the budget is met exactly.
    assert p.architecture.flops_per_token * p.training.tokens == pytest.approx(c, rel=1e-12)


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=30, deadline=None)
@given(a=st.floats(15, 27), b=st.floats(15, 27))
def test_optima_rise_with_compute(preset: str, a: float, b: float) -> None:
    lo, hi = sorted((10**a, 10**b))
    p_lo, p_hi = plan(lo, PlanOptions(preset=preset)), plan(hi, PlanOptions(preset=preset))
    assert p_lo.optimal.flops_per_token <= p_hi.optimal.flops_per_token
    assert p_lo.optimal.tokens <= p_hi.optimal.tokens
    assert p_lo.hyperparameters.learning_rate >= p_hi.hyperparameters.learning_rate
    assert p_lo.hyperparameters.batch_size_tokens <= p_hi.hyperparameters.batch_size_tokens


@settings(max_examples=30, deadline=None)
@given(log_c=st.floats(19.5, 27))
def test_better_data_gets_a_bigger_model_at_large_compute(log_c: float) -> None:
    # arXiv 2401.02954 §3.3 / Table 4: better data (OpenWebText2 > current > early) gives a larger
    # model-scaling exponent, so above the anchor (5.48e18) M_opt is ordered by data quality.
    m = {p: plan(10**log_c, PlanOptions(preset=p)).optimal.flops_per_token for p in PRESETS}
    assert m["openwebtext2"] > m["current"] > m["early"]


@pytest.mark.parametrize("preset", ["early", "openwebtext2"])
def test_anchored_presets_agree_with_current_at_reference(preset: str) -> None:
    ref = load_preset(preset).reference_compute
    assert ref == pytest.approx(math.sqrt(1e17 * 3e20))
    ours = plan(ref, PlanOptions(preset=preset)).optimal
    current = plan(ref).optimal
    assert ours.flops_per_token == pytest.approx(current.flops_per_token, rel=1e-5)
    assert ours.tokens == pytest.approx(current.tokens, rel=2e-4)
    # Table 4 exponents.
    exponents = {"early": (0.450, 0.550), "openwebtext2": (0.578, 0.422)}[preset]
    p = load_preset(preset)
    assert (p.model_scaling.exponent, p.data_scaling.exponent) == exponents


def test_anchored_preset_is_flagged_in_output() -> None:
    p = plan(1e20, PlanOptions(preset="early"))
    assert p.to_dict()["preset_assumption"]
    assert any("assumption" in w for w in p.warnings)
    assert not any("assumption" in w for w in plan(1e20).warnings)


def test_extrapolation_warning_says_how_far() -> None:
    p = plan(1e24)
    # Eq. 4 was fitted from 1e17 to 3e20: 1e24 is log10(1e24 / 3e20) = 3.5 orders beyond it.
    assert p.fit.allocation_orders_beyond == pytest.approx(math.log10(1e24 / 3e20))
    assert any("3.5 orders of magnitude above" in w for w in p.warnings)
    # Eq. 1 was fitted from 1e17 to 2e19: 4.7 orders.
    assert any("4.7 orders of magnitude above" in w for w in p.warnings)
    below = plan(1e16)
    assert any("1.0 orders of magnitude below" in w for w in below.warnings)
    assert not any("orders of magnitude" in w for w in plan(1e18).warnings)


def test_schedule_follows_deepseek() -> None:
    # Section 2.3: 2000 warm-up steps; x0.316 after 80% of tokens; x0.1 after 90%.
    p = plan(1e24)
    s = p.schedule
    lr = p.hyperparameters.learning_rate
    assert s.warmup_steps == 2000
    names = [m.name for m in s.milestones]
    assert names == ["warmup_end", "stage2", "stage3", "end"]
    assert s.milestones[1].step == round(0.8 * s.total_steps)
    assert s.milestones[2].step == round(0.9 * s.total_steps)
    assert s.milestones[1].learning_rate == pytest.approx(0.316 * lr)
    assert s.milestones[2].learning_rate == pytest.approx(0.1 * lr)
    assert s.total_steps == math.ceil(p.training.tokens / p.hyperparameters.tokens_per_step)


def test_short_runs_get_a_shorter_warmup() -> None:
    p = plan(1e17)
    assert p.schedule.warmup_steps == p.schedule.total_steps // 10 < 2000
    assert any("warm-up shortened" in w for w in p.warnings)


@pytest.mark.parametrize(
    ("sequences", "expected", "multiple"),
    [(2251.6, 2304, 256), (5042.5, 5120, 256), (25.9, 26, 2), (3.2, 3, 1), (146.7, 144, 16)],
)
def test_batch_rounding(sequences: float, expected: int, multiple: int) -> None:
    assert round_batch_sequences(sequences) == (expected, multiple)


@settings(max_examples=50, deadline=None)
@given(st.floats(1, 1e6))
def test_batch_rounding_changes_little(sequences: float) -> None:
    rounded, multiple = round_batch_sequences(sequences)
    assert rounded % multiple == 0 and rounded >= 1
    if sequences >= 8:
        assert abs(rounded / sequences - 1) <= 1 / 16 + 1e-12


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_bad_budgets(bad: float) -> None:
    with pytest.raises(InputError, match="compute budget"):
        plan(bad)


def test_unknown_preset_suggests() -> None:
    with pytest.raises(PresetError, match="did you mean current"):
        plan(1e20, PlanOptions(preset="curent"))


@pytest.mark.parametrize(
    "args",
    [
        ["budget", "3.2e23", "--format", "json"],
        ["budget", "3.2e23", "--unique-tokens", "1e11", "--hyperparameters", "step-law"],
        ["compare", "1e23", "--format", "json"],
    ],
)
def test_output_is_the_same_bytes_in_separate_processes(args: list[str]) -> None:
    # Two interpreters with different string-hash seeds (set and dict order of str keys differ
    # between them) and no shared cache must print the same bytes.
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "COLUMNS": "100"}
        run = subprocess.run(
            [sys.executable, "-m", "dsplan", *args],
            capture_output=True,
            check=True,
            env=env,
        )
        outputs.append(run.stdout)
    assert outputs[0], "the command printed nothing"
    assert outputs[0] == outputs[1]


def test_results_print_and_compare_by_value() -> None:
    # Library users get readable reprs and value equality from every result type (issue 13,
    # point 4: no `eq=False, repr=False` to save start-up time).
    a, b = plan(1e22), plan(1e22)
    assert a == b
    assert a != plan(1e23)
    assert repr(a).startswith("Plan(compute_flops=1e+22, preset=Preset(id='current'")
    for part in (a.optimal, a.hyperparameters, a.architecture, a.training, a.fit, a.schedule):
        assert repr(part).startswith(type(part).__name__ + "(")
    assert repr(a.architecture.counts).startswith("Counts(")
