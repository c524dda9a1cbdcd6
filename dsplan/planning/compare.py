"""The same budget under every published law, in the same units: the core of ``dsplan compare``.

Each law's prediction goes through the planner's honest conversion (:func:`dsplan.laws.allocation.allocate`):
its own number in its own unit, then a real shape, that shape's parameters and exact M, and
D = C / M. Rows carry the law's hyperparameters where it has its own, its predicted loss where it
has a loss form, and how far C lies outside its fit. Plain Python: the figure of
:func:`plot_series` is drawn by :func:`dsplan.output.plot.plot_comparison`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dsplan.catalog.presets import (
    REPETITION_PRESET,
    load_hyperparameter_law,
    load_preset,
    preset_ids,
    resolve_hyperparameter_law,
)
from dsplan.errors import InputError
from dsplan.laws.allocation import (
    Allocation,
    allocate,
    chinchilla_optimum,
    law_compute,
    predicted_loss,
)
from dsplan.laws.hyperparameters import HyperparameterValues, hyperparameters_for
from dsplan.laws.repeated import DataConstraint, data_constraint
from dsplan.laws.types import Preset

if TYPE_CHECKING:
    from dsplan.laws.inference import InferenceOptimum
from dsplan.model.shape import SearchOptions
from dsplan.planning.plan import check_compute

SCHEMA_VERSION = 1
# "Agree": total parameters within 15% of the median law, the spread of the Chinchilla family at
# 1e21-1e25 FLOPs (docs/laws.md); "diverge": more than 2x from the median. Our thresholds.
AGREEMENT_BAND = 0.15
DIVERGENCE_FACTOR = 2.0


@dataclass(frozen=True)
class LawRow:
    """One law at one budget."""

    preset: Preset
    allocation: Allocation
    hyperparameters: HyperparameterValues | None
    predicted_loss: float | None
    orders_beyond_fit: float
    data: DataConstraint | None = None
    # With inference tokens: the inference-aware allocation at this law's loss at C, or why none.
    inference: InferenceOptimum | None = None
    inference_note: str | None = None

    @property
    def params_total(self) -> int:
        return self.allocation.counts.params_total

    @property
    def law_tokens_per_param(self) -> float | None:
        """The law's own D / N, in its own parameter convention (None for M and token laws)."""
        n = self.allocation.prediction.law_params
        return None if n is None else self.allocation.prediction.law_tokens / n

    def to_dict(self, median_params: float) -> dict[str, Any]:
        a = self.allocation
        p = self.preset
        h = self.hyperparameters
        ratio = self.params_total / median_params
        out: dict[str, Any] = {
            "id": p.id,
            "description": p.description,
            "source": p.source,
            "status": p.status_label,
            "form": p.form,
            "model_size": a.prediction.model_size,
            "model_size_unit": a.prediction.model_size_unit,
            "params_total": a.counts.params_total,
            "params_non_embedding": a.counts.params_non_embedding,
            "flops_per_token": a.flops_per_token,
            "tokens": a.tokens,
            "law_tokens": a.prediction.law_tokens,
            "law_tokens_basis": a.prediction.law_tokens_basis,
            "tokens_per_param": a.tokens / a.counts.params_total,
            "law_tokens_per_param": self.law_tokens_per_param,
            "shape": {"n_layers": a.candidate.shape.n_layers, "d_model": a.candidate.shape.d_model},
            "learning_rate": None if h is None else h.learning_rate,
            "batch_size_tokens": None if h is None else h.batch_size_tokens,
            "hyperparameter_law": None if h is None else h.law,
            "hyperparameter_notes": [] if h is None else list(h.notes),
            "predicted_loss": self.predicted_loss,
            "fit_orders_beyond": self.orders_beyond_fit,
            "params_vs_median": ratio,
            "agreement": verdict(ratio),
        }
        if self.data is not None:
            out["data_constrained"] = self.data.to_dict()
        if self.inference is not None or self.inference_note is not None:
            out["inference"] = self._inference_dict()
        return out

    def _inference_dict(self) -> dict[str, Any] | None:
        """The ``inference`` object of a row: the allocation against the compute-optimal one at
        the same loss, in the law's own units (``available`` false, with the reason, without)."""
        r = self.inference
        if r is None:
            return {"available": False, "reason": self.inference_note}
        best, co = r.optimum, r.compute_optimal
        per_param = self.allocation.prediction.model_size_unit.startswith("params_")
        return {
            "available": True,
            "target_loss": r.target_loss,
            "model_size": best.model_size,
            "tokens": best.tokens,
            "tokens_per_param": best.tokens_per_unit if per_param else None,
            "training_flops": best.training_flops,
            "inference_flops": best.inference_flops,
            "total_flops": best.total_flops,
            "compute_optimal_total_flops": co.total_flops,
            "saving_flops": r.saving_flops,
            "saving_fraction": r.saving_fraction,
        }


def verdict(ratio: float) -> str:
    """``agrees`` within the band of the median, ``diverges`` beyond the factor, else ``differs``."""
    if abs(ratio - 1) <= AGREEMENT_BAND:
        return "agrees"
    if ratio > DIVERGENCE_FACTOR or ratio < 1 / DIVERGENCE_FACTOR:
        return "diverges"
    return "differs"


@dataclass(frozen=True)
class Comparison:
    """Every law at one budget, with the median total parameters they are compared against."""

    compute_flops: float
    rows: tuple[LawRow, ...]
    warnings: tuple[str, ...] = ()

    @property
    def median_params_total(self) -> float:
        return float(statistics.median(r.params_total for r in self.rows))

    def ids_where(self, agreement: str) -> list[str]:
        m = self.median_params_total
        return [r.preset.id for r in self.rows if verdict(r.params_total / m) == agreement]

    def to_dict(self) -> dict[str, Any]:
        m = self.median_params_total
        return {
            "compute_flops": self.compute_flops,
            "laws": [r.to_dict(m) for r in self.rows],
            "summary": {
                "median_params_total": m,
                "agreement_band": AGREEMENT_BAND,
                "divergence_factor": DIVERGENCE_FACTOR,
                "agree": self.ids_where("agrees"),
                "diverge": self.ids_where("diverges"),
            },
            "warnings": list(self.warnings),
        }


def _own_hyperparameters(
    preset: Preset, c: float, alloc: Allocation, override: str | None
) -> HyperparameterValues | None:
    """The law's own LR and batch, or those of ``--hyperparameters`` when given.

    Own: Eq. 1 for the DeepSeek files, else the paper's own law (``own_hyperparameters``, Kaplan's),
    else a law the file names; None for laws whose paper publishes none (budget would use Eq. 1).
    """
    law_id = override or preset.own_hyperparameters or preset.hyperparameters
    if law_id is None and not preset.has_own_hyperparameters:
        return None
    law = resolve_hyperparameter_law(preset, law_id)
    return hyperparameters_for(preset, c, alloc.counts, alloc.tokens, law)


def compare(
    budgets: Sequence[float],
    presets: Sequence[str] | None = None,
    *,
    search: SearchOptions | None = None,
    hyperparameters: str | None = None,
    unique_tokens: float | None = None,
    inference_tokens: float | None = None,
) -> list[Comparison]:
    """Evaluate every law (or the given presets) at every budget.

    Args:
        budgets: Compute budgets C in FLOPs.
        presets: Preset ids or paths; default every shipped preset.
        search: Shape-search options (vocabulary, sequence length, aspect ratio).
        hyperparameters: Evaluate this hyperparameter law for every row instead of each law's own.
        unique_tokens: Unique tokens available: adds epochs, Muennighoff's effective data and a
            re-allocated plan per row.
        inference_tokens: Tokens the model will serve: adds, for every law with a loss law, the
            inference-aware allocation at the loss of its compute-optimal plan at C (Sardana et
            al. 2023); the others say why they have none.

    Raises:
        InputError: a bad budget, unknown preset or hyperparameter law.

    References:
        docs/laws.md: each law's source, units and fit range.
    """
    search = search or SearchOptions()
    if unique_tokens is not None and not (math.isfinite(unique_tokens) and unique_tokens > 0):
        raise InputError(f"unique tokens must be positive, got {unique_tokens!r}")
    if inference_tokens is not None and not (
        math.isfinite(inference_tokens) and inference_tokens >= 0
    ):
        raise InputError(
            f"inference tokens must be a non-negative number, got {inference_tokens!r}",
            quantity="inference_tokens",
        )
    if hyperparameters is not None:
        load_hyperparameter_law(hyperparameters)  # fail early on an unknown id
    loaded = [load_preset(name) for name in (presets or preset_ids())]
    repetition_law = None if unique_tokens is None else load_preset(REPETITION_PRESET)
    out = []
    for compute in budgets:
        c = check_compute(compute)
        rows = []
        warnings: list[str] = []
        for preset in loaded:
            alloc = allocate(c, preset, search)
            pred = alloc.prediction
            data = None
            if unique_tokens is not None and repetition_law is not None:
                data, notes = data_constraint(c, unique_tokens, alloc, search, repetition_law)
                warnings.extend(f"{preset.id}: {n}" for n in notes)
            inference, inference_note = None, None
            if inference_tokens is not None:
                inference, inference_note = _inference_at(preset, c, inference_tokens)
            rows.append(
                LawRow(
                    preset=preset,
                    allocation=alloc,
                    hyperparameters=_own_hyperparameters(preset, c, alloc, hyperparameters),
                    predicted_loss=predicted_loss(
                        preset,
                        pred.model_size if alloc.is_m_law else pred.law_params,
                        pred.law_tokens,
                    ),
                    orders_beyond_fit=preset.fit_range.orders_beyond(
                        c, pred.law_params, pred.law_tokens
                    ),
                    data=data,
                    inference=inference,
                    inference_note=inference_note,
                )
            )
        out.append(Comparison(c, tuple(rows), tuple(warnings)))
    return out


def _inference_at(
    preset: Preset, c: float, inference_tokens: float
) -> tuple[InferenceOptimum | None, str | None]:
    """The inference-aware allocation at the loss of the law's optimum at C, or why there is none."""
    if preset.loss is None:
        return None, (
            f"no loss law: {preset.id} predicts {preset.predicts} directly ({preset.form}), "
            "with no L(N, D) to trade model size for tokens at equal loss"
        )
    # Imported here: only --inference-tokens needs it.
    from dsplan.laws.inference import flops_per_unit, inference_optimum, loss_at_compute

    k = flops_per_unit(preset.predicts)
    c_law = law_compute(preset, c)
    target = loss_at_compute(preset.loss, c_law, k)
    exact = chinchilla_optimum(preset.loss, c_law, k)
    return inference_optimum(preset.loss, target, inference_tokens, k, exact), None


def comparison_document(
    comparisons: Sequence[Comparison],
    *,
    hyperparameters: str | None,
    unique_tokens: float | None,
    search: SearchOptions,
    inference_tokens: float | None = None,
) -> dict[str, Any]:
    """The JSON document of ``dsplan compare`` (``inputs.inference_tokens`` only when given)."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "inputs": {
            "hyperparameters": hyperparameters,
            "unique_tokens": unique_tokens,
            "seq_len": search.seq_len,
            "vocab_size": search.vocab_size,
            "aspect_ratio": search.aspect_ratio,
        },
        "budgets": [c.to_dict() for c in comparisons],
    }
    if inference_tokens is not None:
        doc["inputs"]["inference_tokens"] = inference_tokens
    return doc


PLOT_POINTS = 25


def plot_series(
    budgets: Sequence[float], presets: Sequence[str] | None, search: SearchOptions
) -> tuple[list[float], list[tuple[Preset, list[float], list[float]]]]:
    """M (FLOPs/token, of the matching shape) and D (tokens) per law on a log grid of budgets.

    The grid spans two decades below the smallest budget to one above the largest.
    """
    lo = math.log10(min(budgets)) - 2
    hi = math.log10(max(budgets)) + 1
    grid = [10 ** (lo + (hi - lo) * i / (PLOT_POINTS - 1)) for i in range(PLOT_POINTS)]
    series = []
    for preset in [load_preset(name) for name in (presets or preset_ids())]:
        ms, ds = [], []
        for c in grid:
            alloc = allocate(c, preset, search)
            ms.append(float(alloc.flops_per_token))
            ds.append(alloc.tokens)
        series.append((preset, ms, ds))
    return grid, series
