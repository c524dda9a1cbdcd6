"""DSP1xx: the model's shape (sizes, heads, feed-forward width, aspect ratio, vocabulary)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from dsplan.checking.facts import ERROR, INFO, SIZE_KEYS, WARNING, Facts
from dsplan.checking.registry import Hit, rule
from dsplan.model.flops import swiglu_d_ff
from dsplan.model.shape import ASPECT_RANGE

# d_ff / d_model: SwiGLU uses 8/3 (LLaMA, DeepSeek), a GELU FFN 4, Qwen2-7B 5.3. Below 1 the FFN
# is narrower than the model, almost always a swapped or mistyped value. Ours.
D_FF_RATIO_WARN = (2.0, 6.0)
D_FF_RATIO_ERROR_BELOW = 1.0
# Head size: FlashAttention kernels take head sizes up to 256; below 32 heads get too thin.
HEAD_DIM_RANGE = (32, 256)
# Width over depth: dsplan.model.shape.ASPECT_RANGE, the band where Kaplan et al. (2020, Section 3.1,
# Fig. 5) found the loss within a few percent (DeepSeek 7B is 137, 67B 86).
# Tensor cores prefer vocabularies padded to a multiple of 64 (nanoGPT pads 50257 to 50304).
VOCAB_MULTIPLE = 64


def _size_hint(name: str, d_model: int, n_heads: int) -> str:
    """A value for a size that is zero or negative: DeepSeek's, or one derived from the width."""
    if name == "n_heads" and d_model > 0:
        return f"n_heads = {max(1, d_model // 128)} (head size 128, as DeepSeek)"
    if name == "n_kv_heads" and n_heads > 0:
        return f"n_kv_heads = {n_heads} (MHA) or a divisor of it (GQA)"
    if name == "d_ff" and d_model > 0:
        return f"d_ff = {swiglu_d_ff(d_model)} (SwiGLU, 8/3 d_model rounded up to 256)"
    return {
        "n_layers": "n_layers = 30 (DeepSeek 7B), or see `dsplan budget` for a shape",
        "d_model": "d_model = 4096 (DeepSeek 7B), or see `dsplan budget` for a shape",
        "vocab_size": "vocab_size = the tokenizer's size, e.g. 102400 (DeepSeek)",
        "seq_len": "seq_len = 4096 (DeepSeek)",
    }.get(name, "")


def _divisors(n: int) -> list[int]:
    """The divisors of ``n > 0``, increasing; paired up to its square root, so that a mistyped
    width (d_model = 40000000001) costs milliseconds, not minutes."""
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return small + [n // k for k in reversed(small) if k * k != n]


def _nearest(target: int, values: list[int]) -> int:
    """The value closest to ``target``, the smaller on a tie."""
    return min(values, key=lambda v: (abs(v - target), v))


@rule("DSP101", ERROR, "a model size is zero or negative", "sizes are counts")
def sizes_positive(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    for name in SIZE_KEYS:
        value = getattr(m, name)
        if value <= 0:
            yield Hit(
                f"model.{name}",
                f"{name} = {value} must be positive",
                _size_hint(name, m.d_model, m.n_heads),
            )


@rule("DSP102", ERROR, "n_heads does not divide d_model", "heads split the width evenly")
def heads_divide_width(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if not f.sizes_positive or m.head_dim or m.mla or m.d_model % m.n_heads == 0:
        return
    best = _nearest(m.n_heads, _divisors(m.d_model))
    yield Hit(
        "model.n_heads",
        f"n_heads = {m.n_heads} does not divide d_model = {m.d_model} "
        f"(head size would be {m.d_model / m.n_heads:.4g})",
        f"n_heads = {best} (head size {m.d_model // best}); or d_model = "
        f"{round(m.d_model / m.n_heads) * m.n_heads}",
    )


@rule(
    "DSP103",
    ERROR,
    "n_kv_heads does not divide n_heads",
    "GQA shares each KV head among a whole number of query heads",
)
def kv_heads_divide_heads(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if not f.sizes_positive or m.n_heads % m.n_kv_heads == 0:
        return
    divisors = _divisors(m.n_heads)
    best = _nearest(m.n_kv_heads, divisors)
    yield Hit(
        "model.n_kv_heads",
        f"n_kv_heads = {m.n_kv_heads} does not divide n_heads = {m.n_heads}",
        f"n_kv_heads = {best} (divisors of {m.n_heads}: {', '.join(map(str, divisors))})",
    )


@rule(
    "DSP104",
    "error/warning",
    "d_ff out of proportion to d_model",
    "error below 1x d_model; warning outside 2x to 6x (SwiGLU 8/3, GELU 4; ours)",
)
def feed_forward_width(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if not f.sizes_positive or (m.moe is not None and not m.moe.n_dense_layers):
        return  # an MoE model without dense layers has no d_ff
    ratio = m.d_ff / m.d_model
    hint = f"d_ff = {swiglu_d_ff(m.d_model)} (SwiGLU, 8/3 d_model rounded up to 256)"
    if ratio < D_FF_RATIO_ERROR_BELOW:
        yield Hit(
            "model.d_ff",
            f"d_ff = {m.d_ff} is {ratio:.3g}x d_model = {m.d_model}: the feed-forward layer "
            "is narrower than the model",
            hint,
            ERROR,
        )
    elif not D_FF_RATIO_WARN[0] <= ratio <= D_FF_RATIO_WARN[1]:
        yield Hit(
            "model.d_ff",
            f"d_ff = {m.d_ff} is {ratio:.3g}x d_model = {m.d_model}, outside "
            f"{D_FF_RATIO_WARN[0]:g}x to {D_FF_RATIO_WARN[1]:g}x",
            hint,
            WARNING,
        )


@rule(
    "DSP105",
    WARNING,
    "unusual head size",
    "head size outside 32 to 256 (FlashAttention supports up to 256)",
)
def head_size(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if f.counts is None or m.mla is not None:  # reported elsewhere; MLA: DSP706
        return
    head_dim = m.real_head_dim
    if HEAD_DIM_RANGE[0] <= head_dim <= HEAD_DIM_RANGE[1]:
        return
    heads = max(1, m.d_model // 128)
    yield Hit(
        "model.n_heads",
        f"head size d_model / n_heads = {head_dim} is outside "
        f"{HEAD_DIM_RANGE[0]} to {HEAD_DIM_RANGE[1]}",
        f"n_heads = {heads} (head size {m.d_model // heads})"
        if m.d_model % heads == 0
        else "a head size of 64 or 128",
    )


@rule(
    "DSP106",
    WARNING,
    "extreme width/depth ratio",
    "d_model / n_layers outside 20 to 200 (Kaplan et al. 2020, Fig. 5)",
)
def width_over_depth(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if f.counts is None:
        return
    aspect = m.d_model / m.n_layers
    if ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]:
        return
    yield Hit(
        "model.n_layers",
        f"d_model / n_layers = {m.d_model} / {m.n_layers} = {aspect:.3g}, outside "
        f"{ASPECT_RANGE[0]:g} to {ASPECT_RANGE[1]:g}",
        f"n_layers = {max(1, round(m.d_model / 128))} for d_model / n_layers near 128, or "
        f"`dsplan shapes {f.counts.flops_per_token:.3g}` for shapes of the same M",
    )


@rule(
    "DSP107",
    INFO,
    "vocabulary not a multiple of 64",
    "tensor-core padding (nanoGPT pads 50257 to 50304)",
)
def vocabulary_padding(f: Facts) -> Iterator[Hit]:
    m = f.cfg.model
    if f.counts is None or m.vocab_size % VOCAB_MULTIPLE == 0:
        return
    padded = math.ceil(m.vocab_size / VOCAB_MULTIPLE) * VOCAB_MULTIPLE
    yield Hit(
        "model.vocab_size",
        f"vocab_size = {m.vocab_size} is not a multiple of {VOCAB_MULTIPLE}",
        f"vocab_size = {padded} (padded; the extra rows are never used)",
    )


FAMILY = (
    sizes_positive,
    heads_divide_width,
    kv_heads_divide_heads,
    feed_forward_width,
    head_size,
    width_over_depth,
    vocabulary_padding,
)
