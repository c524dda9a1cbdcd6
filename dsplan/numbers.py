"""The numbers of every document dsplan writes for scripts: integers as integers, the rest rounded.

The core computes in exact floats; this is the one step that decides how a number is written, for
JSON, ``--format env``, ``--field``, CSV and TOML alike (README, "Output contract"):

* A quantity that is a whole number in reality (tokens, steps, sequences, parameters, FLOPs,
  bytes; a key is classified by its name, :func:`is_integer_key`) is written as an integer, rounded
  half to even: ``tokens = 172298882819.55737`` becomes ``172298882820``. Above ``2**63 - 1``,
  the largest integer TOML and shell arithmetic hold, it is written as a float of
  :data:`LARGE_DIGITS` significant digits instead (``1e+24`` FLOPs).
* Every other float (rates, ratios, fractions, days, dollars, law coefficients) keeps
  :data:`SIGNIFICANT_DIGITS` significant digits and is written in its shortest form:
  ``0.00031180000000000004`` becomes ``0.0003118``.

Why 7 digits: the published laws carry 4 to 5 (Eq. 1: 0.3118 and -0.1250), so 7 keep every digit a
law can mean and two more; the rounding moves a value by at most 5e-7 of itself (a value with a
leading 1 keeps 6 digits after it), inside every tolerance of ``dsplan check`` (the tightest, the
MFU slack, is 1e-6), so a file dsplan writes checks as the plan it came from; and rounding is idempotent (written, read back and written again, a value
does not change). float32, in which trainers often keep the rate, holds about 7.2 digits.

A law written by ``dsplan fit`` as a preset carries 7 digits too: its exponent's rounding moves a
prediction at 1e24 FLOPs by up to ~3e-5 (ln 1e24 = 55 times the exponent's own), far below the
fit's bootstrap interval.

Because tokens are rounded, ``C = M * D`` holds to within half a token's FLOPs (M / 2): ``tokens``
is ``C / M`` rounded to a whole token.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

SIGNIFICANT_DIGITS = 7
# Above 2**53 a float no longer holds every integer; 15 digits is what a double always holds, so
# the written integer carries no binary noise (int(1e24) would be 999999999999999983222784).
LARGE_DIGITS = 15
INT64_MAX = 2**63 - 1

# Words that make a key count something whole.
_WHOLE_WORDS = frozenset(
    {"tokens", "steps", "step", "sequences", "params", "parameters", "flops", "bytes"}
)
# Words that make it a ratio, a difference or an estimate even when it names a whole quantity.
# A duration is never whole: step_seconds is seconds a step, not a count of steps.
_RATIO_WORDS = frozenset(
    {
        "per", "vs", "ratio", "error", "drift", "fraction", "fractions", "exact", "orders",
        "factor", "seconds",
    }
)  # fmt: skip
# Whole quantities whose names read as ratios: M is FLOPs per token (of a real shape), a batch is
# tokens per step, a GPU holds bytes. Each reads as one whole word (flops_per_token_error is still
# an error, target_flops_per_token still whole).
_WHOLE_PHRASES = ("flops_per_token", "tokens_per_step", "bytes_per_gpu")
# Whole quantities named without a unit: a law's own size (parameters or FLOPs per token).
_WHOLE_KEYS = frozenset({"model_size"})


@lru_cache(maxsize=1024)  # a CSV asks for the same few keys on every row
def is_integer_key(key: str) -> bool:
    """Whether the value under ``key`` is a whole number in reality (written as an integer).

    >>> keys = ("tokens", "batch_size_tokens", "tokens_per_param", "mfu", "step_seconds")
    >>> [is_integer_key(k) for k in keys]
    [True, True, False, False, False]
    """
    name = key.lower()
    if name in _WHOLE_KEYS:
        return True
    for phrase in _WHOLE_PHRASES:
        name = name.replace(phrase, "flops")
    words = set(name.split("_"))
    return bool(words & _WHOLE_WORDS) and not words & _RATIO_WORDS


def whole(value: float) -> int | float:
    """A whole quantity as an integer (a float of 15 digits above the signed 64-bit range).

    >>> whole(172298882819.55737), whole(1e24), whole(1e18)
    (172298882820, 1e+24, 1000000000000000000)
    """
    if not math.isfinite(value):
        return value
    if abs(value) < 2**53:
        return round(value)  # half to even, exact: below 2**53 a float holds every integer
    if abs(value) > INT64_MAX:
        return float(f"{value:.{LARGE_DIGITS}g}")
    # The integer of the value's first 15 digits, from its decimal text (decimal costs 3 ms of
    # start-up): 1.0105047534009138e+18 -> 1010504753400910000.
    mantissa, exponent = f"{value:.{LARGE_DIGITS - 1}e}".split("e")
    scale: int = 10 ** (int(exponent) - (LARGE_DIGITS - 1))  # exponent >= 15 here
    return int(mantissa.replace(".", "")) * scale


def rounded(value: float) -> float:
    """A rate or ratio to :data:`SIGNIFICANT_DIGITS` significant digits.

    >>> rounded(0.00031180000000000004), rounded(9.852880000000002e-05)
    (0.0003118, 9.85288e-05)
    """
    if not math.isfinite(value):
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def number(key: str, value: float) -> int | float:
    """``value`` as written under ``key``: see the module docstring."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):  # exact, but TOML and shells hold 64 bits
        return value if abs(value) <= INT64_MAX else float(f"{value:.{LARGE_DIGITS}g}")
    return whole(value) if is_integer_key(key) else rounded(value)


def clean(document: Any, key: str = "") -> Any:
    """A copy of a JSON-like document with every float written by :func:`number`.

    List items take the key of their list (``stage_fractions: [0.8, 0.9]`` are fractions).
    """
    if isinstance(document, dict):
        return {k: clean(v, str(k)) for k, v in document.items()}
    if isinstance(document, (list, tuple)):
        return [clean(v, key) for v in document]
    if isinstance(document, float):
        return number(key, document)
    return document


def text(key: str, value: float) -> str:
    """The number under ``key`` as text for CSV, TOML or a shell: ``1e+24``, ``0.0003118``, ``42``.

    TOML and Python read the exponent form; a whole quantity in range has no exponent.
    """
    return repr(number(key, value))
