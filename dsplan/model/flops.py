"""Exact parameter and FLOP counts of a LLaMA-style decoder, beside the paper's Eq. 2.

Counting conventions (documented in docs/methodology.md):

* A block is pre-norm (two RMSNorm weight vectors of ``d_model``), attention with ``n_heads`` query
  heads and ``n_kv_heads`` key/value heads of size ``head_dim`` (``d_model / n_heads`` unless given;
  no biases), and a SwiGLU feed-forward layer with three ``d_model x d_ff`` matrices. A final RMSNorm
  follows the last block. :class:`Block` describes the departures of other decoders (biases, extra or
  missing norm weights, q/k norms), so that Hugging Face configs count exactly
  (:mod:`dsplan.model.hf_config`).
* ``flops_per_token`` (M) is 6 x the matmul parameters of the blocks (forward + backward, 2 FLOPs per
  multiply-add) plus the attention term ``12 n_layers n_heads head_dim seq_len`` (``12 n_layers
  d_model seq_len`` when the heads span d_model): the paper's convention, full unmasked attention (no
  halving for the causal mask). Like Eq. 2, it leaves out the vocabulary (embedding lookup and output
  head); biases and norm weights are parameters but not matmuls, so they are not in M either.
* Embeddings are untied by default: an input embedding and an output head of ``vocab x d_model`` each.
"""

from __future__ import annotations

import math
from typing import Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.records import record
from dsplan.units import positive_int

SWIGLU_MULTIPLE = 256
QK_NORMS = ("none", "head", "projection")
# The feed-forward layers a block may have, and how many d_model x d_ff matrices each holds.
MLP_MATRICES = {"swiglu": 3, "gelu": 2}
MLPS = tuple(MLP_MATRICES)


def swiglu_d_ff(d_model: int, multiple: int = SWIGLU_MULTIPLE) -> int:
    """The SwiGLU width 8/3 * d_model rounded up to a multiple of 256.

    Reproduces DeepSeek's 11008 (d_model 4096) and 22016 (d_model 8192).

    References:
        arXiv 2401.02954, Section 2.2 (SwiGLU with intermediate size 8/3 d_model) and the released
        Hugging Face configs.
    """
    return math.ceil(8 * d_model / 3 / multiple) * multiple


# The largest size of any one dimension of a shape (2**31 - 1). No real model comes within a thousand
# times of it; far past it the counts leave the 64-bit integers that JSON, TOML and shells read.
MAX_DIMENSION = 2**31 - 1


@record
class Block:
    """What a block holds beyond the LLaMA matrices. The defaults are LLaMA's: no biases, two norms.

    Attributes:
        qkv_bias: Biases on the query, key and value projections (Qwen2 always; ``attention_bias``).
        o_bias: A bias on the output projection (``attention_bias`` in Llama, Gemma, OLMo, Qwen3).
        mlp_bias: Biases on the gate, up and down projections (Llama's ``mlp_bias``).
        norms_per_layer: Norm weight vectors of ``d_model`` per block: 2 pre-norms in LLaMA, 4 in
            Gemma 2 (pre and post norms around attention and feed-forward), 0 where the norm has no
            weights (OLMo's non-parametric LayerNorm).
        final_norm: Whether the norm after the last block has a weight vector of ``d_model``.
        qk_norm: ``"none"``; ``"head"``: one ``head_dim`` weight vector each for queries and keys,
            shared across heads (Qwen3); ``"projection"``: norms over the whole query projection and
            the whole key projection (OLMo 2).
        mlp: ``"swiglu"`` (three ``d_model x d_ff`` matrices: gate, up, down) or ``"gelu"`` (two:
            up and down; GPT-2, GPT-3 and Megatron-LM without ``--swiglu``).
        norm_bias: Every norm (the block's and the final one) also has a bias vector (LayerNorm
            with its bias, Megatron-LM's default).
        position_rows: Rows of a learned absolute position table of ``d_model`` (GPT-2, Megatron-LM's
            default ``--max-position-embeddings``); 0 for rotary positions. Embedding parameters.
    """

    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    norms_per_layer: int = 2
    final_norm: bool = True
    qk_norm: str = "none"
    mlp: str = "swiglu"
    norm_bias: bool = False
    position_rows: int = 0

    def __post_init__(self) -> None:
        if self.mlp not in MLPS:
            raise InputError(f"mlp must be one of {', '.join(MLPS)}, got {self.mlp!r}")
        if isinstance(self.position_rows, bool) or self.position_rows < 0:
            raise InputError(f"position_rows must be 0 or more, got {self.position_rows!r}")
        if self.qk_norm not in QK_NORMS:
            raise InputError(f"qk_norm must be one of {', '.join(QK_NORMS)}, got {self.qk_norm!r}")
        if isinstance(self.norms_per_layer, bool) or self.norms_per_layer < 0:
            raise InputError(f"norms_per_layer must be 0 or more, got {self.norms_per_layer!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "qkv_bias": self.qkv_bias,
            "o_bias": self.o_bias,
            "mlp_bias": self.mlp_bias,
            "norms_per_layer": self.norms_per_layer,
            "final_norm": self.final_norm,
            "qk_norm": self.qk_norm,
            "mlp": self.mlp,
            "norm_bias": self.norm_bias,
            "position_rows": self.position_rows,
        }

    @property
    def mlp_matrices(self) -> int:
        """The ``d_model x d_ff`` matrices of the feed-forward layer: 3 for SwiGLU, 2 for GeLU."""
        return MLP_MATRICES[self.mlp]


LLAMA_BLOCK = Block()


@record
class Shape:
    """A decoder-only transformer shape. Every size is a count; ``seq_len`` is in tokens.

    ``head_dim`` 0 (the default) means ``d_model / n_heads``; the instance then holds that value, so
    ``shape.head_dim`` is always the real head size. A head size of its own (Gemma: 256 heads of a
    3072-wide model) frees ``n_heads`` from dividing ``d_model``. ``block`` (LLaMA by default) says
    which biases and norm weights the blocks hold; :meth:`to_dict` leaves it out, as the shape keys
    are a contract of every command's output.
    """

    n_layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    d_ff: int
    vocab_size: int = DEFAULT_VOCAB_SIZE
    seq_len: int = DEFAULT_SEQ_LEN
    tied_embeddings: bool = False
    head_dim: int = 0
    block: Block = LLAMA_BLOCK

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
            positive_int(getattr(self, name), name)
            if getattr(self, name) > MAX_DIMENSION:
                raise InputError(
                    f"{name.replace('_', ' ')} must be at most {MAX_DIMENSION:,}, got "
                    f"{getattr(self, name):,}",
                    quantity=name,
                )
        head_dim = self.head_dim
        if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim < 0:
            raise InputError(f"head_dim must be a positive integer, got {head_dim!r}")
        if head_dim == 0:
            if self.d_model % self.n_heads:
                raise InputError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
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
        vocab_size: int = DEFAULT_VOCAB_SIZE,
        seq_len: int = DEFAULT_SEQ_LEN,
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


def layer_matmul_params(
    d_model: int,
    n_heads: int,
    n_kv_heads: int,
    d_ff: int,
    head_dim: int | None = None,
    mlp_matrices: int = 3,
) -> int:
    """Matmul weights of one block: Q and O (d x heads x head_dim), K and V (d x kv x head_dim),
    SwiGLU (3 d d_ff; ``mlp_matrices`` 2 for a GeLU MLP). ``head_dim`` defaults to ``d_model / n_heads``.

    Fused projections (Phi-3's qkv_proj and gate_up_proj) hold the same weights in fewer matrices.
    """
    if head_dim is None:
        head_dim = d_model // n_heads
    q = n_heads * head_dim
    return 2 * d_model * q + 2 * d_model * n_kv_heads * head_dim + mlp_matrices * d_model * d_ff


def layer_flops_per_token(
    d_model: int,
    n_heads: int,
    n_kv_heads: int,
    d_ff: int,
    seq_len: int,
    head_dim: int | None = None,
    mlp_matrices: int = 3,
) -> int:
    """M of one block: 6 x its matmul weights + 12 n_heads head_dim seq_len (full, unmasked attention).

    The attention term is the paper's 12 d_model seq_len with the width of the attention itself:
    scores and the weighted sum each take one multiply-add per query dimension and position.
    """
    if head_dim is None:
        head_dim = d_model // n_heads
    matmul = layer_matmul_params(d_model, n_heads, n_kv_heads, d_ff, head_dim, mlp_matrices)
    return 6 * matmul + 12 * n_heads * head_dim * seq_len


def layer_other_params(shape: Shape) -> int:
    """Parameters of one block that are not matmul weights: biases and norm weights."""
    b, d, hd = shape.block, shape.d_model, shape.head_dim
    q, kv = shape.n_heads * hd, shape.n_kv_heads * hd
    params = b.norms_per_layer * d * (2 if b.norm_bias else 1)
    if b.qkv_bias:
        params += q + 2 * kv
    if b.o_bias:
        params += d
    if b.mlp_bias:  # one bias of d_ff per matrix into the hidden layer, one of d out of it
        params += (b.mlp_matrices - 1) * shape.d_ff + d
    if b.qk_norm == "head":
        params += 2 * hd
    elif b.qk_norm == "projection":
        params += q + kv
    return params


@record
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
    hd = shape.head_dim
    b = shape.block
    mm = b.mlp_matrices
    matmul = n * layer_matmul_params(d, shape.n_heads, shape.n_kv_heads, shape.d_ff, hd, mm)
    final = (2 if b.norm_bias else 1) * d if b.final_norm else 0
    other = n * layer_other_params(shape) + final
    non_embedding = matmul + other
    embedding = (v * d if shape.tied_embeddings else 2 * v * d) + b.position_rows * d
    m = n * layer_flops_per_token(d, shape.n_heads, shape.n_kv_heads, shape.d_ff, seq, hd, mm)
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
