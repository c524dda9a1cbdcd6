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
    from dsplan.errors import DsplanError
    from dsplan.flops import Shape
    from dsplan.plan import Plan, plan
    from dsplan.presets import Preset, load_preset

_LAZY = {
    "DsplanError": "dsplan.errors",
    "Shape": "dsplan.flops",
    "Plan": "dsplan.plan",
    "plan": "dsplan.plan",
    "Preset": "dsplan.presets",
    "load_preset": "dsplan.presets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dsplan' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
