"""Each layer's parameters and activations on one GPU of a layout, dense or mixture-of-experts.

:mod:`dsplan.planning.memory` places these on pipeline stages and shards them by ZeRO. A layer's
matrices are split by tensor parallelism (norms, biases, the router and MLA's down-projections stay
whole); a mixture-of-experts layer's routed experts are spread over the expert-parallel ranks,
``n_experts / ep`` whole experts per GPU, each split by tensor parallelism like a dense layer
(Megatron-LM's default expert tensor parallelism). docs/memory.md has the derivation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsplan.errors import InputError
from dsplan.model.flops import Shape, layer_matmul_params, layer_other_params
from dsplan.planning.activations import ActivationBlock, LayerActivations, layer_activations
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.model.moe import MoeShape

# The cross-entropy reads the logits in fp32: 4 bytes per logit (Korthikanti et al. 2022, 4.1).
LOGIT_BYTES = 4


@record
class LayerMemory:
    """One layer on one GPU: its parameters (``expert_params`` of them routed experts, whose ZeRO
    group is the expert data-parallel one) and its activations for one micro-batch."""

    kind: str
    params: int
    expert_params: int
    activations: LayerActivations
    extra_activations: float = 0.0

    @property
    def activation_bytes(self) -> float:
        return self.activations.bytes + self.extra_activations


@record
class ModelMemory:
    """A model on one GPU of a layout: its layers first to last as runs of equal layers
    (``(layer, count)``), the embedding and the output head's parameters per GPU, the output head's
    activations for one micro-batch on the last stage, and the modules the last stage adds
    (DeepSeek-V3's multi-token prediction)."""

    runs: tuple[tuple[LayerMemory, int], ...]
    embedding: int
    final_norm: int
    tied_embeddings: bool
    head_activations: float
    last_stage_extra: tuple[LayerMemory, ...] = ()

    @property
    def per_layer(self) -> LayerActivations:
        """The activations of the model's last layer (an MoE layer when there is one)."""
        return self.runs[-1][0].activations

    @property
    def dense_layer(self) -> LayerActivations | None:
        """A leading dense layer's activations, when an MoE model has some."""
        first, last = self.runs[0][0], self.runs[-1][0]
        return first.activations if first.kind == "dense" and last.kind == "moe" else None

    def between(self, start: int, stop: int) -> list[tuple[LayerMemory, int]]:
        """The runs of layers ``start`` to ``stop - 1``."""
        out, at = [], 0
        for layer, n in self.runs:
            count = min(stop, at + n) - max(start, at)
            if count > 0:
                out.append((layer, count))
            at += n
        return out


def _split(params: int, tp: int, what: str) -> int:
    if params % tp:
        raise InputError(
            f"the tensor-parallel size ({tp}) must divide the {what} ({params:,} weights)",
            quantity="tp",
        )
    return params // tp


def _head(h: int, vocab: int, seq_len: int, micro_batch: int, tp: int, cp: int, sp: bool) -> float:
    """The final norm's and the output head's inputs (2 s b h each, split with sequence
    parallelism) and the fp32 logits (vocabulary-parallel), for one micro-batch."""
    s, b = seq_len, micro_batch
    seq_div = (tp if sp else 1) * cp
    return (2 * 2 * s * b * h) / seq_div + LOGIT_BYTES * s * b * vocab / (tp * cp)


def dense_model_memory(
    shape: Shape,
    block: ActivationBlock,
    *,
    tp: int,
    cp: int,
    micro_batch: int,
    sequence_parallel: bool,
    recompute: str,
    flash_attention: bool,
) -> ModelMemory:
    """Every layer of a dense ``shape`` alike: matrices split ``tp`` ways, norms and biases whole."""
    h = shape.d_model
    acts = layer_activations(
        block,
        shape.seq_len,
        micro_batch,
        tp=tp,
        sequence_parallel=sequence_parallel,
        recompute=recompute,
        flash_attention=flash_attention,
        cp=cp,
    )
    matmul = layer_matmul_params(h, shape.n_heads, shape.n_kv_heads, shape.d_ff, shape.head_dim)
    if block.mlp == "gelu":
        matmul -= h * shape.d_ff
    if matmul % tp:
        raise InputError(f"the tensor-parallel size ({tp}) must divide the layer's weights")
    layer = LayerMemory("dense", matmul // tp + layer_other_params(shape), 0, acts)
    # A vocabulary that t does not divide is padded to a multiple of t (as Megatron-LM pads it).
    vocab = -(-shape.vocab_size // tp) * tp
    return ModelMemory(
        ((layer, shape.n_layers),),
        vocab * h // tp,
        h if shape.block.final_norm else 0,
        shape.tied_embeddings,
        _head(h, vocab, shape.seq_len, micro_batch, tp, cp, sequence_parallel),
    )


def moe_model_memory(
    shape: MoeShape,
    *,
    tp: int,
    cp: int,
    ep: int,
    micro_batch: int,
    sequence_parallel: bool,
    recompute: str,
    flash_attention: bool,
) -> ModelMemory:
    """The leading dense layers, the MoE layers (``n_experts / ep`` routed experts per GPU) and
    the multi-token-prediction modules of ``shape`` (on the last stage, as DeepSeek-V3 places them
    beside the output head it shares, arXiv 2412.19437 Section 3.2.3)."""
    from dsplan.model.moe import moe_layer_params

    if shape.n_experts % ep:
        raise InputError(
            f"the expert-parallel size ({ep}) must divide the routed experts ({shape.n_experts})",
            quantity="ep",
        )
    p = moe_layer_params(shape)
    h, s, b = shape.d_model, shape.seq_len, micro_batch
    attention = _split(p.attention_split, tp, "attention's weights") + p.attention_whole
    experts = shape.n_experts // ep
    expert = experts * (_split(p.expert_split, tp, "experts' weights") + p.expert_whole)
    moe_dense = _split(p.shared_split, tp, "shared experts' weights") + p.moe_whole

    def acts(dense: bool) -> LayerActivations:
        return layer_activations(
            ActivationBlock.of_moe_shape(shape, dense=dense),
            s,
            b,
            tp=tp,
            sequence_parallel=sequence_parallel,
            recompute=recompute,
            flash_attention=flash_attention,
            cp=cp,
        )

    moe = LayerMemory("moe", attention + moe_dense + expert, expert, acts(False))
    runs: tuple[tuple[LayerMemory, int], ...] = ((moe, shape.n_moe_layers),)
    if shape.n_dense_layers:
        ffn = _split(p.dense_ffn_split, tp, "dense feed-forward weights")
        dense = LayerMemory("dense", attention + ffn, 0, acts(True))
        runs = ((dense, shape.n_dense_layers), *runs)
    vocab = -(-shape.vocab_size // tp) * tp
    head = _head(h, vocab, s, b, tp, cp, sequence_parallel)
    mtp: tuple[LayerMemory, ...] = ()
    if shape.mtp_layers:
        # Each module: its own norms and 2h x h projection, one MoE layer, and for its backward the
        # two norms' inputs, the projection's input (2h wide; with full recomputation only the
        # module's two inputs) and a second pass through the head.
        own = _split(p.mtp_split, tp, "prediction module's projection") + p.mtp_whole
        seq_div = (tp if sequence_parallel else 1) * cp
        kept = 2 * 2 * h if recompute == "full" else 2 * 2 * h + 2 * 2 * h
        extra = kept * s * b / seq_div + head
        module = LayerMemory("mtp", moe.params + own, expert, moe.activations, extra)
        mtp = (module,) * shape.mtp_layers
    return ModelMemory(
        runs,
        vocab * h // tp,
        h if shape.block.final_norm else 0,
        shape.tied_embeddings,
        head,
        mtp,
    )


def stage_chunks(layers: tuple[int, ...], v: int) -> list[list[tuple[int, int]]]:
    """The layer ranges [a, z) of every stage's model chunks: the model cut in p v chunks in order,
    chunk c on stage c mod p with that stage's layers / v."""
    pp = len(layers)
    out: list[list[tuple[int, int]]] = [[] for _ in range(pp)]
    start = 0
    for c in range(pp * v):
        n = layers[c % pp] // v
        out[c % pp].append((start, start + n))
        start += n
    return out


def chunk_bytes(runs: list[tuple[LayerMemory, int]], flight: int) -> float:
    """Activations of ``flight`` micro-batches of a chunk's runs of equal layers."""
    return sum((flight * n) * layer.activation_bytes for layer, n in runs)
