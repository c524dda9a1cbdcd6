"""The hyperparameter law forms, and the DeepSeek-form view of a preset.

* :class:`Term` and :class:`HyperparameterLaw`: a hyperparameter law file
  (``presets/hyperparameters/*.toml``);
* :class:`MForm` (:func:`m_form`): a preset's four DeepSeek-form laws, for ``sweep`` and ``fit``.

Types above :mod:`dsplan.laws.types` (they hold its ``FitRange`` and ``PowerLaw``), kept in their own module because a plan under a
DeepSeek preset needs none of them: :mod:`dsplan.catalog.presets` imports this module only when a
file has one of these tables, so ``dsplan budget`` does not define these classes at start-up (each
frozen dataclass costs about 0.5 ms to define; see docs/architecture.md, "Start-up").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dsplan.errors import PresetError
from dsplan.laws.types import SCHEMA_VERSION, FitRange, PowerLaw, Preset


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


@dataclass(frozen=True)
class MForm:
    """The four DeepSeek-form laws of a preset that predicts M and carries its own Eq. 1 tables."""

    model_scaling: PowerLaw
    data_scaling: PowerLaw
    learning_rate: PowerLaw
    batch_size: PowerLaw


def m_form(preset: Preset, command: str) -> MForm:
    """A preset's DeepSeek-form laws, for commands that work in M and Eq. 1 (sweep, fit).

    Raises:
        PresetError: the preset predicts something other than M or has no own LR/batch laws.
    """
    ms, ds, lr, bs = (
        preset.model_scaling,
        preset.data_scaling,
        preset.learning_rate,
        preset.batch_size,
    )
    if preset.predicts != "flops_per_token" or ms is None or ds is None or lr is None or bs is None:
        raise PresetError(
            f"{command} needs a preset that predicts M with its own learning-rate and batch laws "
            f"(current, early, openwebtext2 or a fitted file); {preset.id!r} predicts "
            f"{preset.predicts} ({preset.form})"
        )
    return MForm(ms, ds, lr, bs)
