"""Exact parameter and FLOP counts of a LLaMA-style decoder, beside the paper's Eq. 2.

Counting conventions (documented in docs/methodology.md):

* A block is pre-norm (two RMSNorm weight vectors of ``d_model``), attention with ``n_heads`` query
  heads and ``n_kv_heads`` key/value heads of size ``d_model / n_heads`` (no biases), and a SwiGLU
  feed-forward layer with three ``d_model x d_ff`` matrices. A final RMSNorm follows the last block.
* ``flops_per_token`` (M) is 6 x the matmul parameters of the blocks (forward + backward, 2 FLOPs per
  multiply-add) plus the attention term ``12 n_layers d_model seq_len``: the paper's convention, full
  unmasked attention (no halving for the causal mask). Like Eq. 2, it leaves out the vocabulary
  (embedding lookup and output head).
* Embeddings are untied by default: an input embedding and an output head of ``vocab x d_model`` each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dsplan.errors import InputError

SWIGLU_MULTIPLE = 256


def swiglu_d_ff(d_model: int, multiple: int = SWIGLU_MULTIPLE) -> int:
    """The SwiGLU width 8/3 * d_model rounded up to a multiple of 256.

    Reproduces DeepSeek's 11008 (d_model 4096) and 22016 (d_model 8192).

    References:
        arXiv 2401.02954, Section 2.2 (SwiGLU with intermediate size 8/3 d_model) and the released
        Hugging Face configs.
    """
    return math.ceil(8 * d_model / 3 / multiple) * multiple


@dataclass(frozen=True)
class Shape:
    """A decoder-only transformer shape. Every size is a count; ``seq_len`` is in tokens."""

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab_size: int = 102_400
    seq_len: int = 4096
    tied_embeddings: bool = False

    def __post_init__(self) -> None:
        for name in (
            "n_layers",
            "d_model",
            "n_heads",
            "n_kv_heads",
            "d_ff",
            "vocab_size",
            "seq_len",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise InputError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if self.n_heads % self.n_kv_heads:
            raise InputError(f"n_kv_heads ({self.n_kv_heads}) must divide n_heads ({self.n_heads})")

    @classmethod
    def build(
        cls,
        n_layers: int,
        d_model: int,
        *,
        n_heads: int | None = None,
        n_kv_heads: int | None = None,
        d_ff: int | None = None,
        vocab_size: int = 102_400,
        seq_len: int = 4096,
        tied_embeddings: bool = False,
    ) -> Shape:
        """A shape with the defaults filled in: heads of 128, MHA, the SwiGLU width."""
        if n_heads is None:
            if d_model <= 0 or d_model % 128:
                raise InputError(
                    f"give n_heads: the default head size 128 does not divide d_model ({d_model})"
                )
            n_heads = d_model // 128
        return cls(
            n_layers=n_layers,
            d_model=d_model,
            n_heads=n_heads,
            n_kv_heads=n_heads if n_kv_heads is None else n_kv_heads,
            d_ff=swiglu_d_ff(d_model) if d_ff is None else d_ff,
            vocab_size=vocab_size,
            seq_len=seq_len,
            tied_embeddings=tied_embeddings,
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def aspect_ratio(self) -> float:
        """Width over depth, d_model / n_layers."""
        return self.d_model / self.n_layers

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "head_dim": self.head_dim,
            "d_ff": self.d_ff,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
            "tied_embeddings": self.tied_embeddings,
        }


def layer_matmul_params(d_model: int, n_heads: int, n_kv_heads: int, d_ff: int) -> int:
    """Matmul weights of one block: Q and O (d x d), K and V (d x kv x head_dim), SwiGLU (3 d d_ff)."""
    head_dim = d_model // n_heads
    return 2 * d_model * d_model + 2 * d_model * n_kv_heads * head_dim + 3 * d_model * d_ff


def layer_flops_per_token(
    d_model: int, n_heads: int, n_kv_heads: int, d_ff: int, seq_len: int
) -> int:
    """M of one block: 6 x its matmul weights + 12 d_model seq_len (full, unmasked attention)."""
    return 6 * layer_matmul_params(d_model, n_heads, n_kv_heads, d_ff) + 12 * d_model * seq_len


@dataclass(frozen=True, eq=False, repr=False)  # cheap to define: start-up time
class Counts:
    """Parameter and FLOP counts of one shape: exact, and as the paper's Eq. 2 prints them."""

    flops_per_token: int
    flops_per_token_eq2: int
    flops_per_token_hardware: int
    params_non_embedding: int
    params_total: int
    params_non_embedding_eq2: int
    params_total_eq2: int
    params_embedding: int
    ratio_6n1_to_m: float
    ratio_6n2_to_m: float
    ratio_6n1_to_m_eq2: float
    ratio_6n2_to_m_eq2: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def counts(shape: Shape) -> Counts:
    """Count the parameters and FLOPs per token of ``shape``.

    Returns:
        Exact counts of this shape (``flops_per_token`` is its M) and the Eq. 2 figures, which treat
        every block as vanilla (12 d^2 weights) and count a single vocabulary matrix.

    References:
        arXiv 2401.02954, Eq. 2 and Table 3. ``flops_per_token_hardware`` adds the output head
        (6 x vocab x d_model per token), the matmul that Eq. 2 leaves out but the GPU still runs.
    """
    n, d, v, seq = shape.n_layers, shape.d_model, shape.vocab_size, shape.seq_len
    matmul = n * layer_matmul_params(d, shape.n_heads, shape.n_kv_heads, shape.d_ff)
    norms = (2 * n + 1) * d
    non_embedding = matmul + norms
    embedding = v * d if shape.tied_embeddings else 2 * v * d
    m = n * layer_flops_per_token(d, shape.n_heads, shape.n_kv_heads, shape.d_ff, seq)
    m_eq2 = 72 * n * d * d + 12 * n * d * seq
    n1_eq2 = 12 * n * d * d
    n2_eq2 = n1_eq2 + v * d
    total = non_embedding + embedding
    return Counts(
        flops_per_token=m,
        flops_per_token_eq2=m_eq2,
        flops_per_token_hardware=m + 6 * v * d,
        params_non_embedding=non_embedding,
        params_total=total,
        params_non_embedding_eq2=n1_eq2,
        params_total_eq2=n2_eq2,
        params_embedding=embedding,
        ratio_6n1_to_m=6 * non_embedding / m,
        ratio_6n2_to_m=6 * total / m,
        ratio_6n1_to_m_eq2=6 * n1_eq2 / m_eq2,
        ratio_6n2_to_m_eq2=6 * n2_eq2 / m_eq2,
    )
