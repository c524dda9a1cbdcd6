"""Units, parsing of numbers given on the command line, and human-readable formatting."""

from __future__ import annotations

import math

from dsplan.errors import InputError

# One petaFLOP/s-day, the unit of Kaplan et al. (2020): 1e15 FLOP/s for 86,400 s.
PF_DAY_FLOPS = 1e15 * 86_400.0

_SI = (
    (1e24, "Y"),
    (1e21, "Z"),
    (1e18, "E"),
    (1e15, "P"),
    (1e12, "T"),
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
)
# Counts (parameters, tokens) read better with the B/T of English prose than with G/T of SI.
_COUNT = ((1e15, "Q"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def parse_positive(text: str, what: str) -> float:
    """Parse a positive, finite number such as ``1e24``, ``3.2e23`` or ``2_000e20``.

    Args:
        text: The text the user typed.
        what: What the number is, for the error message (``"compute budget"``).

    Returns:
        The number as a float.

    Raises:
        InputError: The text is not a number, or the number is not positive and finite.
    """
    cleaned = text.strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise InputError(f"{what} must be a positive number such as 1e24, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{what} must be a positive finite number, got {text!r}")
    return value


def positive_int(value: int, name: str, what: str | None = None) -> int:
    """``value`` if it is a positive integer (not a bool), else :class:`InputError`.

    The one positive-integer check of dsplan. The CLI names its flag (``name="--seq-len"``); the
    core names the quantity (``name="n_gpus", what="the GPU count"``), and the CLI adds the flag.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        if what is None:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
        raise InputError(f"{what} must be a positive integer, got {value!r}", quantity=name)
    return value


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """Format with an SI prefix: ``si(1.2e21, "FLOPs")`` -> ``"1.2 ZFLOPs"``."""
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}".rstrip()
    return f"{value:.{digits}g} {unit}".rstrip()


def count(value: float, digits: int = 3) -> str:
    """Format a count: ``count(6.9e9)`` -> ``"6.9B"``."""
    for scale, suffix in _COUNT:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def days(value: float) -> str:
    """Format a duration in days: one decimal from a day up (``14.4``), two significant digits below
    (``0.012``), so a short deadline never reads as ``0.0`` days."""
    return f"{value:,.1f}" if abs(value) >= 1 else f"{value:.2g}"


def sci(value: float, digits: int = 4) -> str:
    """Scientific notation with ``digits`` significant digits: ``sci(8.4557e22)`` -> ``8.456e+22``."""
    return f"{value:.{digits - 1}e}"
