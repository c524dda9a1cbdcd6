"""dsplan: plan LLM pretraining runs from the DeepSeek LLM scaling laws (arXiv 2401.02954).

The package is a plain-Python core (frozen dataclasses and functions) with a thin Typer CLI on top.
Import cost matters (dsplan runs inside shell loops), so this module imports nothing heavy; the
public names below are resolved lazily.

    >>> from dsplan import plan
    >>> p = plan(1e24)
    >>> round(p.optimal.flops_per_token / 1e11, 2)
    7.19
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["DsplanError", "Plan", "Preset", "Shape", "__version__", "load_preset", "plan"]

if TYPE_CHECKING:
    from dsplan.catalog.presets import Preset, load_preset
    from dsplan.errors import DsplanError
    from dsplan.model.flops import Shape
    from dsplan.planning.plan import Plan, plan

_LAZY = {
    "DsplanError": "dsplan.errors",
    "Shape": "dsplan.model.flops",
    "Plan": "dsplan.planning.plan",
    "plan": "dsplan.planning.plan",
    "Preset": "dsplan.catalog.presets",
    "load_preset": "dsplan.catalog.presets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dsplan' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
