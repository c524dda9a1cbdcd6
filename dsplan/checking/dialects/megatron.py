"""A Megatron-LM launch script (bash) or argument file as a run config.

Argument names and defaults are Megatron-LM's parser, ``megatron/training/arguments.py`` at
core_v0.14.0 (commit 23e00ed); the micro-batch ramp is ``megatron/core/num_microbatches_calculator.py``
and the schedule ``megatron/core/optimizer_param_scheduler.py``. The script is read statically
(:mod:`dsplan.checking.dialects.bash`): a value it sets only when it runs is reported, never guessed.
The table of arguments and defaults is in docs/check.md.

Why one module of ~600 lines: it is one translation of Megatron's argument namespace; the argument
table, the defaults, the model, the tokens with the batch ramp, the schedule and the layout all
read the same parsed arguments and state one Megatron-LM release.
"""

from __future__ import annotations

import ast
import math
from itertools import dropwhile
from pathlib import Path

from dsplan.checking.dialects._common import Collector, build, schedule_fields
from dsplan.checking.dialects.bash import ScriptError, Unknown, Word, commands
from dsplan.checking.run_config import Layout, MlaTable, ModelConfig, MoeTable, RunConfig
from dsplan.checking.schema import ConfigProblems, Problem
from dsplan.model.flops import MAX_DIMENSION, Block

RELEASE = "Megatron-LM core_v0.14.0 (23e00ed)"
# The vocabulary of GPT2BPETokenizer (GPT-2's 50257 tokens), Megatron's tokenizer for GPT runs
# with --vocab-file and --merge-file.
GPT2_VOCAB = 50257
DEFAULT_VOCAB_DIVISOR = 128
DECAY_STYLES = ("constant", "linear", "cosine", "inverse-square-root", "WSD")
# The ramp is walked one increment at a time: at most this many increments.
MAX_RAMP_INCREMENTS = 1_000_000
# Megatron's MLA defaults when the argument is absent (core_v0.14.0 arguments.py).
MLA_DEFAULTS = {
    "kv-lora-rank": 32,
    "qk-head-dim": 128,
    "qk-pos-emb-head-dim": 64,
    "v-head-dim": 128,
}
DEFAULT_TOPK = 2


class _Args:
    """The arguments of a script: the last value(s) of each ``--flag`` and its line."""

    def __init__(self, words: list[Word], c: Collector) -> None:
        self.values: dict[str, list[str | Unknown]] = {}
        self.lines: dict[str, int] = {}
        self.c = c
        i = 0
        while i < len(words):
            w = words[i]
            text = w.text
            i += 1
            if not isinstance(text, str) or not text.startswith("--") or len(text) < 3:
                continue
            name, eq, inline = text[2:].partition("=")
            values: list[str | Unknown] = []
            if eq:
                values.append(inline)
            else:
                while i < len(words):
                    nxt = words[i].text
                    if isinstance(nxt, str) and nxt.startswith("--"):
                        break
                    values.append(nxt)
                    i += 1
            self.values[name] = values
            self.lines[name] = w.line

    def has(self, name: str) -> bool:
        return name in self.values

    def line(self, name: str) -> int | None:
        return self.lines.get(name)

    def known(self, name: str) -> bool:
        """Whether the flag's first value (if any) is set by the text, not only at run time."""
        values = self.values.get(name)
        return not values or not isinstance(values[0], Unknown)

    def raw(self, name: str) -> str | None:
        """The flag's first value; a problem (and None) if the script sets it only at run time."""
        values = self.values.get(name)
        if not values:
            return None
        v = values[0]
        if isinstance(v, Unknown):
            self.c.problem(self.line(name), f"--{name}", f"unknown value: {v.reason}")
            return None
        return v

    def int(self, name: str, default: int | None = None, *, minimum: int = 1) -> int | None:
        if not self.has(name):
            return default
        v = self.raw(name)
        if v is None:
            if not self.values.get(name):
                self.c.problem(self.line(name), f"--{name}", "expected an integer value")
            return None
        try:
            n = int(v)
        except ValueError:
            self.c.problem(self.line(name), f"--{name}", f"expected an integer, got {v!r}")
            return None
        if n < minimum or n > MAX_DIMENSION * MAX_DIMENSION:
            self.c.problem(self.line(name), f"--{name}", f"must be at least {minimum}, got {n}")
            return None
        return n

    def float(self, name: str, default: float | None = None) -> float | None:
        if not self.has(name):
            return default
        v = self.raw(name)
        if v is None:
            if not self.values.get(name):
                self.c.problem(self.line(name), f"--{name}", "expected a number")
            return None
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        if not math.isfinite(x) or x < 0:
            self.c.problem(self.line(name), f"--{name}", f"expected a number >= 0, got {v!r}")
            return None
        return x

    def required(self, name: str, value: object, why: str = "") -> None:
        if value is None and not self.has(name):
            self.c.problem(None, f"--{name}", f"missing argument --{name}{why}")


def _ramp(start: int, increment: int, ramp_samples: int, gbs: int) -> tuple[int, int] | str:
    """The iterations and samples of Megatron's batch ramp: from ``start`` by ``increment``,
    one increment every ``ramp_samples / increments`` consumed samples, up to ``gbs``
    (``megatron/core/num_microbatches_calculator.py``). A string says why it is invalid."""
    diff = gbs - start
    if start <= 0 or increment <= 0 or diff < 0 or diff % increment:
        return (
            "the ramp must start at or below --global-batch-size and reach it in whole increments"
        )
    increments = diff // increment
    if increments > MAX_RAMP_INCREMENTS:
        return f"more than {MAX_RAMP_INCREMENTS} increments"
    if increments == 0:
        return 0, 0
    per_increment = ramp_samples / increments
    consumed, iters = 0, 0
    for k in range(increments):
        batch = start + k * increment
        # Iterations while int(consumed / per_increment) == k, i.e. consumed < per_increment*(k+1).
        end = per_increment * (k + 1)
        steps = max(0, math.ceil((end - consumed) / batch))
        consumed += steps * batch
        iters += steps
    return iters, consumed


def _words(text: str, c: Collector) -> list[Word]:
    try:
        found = commands(text)
    except ScriptError as exc:
        problem = Problem(c.file, exc.line, "", f"cannot read the script: {exc}")
        raise ConfigProblems([problem]) from None
    return [w for command in found for w in command]


def translate(
    text: str,
    file: str,
    *,
    base_dir: Path,
    preset: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
) -> RunConfig:
    """A Megatron-LM launch script or argument file as a run config; see the module's docstring."""
    del base_dir, hf_config  # the shape is in the arguments
    c = Collector(file)
    a = _Args(_words(text, c), c)
    layers = a.int("num-layers")
    hidden = a.int("hidden-size")
    heads = a.int("num-attention-heads")
    seq = a.int("seq-length")
    lr = a.float("lr")
    mbs = a.int("micro-batch-size")
    for name, value in (
        ("num-layers", layers),
        ("hidden-size", hidden),
        ("num-attention-heads", heads),
        ("seq-length", seq),
        ("lr", lr),
        ("micro-batch-size", mbs),
    ):
        a.required(name, value)
    tp = a.int("tensor-model-parallel-size", 1)
    pp = a.int("pipeline-model-parallel-size", 1)
    cp = a.int("context-parallel-size", 1)
    ep = a.int("expert-model-parallel-size", 1)
    gbs_given = a.int("global-batch-size")
    iters = a.int("train-iters")
    samples = a.int("train-samples")
    if a.has("train-iters") == a.has("train-samples"):
        c.problem(
            a.line("train-iters") or a.line("train-samples"),
            "--train-iters",
            "give exactly one of --train-iters and --train-samples (Megatron's rule)",
        )
    # The world: torchrun's --nproc_per_node x --nnodes, else --gpus, else --world-size.
    # The world is optional: a launcher value the script sets only at run time (GPUS_PER_NODE from
    # the environment) or an elastic range (--nnodes 2:4) leaves it unknown, with the rules that
    # need it silent, rather than stopping the check.
    nproc_flag = "nproc_per_node" if a.has("nproc_per_node") else "nproc-per-node"
    nproc = a.int(nproc_flag) if a.known(nproc_flag) else None
    elastic = a.has("nnodes") and ":" in str(a.values["nnodes"][:1])
    nnodes = None if elastic or not a.known("nnodes") else a.int("nnodes", 1)
    world = world_size
    if nproc is not None and nnodes is not None:
        world = nproc * nnodes
    elif a.has("gpus") and a.known("gpus"):
        world = a.int("gpus")
    c.raise_if_any()
    assert layers and hidden and heads and seq and mbs and lr is not None
    assert tp and pp and cp and ep
    data_parallel = None
    if world is not None and world % (tp * pp * cp) == 0:
        data_parallel = world // (tp * pp * cp)
    if gbs_given is not None:
        gbs = gbs_given
    elif data_parallel is not None:
        gbs = mbs * data_parallel
    else:
        c.problem(
            None,
            "--global-batch-size",
            "the global batch defaults to --micro-batch-size x DP, and the script does not say "
            "how many GPUs run it: give --global-batch-size, or the world size with --world-size",
        )
        c.raise_if_any()
        gbs = 0
    # The run's length, with the batch ramp (Megatron counts its schedule in samples).
    ramp_iters, ramp_samples = 0, 0
    if a.has("rampup-batch-size"):
        raw = a.values["rampup-batch-size"][:3]
        bad = [v for v in raw if isinstance(v, Unknown)]
        if bad:
            c.problem(
                a.line("rampup-batch-size"), "--rampup-batch-size", f"unknown value: {bad[0]}"
            )
        elif len(raw) != 3 or not all(str(v).isdigit() for v in raw):
            c.problem(
                a.line("rampup-batch-size"),
                "--rampup-batch-size",
                f"expected three integers (start, increment, samples), got {' '.join(map(str, raw))}",
            )
        else:
            start, increment, over = (int(str(v)) for v in raw)
            ramp = _ramp(start, increment, over, gbs)
            if isinstance(ramp, str):
                c.problem(a.line("rampup-batch-size"), "--rampup-batch-size", ramp)
            else:
                ramp_iters, ramp_samples = ramp
    c.raise_if_any()
    if samples is not None:
        total_samples = samples
        total_iters = (
            ramp_iters + max(0, math.ceil((samples - ramp_samples) / gbs))
            if samples > ramp_samples
            else ramp_iters
        )
        duration_line = a.line("train-samples")
    else:
        assert iters is not None
        if iters <= ramp_iters:
            total_samples, total_iters = ramp_samples, ramp_iters
        else:
            total_samples = ramp_samples + (iters - ramp_iters) * gbs
            total_iters = iters
        duration_line = a.line("train-iters")
    tokens = float(total_samples) * seq
    model = _model(a, c, layers, hidden, heads, seq, tp)
    # Megatron counts its schedule in samples: in steps of the full batch, as dsplan counts the run.
    schedule = _schedule(a, c, lr, gbs, math.ceil(total_samples / gbs) if gbs else total_iters)
    c.raise_if_any()
    assert model is not None and schedule is not None
    for key, flag in (
        ("model.n_layers", "num-layers"),
        ("model.d_model", "hidden-size"),
        ("model.n_heads", "num-attention-heads"),
        ("model.n_kv_heads", "num-query-groups"),
        ("model.d_ff", "ffn-hidden-size"),
        ("model.vocab_size", "vocab-size"),
        ("model.seq_len", "seq-length"),
        ("training.learning_rate", "lr"),
        ("training.batch_size_sequences", "global-batch-size"),
        ("training.warmup_steps", "lr-warmup-iters"),
        ("training.schedule", "lr-decay-style"),
        ("training.final_lr_fraction", "min-lr"),
        ("training.decay_fraction", "lr-decay-iters"),
        ("layout.tensor", "tensor-model-parallel-size"),
        ("layout.pipeline", "pipeline-model-parallel-size"),
        ("layout.context", "context-parallel-size"),
        ("layout.expert", "expert-model-parallel-size"),
        ("layout.micro_batch", "micro-batch-size"),
        ("layout.global_batch", "global-batch-size"),
    ):
        shown = f"--{flag}" if a.has(flag) else None
        c.place(key, a.line(flag), given=a.has(flag) and not key.startswith("layout."), name=shown)
    for key, flag in (
        ("training.warmup_steps", "lr-warmup-samples"),
        ("training.warmup_steps", "lr-warmup-fraction"),
        ("training.decay_fraction", "lr-decay-samples"),
        ("training.decay_fraction", "lr-wsd-decay-iters"),
        ("model.vocab_size", "make-vocab-size-divisible-by"),
        ("model.d_ff", "swiglu"),
        ("model.n_kv_heads", "group-query-attention"),
        ("layout.global_batch", "micro-batch-size"),
    ):
        shown = f"--{flag}" if a.has(flag) else None
        c.place(key, a.line(flag), given=a.has(flag) and not key.startswith("layout."), name=shown)
    duration = "train-samples" if samples is not None else "train-iters"
    c.place("training.tokens", duration_line, name=f"--{duration}")
    c.place("model", a.line("num-layers"), given=False)
    c.place("training", duration_line, given=False)
    world_line = a.line("nproc_per_node") or a.line("nproc-per-node") or a.line("gpus")
    c.place("layout.world_size", world_line, given=False)
    c.place("layout.data", world_line, given=False)
    c.place("layout", a.line("tensor-model-parallel-size") or world_line, given=False)
    layout = Layout(
        tensor=tp,
        pipeline=pp,
        context=cp,
        expert=ep,
        data=data_parallel,
        world_size=world,
        micro_batch=mbs,
        global_batch=gbs,
        first_stage_layers=a.int("decoder-first-pipeline-num-layers", minimum=0),
        last_stage_layers=a.int("decoder-last-pipeline-num-layers", minimum=0),
        split="megatron",
    )
    c.raise_if_any()
    return build(
        c,
        dialect="megatron",
        model=model,
        tokens=tokens,
        learning_rate=lr,
        global_batch=gbs,
        schedule=schedule,
        preset=preset,
        layout=layout,
    )


def _vocab(a: _Args, c: Collector, tp: int) -> int | None:
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


def _model(
    a: _Args, c: Collector, layers: int, hidden: int, heads: int, seq: int, tp: int
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
    vocab = _vocab(a, c, tp)
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
    moe = _moe(a, c, layers, d_ff)
    mla = _mla(a)
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


def _moe(a: _Args, c: Collector, layers: int, d_ff: int | None) -> MoeTable | None:
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


def _mla(a: _Args) -> MlaTable | None:
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


def _schedule(a: _Args, c: Collector, lr: float, gbs: int, total: int) -> dict[str, object] | None:
    """Warm-up, decay style, decay end and floor, in iterations of the full batch."""
    style = a.raw("lr-decay-style") if a.has("lr-decay-style") else "linear"
    if style not in DECAY_STYLES:
        c.problem(a.line("lr-decay-style"), "--lr-decay-style", f"unknown decay style {style!r}")
        return None
    if style == "inverse-square-root":
        c.problem(
            a.line("lr-decay-style"),
            "--lr-decay-style",
            "inverse-square-root never reaches a floor; dsplan's schedules (constant, cosine, "
            "wsd, multistep) have no match for it",
        )
        return None

    def iterations(name_iters: str, name_samples: str, default: int) -> int | None:
        if a.has(name_iters):
            return a.int(name_iters, minimum=0)
        if a.has(name_samples):
            n = a.int(name_samples, minimum=0)
            return None if n is None else math.ceil(n / gbs)
        return default

    decay_end = iterations("lr-decay-iters", "lr-decay-samples", total)
    fraction = a.float("lr-warmup-fraction")
    if fraction is not None and decay_end is not None:
        warmup: int | None = round(fraction * decay_end)
    else:
        warmup = iterations("lr-warmup-iters", "lr-warmup-samples", 0)
    min_lr = a.float("min-lr", 0.0)
    if decay_end is None or warmup is None or min_lr is None:
        return None
    floor = min_lr / lr if lr > 0 else 0.0
    if style == "constant":
        return schedule_fields("constant", warmup, total, 0, 1.0)
    if style == "WSD":
        wsd = iterations("lr-wsd-decay-iters", "lr-wsd-decay-samples", -1)
        if wsd is None or wsd < 0:
            c.problem(
                a.line("lr-decay-style"),
                "--lr-wsd-decay-iters",
                "WSD needs --lr-wsd-decay-iters or --lr-wsd-decay-samples (Megatron's rule)",
            )
            return None
        # The anneal ends at the decay end; a run that stops before it stops mid-anneal.
        return schedule_fields(
            "wsd", warmup, total, max(0, min(total, decay_end) - (decay_end - wsd)), floor
        )
    # linear or cosine from the end of warm-up to the decay end; the rate at the run's end.
    span = max(1, decay_end - warmup)
    progress = min(1.0, max(0.0, (total - warmup) / span))
    left = 1 - progress if style == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
    final = floor + left * (1 - floor)
    decay_steps = max(0, min(total, decay_end) - warmup)
    if style == "cosine" and decay_end >= total:
        return schedule_fields("cosine", warmup, total, decay_steps, final)
    return schedule_fields("wsd", warmup, total, decay_steps, final)
