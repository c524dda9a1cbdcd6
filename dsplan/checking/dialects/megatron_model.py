"""The model of a Megatron-LM run from its arguments, with Megatron's defaults (core_v0.14.0).

GeLU MLP of 4 x hidden unless ``--swiglu``, MHA unless ``--group-query-attention``, tied embeddings
unless ``--untie-embeddings-and-output-weights``, the vocabulary padded to
``--make-vocab-size-divisible-by`` x TP; MoE and MLA arguments as ``[model.moe]`` and
``[model.mla]``. What dsplan cannot count exactly is refused by name.
"""

from __future__ import annotations

import ast
from itertools import dropwhile

from dsplan.checking.dialects._common import Collector
from dsplan.checking.dialects.megatron_args import Args
from dsplan.checking.run_config import MlaTable, ModelConfig, MoeTable
from dsplan.model.flops import Block

# The vocabulary of GPT2BPETokenizer (GPT-2's 50257 tokens), Megatron's tokenizer for GPT runs
# with --vocab-file and --merge-file.
GPT2_VOCAB = 50257
DEFAULT_VOCAB_DIVISOR = 128
# Megatron's MLA defaults when the argument is absent (core_v0.14.0 arguments.py).
MLA_DEFAULTS = {
    "kv-lora-rank": 32,
    "qk-head-dim": 128,
    "qk-pos-emb-head-dim": 64,
    "v-head-dim": 128,
}
DEFAULT_TOPK = 2


def vocab_size(a: Args, c: Collector, tp: int) -> int | None:
    """The padded vocabulary: the tokenizer's, up to a multiple of divisible-by x TP."""
    vocab = a.int("vocab-size")
    if vocab is None and not a.has("vocab-size"):
        kind = a.raw("tokenizer-type") if a.has("tokenizer-type") else None
        if kind == "GPT2BPETokenizer" or (kind is None and a.has("merge-file")):
            vocab = GPT2_VOCAB
        else:
            c.problem(
                a.line("tokenizer-type"),
                "--vocab-size",
                f"the vocabulary comes from the tokenizer ({kind or 'not named'}), which dsplan "
                "does not load: give --vocab-size",
            )
            return None
    divisor = a.int("make-vocab-size-divisible-by", DEFAULT_VOCAB_DIVISOR)
    if vocab is None or divisor is None:
        return None
    multiple = divisor * tp
    return -(-vocab // multiple) * multiple


def model_config(
    a: Args, c: Collector, layers: int, hidden: int, heads: int, seq: int, tp: int
) -> ModelConfig | None:
    swiglu = a.has("swiglu")
    if a.has("ffn-hidden-size"):
        d_ff = a.int("ffn-hidden-size")
    elif swiglu:
        d_ff = int(4 * hidden * 2 / 3 / 64) * 64  # arguments.py: int((4h * 2/3) / 64) * 64
    else:
        d_ff = 4 * hidden
    kv = a.int("num-query-groups", 1) if a.has("group-query-attention") else heads
    head_dim = a.int("kv-channels")
    vocab = vocab_size(a, c, tp)
    norm = a.raw("normalization") if a.has("normalization") else "LayerNorm"
    if norm not in ("LayerNorm", "RMSNorm"):
        c.problem(a.line("normalization"), "--normalization", f"unknown normalization {norm!r}")
        return None
    positions = a.raw("position-embedding-type") if a.has("position-embedding-type") else None
    position_rows = 0
    if positions in (None, "learned_absolute"):
        rows = a.int("max-position-embeddings")
        if rows is None:
            c.problem(
                None,
                "--max-position-embeddings",
                "missing argument --max-position-embeddings (learned absolute positions, "
                "Megatron's default, need it; or give --position-embedding-type rope)",
            )
            return None
        position_rows = rows
    bias = not a.has("disable-bias-linear")
    moe = moe_table(a, c, layers, d_ff)
    mla = mla_table(a)
    if (a.has("num-experts") and moe is None) or (a.has("multi-latent-attention") and mla is None):
        return None
    if mla is not None and moe is None:
        c.problem(
            a.line("multi-latent-attention"),
            "--multi-latent-attention",
            "dsplan counts MLA in mixture-of-experts models only (give --num-experts)",
        )
        return None
    if moe is not None:
        # dsplan counts an MoE model with SwiGLU experts, no linear biases, RMSNorm and rotary
        # positions (Megatron's MoE recipes); another choice is refused, not miscounted.
        needed = [
            ("swiglu", not swiglu),
            ("disable-bias-linear", bias),
            ("normalization RMSNorm", norm != "RMSNorm"),
            ("position-embedding-type rope", positions in (None, "learned_absolute")),
        ]
        missing = [f"--{flag}" for flag, absent in needed if absent]
        if missing:
            c.problem(
                a.line("num-experts"),
                "--num-experts",
                f"dsplan counts Megatron MoE models with {', '.join(missing)}; this script "
                "leaves them out",
            )
            return None
        if mla is not None:
            kv = heads
    if d_ff is None or kv is None or vocab is None:
        return None
    block = Block(
        qkv_bias=bias or a.has("add-qkv-bias"),
        o_bias=bias,
        mlp_bias=bias,
        mlp="swiglu" if swiglu else "gelu",
        norm_bias=norm == "LayerNorm",
        qk_norm="head" if a.has("qk-layernorm") else "none",
        position_rows=position_rows,
    )
    return ModelConfig(
        n_layers=layers,
        d_model=hidden,
        n_heads=heads,
        n_kv_heads=kv,
        d_ff=d_ff,
        vocab_size=vocab,
        seq_len=seq,
        tied_embeddings=not a.has("untie-embeddings-and-output-weights"),
        head_dim=head_dim if head_dim is not None and head_dim * heads != hidden and not mla else 0,
        block=block,
        moe=moe,
        mla=mla,
    )


def _layer_pattern(text: str) -> list[int] | None:
    """``--moe-layer-freq``'s list form, ``([0]*3+[1]*58)`` or ``[0,1,1]``: its 0s and 1s."""
    try:
        tree = ast.parse(text.strip().strip("'\""), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None

    def value(node: ast.expr) -> list[int] | None:
        if isinstance(node, ast.List):
            items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            ok = len(items) == len(node.elts) and all(i in (0, 1) for i in items)
            return [1 if i else 0 for i in items] if ok else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = value(node.left), value(node.right)
            return None if left is None or right is None else left + right
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            times = node.right if isinstance(node.right, ast.Constant) else node.left
            seq = node.left if times is node.right else node.right
            n = times.value if isinstance(times, ast.Constant) else None
            base = value(seq)
            if base is None or not isinstance(n, int) or not 0 <= n * len(base) <= 1_000_000:
                return None
            return base * n
        return None

    return value(tree)


def moe_table(a: Args, c: Collector, layers: int, d_ff: int | None) -> MoeTable | None:
    """The experts of ``--num-experts`` and the ``--moe-*`` arguments, or None."""
    if not a.has("num-experts"):
        return None
    experts = a.int("num-experts")
    top_k = a.int("moe-router-topk", DEFAULT_TOPK)
    expert_width = a.int("moe-ffn-hidden-size", d_ff)
    shared = a.int("moe-shared-expert-intermediate-size")
    dense = 0
    if a.has("moe-layer-freq"):
        raw = a.raw("moe-layer-freq")
        if raw is None:
            return None
        pattern = (
            [int(i % int(raw) == 0) for i in range(layers)]
            if raw.isdigit() and int(raw) > 0
            else _layer_pattern(raw)
        )
        leading = len(pattern) - len(list(dropwhile(lambda x: x == 0, pattern))) if pattern else 0
        if pattern is None or len(pattern) != layers or 0 in pattern[leading:]:
            c.problem(
                a.line("moe-layer-freq"),
                "--moe-layer-freq",
                f"{raw!r}: dsplan counts leading dense layers followed by MoE layers only "
                f"({layers} entries of 0 then 1, or 1)",
            )
            return None
        dense = leading
    if experts is None or top_k is None or expert_width is None:
        return None
    return MoeTable(
        n_experts=experts,
        top_k=top_k,
        d_ff_expert=expert_width,
        n_shared_experts=1 if shared else 0,
        d_ff_shared=shared or 0,
        n_dense_layers=dense,
    )


def mla_table(a: Args) -> MlaTable | None:
    """Megatron's MLA arguments (with its defaults), or None without --multi-latent-attention."""
    if not a.has("multi-latent-attention"):
        return None
    sizes = {name: a.int(name, default) for name, default in MLA_DEFAULTS.items()}
    q_lora = a.int("q-lora-rank") if a.has("q-lora-rank") else 0
    if q_lora is None or any(v is None for v in sizes.values()):
        return None
    return MlaTable(
        kv_lora_rank=sizes["kv-lora-rank"] or 0,
        q_lora_rank=q_lora,
        qk_nope_head_dim=sizes["qk-head-dim"] or 0,
        qk_rope_head_dim=sizes["qk-pos-emb-head-dim"] or 0,
        v_head_dim=sizes["v-head-dim"] or 0,
    )
