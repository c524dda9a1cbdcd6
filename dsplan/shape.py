"""Choose a real layer/width shape whose exact M is as close as possible to a target M.

The search walks the hardware-friendly widths (multiples of the head size), solves for the depth
that hits the target at each width, and keeps both integer depths around it. Among the candidates
whose M is within ``tolerance`` of the target, the one whose width/depth ratio is closest (in log
space) to the target aspect ratio wins; ties go to the smaller M error. When no candidate is within
the tolerance (tiny targets), the smallest M error wins.

Defaults, and where they come from (see docs/decisions.md):

* aspect ratio d_model / n_layers = 128: Llama 2 7B and 13B use 128, DeepSeek 7B 137, DeepSeek 67B 86,
  Llama 2 70B 102; Kaplan et al. (2020, Fig. 5) found the loss within a few percent over 20 to 200.
* head size 128, and 64 for models narrower than 1024 (d_model then a multiple of 64).
* multi-head attention up to 40 heads; above that, grouped-query attention with 8 KV heads, as
  DeepSeek 67B (64 heads) and Llama 2 70B (64 heads) do while DeepSeek 7B (32) and Llama 2 13B (40)
  keep MHA.
* d_ff the SwiGLU width 8/3 d_model rounded up to a multiple of 256.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsplan.errors import InputError
from dsplan.flops import Shape, layer_flops_per_token, swiglu_d_ff

DEFAULT_ASPECT_RATIO = 128.0
DEFAULT_TOLERANCE = 0.02
GQA_ABOVE_HEADS = 40
GQA_KV_HEADS = 8
SMALL_WIDTH = 1024
MAX_D_MODEL = 65_536


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Candidate:
    """A shape found for a target M, with its relative M error and its aspect ratio."""

    shape: Shape
    flops_per_token: int
    relative_error: float

    @property
    def aspect_ratio(self) -> float:
        return self.shape.aspect_ratio

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shape.to_dict(),
            "flops_per_token": self.flops_per_token,
            "relative_error": self.relative_error,
            "aspect_ratio": self.aspect_ratio,
        }


@dataclass(frozen=True)
class SearchOptions:
    """Knobs of the shape search; ``None`` means the documented default."""

    aspect_ratio: float = DEFAULT_ASPECT_RATIO
    head_dim: int | None = None
    n_kv_heads: int | None = None
    layers_multiple: int = 1
    tolerance: float = DEFAULT_TOLERANCE
    vocab_size: int = 102_400
    seq_len: int = 4096

    def __post_init__(self) -> None:
        if not (math.isfinite(self.aspect_ratio) and self.aspect_ratio > 0):
            raise InputError(f"aspect ratio must be positive, got {self.aspect_ratio!r}")
        for name in ("head_dim", "n_kv_heads"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(
                    f"{name.replace('_', '-')} must be a positive integer, got {value}"
                )
        if self.layers_multiple <= 0:
            raise InputError(
                f"layers-multiple must be a positive integer, got {self.layers_multiple}"
            )
        if not 0 < self.tolerance < 1:
            raise InputError(f"tolerance must lie in (0, 1), got {self.tolerance}")
        if self.vocab_size <= 0 or self.seq_len <= 0:
            raise InputError("vocab size and sequence length must be positive integers")


def _widths(options: SearchOptions) -> list[tuple[int, int]]:
    """(d_model, head_dim) pairs to try, in increasing width."""
    if options.head_dim is not None:
        step = options.head_dim
        return [(d, step) for d in range(step, MAX_D_MODEL + 1, step)]
    small = [(d, 64) for d in range(64, SMALL_WIDTH, 64)]
    return small + [(d, 128) for d in range(SMALL_WIDTH, MAX_D_MODEL + 1, 128)]


def _raw_candidates(
    target_flops_per_token: float, options: SearchOptions
) -> list[tuple[int, int, int, int, int, int]]:
    """``(n_layers, d_model, n_heads, n_kv_heads, d_ff, M)`` for every shape worth considering.

    Plain tuples: the search looks at a few hundred shapes and builds a :class:`Shape` only for
    those it returns (start-up time matters, issue #2).
    """
    out: list[tuple[int, int, int, int, int, int]] = []
    lm = options.layers_multiple
    for d_model, head_dim in _widths(options):
        n_heads = d_model // head_dim
        if options.n_kv_heads is not None:
            n_kv = options.n_kv_heads
        else:
            n_kv = GQA_KV_HEADS if n_heads > GQA_ABOVE_HEADS else n_heads
        if n_heads % n_kv:
            continue
        d_ff = swiglu_d_ff(d_model)
        per_layer = layer_flops_per_token(d_model, n_heads, n_kv, d_ff, options.seq_len)
        if per_layer * lm > 2 * target_flops_per_token:
            break  # wider models only get further from the target
        below = max(lm, math.floor(target_flops_per_token / per_layer / lm) * lm)
        for n_layers in (below, below + lm):
            out.append((n_layers, d_model, n_heads, n_kv, d_ff, n_layers * per_layer))
    return out


def _candidate(
    raw: tuple[int, int, int, int, int, int], target: float, options: SearchOptions
) -> Candidate:
    n_layers, d_model, n_heads, n_kv, d_ff, m = raw
    shape = Shape(n_layers, d_model, n_heads, n_kv, d_ff, options.vocab_size, options.seq_len)
    return Candidate(shape, m, m / target - 1)


def search(
    target_flops_per_token: float, options: SearchOptions | None = None, limit: int = 5
) -> list[Candidate]:
    """The best ``limit`` shapes for a target M (FLOPs per token), best first.

    Raises:
        InputError: the target is not positive, or too small for any shape with these options.
    """
    options = options or SearchOptions()
    if not (math.isfinite(target_flops_per_token) and target_flops_per_token > 0):
        raise InputError(f"target M must be a positive number, got {target_flops_per_token!r}")
    found = _raw_candidates(target_flops_per_token, options)
    if not found:
        raise InputError(
            f"M = {target_flops_per_token:.3g} FLOPs/token is too small for any shape "
            f"(the smallest block with these options costs more than twice that)"
        )
    target_log_aspect = math.log(options.aspect_ratio)
    tolerance = options.tolerance

    def error(raw: tuple[int, ...]) -> float:
        return abs(raw[5] / target_flops_per_token - 1)

    def aspect_miss(raw: tuple[int, ...]) -> float:
        return round(abs(math.log(raw[1] / raw[0]) - target_log_aspect), 12)

    close = sorted(
        (r for r in found if error(r) <= tolerance), key=lambda r: (aspect_miss(r), error(r), r[1])
    )
    rest = sorted(
        (r for r in found if error(r) > tolerance), key=lambda r: (error(r), aspect_miss(r))
    )
    return [_candidate(r, target_flops_per_token, options) for r in (close + rest)[:limit]]


def best_shape(target_flops_per_token: float, options: SearchOptions | None = None) -> Candidate:
    """The single best shape for a target M; see :func:`search`."""
    return search(target_flops_per_token, options, limit=1)[0]
