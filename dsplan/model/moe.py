"""Exact parameter and FLOP counts of a mixture-of-experts decoder, with GQA or MLA attention.

A model kind beside the dense :class:`~dsplan.model.flops.Shape` (whose counts it leaves alone).
Counting conventions (docs/methodology.md, "Mixture-of-experts and MLA"):

* A layer is attention plus either a dense SwiGLU feed-forward layer of ``d_ff`` (the
  ``n_dense_layers`` leading layers: DeepSeek's ``first_k_dense_replace``) or an MoE layer: a router
  (``n_experts x d_model``, a bias where the model has one), ``n_experts`` routed SwiGLU experts of
  ``d_ff_expert``, of which ``top_k`` run per token, and ``n_shared_experts`` shared SwiGLU experts
  of ``d_ff_shared`` that every token runs (Qwen2-MoE adds a one-unit sigmoid gate on them).
* Attention is GQA/MHA as in the dense count (biases, norms and q/k norms from the :class:`Block`),
  or MLA (:class:`Mla`): a query path (compressed through ``q_lora_rank`` with a norm, or one
  projection), a shared key/value latent of ``kv_lora_rank`` (with its norm) plus a RoPE key of
  ``qk_rope_head_dim``, up-projections to ``qk_nope_head_dim`` keys and ``v_head_dim`` values per
  head, and the output projection from ``n_heads x v_head_dim``.
* Activated parameters per token are all parameters except the routed experts a token does not
  visit: ``top_k`` of ``n_experts`` per MoE layer. "With embeddings" counts the input embedding and
  the output head (DeepSeek's convention for its 37B); "non-embedding" counts neither.
* M (``flops_per_token``) is the dense convention carried over to the activated path: 6 x the
  activated matmul weights of the layers (router and shared experts included) plus the attention
  term over the full, unmasked sequence, ``6 n_layers n_heads (d_qk + d_v) seq_len`` with
  ``d_qk = d_v = head_dim`` for GQA/MHA (the dense ``12 n_heads head_dim seq_len``) and
  ``d_qk = qk_nope_head_dim + qk_rope_head_dim``, ``d_v = v_head_dim`` for MLA. Vocabulary excluded.
* Multi-token-prediction modules (DeepSeek-V3's ``num_nextn_predict_layers``) are counted apart and
  left out of every headline total, as DeepSeek reports its 671B: each is two input norms, a
  ``2 d_model x d_model`` projection, one MoE layer and the shared head's norm; the embedding and
  output head it shares with the main model are not counted again.
"""

from __future__ import annotations

from typing import Any

from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.flops import LLAMA_BLOCK, MAX_DIMENSION, Block
from dsplan.records import record


def _size(value: Any, name: str, *, zero: bool = False) -> None:
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        what = "0 or a positive integer" if zero else "a positive integer"
        raise InputError(f"{name.replace('_', ' ')} must be {what}, got {value!r}", quantity=name)
    if value > MAX_DIMENSION:
        raise InputError(
            f"{name.replace('_', ' ')} must be at most {MAX_DIMENSION:,}, got {value:,}",
            quantity=name,
        )


@record
class Mla:
    """Multi-head Latent Attention's sizes (DeepSeek-V2, arXiv 2405.04434, Section 2.1).

    ``q_lora_rank`` 0 means no query compression (DeepSeek-V2-Lite: one ``q_proj``).
    """

    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    q_lora_rank: int = 0

    def __post_init__(self) -> None:
        for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            _size(getattr(self, name), name)
        _size(self.q_lora_rank, "q_lora_rank", zero=True)

    @property
    def qk_head_dim(self) -> int:
        """The width of a query or key head: the no-RoPE part and the RoPE part."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def matmul_params(self, d_model: int, n_heads: int) -> int:
        """Matmul weights of one MLA layer."""
        q_out = n_heads * self.qk_head_dim
        if self.q_lora_rank:
            q = d_model * self.q_lora_rank + self.q_lora_rank * q_out
        else:
            q = d_model * q_out
        kv_a = d_model * (self.kv_lora_rank + self.qk_rope_head_dim)
        kv_b = self.kv_lora_rank * n_heads * (self.qk_nope_head_dim + self.v_head_dim)
        o = n_heads * self.v_head_dim * d_model
        return q + kv_a + kv_b + o

    def norm_params(self) -> int:
        """The latent norms' weights: the query latent's (if compressed) and the key/value latent's."""
        return self.q_lora_rank + self.kv_lora_rank

    def to_dict(self) -> dict[str, Any]:
        return {
            "q_lora_rank": self.q_lora_rank,
            "kv_lora_rank": self.kv_lora_rank,
            "qk_nope_head_dim": self.qk_nope_head_dim,
            "qk_rope_head_dim": self.qk_rope_head_dim,
            "v_head_dim": self.v_head_dim,
        }


@record
class MoeShape:
    """A mixture-of-experts decoder. Every size is a count; ``seq_len`` is in tokens.

    Attributes:
        n_layers: All layers, dense and MoE.
        d_model: Width.
        n_heads: Attention (query) heads.
        n_kv_heads: Key/value heads of GQA; with ``mla`` it must equal ``n_heads``.
        head_dim: GQA's head size (0: ``d_model / n_heads``); with ``mla`` it is set to MLA's
            query/key head width.
        n_experts: Routed experts per MoE layer.
        top_k: Routed experts each token runs.
        d_ff_expert: A routed expert's SwiGLU width.
        n_shared_experts: Shared experts per MoE layer, each of ``d_ff_shared``.
        d_ff_shared: A shared expert's width (0: ``d_ff_expert``).
        n_dense_layers: Layers with a dense feed-forward layer instead of experts.
        d_ff: The dense layers' SwiGLU width (0 when there are none).
        vocab_size, seq_len, tied_embeddings: as in :class:`~dsplan.model.flops.Shape`.
        block: Biases and norm weights of the attention and the layer norms (its ``mlp_bias`` must
            be off: expert biases are ``expert_bias``).
        mla: MLA's sizes, or None for GQA/MHA.
        router_bias: The router has a bias per expert (gpt-oss).
        expert_bias: Routed experts' projections have biases (gpt-oss).
        shared_expert_gate: A ``d_model x 1`` sigmoid gate on the shared experts (Qwen2-MoE).
        attention_sinks: A learned sink logit per head (gpt-oss).
        mtp_layers: Multi-token-prediction modules, counted apart (DeepSeek-V3: 1).
    """

    n_layers: int
    d_model: int
    n_heads: int
    n_experts: int
    top_k: int
    d_ff_expert: int
    n_kv_heads: int = 0
    head_dim: int = 0
    n_shared_experts: int = 0
    d_ff_shared: int = 0
    n_dense_layers: int = 0
    d_ff: int = 0
    vocab_size: int = DEFAULT_VOCAB_SIZE
    seq_len: int = DEFAULT_SEQ_LEN
    tied_embeddings: bool = False
    block: Block = LLAMA_BLOCK
    mla: Mla | None = None
    router_bias: bool = False
    expert_bias: bool = False
    shared_expert_gate: bool = False
    attention_sinks: bool = False
    mtp_layers: int = 0

    def __post_init__(self) -> None:
        for name in ("n_layers", "d_model", "n_heads", "n_experts", "top_k", "d_ff_expert"):
            _size(getattr(self, name), name)
        for name in ("vocab_size", "seq_len"):
            _size(getattr(self, name), name)
        for name in (
            "n_kv_heads",
            "head_dim",
            "n_shared_experts",
            "d_ff_shared",
            "n_dense_layers",
            "d_ff",
            "mtp_layers",
        ):
            _size(getattr(self, name), name, zero=True)
        if self.top_k > self.n_experts:
            raise InputError(
                f"top_k ({self.top_k}) must be at most n_experts ({self.n_experts})",
                quantity="top_k",
            )
        if self.n_dense_layers > self.n_layers:
            raise InputError(
                f"n_dense_layers ({self.n_dense_layers}) must be at most n_layers "
                f"({self.n_layers})",
                quantity="n_dense_layers",
            )
        if self.n_dense_layers and not self.d_ff:
            raise InputError("dense layers need their d_ff", quantity="d_ff")
        if self.block.mlp_bias:
            raise InputError("an MoE shape's expert biases are expert_bias, not block.mlp_bias")
        b = self.block
        if b.mlp != "swiglu" or b.norm_bias or b.position_rows:
            raise InputError(
                "an MoE shape is counted with SwiGLU experts, norms without biases and no learned "
                "position table"
            )
        if self.n_shared_experts and not self.d_ff_shared:
            object.__setattr__(self, "d_ff_shared", self.d_ff_expert)
        if self.shared_expert_gate and not self.n_shared_experts:
            raise InputError(
                "a shared-expert gate needs shared experts", quantity="n_shared_experts"
            )
        if self.mla is not None:
            if self.n_kv_heads not in (0, self.n_heads):
                raise InputError(
                    f"MLA has one key/value head per query head: n_kv_heads must be n_heads "
                    f"({self.n_heads}), got {self.n_kv_heads}",
                    quantity="n_kv_heads",
                )
            if self.block.qkv_bias or self.block.o_bias or self.block.qk_norm != "none":
                raise InputError("MLA is counted without attention biases or q/k norms")
            object.__setattr__(self, "n_kv_heads", self.n_heads)
            object.__setattr__(self, "head_dim", self.mla.qk_head_dim)
            return
        if self.n_kv_heads == 0:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        if self.head_dim == 0:
            if self.d_model % self.n_heads:
                raise InputError(
                    f"n_heads ({self.n_heads}) must divide d_model ({self.d_model}), or give "
                    "head_dim",
                    quantity="n_heads",
                )
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
        if self.n_heads % self.n_kv_heads:
            raise InputError(
                f"n_kv_heads ({self.n_kv_heads}) must divide n_heads ({self.n_heads})",
                quantity="n_kv_heads",
            )

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.n_dense_layers

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "head_dim": self.head_dim,
            "n_experts": self.n_experts,
            "top_k": self.top_k,
            "d_ff_expert": self.d_ff_expert,
            "n_shared_experts": self.n_shared_experts,
            "d_ff_shared": self.d_ff_shared,
            "n_dense_layers": self.n_dense_layers,
            "d_ff": self.d_ff,
            "vocab_size": self.vocab_size,
            "seq_len": self.seq_len,
            "tied_embeddings": self.tied_embeddings,
            "attention": "mla" if self.mla is not None else "gqa",
            "mla": None if self.mla is None else self.mla.to_dict(),
            "router_bias": self.router_bias,
            "expert_bias": self.expert_bias,
            "shared_expert_gate": self.shared_expert_gate,
            "attention_sinks": self.attention_sinks,
            "mtp_layers": self.mtp_layers,
        }


@record
class MoeCounts:
    """Parameter and FLOP counts of one :class:`MoeShape`.

    ``params_total``, ``params_non_embedding``, ``params_embedding``, ``flops_per_token`` and
    ``flops_per_token_hardware`` mean what they mean in :class:`~dsplan.model.flops.Counts` (so a
    cost estimate reads either); M and the hardware FLOPs are of the activated path.
    """

    flops_per_token: int
    flops_per_token_hardware: int
    flops_per_token_dense_eq2: int
    params_total: int
    params_non_embedding: int
    params_embedding: int
    params_activated: int
    params_activated_non_embedding: int
    params_attention: int
    params_routed_experts: int
    params_shared_experts: int
    params_routers: int
    params_dense_ffn: int
    params_mtp: int
    attention_flops_per_token: int
    ratio_6na_to_m: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _attention_params(s: MoeShape) -> tuple[int, int]:
    """One layer's attention (matmul weights, other weights), its two layer norms included."""
    b, d = s.block, s.d_model
    other = b.norms_per_layer * d
    if s.attention_sinks:
        other += s.n_heads
    if s.mla is not None:
        return s.mla.matmul_params(d, s.n_heads), other + s.mla.norm_params()
    hd = s.head_dim
    q, kv = s.n_heads * hd, s.n_kv_heads * hd
    matmul = 2 * d * q + 2 * d * kv
    if b.qkv_bias:
        other += q + 2 * kv
    if b.o_bias:
        other += d
    if b.qk_norm == "head":
        other += 2 * hd
    elif b.qk_norm == "projection":
        other += q + kv
    return matmul, other


def _moe_layer(s: MoeShape, experts: int) -> tuple[int, int, int, int]:
    """One MoE layer with ``experts`` routed experts: (routed, shared, router, matmul of all)."""
    d = s.d_model
    routed_matmul = experts * 3 * d * s.d_ff_expert
    routed = routed_matmul + (experts * (2 * s.d_ff_expert + d) if s.expert_bias else 0)
    shared = s.n_shared_experts * 3 * d * s.d_ff_shared + (d if s.shared_expert_gate else 0)
    router = s.n_experts * d + (s.n_experts if s.router_bias else 0)
    return routed, shared, router, routed_matmul + shared + s.n_experts * d


@record
class MoeLayerParams:
    """One layer's parameters of a :class:`MoeShape`, grouped as a parallel layout splits them.

    ``*_split`` are matmul weights that tensor parallelism divides (Megatron-LM's column and row
    splits); ``*_whole`` stay whole on every GPU of the tensor-parallel group: norms, biases,
    attention sinks, the router, the shared-expert gate and MLA's down-projections (replicated in
    Megatron-LM's MLA). ``expert_split``/``expert_whole`` are one routed expert's (its projections
    and, with ``expert_bias``, its biases); expert parallelism places whole experts.
    """

    attention_split: int
    attention_whole: int
    dense_ffn_split: int
    expert_split: int
    expert_whole: int
    shared_split: int
    moe_whole: int
    mtp_split: int
    mtp_whole: int


def moe_layer_params(s: MoeShape) -> MoeLayerParams:
    """The parameters of one attention block, one leading dense feed-forward layer, one routed
    expert, the rest of an MoE layer, and a multi-token-prediction module's own (beyond its MoE
    layer), as :func:`moe_counts` counts them."""
    d = s.d_model
    matmul, other = _attention_params(s)
    down = 0
    if s.mla is not None:
        down = d * (s.mla.kv_lora_rank + s.mla.qk_rope_head_dim)
        down += d * s.mla.q_lora_rank
    routed_one, shared, router, _ = _moe_layer(s, 1)
    expert_split = 3 * d * s.d_ff_expert
    gate = d if s.shared_expert_gate else 0
    return MoeLayerParams(
        attention_split=matmul - down,
        attention_whole=other + down,
        dense_ffn_split=3 * d * s.d_ff,
        expert_split=expert_split,
        expert_whole=routed_one - expert_split,
        shared_split=shared - gate,
        moe_whole=router + gate,
        mtp_split=2 * d * d,
        mtp_whole=3 * d,
    )


def moe_counts(s: MoeShape) -> MoeCounts:
    """Count the parameters (total and activated) and M of the activated path of ``s``.

    References:
        The dense convention of arXiv 2401.02954 (Eq. 2 and Table 3) carried over to the activated
        path; MLA's sizes as in arXiv 2405.04434 Section 2.1 and the Hugging Face configs.
    """
    d, v = s.d_model, s.vocab_size
    attn_matmul, attn_other = _attention_params(s)
    attention = s.n_layers * (attn_matmul + attn_other)
    dense_ffn = s.n_dense_layers * 3 * d * s.d_ff
    routed, shared, router, _ = _moe_layer(s, s.n_experts)
    routed_k, _, _, active_matmul = _moe_layer(s, s.top_k)
    m_layers = s.n_moe_layers
    final_norm = d if s.block.final_norm else 0
    non_embedding = attention + dense_ffn + m_layers * (routed + shared + router) + final_norm
    activated_non_embedding = (
        attention + dense_ffn + m_layers * (routed_k + shared + router) + final_norm
    )
    embedding = v * d if s.tied_embeddings else 2 * v * d
    matmul_activated = s.n_layers * attn_matmul + dense_ffn + m_layers * active_matmul
    # Per head: score products over the query/key width, the weighted sum over the value width.
    width = 2 * s.head_dim if s.mla is None else s.mla.qk_head_dim + s.mla.v_head_dim
    attention_flops = 6 * s.n_layers * s.n_heads * width * s.seq_len
    m = 6 * matmul_activated + attention_flops
    mtp_module = (
        3 * d  # the two input norms (enorm, hnorm) and the shared head's norm
        + 2 * d * d  # eh_proj
        + attn_matmul
        + attn_other
        + routed
        + shared
        + router
    )
    return MoeCounts(
        flops_per_token=m,
        flops_per_token_hardware=m + 6 * v * d,
        flops_per_token_dense_eq2=6 * activated_non_embedding + 12 * s.n_layers * d * s.seq_len,
        params_total=non_embedding + embedding,
        params_non_embedding=non_embedding,
        params_embedding=embedding,
        params_activated=activated_non_embedding + embedding,
        params_activated_non_embedding=activated_non_embedding,
        params_attention=attention,
        params_routed_experts=m_layers * routed,
        params_shared_experts=m_layers * shared,
        params_routers=m_layers * router,
        params_dense_ffn=dense_ffn,
        params_mtp=s.mtp_layers * mtp_module,
        attention_flops_per_token=attention_flops,
        ratio_6na_to_m=6 * activated_non_embedding / m,
    )
