"""A nanotron training YAML as a run config (``model.model_config``, ``tokens``, ``parallelism``,
``optimizer.learning_rate_scheduler``).

Keys and defaults are nanotron's config dataclasses (huggingface/nanotron, read at commit 00708b8:
``src/nanotron/config/config.py``, ``models_config.py`` at 025f314, ``parallelism_config.py`` at
19f88fb) and its schedule ``lr_scheduler_builder`` (``src/nanotron/helpers.py`` at 06e3956): a
warm-up over
``lr_warmup_steps``, the peak until ``lr_decay_starting_step``, a decay over ``lr_decay_steps`` to
``min_decay_lr``, then the floor. The global batch is dp x micro_batch_size x
batch_accumulation_per_replica sequences (``Config.global_batch_size``) and the world tp x pp x dp x
cp. The table of keys and defaults is in docs/check.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dsplan.checking.dialects._common import Collector, build, schedule_fields
from dsplan.checking.dialects.yaml_doc import Doc, comment_ignores, comment_settings, load
from dsplan.checking.run_config import Layout, ModelConfig, RunConfig
from dsplan.numbers import text as number_text

RELEASE = "nanotron 00708b8"
MODEL = "model.model_config"
SCHED = "optimizer.learning_rate_scheduler"
# LlamaConfig's defaults (models_config.py); Qwen2Config has the same for these keys.
SHAPE_DEFAULTS = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "vocab_size": 32000,
}
WARMUP_STYLES = ("linear", "constant")
DECAY_STYLES = ("linear", "cosine", "1-sqrt")


def _model(doc: Doc, seq_len: int, tp: int) -> ModelConfig | None:
    c = doc.c
    config = doc.node(MODEL)
    if not isinstance(config, dict):
        c.problem(doc.line(MODEL), MODEL, "missing model.model_config (the model's shape)")
        return None
    if config.get("is_starcoder2_config") or "multi_query" in config:
        c.problem(
            doc.line(MODEL),
            MODEL,
            "a Starcoder2Config: dsplan reads nanotron's LlamaConfig and Qwen2Config; write this "
            "model as a dsplan config",
        )
        return None
    if config.get("moe_config") is not None:
        c.problem(
            doc.line(f"{MODEL}.moe_config"),
            f"{MODEL}.moe_config",
            "a mixture-of-experts Qwen2Config: write it as a dsplan config with [model.moe]",
        )
        return None
    v = {k: doc.get(f"{MODEL}.{k}", "int", d) for k, d in SHAPE_DEFAULTS.items()}
    kv = doc.get(f"{MODEL}.num_key_value_heads", "int", v["num_attention_heads"])
    tied = doc.get(f"{MODEL}.tie_word_embeddings", "bool", False)
    bias = doc.get(f"{MODEL}.attention_bias", "bool", False)
    divisor = doc.get("model.make_vocab_size_divisible_by", "int", 1)
    if None in (*v.values(), kv, tied, bias, divisor):
        return None
    if divisor <= 0:
        c.problem(doc.line("model.make_vocab_size_divisible_by"), "model", "must be positive")
        return None
    from dsplan.model.flops import Block

    multiple = divisor * tp  # helpers.py _vocab_size_with_padding: divisible-by x TP
    vocab = -(-v["vocab_size"] // multiple) * multiple if v["vocab_size"] > 0 else v["vocab_size"]
    return ModelConfig(
        n_layers=v["num_hidden_layers"],
        d_model=v["hidden_size"],
        n_heads=v["num_attention_heads"],
        n_kv_heads=kv,
        d_ff=v["intermediate_size"],
        vocab_size=vocab,
        seq_len=seq_len,
        tied_embeddings=tied,
        # nanotron's MLP is always gated (gate_up_proj): three matrices whatever hidden_act is.
        block=Block(qkv_bias=True, o_bias=True) if bias else None,
    )


def end_rate(style: str, start: int, length: int, steps: int, peak: float, floor: float) -> float:
    """The learning rate at the end of a run of ``steps`` whose decay starts at ``start`` and
    lasts ``length`` steps (``lr_scheduler_builder``'s decay phase, then the floor)."""
    if steps <= start:
        return peak
    if length <= 0 or steps >= start + length:
        return floor
    p = (steps - start) / length
    left = {
        "linear": 1 - p,
        "cosine": 0.5 * (1 + math.cos(math.pi * p)),
        "1-sqrt": 1 - math.sqrt(p),
    }[style]
    return floor + (peak - floor) * left


def _schedule(doc: Doc, lr: float, steps: int) -> tuple[dict[str, Any], dict[str, str]] | None:
    """dsplan's schedule keys of the run, and the schedule's quantities in nanotron's words."""
    c = doc.c
    warmup = doc.get(f"{SCHED}.lr_warmup_steps", "int", 0)
    warm_style = doc.get(f"{SCHED}.lr_warmup_style", "string")
    decay_style = doc.get(f"{SCHED}.lr_decay_style", "string", "linear")
    if not doc.has(f"{SCHED}.lr_warmup_style"):
        c.problem(
            doc.line(SCHED),
            f"{SCHED}.lr_warmup_style",
            "missing lr_warmup_style: nanotron refuses a missing one (LRSchedulerArgs checks it "
            "against linear and constant before its default applies)",
        )
    elif warm_style is not None and warm_style not in WARMUP_STYLES:
        c.problem(
            doc.line(f"{SCHED}.lr_warmup_style"),
            f"{SCHED}.lr_warmup_style",
            f"unknown lr_warmup_style {warm_style!r} (nanotron has {', '.join(WARMUP_STYLES)})",
        )
    if decay_style is not None and decay_style not in DECAY_STYLES:
        c.problem(
            doc.line(f"{SCHED}.lr_decay_style"),
            f"{SCHED}.lr_decay_style",
            f"unknown lr_decay_style {decay_style!r} (nanotron has {', '.join(DECAY_STYLES)})",
        )
    # Config.__post_init__ sets lr_decay_steps = train_steps - lr_warmup_steps when absent.
    length = doc.get(f"{SCHED}.lr_decay_steps", "int", None if warmup is None else steps - warmup)
    start = doc.get(f"{SCHED}.lr_decay_starting_step", "int", warmup)
    floor = doc.get(f"{SCHED}.min_decay_lr", "number", lr)  # absent: the peak, so no decay
    if c.problems or None in (warmup, length, start, floor, warm_style, decay_style):
        return None
    assert warmup is not None and length is not None and start is not None and floor is not None
    final = end_rate(decay_style, start, length, steps, lr, floor) / lr if lr > 0 else 1.0
    if warmup == 0 and length == 0:  # lr_scheduler_builder: no warm-up and no decay, the peak
        final = 1.0
    decay_in_run = max(0, min(steps, start + length) - start) if length > 0 else 0
    # lr_warmup_style constant holds the peak through the warm-up: no ramp at all.
    ramp = warmup if warm_style == "linear" else 0
    style = "wsd"
    if decay_style == "cosine" and start == warmup and start + length >= steps and length > 0:
        style = "cosine"
    terms = {
        "warmup": f"lr_warmup_steps {warmup}"
        if warm_style == "linear"
        else f"lr_warmup_style constant (lr_warmup_steps {warmup})",
        "steps": f"train_steps {steps}",
        "peak": f"learning_rate {number_text('learning_rate', lr)}",
        "floor": f"min_decay_lr {number_text('learning_rate', floor)}"
        if doc.has(f"{SCHED}.min_decay_lr")
        else "min_decay_lr absent: nanotron's default is learning_rate",
    }
    return schedule_fields(style, ramp, steps, decay_in_run, final), terms


def translate(
    text: str,
    file: str,
    *,
    base_dir: Path,
    preset: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
) -> RunConfig:
    """A nanotron config as a run config; see the module's docstring."""
    del hf_config  # the shape is inline
    c = Collector(file)
    data, lines = load(text, file)
    doc = Doc(data, lines, c)
    for table in ("model", MODEL, "tokens", "parallelism", "optimizer", SCHED):
        doc.table(table)
    c.raise_if_any()
    seq = doc.required("tokens.sequence_length", "int")
    steps = doc.required("tokens.train_steps", "int")
    mbs = doc.required("tokens.micro_batch_size", "int")
    accum = doc.required("tokens.batch_accumulation_per_replica", "int")
    dp = doc.required("parallelism.dp", "int")
    tp = doc.required("parallelism.tp", "int")
    pp = doc.required("parallelism.pp", "int")
    cp = doc.get("parallelism.context_parallel_size", "int", 1)
    ep = doc.get("parallelism.expert_parallel_size", "int", 1)
    lr = doc.required(f"{SCHED}.learning_rate", "number")
    zero = doc.get("optimizer.zero_stage", "int", None)
    recompute = doc.get("parallelism.recompute_layer", "bool", False)
    tp_mode = doc.get("parallelism.tp_mode", "string", "ALL_REDUCE")
    c.raise_if_any()
    doc.positive(
        (
            ("tokens.sequence_length", seq),
            ("parallelism.dp", dp),
            ("parallelism.tp", tp),
            ("parallelism.pp", pp),
            ("parallelism.context_parallel_size", cp),
            ("parallelism.expert_parallel_size", ep),
            ("tokens.micro_batch_size", mbs),
            ("tokens.batch_accumulation_per_replica", accum),
        )
    )
    c.raise_if_any()
    model = _model(doc, seq, tp)
    schedule = _schedule(doc, lr, steps)
    c.raise_if_any()
    assert model is not None and schedule is not None
    fields, terms = schedule
    gbs = dp * mbs * accum
    world = dp * tp * pp * cp  # nanotron's ParallelContext: world = tp x pp x dp x cp
    if world_size is not None and world_size != world:
        world = world_size  # DSP601 reports the mismatch
    placed = [
        *((f"model.{k}", f"{MODEL}.{name}") for k, name in _SHAPE_NAMES.items()),
        ("model.seq_len", "tokens.sequence_length"),
        ("training.tokens", "tokens.train_steps"),
        ("training.batch_size_sequences", "tokens.batch_accumulation_per_replica"),
        ("training.learning_rate", f"{SCHED}.learning_rate"),
        ("training.warmup_steps", f"{SCHED}.lr_warmup_steps"),
        ("training.schedule", f"{SCHED}.lr_decay_style"),
        ("training.decay_fraction", f"{SCHED}.lr_decay_steps"),
        ("training.decay_fraction", f"{SCHED}.lr_decay_starting_step"),
        ("training.final_lr_fraction", f"{SCHED}.min_decay_lr"),
        ("layout.tensor", "parallelism.tp"),
        ("layout.pipeline", "parallelism.pp"),
        ("layout.context", "parallelism.context_parallel_size"),
        ("layout.expert", "parallelism.expert_parallel_size"),
        ("layout.data", "parallelism.dp"),
        ("layout.micro_batch", "tokens.micro_batch_size"),
        ("layout.global_batch", "tokens.batch_accumulation_per_replica"),
    ]
    doc.place(placed)
    c.place("model", doc.line(MODEL), given=False)
    c.place("training", doc.line("tokens"), given=False)
    c.place("layout", doc.line("parallelism"), given=False)
    ignore, ignore_line = comment_ignores(text)
    c.place("check.ignore", ignore_line, given=False)
    settings = comment_settings(text, base_dir, c)
    c.raise_if_any()
    layout = Layout(
        tensor=tp,
        pipeline=pp,
        context=cp,
        expert=ep,
        data=dp,
        world_size=world,
        micro_batch=mbs,
        global_batch=gbs,
        split="nanotron",
        # ZeRO-1 over DP when zero_stage > 0 (src/nanotron/optim/zero.py); recompute_layer
        # recomputes whole layers; REDUCE_SCATTER is sequence parallelism.
        zero=None if zero is None else min(zero, 1),
        recompute="full" if recompute else "none",
        sequence_parallel=tp_mode.upper() == "REDUCE_SCATTER",
    )
    return build(
        c,
        dialect="nanotron",
        model=model,
        tokens=float(steps) * gbs * seq,
        learning_rate=lr,
        global_batch=gbs,
        schedule=fields,
        preset=preset or settings.get("preset"),
        layout=layout,
        ignore=ignore,
        hyperparameters=settings.get("hyperparameters"),
        terms=terms,
    )


# dsplan's shape keys and nanotron's LlamaConfig fields.
_SHAPE_NAMES = {
    "n_layers": "num_hidden_layers",
    "d_model": "hidden_size",
    "n_heads": "num_attention_heads",
    "n_kv_heads": "num_key_value_heads",
    "d_ff": "intermediate_size",
    "vocab_size": "vocab_size",
}
