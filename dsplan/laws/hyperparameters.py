"""Hyperparameter laws (peak learning rate, batch size) evaluated at a plan's C, N and D.

The laws are data (``presets/hyperparameters/*.toml``, read by :mod:`dsplan.catalog.presets`); the two
forms are here:

* ``power_law``: ``coefficient * C_law^compute_exponent * N^params_exponent * D^tokens_exponent``,
  covering DeepSeek's Eq. 1 (C only), Step Law (N and D) and Kaplan's B_crit (C_min in PF-days);
* ``log_linear``: ``intercept + slope * ln(N)``, Kaplan's LR(N) (natural log inferred).

N is the plan's shape counted in the law's convention (``law.params``), D the plan's tokens.

Which law a plan uses (:func:`hyperparameters_for`): ``--hyperparameters`` when given, else the preset's
own ``[learning_rate]``/``[batch_size]`` tables (the DeepSeek files), else the law file the preset
names, else ``deepseek``. ``dsplan budget`` with a DeepSeek preset never imports this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dsplan.catalog.presets import (
    DEFAULT_HYPERPARAMETERS,
    SCHEMA_VERSION,
    FitRange,
    PowerLaw,
    Preset,
    load_hyperparameter_law,
)
from dsplan.errors import PresetError
from dsplan.laws.allocation import law_compute

if TYPE_CHECKING:
    from dsplan.model.flops import Counts


@dataclass(frozen=True)
class Term:
    """One hyperparameter as a product power law or a log-linear law in the plan's N, D and C.

    ``power_law``: ``coefficient * C_law ** compute_exponent * N ** params_exponent *
    D ** tokens_exponent``; ``log_linear``: ``intercept + slope * ln(N)``, undefined (None) where
    it is not positive or N exceeds ``params_max``.
    """

    form: str
    coefficient: float = 1.0
    compute_exponent: float = 0.0
    params_exponent: float = 0.0
    tokens_exponent: float = 0.0
    intercept: float = 0.0
    slope: float = 0.0
    params_max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.form == "log_linear":
            out: dict[str, Any] = {
                "form": self.form,
                "intercept": self.intercept,
                "slope": self.slope,
            }
            if self.params_max is not None:
                out["params_max"] = self.params_max
            return out
        return {
            "form": self.form,
            "coefficient": self.coefficient,
            "compute_exponent": self.compute_exponent,
            "params_exponent": self.params_exponent,
            "tokens_exponent": self.tokens_exponent,
        }


@dataclass(frozen=True)
class HyperparameterLaw:
    """A published law for the peak learning rate and the batch size (tokens)."""

    id: str
    description: str
    source: str
    status: str
    learning_rate: Term
    batch_size: Term | None
    fit_range: FitRange
    params: str = "params_non_embedding"
    compute_unit: str = "flops"
    compute_fraction: float = 1.0
    verification: str | None = None
    notes: str | None = None
    path: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "kind": "hyperparameters",
            "id": self.id,
            "description": self.description,
            "source": self.source,
            "status": self.status,
            "params": self.params,
            "compute_unit": self.compute_unit,
            "compute_fraction": self.compute_fraction,
            "learning_rate": self.learning_rate.to_dict(),
            "batch_size": None if self.batch_size is None else self.batch_size.to_dict(),
            "fit_range": self.fit_range.to_dict(),
        }
        for key in ("verification", "notes"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def params_in(counts: Counts, convention: str) -> int:
    """A shape's parameters in one law's convention (see docs/laws.md)."""
    if convention == "params_total":
        return counts.params_total
    if convention == "params_non_embedding_with_head":
        # Porian et al.: non-embedding plus the output head (untied: half the embedding count).
        return counts.params_non_embedding + counts.params_embedding // 2
    return counts.params_non_embedding


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
    c_law = law_compute(law, compute_flops)
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


def hyperparameters_for(
    preset: Preset,
    compute_flops: float,
    counts: Counts,
    tokens: float,
    override: str | None = None,
) -> tuple[HyperparameterValues, HyperparameterLaw | None]:
    """The plan's hyperparameter values under a preset, and the law file used (None: in-file).

    ``override`` (``--hyperparameters``) wins; then the preset's own ``[learning_rate]`` and
    ``[batch_size]`` (the DeepSeek files); then the law its file names; then ``deepseek``. In-file
    tables (DeepSeek Eq. 1) are checked against ``[hyperparameter_fit_range]`` (else
    ``[fit_range]``) in C; a law file against its own range in C, N and D.
    """
    law_id = override or preset.hyperparameter_law_id
    if law_id is None and preset.learning_rate is not None and preset.batch_size is not None:
        fit = preset.hyperparameter_fit_range or preset.fit_range
        own = HyperparameterValues(
            preset.id,
            preset.learning_rate(compute_flops),
            preset.batch_size(compute_flops),
            fit.orders_beyond(compute_flops),
        )
        return own, None
    law = load_hyperparameter_law(law_id or DEFAULT_HYPERPARAMETERS)
    return evaluate(law, compute_flops, counts, tokens), law


def _in_compute_alone(term: Term) -> bool:
    return term.form == "power_law" and term.params_exponent == 0.0 and term.tokens_exponent == 0.0


def compute_hyperparameter_laws(preset: Preset, command: str) -> tuple[PowerLaw, PowerLaw]:
    """Peak LR and batch (tokens) as power laws in C alone: the preset's own Eq. 1 tables, or the
    law file it names when that file depends on C only (``deepseek``).

    Raises:
        PresetError: the preset's hyperparameter law needs N or D (Step Law, Kaplan's LR(N)).
    """
    if preset.learning_rate is not None and preset.batch_size is not None:
        return preset.learning_rate, preset.batch_size
    law = load_hyperparameter_law(preset.hyperparameter_law_id or DEFAULT_HYPERPARAMETERS)
    lr, batch = law.learning_rate, law.batch_size
    in_flops = law.compute_unit == "flops" and law.compute_fraction == 1.0
    if in_flops and _in_compute_alone(lr) and batch is not None and _in_compute_alone(batch):
        return (
            PowerLaw(lr.coefficient, lr.compute_exponent),
            PowerLaw(batch.coefficient, batch.compute_exponent),
        )
    raise PresetError(
        f"{command} needs hyperparameter laws in C alone; preset {preset.id!r} uses {law.id!r}"
    )
