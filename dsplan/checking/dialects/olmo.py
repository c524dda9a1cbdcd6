"""An OLMo training YAML as a run config (``model``, ``global_train_batch_size``,
``max_duration``, ``optimizer``, ``scheduler``).

Keys and defaults are OLMo's config dataclasses (allenai/OLMo ``olmo/config.py``, read at commit
362f460: ``ModelConfig``, ``OptimizerConfig``, ``SchedulerConfig``, ``TrainConfig``), its schedulers
(``olmo/optim.py`` at 9b502b7: ``CosWithWarmup``, ``LinearWithWarmup``, ``ConstantScheduler``) and its
trainer's duration (``olmo/train.py``: an integer ``max_duration`` is steps, ``"2e12T"`` tokens,
``"1ep"`` epochs). OLMo trains with FSDP only, so DP is the world size, which the file does not
state (``--world-size``). OLMo-core, the trainer of OLMo 2 32B and later, is configured in Python,
not YAML, and is not read. The table of keys and defaults is in docs/check.md.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dsplan.checking.dialects._common import Collector, build, schedule_fields
from dsplan.checking.dialects.yaml_doc import Doc, comment_ignores, comment_settings, load
from dsplan.checking.run_config import Layout, ModelConfig, RunConfig
from dsplan.numbers import text as number_text

RELEASE = "OLMo 362f460"
# ModelConfig's defaults (GPT-2's, as its comment says) and TrainConfig's.
DEFAULTS: dict[str, Any] = {
    "model.d_model": 768,
    "model.n_heads": 12,
    "model.n_layers": 12,
    "model.mlp_ratio": 4,
    "model.activation_type": "swiglu",
    "model.vocab_size": 50257,
    "model.embedding_size": 50304,
    "model.weight_tying": True,
    "model.include_bias": True,
    "model.layer_norm_type": "default",
    "model.layer_norm_with_affine": True,
    "model.attention_layer_norm": False,
    "model.rope": False,
    "model.alibi": False,
    "model.max_sequence_length": 1024,
    "global_train_batch_size": 512,
    "device_train_microbatch_size": 16,
    "max_duration": 10000,
    "optimizer.learning_rate": 1e-4,
    "scheduler.name": "cosine_with_warmup",
    "scheduler.units": "steps",
    "scheduler.t_warmup": 100,
    "scheduler.alpha_f": 0.1,
}
ACTIVATIONS = ("swiglu", "gelu", "relu")
NORMS = ("default", "low_precision", "rms", "amd_compatible")
SCHEDULERS = ("cosine_with_warmup", "linear_with_warmup", "constant")
NO_FLOOR = ("inverse_sqrt_with_warmup", "max_scheduler")


def _get(doc: Doc, path: str, kind: str) -> Any:
    return doc.get(path, kind, DEFAULTS.get(path))


def _model(doc: Doc) -> ModelConfig | None:
    c = doc.c
    d = _get(doc, "model.d_model", "int")
    heads = _get(doc, "model.n_heads", "int")
    layers = _get(doc, "model.n_layers", "int")
    ratio = _get(doc, "model.mlp_ratio", "int")
    act = _get(doc, "model.activation_type", "string")
    norm = _get(doc, "model.layer_norm_type", "string")
    seq = _get(doc, "model.max_sequence_length", "int")
    flags = {
        k: _get(doc, f"model.{k}", "bool")
        for k in (
            "weight_tying",
            "include_bias",
            "layer_norm_with_affine",
            "attention_layer_norm",
            "rope",
            "alibi",
        )
    }
    if None in (d, heads, layers, ratio, act, norm, seq, *flags.values()):
        return None
    if act not in ACTIVATIONS:
        c.problem(
            doc.line("model.activation_type"),
            "model.activation_type",
            f"unknown activation_type {act!r} (OLMo has {', '.join(ACTIVATIONS)})",
        )
        return None
    if norm not in NORMS:
        c.problem(
            doc.line("model.layer_norm_type"),
            "model.layer_norm_type",
            f"unknown layer_norm_type {norm!r} (OLMo has {', '.join(NORMS)})",
        )
        return None
    kv = doc.get("model.n_kv_heads", "int", None)
    if kv is None and not doc.has("model.n_kv_heads"):
        kv = 1 if doc.get("model.multi_query_attention", "bool", False) else heads
    hidden = doc.get("model.mlp_hidden_size", "int", ratio * d)
    vocab = doc.get("model.vocab_size", "int", DEFAULTS["model.vocab_size"])
    written = doc.node("model") or {}
    if "embedding_size" not in written:  # the default pads GPT-2's vocabulary to 50304 rows
        rows = DEFAULTS["model.embedding_size"]
    elif written["embedding_size"] is None:  # null: as many rows as the vocabulary
        rows = vocab
    else:
        rows = doc.get("model.embedding_size", "int")
    norm_bias = doc.get("model.bias_for_layer_norm", "bool", flags["include_bias"])
    if None in (kv, hidden, vocab, rows, norm_bias):
        return None
    from dsplan.model.flops import Block

    affine = flags["layer_norm_with_affine"]
    bias = flags["include_bias"]
    block = Block(
        qkv_bias=bias,
        o_bias=bias,
        mlp_bias=bias,
        norms_per_layer=2 if affine else 0,
        final_norm=affine,
        qk_norm="projection" if flags["attention_layer_norm"] else "none",
        mlp="swiglu" if act == "swiglu" else "gelu",
        norm_bias=affine and norm_bias,
        position_rows=0 if flags["rope"] or flags["alibi"] else seq,
    )
    return ModelConfig(
        n_layers=layers,
        d_model=d,
        n_heads=heads,
        n_kv_heads=kv,
        # SwiGLU splits mlp_hidden_size into the gate and the up projection (olmo/model.py).
        d_ff=hidden // 2 if act == "swiglu" else hidden,
        vocab_size=max(rows, vocab),
        seq_len=seq,
        tied_embeddings=flags["weight_tying"],
        block=block,
    )


def _duration(doc: Doc, tokens_per_step: int) -> tuple[int, str] | None:
    """The run's steps (``olmo/train.py``'s max_steps) and how the file states its length."""
    c = doc.c
    value = doc.node("max_duration")
    if value is None:
        return DEFAULTS["max_duration"], f"max_duration {DEFAULTS['max_duration']} (the default)"
    line = doc.line("max_duration")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        c.problem(
            line, "max_duration", f"expected steps or a string such as '2e12T', got {value!r}"
        )
        return None
    if isinstance(value, int):
        return value, f"max_duration {value}"
    text = value.strip()
    try:
        if text.endswith("ep"):
            c.problem(
                line,
                "max_duration",
                f"max_duration {value!r} counts epochs, which depend on the data set: give it in "
                "steps or in tokens ('2e12T')",
            )
            return None
        if text.endswith("T"):
            tokens = float(text[:-1].strip())
            if not math.isfinite(tokens) or tokens <= 0:
                raise ValueError
            steps = math.ceil(tokens / tokens_per_step)
            return steps, f"max_duration {value!r} ({steps} steps)"
        steps_float = float(text)
        if not math.isfinite(steps_float) or steps_float <= 0:
            raise ValueError
        return int(steps_float), f"max_duration {value!r}"
    except ValueError:
        c.problem(
            line, "max_duration", f"expected steps or a string such as '2e12T', got {value!r}"
        )
        return None


def _schedule(
    doc: Doc, lr: float, steps: int, tokens_per_step: int, duration: str
) -> tuple[dict[str, Any], dict[str, str]] | None:
    c = doc.c
    name = _get(doc, "scheduler.name", "string")
    units = _get(doc, "scheduler.units", "string")
    alpha = _get(doc, "scheduler.alpha_f", "number")
    warm = doc.get("scheduler.t_warmup", "number", DEFAULTS["scheduler.t_warmup"])
    t_max = doc.get("scheduler.t_max", "number", None)
    if None in (name, units, alpha, warm):
        return None
    if name in NO_FLOOR:
        c.problem(
            doc.line("scheduler.name"),
            "scheduler.name",
            f"{name} decays as 1/sqrt(step) and never reaches a floor; dsplan's schedules "
            "(constant, cosine, wsd, multistep) have no match for it",
        )
        return None
    if name not in SCHEDULERS:
        known = ", ".join((*SCHEDULERS, *NO_FLOOR))
        c.problem(
            doc.line("scheduler.name"), "scheduler.name", f"unknown scheduler {name!r} ({known})"
        )
        return None
    if units not in ("steps", "tokens"):
        c.problem(doc.line("scheduler.units"), "scheduler.units", "must be steps or tokens")
        return None
    per = tokens_per_step if units == "tokens" else 1
    warmup = round(warm / per)
    end = steps if t_max is None else round(t_max / per)
    terms = {
        "warmup": f"scheduler.t_warmup {int(warm) if warm == int(warm) else warm:g}"
        + (" tokens" if units == "tokens" else ""),
        "steps": duration,
        "peak": f"optimizer.learning_rate {number_text('learning_rate', lr)}",
        "floor": f"scheduler.alpha_f {number_text('alpha_f', alpha)}",
    }
    if name == "constant":  # ConstantScheduler: the peak from the first step, no warm-up
        return schedule_fields("constant", 0, steps, 0, 1.0), terms
    # CosWithWarmup / LinearWithWarmup: from t_warmup to t_max down to alpha_f x lr, then flat.
    span = max(1, end - warmup)
    p = min(1.0, max(0.0, (steps - warmup) / span))
    left = 0.5 * (1 + math.cos(math.pi * p)) if name == "cosine_with_warmup" else 1 - p
    final = alpha + (1 - alpha) * left
    decay = max(0, min(steps, end) - warmup)
    style = "cosine" if name == "cosine_with_warmup" and end >= steps else "wsd"
    return schedule_fields(style, warmup, steps, decay, final), terms


def translate(
    text: str,
    file: str,
    *,
    base_dir: Path,
    preset: str | None = None,
    hf_config: str | None = None,
    world_size: int | None = None,
) -> RunConfig:
    """An OLMo config as a run config; see the module's docstring."""
    del hf_config  # the shape is inline
    c = Collector(file)
    data, lines = load(text, file)
    doc = Doc(data, lines, c, exponent_floats=True)  # OLMo loads with OmegaConf: 4e-4 is a float
    for table in ("model", "optimizer", "scheduler"):
        doc.table(table)
    c.raise_if_any()
    model = _model(doc)
    gbs = _get(doc, "global_train_batch_size", "int")
    micro = _get(doc, "device_train_microbatch_size", "int")
    lr = _get(doc, "optimizer.learning_rate", "number")
    checkpointing = doc.get("activation_checkpointing", "string", None)
    strategy = doc.get("fsdp.sharding_strategy", "string", "FULL_SHARD")
    c.raise_if_any()
    assert model is not None
    doc.positive((("global_train_batch_size", gbs), ("device_train_microbatch_size", micro)))
    c.raise_if_any()
    per_step = gbs * model.seq_len
    duration = _duration(doc, max(per_step, 1))
    c.raise_if_any()
    assert duration is not None
    steps, duration_text = duration
    schedule = _schedule(doc, lr, steps, max(per_step, 1), duration_text)
    c.raise_if_any()
    assert schedule is not None
    fields, terms = schedule
    placed = [
        ("model.n_layers", "model.n_layers"),
        ("model.d_model", "model.d_model"),
        ("model.n_heads", "model.n_heads"),
        ("model.n_kv_heads", "model.n_kv_heads"),
        ("model.d_ff", "model.mlp_hidden_size"),
        ("model.d_ff", "model.mlp_ratio"),
        ("model.vocab_size", "model.embedding_size"),
        ("model.vocab_size", "model.vocab_size"),
        ("model.seq_len", "model.max_sequence_length"),
        ("training.tokens", "max_duration"),
        ("training.batch_size_sequences", "global_train_batch_size"),
        ("training.learning_rate", "optimizer.learning_rate"),
        ("training.warmup_steps", "scheduler.t_warmup"),
        ("training.schedule", "scheduler.name"),
        ("training.decay_fraction", "scheduler.t_max"),
        ("training.final_lr_fraction", "scheduler.alpha_f"),
        ("layout.micro_batch", "device_train_microbatch_size"),
        ("layout.global_batch", "global_train_batch_size"),
    ]
    doc.place(placed)
    c.place("model", doc.line("model"), given=False)
    c.place("training", doc.line("max_duration") or doc.line("optimizer"), given=False)
    ignore, ignore_line = comment_ignores(text)
    c.place("check.ignore", ignore_line, given=False)
    settings = comment_settings(text, base_dir, c)
    c.raise_if_any()
    layout = Layout(
        data=world_size,
        world_size=world_size,
        micro_batch=micro,
        global_batch=gbs,
        split="fsdp",
        # FULL_SHARD (the default) shards weights, gradients and optimizer states: ZeRO-3;
        # SHARD_GRAD_OP keeps the weights whole: ZeRO-2. whole_layer recomputes every layer.
        zero={"FULL_SHARD": 3, "SHARD_GRAD_OP": 2, "NO_SHARD": 0}.get(str(strategy).upper()),
        recompute="full" if checkpointing == "whole_layer" else "none",
    )
    return build(
        c,
        dialect="olmo",
        model=model,
        tokens=float(steps) * per_step,
        learning_rate=lr,
        global_batch=gbs,
        schedule=fields,
        preset=preset or settings.get("preset"),
        layout=layout,
        ignore=ignore,
        hyperparameters=settings.get("hyperparameters"),
        terms=terms,
    )
