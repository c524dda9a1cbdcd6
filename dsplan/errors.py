"""The one exception tree of dsplan.

The CLI turns these into exit codes in exactly one place (``dsplan.cli._output.exit_on_error``):

* :class:`InputError` and its subclasses: the user gave something unusable -> exit 2.
* :class:`ProblemFound`: the tool ran and found a problem (an infeasible plan, a failing check)
  -> exit 1.
"""

from __future__ import annotations


class DsplanError(Exception):
    """Base class of every error dsplan raises on purpose."""


class InputError(DsplanError):
    """Bad input: a value, option, file or preset that cannot be used (exit 2).

    The core's messages name quantities ("the aspect ratio must be ..."), never CLI flags;
    ``quantity`` (a field name such as ``"aspect_ratio"``) lets the CLI name the flag that set it.
    """

    def __init__(self, message: str = "", *, quantity: str | None = None) -> None:
        super().__init__(message)
        self.quantity = quantity


class PresetError(InputError):
    """An unknown preset id, or a preset file that is malformed or misses a key."""


class ConfigError(InputError):
    """A run config that cannot be read, or has a key of the wrong type or name."""


class SweepDataError(InputError):
    """A results file for ``dsplan fit`` that cannot be used as it is."""


class ProblemFound(DsplanError):
    """The tool ran and found a problem (exit 1)."""


class InfeasiblePlanError(ProblemFound):
    """A plan that cannot meet the given deadline, GPU count or budget."""


class FitError(ProblemFound):
    """Valid data from which no fit can be made."""
