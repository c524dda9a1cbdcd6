"""Hyperparameter laws (peak learning rate, batch size) evaluated at a plan's C, N and D.

The laws are data (``presets/hyperparameters/*.toml``); the two forms are here:

* ``power_law``: ``coefficient * C_law^compute_exponent * N^params_exponent * D^tokens_exponent``,
  covering DeepSeek's Eq. 1 (C only), Step Law (N and D) and Kaplan's B_crit (C_min in PF-days);
* ``log_linear``: ``intercept + slope * ln(N)``, Kaplan's LR(N) (natural log inferred).

N is the plan's shape counted in the law's convention (``law.params``), D the plan's tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsplan.flops import Counts
from dsplan.presets import (
    DEFAULT_HYPERPARAMETERS,
    HyperparameterLaw,
    Preset,
    Term,
    load_hyperparameter_law,
)
from dsplan.units import PF_DAY_FLOPS


def params_in(counts: Counts, convention: str) -> int:
    """A shape's parameters in one law's convention (see docs/laws.md)."""
    if convention == "params_total":
        return counts.params_total
    if convention == "params_non_embedding_with_head":
        # Porian et al.: non-embedding plus the output head (untied: half the embedding count).
        return counts.params_non_embedding + counts.params_embedding // 2
    return counts.params_non_embedding


def _law_compute(law: HyperparameterLaw, compute_flops: float) -> float:
    scale = PF_DAY_FLOPS if law.compute_unit == "pf_days" else 1.0
    return compute_flops * law.compute_fraction / scale


def evaluate_term(term: Term, compute: float, params: float, tokens: float) -> float | None:
    """One term at (C_law, N, D); None where a log-linear law is undefined (N too large, value <= 0)."""
    if term.form == "log_linear":
        if term.params_max is not None and params > term.params_max:
            return None
        value = term.intercept + term.slope * math.log(params)
        return value if value > 0 else None
    return float(
        term.coefficient
        * compute**term.compute_exponent
        * params**term.params_exponent
        * tokens**term.tokens_exponent
    )


@dataclass(frozen=True)
class HyperparameterValues:
    """A hyperparameter law's values for one plan; None where the law is undefined or silent."""

    law: str
    learning_rate: float | None
    batch_size_tokens: float | None
    orders_beyond: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "learning_rate": self.learning_rate,
            "batch_size_tokens": self.batch_size_tokens,
            "orders_beyond": self.orders_beyond,
            "notes": list(self.notes),
        }


def evaluate(
    law: HyperparameterLaw, compute_flops: float, counts: Counts, tokens: float
) -> HyperparameterValues:
    """Evaluate a hyperparameter law for a plan.

    Args:
        law: The law.
        compute_flops: C = M * D in FLOPs.
        counts: The plan's shape counts (N is taken in ``law.params``).
        tokens: The plan's training tokens D.

    References:
        DeepSeek Eq. 1 (arXiv 2401.02954); Step Law (arXiv 2503.04715); Kaplan et al. 2020
        (arXiv 2001.08361) Appendix D.6 and Table 6. As named by ``law.source``.
    """
    n = float(params_in(counts, law.params))
    c_law = _law_compute(law, compute_flops)
    lr = evaluate_term(law.learning_rate, c_law, n, tokens)
    batch = None if law.batch_size is None else evaluate_term(law.batch_size, c_law, n, tokens)
    notes: list[str] = []
    if lr is None:
        limit = law.learning_rate.params_max
        notes.append(
            f"{law.id}: the learning-rate law is undefined at N = {n:.3g}"
            + (f" (it breaks down above {limit:.0e} parameters)" if limit else "")
        )
    orders = law.fit_range.orders_beyond(compute_flops, n, tokens)
    return HyperparameterValues(law.id, lr, batch, orders, tuple(notes))


def preset_hyperparameters(
    preset: Preset, compute_flops: float, counts: Counts, tokens: float
) -> tuple[float | None, float | None]:
    """Peak LR and batch (tokens) under a preset: its own Eq. 1 tables, else its named law file."""
    if preset.learning_rate is not None and preset.batch_size is not None:
        return preset.learning_rate(compute_flops), preset.batch_size(compute_flops)
    law = load_hyperparameter_law(preset.hyperparameter_law_id or DEFAULT_HYPERPARAMETERS)
    values = evaluate(law, compute_flops, counts, tokens)
    return values.learning_rate, values.batch_size_tokens
