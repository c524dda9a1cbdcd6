"""Hyperparameter laws against published numbers."""

from __future__ import annotations

import math

import pytest

from dsplan.catalog.presets import load_hyperparameter_law
from dsplan.laws.hyperparameters import evaluate, evaluate_term
from dsplan.model.flops import Shape, counts

DEEPSEEK_7B = Shape.build(30, 4096)


def test_deepseek_eq1_reproduces_7b() -> None:
    # DeepSeek LLM (arXiv 2401.02954) Eq. 1 at the 7B run (C = M D = 8.46e22): 4.25e-4 and 9.2M
    # tokens (reference table "Checks of the hyperparameter laws"; used: 4.2e-4 and 9.4M).
    v = evaluate(load_hyperparameter_law("deepseek"), 8.46e22, counts(DEEPSEEK_7B), 2e12)
    assert v.learning_rate == pytest.approx(4.25e-4, rel=0.01)
    assert v.batch_size_tokens == pytest.approx(9.2e6, rel=0.02)


# Step Law (Li et al. 2025, arXiv 2503.04715): eta = 1.79 N^-0.713 D^0.307, B = 0.58 D^0.571 tokens,
# N non-embedding parameters, D tokens. Reference laws.md §10, "Hyperparameters at the same budgets",
# columns "Step Law eta at D = 20N" and "Step Law B at D = 20N": N = sqrt(C / 120), D = 20 N, each
# value printed to 3 significant digits.
STEP_LAW_AT_20_TOKENS_PER_PARAM = [
    (1e21, 6.48e-4, 8.09e5),
    (1e23, 2.54e-4, 3.01e6),
    (1e24, 1.59e-4, 5.82e6),
    (1e25, 9.98e-5, 1.12e7),
]


@pytest.mark.parametrize(("c", "lr", "batch"), STEP_LAW_AT_20_TOKENS_PER_PARAM)
def test_step_law_against_the_reference_table(c: float, lr: float, batch: float) -> None:
    law = load_hyperparameter_law("step-law")
    n = math.sqrt(c / 120)
    d = 20 * n
    assert evaluate_term(law.learning_rate, c, n, d) == pytest.approx(lr, rel=0.005)
    assert law.batch_size is not None
    assert evaluate_term(law.batch_size, c, n, d) == pytest.approx(batch, rel=0.005)


def test_kaplan_lr_at_125m_and_breakdown() -> None:
    # Kaplan et al. 2020, Appendix D.6 with the natural log (inferred): 6.4e-4 at N = 125M.
    law = load_hyperparameter_law("kaplan")
    assert evaluate_term(law.learning_rate, 1.0, 125e6, 1.0) == pytest.approx(6.4e-4, rel=0.01)
    small = Shape.build(12, 768, n_heads=12)
    n = counts(small).params_non_embedding
    v = evaluate(law, 1e19, counts(small), 2e9)
    assert v.learning_rate == pytest.approx(0.003239 - 0.0001395 * math.log(n), rel=1e-12)
    # "breaks down for N > 10^10": undefined, with a note, rather than a negative rate.
    big = evaluate(law, 1e24, counts(Shape.build(80, 8192)), 1e12)
    assert big.learning_rate is None
    assert "breaks down above 1e+10" in big.notes[0]


def test_kaplan_critical_batch_at_1e21() -> None:
    # Kaplan Table 6, B_crit = 2.0e6 C_min^0.24 tokens, C_min = C / 2 in PF-days: 3.05e6 at 1e21
    # (reference §10 hyperparameter table).
    v = evaluate(load_hyperparameter_law("kaplan"), 1e21, counts(DEEPSEEK_7B), 1e10)
    assert v.batch_size_tokens == pytest.approx(3.05e6, rel=0.005)
