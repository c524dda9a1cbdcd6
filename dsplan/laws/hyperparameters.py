"""Hyperparameter laws (peak learning rate, batch size) evaluated at a plan's C, N and D.

The laws are data (``presets/hyperparameters/*.toml``, read by :mod:`dsplan.catalog.presets` into
:class:`dsplan.laws.forms.HyperparameterLaw`); the two forms are evaluated here:

* ``power_law``: ``coefficient * C_law^compute_exponent * N^params_exponent * D^tokens_exponent``,
  covering DeepSeek's Eq. 1 (C only), Step Law (N and D) and Kaplan's B_crit (C_min in PF-days);
* ``log_linear``: ``intercept + slope * ln(N)``, Kaplan's LR(N) (natural log inferred).

N is the plan's shape counted in the law's convention (``law.params``), D the plan's tokens.

Which law a plan uses is the catalog's to say (:func:`dsplan.catalog.presets.resolve_hyperparameter_law`:
``--hyperparameters`` when given, else the preset's own ``[learning_rate]``/``[batch_size]`` tables,
the DeepSeek files, else the law file the preset names, else ``deepseek``); this module evaluates
the law it is given, or the preset's own tables when it is given none.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dsplan.errors import PresetError
from dsplan.laws.allocation import law_compute
from dsplan.laws.types import FitRange, PowerLaw, Preset
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.laws.forms import HyperparameterLaw, Term
    from dsplan.model.flops import Counts
    from dsplan.model.moe import MoeCounts


def params_in(counts: Counts | MoeCounts, convention: str) -> int:
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


@record
class HyperparameterValues:
    """A hyperparameter law's values for one plan; None where the law is undefined or silent."""

    law: str
    learning_rate: float | None
    batch_size_tokens: float | None
    orders_beyond: float
    fit_range: FitRange  # the range ``orders_beyond`` is measured against
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
    law: HyperparameterLaw, compute_flops: float, counts: Counts | MoeCounts, tokens: float
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
    return HyperparameterValues(law.id, lr, batch, orders, law.fit_range, tuple(notes))


def own_tables(preset: Preset, what: str) -> tuple[PowerLaw, PowerLaw]:
    """A preset's own Eq. 1 tables (peak LR and batch in tokens, power laws in C).

    Raises:
        PresetError: the preset has none (it names a hyperparameter law file instead).
    """
    if preset.learning_rate is None or preset.batch_size is None:
        raise PresetError(
            f"preset {preset.id!r} has no [learning_rate] and [batch_size] of its own: {what} needs "
            f"its hyperparameter law {preset.hyperparameter_law_id!r}"
        )
    return preset.learning_rate, preset.batch_size


def hyperparameters_for(
    preset: Preset,
    compute_flops: float,
    counts: Counts | MoeCounts,
    tokens: float,
    law: HyperparameterLaw | None = None,
) -> HyperparameterValues:
    """The plan's hyperparameter values under a preset and the law chosen for it.

    ``law`` is :func:`dsplan.catalog.presets.resolve_hyperparameter_law`'s choice; None means the
    preset's own ``[learning_rate]`` and ``[batch_size]`` (DeepSeek Eq. 1), checked against its
    ``[hyperparameter_fit_range]`` (else ``[fit_range]``) in C. A law file is checked against its
    own range in C, N and D.

    Raises:
        PresetError: ``law`` is None and the preset has no tables of its own.
    """
    if law is not None:
        return evaluate(law, compute_flops, counts, tokens)
    learning_rate, batch_size = own_tables(preset, "a plan")
    fit = preset.hyperparameter_fit_range or preset.fit_range
    return HyperparameterValues(
        preset.id,
        learning_rate(compute_flops),
        batch_size(compute_flops),
        fit.orders_beyond(compute_flops),
        fit,
    )


def _in_compute_alone(term: Term) -> bool:
    return term.form == "power_law" and term.params_exponent == 0.0 and term.tokens_exponent == 0.0


def compute_hyperparameter_laws(
    preset: Preset, law: HyperparameterLaw | None, command: str
) -> tuple[PowerLaw, PowerLaw]:
    """Peak LR and batch (tokens) as power laws in C alone: the preset's own Eq. 1 tables (``law``
    None), or ``law`` when it depends on C only (``deepseek``).

    Raises:
        PresetError: the hyperparameter law needs N or D (Step Law, Kaplan's LR(N)).
    """
    if law is None:
        return own_tables(preset, command)
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
