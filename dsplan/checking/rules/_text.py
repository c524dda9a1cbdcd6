"""Number formatting shared by the rules' messages (4 significant digits; ratios to 3)."""

from __future__ import annotations

from collections.abc import Sequence


def fmt(value: float) -> str:
    return f"{value:.4g}"


def list_text(values: Sequence[float]) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def value_text(value: float | Sequence[float] | None) -> str:
    if value is None:
        return "none"
    if isinstance(value, (int, float)):
        return fmt(value)
    return list_text(value)


def ratio_text(ratio: float) -> str:
    return f"{ratio:.3g}x"
