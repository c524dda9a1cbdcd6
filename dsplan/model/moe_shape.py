"""Choose a real mixture-of-experts shape whose activated M is close to a target M.

The MoE counterpart of :mod:`dsplan.model.shape` (whose dense search it leaves alone). The expert
count, top-k, the shared-expert count, the leading dense layers and the attention kind are fixed
by the caller; the search chooses the width, the depth and, from the width, everything else:

* width d_model a multiple of 128 (from 512 up), heads of 128 (``d_model / 128`` of them, a
  multiple of 8 from 1024 wide up, as the dense search has them);
* expert width ``d_ff_expert``: fine-grained experts as DeepSeekMoE segments them (arXiv
  2401.06066, Section 3.1: a standard feed-forward layer cut into m experts of 1/m the width, with
  m times as many activated, so the computation stays as it was). Here the ``top_k`` routed and the
  ``n_shared_experts`` shared experts a token runs are together as wide as the dense SwiGLU layer of
  the same width: ``d_ff_expert = 8/3 d_model / (top_k + n_shared_experts)``, rounded to the
  nearest multiple of 128 (at least 128; a multiple of 128 tiles evenly on tensor cores and
  splits evenly under expert tensor parallelism). DeepSeek-V3 (7168 wide, 8 + 1 experts) gets 2176
  against its own 2048, DeepSeek-V2 (5120, 6 + 2) 1664 against 1536;
* shared experts as wide as a routed one (DeepSeek-V2/V3), leading dense layers of the dense
  search's SwiGLU width (8/3 d_model rounded up to 256);
* GQA: multi-head up to 40 heads, 8 KV heads above, as the dense search; MLA: DeepSeek-V2/V3's
  sizes (kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128), with the
  query compressed to a rank of 1536 from 4096 wide up (DeepSeek-V2 and V3 at 5120 and 7168 wide
  compress it; V2-Lite at 2048 does not).

The depth that hits the target is solved at each width (the activated M is linear in the layer
count) and both integer depths around it are kept; candidates are ranked exactly as the dense
search ranks them (:func:`dsplan.model.shape.search`: within the tolerance, the M miss and the
width/depth miss from the aspect ratio, shapes outside 20 to 200 last).
"""

from __future__ import annotations

import math
from typing import Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.flops import swiglu_d_ff
from dsplan.model.moe import Mla, MoeCounts, MoeShape, moe_counts
from dsplan.model.shape import (
    ASPECT_RANGE,
    ASPECT_SCALE,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_TOLERANCE,
    GQA_ABOVE_HEADS,
    GQA_KV_HEADS,
    MAX_D_MODEL,
    SMALL_WIDTH,
    TP_HEADS_MULTIPLE,
)
from dsplan.records import record
from dsplan.units import positive_int

EXPERT_WIDTH_MULTIPLE = 128
MOE_HEAD_DIM = 128
MIN_D_MODEL = 512
# DeepSeek-V2/V3's MLA sizes (arXiv 2405.04434 Section 3.1.1; the V3 config.json).
MLA_KV_LORA_RANK = 512
MLA_QK_NOPE_HEAD_DIM = 128
MLA_QK_ROPE_HEAD_DIM = 64
MLA_V_HEAD_DIM = 128
MLA_Q_LORA_RANK = 1536
MLA_Q_COMPRESSED_FROM = 4096


@record
class MoeSearchOptions:
    """What an MoE shape search keeps fixed, and its knobs.

    ``n_experts``, ``top_k``, ``n_shared_experts`` and ``n_dense_layers`` are the model's; ``mla``
    asks for MLA attention instead of GQA/MHA.
    """

    n_experts: int
    top_k: int
    n_shared_experts: int = 0
    n_dense_layers: int = 0
    mla: bool = False
    aspect_ratio: float = DEFAULT_ASPECT_RATIO
    tolerance: float = DEFAULT_TOLERANCE
    vocab_size: int = DEFAULT_VOCAB_SIZE
    seq_len: int = DEFAULT_SEQ_LEN

    def __post_init__(self) -> None:
        positive_int(self.n_experts, "n_experts", "the number of routed experts")
        positive_int(self.top_k, "top_k", "the routed experts per token")
        for name, what in (
            ("n_shared_experts", "the number of shared experts"),
            ("n_dense_layers", "the number of leading dense layers"),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{what} must be 0 or a positive integer, got {value!r}")
        if self.top_k > self.n_experts:
            raise InputError(
                f"top_k ({self.top_k}) must be at most n_experts ({self.n_experts})",
                quantity="top_k",
            )
        if not (math.isfinite(self.aspect_ratio) and self.aspect_ratio > 0):
            raise InputError(
                f"the aspect ratio d_model / n_layers must be a positive number, got "
                f"{self.aspect_ratio!r}",
                quantity="aspect_ratio",
            )
        if not 0 < self.tolerance < 1:
            raise InputError(f"tolerance must lie in (0, 1), got {self.tolerance}")
        positive_int(self.vocab_size, "vocab_size", "the vocabulary size")
        positive_int(self.seq_len, "seq_len", "the sequence length")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@record
class MoeCandidate:
    """An MoE shape found for a target M, with its counts and its relative M error."""

    shape: MoeShape
    counts: MoeCounts
    relative_error: float

    @property
    def aspect_ratio(self) -> float:
        return self.shape.d_model / self.shape.n_layers

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.shape.to_dict(),
            "flops_per_token": self.counts.flops_per_token,
            "relative_error": self.relative_error,
            "aspect_ratio": self.aspect_ratio,
            "params_total": self.counts.params_total,
            "params_activated": self.counts.params_activated,
        }


def expert_width(d_model: int, top_k: int, n_shared_experts: int) -> int:
    """A fine-grained expert's width: the activated experts together as wide as 8/3 d_model."""
    exact = 8 * d_model / (3 * (top_k + n_shared_experts))
    return max(EXPERT_WIDTH_MULTIPLE, round(exact / EXPERT_WIDTH_MULTIPLE) * EXPERT_WIDTH_MULTIPLE)


def mla_for(d_model: int) -> Mla:
    """DeepSeek-V2/V3's MLA sizes, the query compressed from 4096 wide up."""
    return Mla(
        kv_lora_rank=MLA_KV_LORA_RANK,
        qk_nope_head_dim=MLA_QK_NOPE_HEAD_DIM,
        qk_rope_head_dim=MLA_QK_ROPE_HEAD_DIM,
        v_head_dim=MLA_V_HEAD_DIM,
        q_lora_rank=MLA_Q_LORA_RANK if d_model >= MLA_Q_COMPRESSED_FROM else 0,
    )


def _shape(n_layers: int, d_model: int, o: MoeSearchOptions) -> MoeShape | None:
    n_heads = d_model // MOE_HEAD_DIM
    if d_model >= SMALL_WIDTH and n_heads % TP_HEADS_MULTIPLE:
        return None
    mla = mla_for(d_model) if o.mla else None
    n_kv = 0 if mla is not None else (GQA_KV_HEADS if n_heads > GQA_ABOVE_HEADS else n_heads)
    return MoeShape(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=0 if mla is not None else MOE_HEAD_DIM,
        n_experts=o.n_experts,
        top_k=o.top_k,
        d_ff_expert=expert_width(d_model, o.top_k, o.n_shared_experts),
        n_shared_experts=o.n_shared_experts,
        n_dense_layers=o.n_dense_layers,
        d_ff=swiglu_d_ff(d_model) if o.n_dense_layers else 0,
        vocab_size=o.vocab_size,
        seq_len=o.seq_len,
        mla=mla,
    )


def search_moe(
    target_flops_per_token: float, options: MoeSearchOptions, limit: int = 5
) -> list[MoeCandidate]:
    """The best ``limit`` MoE shapes for a target activated M (FLOPs per token), best first.

    Raises:
        InputError: the target is not positive, or too small for any shape with these options.
    """
    target = target_flops_per_token
    if not (math.isfinite(target) and target > 0):
        raise InputError(f"target M must be a positive number, got {target!r}")
    o = options
    least = o.n_dense_layers + 1  # at least one MoE layer
    found: list[tuple[int, int, int]] = []  # (n_layers, d_model, M)
    for d_model in range(MIN_D_MODEL, MAX_D_MODEL + 1, EXPERT_WIDTH_MULTIPLE):
        one = _shape(least, d_model, o)
        if one is None:
            continue
        m_one = moe_counts(one).flops_per_token
        if m_one > 2 * target:
            break  # wider models only get further from the target
        two = _shape(least + 1, d_model, o)
        assert two is not None  # the width was accepted above
        per_layer = moe_counts(two).flops_per_token - m_one  # one more MoE layer
        below = max(least, least + math.floor((target - m_one) / per_layer))
        for n_layers in (below, below + 1):
            found.append((n_layers, d_model, m_one + (n_layers - least) * per_layer))
    if not found:
        raise InputError(
            f"M = {target:.3g} FLOPs/token is too small for any MoE shape with these options "
            "(the smallest costs more than twice that)"
        )
    target_log_aspect = math.log(o.aspect_ratio)
    lo, hi = min(ASPECT_RANGE[0], o.aspect_ratio), max(ASPECT_RANGE[1], o.aspect_ratio)

    def error(raw: tuple[int, int, int]) -> float:
        return abs(raw[2] / target - 1)

    def score(raw: tuple[int, int, int]) -> float:
        m_miss = math.log(raw[2] / target) / o.tolerance
        aspect_miss = (math.log(raw[1] / raw[0]) - target_log_aspect) / ASPECT_SCALE
        return round(m_miss * m_miss + aspect_miss * aspect_miss, 12)

    def rank(raw: tuple[int, int, int]) -> tuple[bool, float, float, int]:
        return (not lo <= raw[1] / raw[0] <= hi, score(raw), error(raw), raw[1])

    close = sorted((r for r in found if error(r) <= o.tolerance), key=rank)
    rest = sorted((r for r in found if error(r) > o.tolerance), key=lambda r: (error(r), score(r)))
    out = []
    for n_layers, d_model, _ in (close + rest)[:limit]:
        shape = _shape(n_layers, d_model, o)
        assert shape is not None
        c = moe_counts(shape)
        out.append(MoeCandidate(shape, c, c.flops_per_token / target - 1))
    return out


def best_moe_shape(target_flops_per_token: float, options: MoeSearchOptions) -> MoeCandidate:
    """The single best MoE shape for a target activated M; see :func:`search_moe`."""
    return search_moe(target_flops_per_token, options, limit=1)[0]
