"""The law types every plan needs: a law preset, its power laws and its fit range.

The bottom of the laws room (docs/architecture.md), with :mod:`dsplan.laws.forms`: frozen
dataclasses that say what a law file says, and nothing that reads or evaluates it.
:mod:`dsplan.catalog.presets` parses the TOML files in ``presets/`` into them (the schema, its keys
and their defaults are described there); :mod:`dsplan.laws.allocation`,
:mod:`dsplan.laws.hyperparameters` and :mod:`dsplan.laws.repeated` evaluate them.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.laws.loss import ParametricLoss, Repetition

SCHEMA_VERSION = 1


# How far outside a fit range a point may lie and still count as inside (relative): whole-token
# rounding of D = C / M moves a config's compute by at most M / 2, under 1e-6 of C for any run of
# a million tokens or more.
EDGE_SLACK = 1e-6


@record
class PowerLaw:
    """``y = coefficient * C ** exponent``."""

    coefficient: float
    exponent: float

    def __call__(self, compute_flops: float) -> float:
        return float(self.coefficient * compute_flops**self.exponent)

    def to_dict(self) -> dict[str, float]:
        return {"coefficient": self.coefficient, "exponent": self.exponent}


@record
class FitRange:
    """The range a law was fitted on: compute (FLOPs), parameters, tokens; any bound may be absent.

    The DeepSeek files give the compute bounds only; the other laws give what their papers state.
    """

    compute_min: float | None = None
    compute_max: float | None = None
    params_min: float | None = None
    params_max: float | None = None
    tokens_min: float | None = None
    tokens_max: float | None = None

    def orders_beyond(
        self,
        compute_flops: float | None = None,
        params: float | None = None,
        tokens: float | None = None,
    ) -> float:
        """How many orders of magnitude the point lies outside the range (0 inside).

        Each given quantity is checked against its own bounds; the largest excursion counts. A value
        within :data:`EDGE_SLACK` of a bound is inside: a run config holds whole tokens, so the
        compute it implies (M x round(C / M)) lies a few parts in 1e9 off the budget it came from.
        """
        worst = 0.0
        for value, lo, hi in (
            (compute_flops, self.compute_min, self.compute_max),
            (params, self.params_min, self.params_max),
            (tokens, self.tokens_min, self.tokens_max),
        ):
            if value is None or value <= 0:
                continue
            if hi is not None and value > hi * (1 + EDGE_SLACK):
                worst = max(worst, math.log10(value / hi))
            if lo is not None and value < lo * (1 - EDGE_SLACK):
                worst = max(worst, math.log10(lo / value))
        return worst

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


PREDICTS = (
    "flops_per_token",
    "params_total",
    "params_non_embedding",
    "params_non_embedding_with_head",
    "tokens",
)
FORMS = ("power_law", "parametric_loss", "fixed_ratio")
STATUSES = ("verified", "derived", "secondary", "unverified", "assumption")
COMPUTE_UNITS = ("flops", "pf_days")
DEFAULT_HYPERPARAMETERS = "deepseek"


@record
class Preset:
    """A law preset: the allocation law, the hyperparameter laws and their provenance.

    The DeepSeek files fill ``model_scaling``, ``data_scaling``, ``learning_rate`` and
    ``batch_size``; other laws fill what their ``form`` needs and name a hyperparameter law.
    """

    id: str
    description: str
    source: str
    model_scaling: PowerLaw | None
    data_scaling: PowerLaw | None
    learning_rate: PowerLaw | None
    batch_size: PowerLaw | None
    fit_range: FitRange
    hyperparameter_fit_range: FitRange | None = None
    assumption: str | None = None
    reference_compute: float | None = None
    verification: str | None = None
    notes: str | None = None
    predicts: str = "flops_per_token"
    form: str = "power_law"
    status: str | None = None
    compute_unit: str = "flops"
    compute_fraction: float = 1.0
    loss: ParametricLoss | None = None
    tokens_per_param: float | None = None
    hyperparameters: str | None = None
    repetition: Repetition | None = None
    own_hyperparameters: str | None = None
    path: str = field(default="", compare=False)

    @property
    def has_own_hyperparameters(self) -> bool:
        """True when the file carries its own ``[learning_rate]`` and ``[batch_size]`` (DeepSeek)."""
        return self.learning_rate is not None and self.batch_size is not None

    @property
    def hyperparameter_law_id(self) -> str | None:
        """The hyperparameter law file this preset defers to, or None when it has its own laws."""
        if self.has_own_hyperparameters:
            return None
        return self.hyperparameters or DEFAULT_HYPERPARAMETERS

    @property
    def status_label(self) -> str:
        """``status`` when given; otherwise ``assumption`` for files with one, else ``unlabelled``."""
        if self.status:
            return self.status
        return "assumption" if self.assumption else "unlabelled"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "description": self.description,
            "source": self.source,
            "predicts": self.predicts,
            "form": self.form,
            "status": self.status_label,
            "fit_range": self.fit_range.to_dict(),
        }
        for key in ("model_scaling", "data_scaling", "learning_rate", "batch_size", "loss"):
            law = getattr(self, key)
            if law is not None:
                out[key] = law.to_dict()
        if self.repetition is not None:
            out["repetition"] = self.repetition.to_dict()
        if self.hyperparameter_fit_range is not None:
            out["hyperparameter_fit_range"] = self.hyperparameter_fit_range.to_dict()
        if self.hyperparameter_law_id is not None:
            out["hyperparameters"] = self.hyperparameter_law_id
        if self.own_hyperparameters is not None:
            out["own_hyperparameters"] = self.own_hyperparameters
        if self.compute_unit != "flops" or self.compute_fraction != 1.0:
            out["compute_unit"] = self.compute_unit
            out["compute_fraction"] = self.compute_fraction
        for key in ("assumption", "reference_compute", "verification", "notes", "tokens_per_param"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out
