"""The loss-law tables a preset may hold: Chinchilla's ``[loss]`` and Muennighoff's ``[repetition]``.

A leaf below :mod:`dsplan.laws.types` (a :class:`~dsplan.laws.types.Preset` holds them) that imports
nothing from dsplan. Kept apart from ``types`` because a plan under a DeepSeek preset needs neither:
:mod:`dsplan.catalog.presets` imports this module only when a file has one of these tables, so
``dsplan budget`` does not define these classes at start-up (docs/architecture.md, "Start-up").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParametricLoss:
    """``L(N, D) = e + a / N ** alpha + b / D ** beta`` (nats), the Chinchilla Approach 3 form."""

    e: float
    a: float
    b: float
    alpha: float
    beta: float

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Repetition:
    """Muennighoff et al.'s decay constants for repeated data (R_D*) and excess parameters (R_N*)."""

    r_d_star: float
    r_n_star: float

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)
