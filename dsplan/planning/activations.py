"""What one transformer layer stores for its backward pass, per micro-batch (docs/memory.md).

Korthikanti et al. 2022 (arXiv 2205.05198) count it for a GPT-3 block; here it is counted tensor by
tensor for any block, so that dsplan's own (RMSNorm, grouped-query attention, SwiGLU), its
mixture-of-experts layers (top-k routed experts, shared experts, MLA attention) and the GPT-3 block
of the paper, the published check, come from the same code. :mod:`dsplan.planning.memory` sums it
per pipeline stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.errors import InputError
from dsplan.records import record
from dsplan.units import positive_int

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.model.moe import Mla, MoeShape

RECOMPUTATION = ("none", "selective", "full")
MLP_KINDS = ("swiglu", "gelu")
# How a stored tensor is split across the tensor-parallel group: "seq" (held whole unless sequence
# parallelism splits it along the sequence), "tp" (split by tensor parallelism), "score" (an
# attention-score tensor, split by tensor parallelism; its bytes per token grow with the sequence),
# "whole" (held whole on every GPU of the group, sequence parallelism or not: the routed experts'
# inputs, gathered across the group before the experts' split projections).
SPLITS = ("seq", "tp", "score", "whole")


@record
class MoeFfn:
    """The feed-forward part of an MoE layer, as far as its activations go: ``n_experts`` routed
    experts of ``d_ff_expert``, ``top_k`` of them per token, ``n_shared_experts`` of ``d_ff_shared``."""

    n_experts: int
    top_k: int
    d_ff_expert: int
    n_shared_experts: int = 0
    d_ff_shared: int = 0


@record
class ActivationBlock:
    """What one transformer layer stores for its backward pass: its widths and its kind.

    ``swiglu`` with no dropout is dsplan's block (LLaMA: RMSNorm, grouped-query attention, SwiGLU);
    ``gelu`` with dropout is the GPT-3 block of Korthikanti et al. 2022, the published check.
    ``mla`` replaces grouped-query attention by Multi-head Latent Attention (``n_kv_heads`` and
    ``head_dim`` are then unused); ``moe`` replaces the dense MLP of ``d_ff`` by routed and shared
    SwiGLU experts (``d_ff`` is then unused and may be 0).
    """

    d_model: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    d_ff: int
    mlp: str = "swiglu"
    dropout: bool = False
    mla: Mla | None = None
    moe: MoeFfn | None = None

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "n_kv_heads", "head_dim"):
            positive_int(getattr(self, name), name, name.replace("_", " "))
        if self.moe is None:
            positive_int(self.d_ff, "d_ff", "d ff")
        elif self.mlp != "swiglu" or self.dropout:
            raise InputError("MoE experts are counted as SwiGLU without dropout", quantity="mlp")
        if self.mlp not in MLP_KINDS:
            raise InputError(
                f"the MLP kind must be one of {', '.join(MLP_KINDS)}, got {self.mlp!r}",
                quantity="mlp",
            )

    @classmethod
    def of_shape(cls, shape: Shape) -> ActivationBlock:
        """dsplan's block for ``shape``: GQA with its KV heads and head size, SwiGLU, no dropout."""
        return cls(shape.d_model, shape.n_heads, shape.n_kv_heads, shape.head_dim, shape.d_ff)

    @classmethod
    def of_moe_shape(cls, shape: MoeShape, *, dense: bool = False) -> ActivationBlock:
        """An MoE layer of ``shape`` (a leading dense layer with ``dense``): GQA or MLA, SwiGLU."""
        moe = None
        if not dense:
            moe = MoeFfn(
                shape.n_experts,
                shape.top_k,
                shape.d_ff_expert,
                shape.n_shared_experts,
                shape.d_ff_shared,
            )
        return cls(
            shape.d_model,
            shape.n_heads,
            shape.n_kv_heads,
            shape.head_dim,
            shape.d_ff,
            mla=shape.mla,
            moe=moe,
        )

    @classmethod
    def gpt3(cls, d_model: int, n_heads: int) -> ActivationBlock:
        """The GPT-3 block: multi-head attention, a GeLU MLP of 4 d_model, dropout (LayerNorm)."""
        if n_heads <= 0 or d_model % n_heads:
            raise InputError(f"n_heads ({n_heads}) must divide d_model ({d_model})")
        return cls(d_model, n_heads, n_heads, d_model // n_heads, 4 * d_model, "gelu", True)

    def stored(self, recompute: str = "none", flash_attention: bool = False) -> tuple[Stored, ...]:
        """The tensors one layer keeps per token for its backward pass, in bytes (16-bit values).

        ``recompute``: ``none`` keeps everything below; ``selective`` recomputes the attention
        scores (softmax, its dropout and the product with the values) from the stored queries, keys
        and values; ``full`` keeps only the layer's input and recomputes the layer. With
        ``flash_attention`` the scores are never stored: the kernel keeps one fp32 log-sum-exp per
        query row and head instead.
        """
        if recompute not in RECOMPUTATION:
            raise InputError(
                f"the recomputation must be one of {', '.join(RECOMPUTATION)}, got {recompute!r}",
                quantity="recompute",
            )
        h, ff = self.d_model, self.d_ff
        q, kv = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        if recompute == "full":
            return (Stored("layer input", 2 * h, "seq"),)
        out = [Stored("attention norm input", 2 * h, "seq")]
        if self.mla is None:
            out += [
                Stored("QKV projection input", 2 * h, "seq"),
                Stored("queries", 2 * q, "tp"),
                Stored("keys", 2 * kv, "tp"),
                Stored("values", 2 * kv, "tp"),
            ]
        else:
            out += self._mla()
            q = self.n_heads * self.mla.v_head_dim  # the output projection's input
        if flash_attention:
            out.append(Stored("softmax log-sum-exp (fp32)", 4 * self.n_heads, "tp"))
        elif recompute == "none":
            out.append(Stored("softmax output", 2 * self.n_heads, "score"))
            if self.dropout:
                out.append(Stored("attention dropout mask", self.n_heads, "score"))
                out.append(Stored("attention dropout output", 2 * self.n_heads, "score"))
        out.append(Stored("output projection input", 2 * q, "tp"))
        if self.dropout:
            out.append(Stored("attention dropout mask (residual)", h, "seq"))
        out += [Stored("MLP norm input", 2 * h, "seq"), Stored("MLP input", 2 * h, "seq")]
        if self.moe is not None:
            return tuple(out + self._experts())
        if self.mlp == "gelu":
            out.append(Stored("GeLU input", 2 * ff, "tp"))
        else:
            out += [
                Stored("gate projection output", 2 * ff, "tp"),
                Stored("up projection output", 2 * ff, "tp"),
            ]
        out.append(Stored("down projection input", 2 * ff, "tp"))
        if self.dropout:
            out.append(Stored("MLP dropout mask (residual)", h, "seq"))
        return tuple(out)

    def _mla(self) -> list[Stored]:
        """MLA from its input to the attention core: the down-projections' input, the latents
        (each the input of its RMSNorm and, normed, of its up-projection), and the up-projected
        queries, keys (the RoPE key broadcast to every head) and values the attention keeps."""
        assert self.mla is not None
        mla, a, h = self.mla, self.n_heads, self.d_model
        out = [Stored("latent down-projections input", 2 * h, "seq")]
        if mla.q_lora_rank:
            out += [
                Stored("query latent (norm input)", 2 * mla.q_lora_rank, "seq"),
                Stored("query up-projection input", 2 * mla.q_lora_rank, "seq"),
            ]
        out += [
            Stored("key/value latent (norm input)", 2 * mla.kv_lora_rank, "seq"),
            Stored("key/value up-projection input", 2 * mla.kv_lora_rank, "seq"),
            Stored("queries", 2 * a * mla.qk_head_dim, "tp"),
            Stored("keys", 2 * a * mla.qk_head_dim, "tp"),
            Stored("values", 2 * a * mla.v_head_dim, "tp"),
        ]
        return out

    def _experts(self) -> list[Stored]:
        """Routing, the top-k routed experts and the shared experts, after the MLP input."""
        assert self.moe is not None
        e, h = self.moe, self.d_model
        k, f = e.top_k, e.d_ff_expert
        out = [
            Stored("router scores (fp32)", 4 * e.n_experts, "seq"),
            Stored("routing weights (fp32)", 4 * k, "seq"),
            Stored("routed expert inputs (top-k copies)", 2 * k * h, "whole"),
            Stored("routed gate projection outputs", 2 * k * f, "tp"),
            Stored("routed up projection outputs", 2 * k * f, "tp"),
            Stored("routed down projection inputs", 2 * k * f, "tp"),
            Stored("routed expert outputs (top-k copies)", 2 * k * h, "seq"),
        ]
        if e.n_shared_experts:
            width = e.n_shared_experts * e.d_ff_shared
            out += [
                Stored("shared gate projection outputs", 2 * width, "tp"),
                Stored("shared up projection outputs", 2 * width, "tp"),
                Stored("shared down projection inputs", 2 * width, "tp"),
            ]
        return out


@record
class Stored:
    """One tensor a layer keeps: bytes per token (per token and position for ``score``), its split."""

    name: str
    bytes_per_token: int
    split: str


@record
class LayerActivations:
    """Activation bytes of one layer for one micro-batch: ``kept`` whole on every GPU of the
    tensor-parallel group, ``split`` divided among its ``tp`` GPUs."""

    kept: int
    split: int
    tp: int

    @property
    def bytes(self) -> float:
        return self.kept + self.split / self.tp

    def to_dict(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "kept_bytes": self.kept,
            "split_bytes": self.split,
            "tp": self.tp,
        }


def layer_activations(
    block: ActivationBlock,
    seq_len: int,
    micro_batch: int,
    *,
    tp: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
    flash_attention: bool = False,
    cp: int = 1,
) -> LayerActivations:
    """Bytes one layer stores for one micro-batch of ``micro_batch`` sequences of ``seq_len``.

    Context parallelism (``cp``) gives every GPU ``seq_len / cp`` tokens of each sequence: every
    stored tensor shrinks by ``cp``, an attention-score tensor too (its local queries still see all
    ``seq_len`` keys).

    Evaluated on :meth:`ActivationBlock.gpt3` this is Korthikanti et al. 2022 (arXiv 2205.05198):
    sbh(34 + 5as/h) with no parallelism (Eq. 1), sbh(10 + 24/t + 5as/(ht)) with tensor parallelism
    (Eq. 2), sbh(34/t + 5as/(ht)) with sequence parallelism too (Eq. 3), sbh 34/t with selective
    recomputation and 2sbh with full recomputation (Section 5).
    """
    positive_int(seq_len, "seq_len", "the sequence length")
    positive_int(micro_batch, "micro_batch", "the micro-batch")
    positive_int(tp, "tp", "the tensor-parallel size")
    positive_int(cp, "cp", "the context-parallel size")
    if seq_len % cp:
        raise InputError(
            f"the context-parallel size ({cp}) must divide the sequence length ({seq_len})",
            quantity="cp",
        )
    for name, heads in (("n_heads", block.n_heads), ("n_kv_heads", block.n_kv_heads)):
        if heads % tp:
            raise InputError(
                f"the tensor-parallel size ({tp}) must divide {name.replace('_', ' ')} ({heads})",
                quantity="tp",
            )
    tokens = seq_len // cp * micro_batch
    kept = split = 0
    for t in block.stored(recompute, flash_attention):
        size = t.bytes_per_token * tokens * (seq_len if t.split == "score" else 1)
        if t.split == "whole" or (t.split == "seq" and not sequence_parallel):
            kept += size
        else:
            split += size
    return LayerActivations(kept, split, tp)
