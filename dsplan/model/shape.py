"""Choose a real layer/width shape whose exact M is as close as possible to a target M.

The search walks the hardware-friendly widths (multiples of the head size), solves for the depth
that hits the target at each width, and keeps both integer depths around it. Among the candidates
whose M is within ``tolerance`` (3%) of the target, the one with the smallest score

    (ln(M / M_target) / tolerance)^2 + (ln((d / L) / aspect_target) / ln 2)^2

wins: a miss of 3% in M weighs as much as a factor of two in width/depth. (Depth is an integer, so
at small M the exact hit is often a very deep, narrow model; the score prefers a sane shape a
percent or two off.) Shapes whose width/depth lies outside 20 to 200 (Kaplan et al. 2020: the loss
is flat within a few percent there; the band widens to include the target) rank after all shapes
inside it. Ties go to the smaller M error. When no candidate is within the tolerance (tiny
targets), the smallest M error wins.

Defaults, and where they come from (see docs/decisions.md):

* aspect ratio d_model / n_layers = 128: Llama 2 7B and 13B use 128, DeepSeek 7B 137, DeepSeek 67B 86,
  Llama 2 70B 102; Kaplan et al. (2020, Fig. 5) found the loss within a few percent over 20 to 200.
* head size 128, and 64 for models narrower than 1024 (d_model then a multiple of 64).
* from 1024 wide up, a head count that is a multiple of 8 (tensor parallelism of 2, 4 or 8 splits it
  evenly; `--heads-multiple` overrides);
* multi-head attention up to 40 heads; above that, grouped-query attention with 8 KV heads, as
  DeepSeek 67B (64 heads) and Llama 2 70B (64 heads) do while DeepSeek 7B (32) and Llama 2 13B (40)
  keep MHA.
* d_ff the SwiGLU width 8/3 d_model rounded up to a multiple of 256.
"""

from __future__ import annotations

import math
from typing import Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.flops import Shape, layer_flops_per_token, layer_matmul_params, swiglu_d_ff
from dsplan.records import record
from dsplan.units import positive_int

DEFAULT_ASPECT_RATIO = 128.0
DEFAULT_TOLERANCE = 0.03
# A factor of two in width/depth costs as much as a miss of `tolerance` in M (see search()).
ASPECT_SCALE = math.log(2.0)
# Width/depth over which Kaplan et al. (2020, Fig. 5) found the loss within a few percent; the
# search stays inside it (widened to include the target asked for) whenever a shape within the
# tolerance allows, and `dsplan check` warns outside it (DSP106).
ASPECT_RANGE = (20.0, 200.0)
GQA_ABOVE_HEADS = 40
GQA_KV_HEADS = 8
SMALL_WIDTH = 1024
# From 1024 wide up, heads come in multiples of 8 so that tensor parallelism of 2, 4 or 8 splits
# them evenly (DeepSeek 7B: 32 heads, 67B: 64; Llama 2: 32, 40, 64).
TP_HEADS_MULTIPLE = 8
MAX_D_MODEL = 65_536


@record
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


@record
class SearchOptions:
    """Knobs of the shape search; ``None`` means the documented default."""

    aspect_ratio: float = DEFAULT_ASPECT_RATIO
    head_dim: int | None = None
    n_kv_heads: int | None = None
    layers_multiple: int = 1
    heads_multiple: int | None = None
    tolerance: float = DEFAULT_TOLERANCE
    vocab_size: int = DEFAULT_VOCAB_SIZE
    seq_len: int = DEFAULT_SEQ_LEN

    def __post_init__(self) -> None:
        if not (math.isfinite(self.aspect_ratio) and self.aspect_ratio > 0):
            raise InputError(
                f"the aspect ratio d_model / n_layers must be a positive number, got "
                f"{self.aspect_ratio!r}",
                quantity="aspect_ratio",
            )
        for name, what in (
            ("head_dim", "the head size"),
            ("n_kv_heads", "the number of KV heads"),
            ("heads_multiple", "the head-count multiple"),
            ("layers_multiple", "the layer-count multiple"),
        ):
            value = getattr(self, name)
            if value is not None:
                positive_int(value, name, what)
        if not 0 < self.tolerance < 1:
            raise InputError(f"tolerance must lie in (0, 1), got {self.tolerance}")
        positive_int(self.vocab_size, "vocab_size", "the vocabulary size")
        positive_int(self.seq_len, "seq_len", "the sequence length")


def _widths(options: SearchOptions) -> list[tuple[int, int]]:
    """(d_model, head_dim) pairs to try, in increasing width."""
    if options.head_dim is not None:
        step = options.head_dim
        return [(d, step) for d in range(step, MAX_D_MODEL + 1, step)]
    small = [(d, 64) for d in range(64, SMALL_WIDTH, 64)]
    return small + [(d, 128) for d in range(SMALL_WIDTH, MAX_D_MODEL + 1, 128)]


# What a search can aim at: M (the default), or one of the parameter counts that published laws
# predict (see docs/laws.md for which law counts what).
SEARCH_QUANTITIES = (
    "flops_per_token",
    "params_total",
    "params_non_embedding",
    "params_non_embedding_with_head",
)

# (n_layers, d_model, n_heads, n_kv_heads, d_ff, M, value of the searched quantity)
Raw = tuple[int, int, int, int, int, int, int]


def _per_layer_and_fixed(
    quantity: str, d_model: int, n_heads: int, n_kv: int, d_ff: int, options: SearchOptions
) -> tuple[int, int]:
    """``(per_layer, fixed)`` such that the quantity of an ``n``-layer shape is ``n * per_layer + fixed``.

    The parameter forms mirror :func:`dsplan.model.flops.counts` (two RMSNorm vectors per block, one
    final RMSNorm, untied embeddings: an input embedding and an output head of vocab x d_model).
    """
    if quantity == "flops_per_token":
        return layer_flops_per_token(d_model, n_heads, n_kv, d_ff, options.seq_len), 0
    per_layer = layer_matmul_params(d_model, n_heads, n_kv, d_ff) + 2 * d_model
    fixed = d_model  # the final RMSNorm
    vocab = options.vocab_size * d_model
    if quantity == "params_total":
        fixed += 2 * vocab
    elif quantity == "params_non_embedding_with_head":
        fixed += vocab
    elif quantity != "params_non_embedding":
        raise InputError(
            f"cannot search shapes by {quantity!r}; choose one of: {', '.join(SEARCH_QUANTITIES)}"
        )
    return per_layer, fixed


def _raw_candidates(
    target: float, options: SearchOptions, quantity: str = "flops_per_token"
) -> list[Raw]:
    """``(n_layers, d_model, n_heads, n_kv_heads, d_ff, M, value)`` for every shape worth considering.

    ``value`` is the shape's ``quantity``: M for the default search, a parameter count for a
    search by parameters. Plain tuples: the search looks at a few hundred shapes and builds a
    :class:`Shape` only for those it returns (start-up time matters, issue #2).
    """
    out: list[Raw] = []
    lm = options.layers_multiple
    for d_model, head_dim in _widths(options):
        n_heads = d_model // head_dim
        heads_multiple = options.heads_multiple or (
            TP_HEADS_MULTIPLE if d_model >= SMALL_WIDTH else 1
        )
        if n_heads % heads_multiple:
            continue
        if options.n_kv_heads is not None:
            n_kv = options.n_kv_heads
        else:
            n_kv = GQA_KV_HEADS if n_heads > GQA_ABOVE_HEADS else n_heads
        if n_heads % n_kv:
            continue
        d_ff = swiglu_d_ff(d_model)
        per_layer, fixed = _per_layer_and_fixed(quantity, d_model, n_heads, n_kv, d_ff, options)
        if per_layer * lm + fixed > 2 * target:
            break  # wider models only get further from the target
        below = max(lm, math.floor((target - fixed) / per_layer / lm) * lm)
        m_per_layer = (
            per_layer
            if quantity == "flops_per_token"
            else layer_flops_per_token(d_model, n_heads, n_kv, d_ff, options.seq_len)
        )
        for n_layers in (below, below + lm):
            out.append(
                (
                    n_layers,
                    d_model,
                    n_heads,
                    n_kv,
                    d_ff,
                    n_layers * m_per_layer,
                    n_layers * per_layer + fixed,
                )
            )
    return out


def _candidate(raw: Raw, target: float, options: SearchOptions) -> Candidate:
    n_layers, d_model, n_heads, n_kv, d_ff, m, value = raw
    shape = Shape(n_layers, d_model, n_heads, n_kv, d_ff, options.vocab_size, options.seq_len)
    return Candidate(shape, m, value / target - 1)


def search(
    target_flops_per_token: float,
    options: SearchOptions | None = None,
    limit: int = 5,
    quantity: str = "flops_per_token",
) -> list[Candidate]:
    """The best ``limit`` shapes for a target M (FLOPs per token), best first.

    With ``quantity`` set to a parameter count (``params_total``, ``params_non_embedding``,
    ``params_non_embedding_with_head``) the target is that count instead, and the ranking (aspect
    ratio within the tolerance, then the smallest error) applies to the error in that count;
    ``Candidate.relative_error`` is then the error in the count.

    Raises:
        InputError: the target is not positive, or too small for any shape with these options.
    """
    options = options or SearchOptions()
    target = target_flops_per_token
    what = "M" if quantity == "flops_per_token" else quantity
    if not (math.isfinite(target) and target > 0):
        raise InputError(f"target {what} must be a positive number, got {target!r}")
    found = _raw_candidates(target, options, quantity)
    if not found:
        widths = _widths(options)
        if not widths:
            raise InputError(
                f"the head size ({options.head_dim}) is wider than the widest model searched "
                f"(d_model {MAX_D_MODEL})",
                quantity="head_dim",
            )
        if quantity == "flops_per_token":
            d_model, head_dim = widths[0]
            n_heads = d_model // head_dim
            lm = options.layers_multiple
            weights = lm * layer_flops_per_token(d_model, n_heads, n_heads, swiglu_d_ff(d_model), 0)
            attention = 12 * d_model * options.seq_len * lm
            if weights <= 2 * target < weights + attention:
                # The sequence, not the target, is what is out of reach: name it.
                raise InputError(
                    f"M = {target:.3g} FLOPs/token is too small for any shape at a sequence "
                    f"length of {options.seq_len:,} tokens: attention over the sequence alone "
                    f"costs {attention:.3g} FLOPs/token in the narrowest block (d_model {d_model})",
                    quantity="seq_len",
                )
        if quantity == "flops_per_token":
            raise InputError(
                f"M = {target:.3g} FLOPs/token is too small for any shape "
                f"(the smallest block with these options costs more than twice that)"
            )
        raise InputError(
            f"{what} = {target:.3g} parameters is too small for any shape "
            f"(the smallest one-block model with these options has more than twice that)"
        )
    target_log_aspect = math.log(options.aspect_ratio)
    tolerance = options.tolerance

    def error(raw: Raw) -> float:
        return abs(raw[6] / target - 1)

    def score(raw: Raw) -> float:
        # A miss in M (log space) of `tolerance` weighs as much as a factor of two in d / L.
        m_miss = math.log(raw[6] / target) / tolerance
        aspect_miss = (math.log(raw[1] / raw[0]) - target_log_aspect) / ASPECT_SCALE
        return round(m_miss * m_miss + aspect_miss * aspect_miss, 12)

    lo = min(ASPECT_RANGE[0], options.aspect_ratio)
    hi = max(ASPECT_RANGE[1], options.aspect_ratio)

    def rank(raw: Raw) -> tuple[bool, float, float, int]:
        # Shapes outside the sane width/depth band come last, whatever their score.
        return (not in_band(raw), score(raw), error(raw), raw[1])

    def in_band(raw: Raw) -> bool:
        return lo <= raw[1] / raw[0] <= hi

    near = [r for r in found if error(r) <= tolerance]
    if not any(in_band(r) for r in near):
        # Widths come in steps of 1024 from 1024 up (heads a multiple of 8 for TP), so a target can
        # fall between shapes: an in-band shape just past the tolerance beats a lopsided one inside
        # it (1.6e20 FLOPs: 17 x 2048 at +3.0%, not 8 x 3072 at -1.6%, d/L 384).
        near += [r for r in found if tolerance < error(r) <= 2 * tolerance and in_band(r)]
    chosen = set(near)
    close = sorted(near, key=rank)
    rest = sorted((r for r in found if r not in chosen), key=lambda r: (error(r), score(r)))
    return [_candidate(r, target, options) for r in (close + rest)[:limit]]


def best_shape(target_flops_per_token: float, options: SearchOptions | None = None) -> Candidate:
    """The single best shape for a target M; see :func:`search`."""
    return search(target_flops_per_token, options, limit=1)[0]


def best_shape_by_params(
    target_params: float, quantity: str, options: SearchOptions | None = None
) -> Candidate:
    """The single best shape for a target parameter count, by the same search as :func:`best_shape`.

    Args:
        target_params: The parameter count a law predicts.
        quantity: Which count it is: ``params_total`` (embeddings included, untied),
            ``params_non_embedding`` or ``params_non_embedding_with_head`` (Porian et al.'s N).

    Returns:
        The candidate; its ``relative_error`` is the error in the parameter count, and its
        ``flops_per_token`` the exact M of the shape (never 6N).
    """
    if quantity == "flops_per_token":
        raise InputError("best_shape_by_params needs a parameter count, not M")
    return search(target_params, options, limit=1, quantity=quantity)[0]
