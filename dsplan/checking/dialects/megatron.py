"""A Megatron-LM launch script (bash) or argument file as a run config.

Argument names and defaults are Megatron-LM's parser, ``megatron/training/arguments.py`` at
core_v0.14.0 (commit 23e00ed); the micro-batch ramp is ``megatron/core/num_microbatches_calculator.py``
and the schedule ``megatron/core/optimizer_param_scheduler.py``. The script is read statically
(:mod:`dsplan.checking.dialects.bash`): a value it sets only when it runs is reported, never guessed.
The table of arguments and defaults is in docs/check.md.
The arguments are read by :mod:`~dsplan.checking.dialects.megatron_args`, the model by
:mod:`~dsplan.checking.dialects.megatron_model`; this module adds tokens (with the batch ramp), the
schedule and the layout, and assembles the run config.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from dsplan.checking.dialects._common import Collector, build, schedule_fields
from dsplan.checking.dialects.bash import Unknown
from dsplan.checking.dialects.megatron_args import Args, script_words
from dsplan.checking.dialects.megatron_model import model_config
from dsplan.checking.run_config import Layout, RunConfig

RELEASE = "Megatron-LM core_v0.14.0 (23e00ed)"
DECAY_STYLES = ("constant", "linear", "cosine", "inverse-square-root", "WSD")
# The ramp is walked one increment at a time: at most this many increments.
MAX_RAMP_INCREMENTS = 1_000_000


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
    a = Args(script_words(text, c), c)
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
    model = model_config(a, c, layers, hidden, heads, seq, tp)
    # Megatron counts its schedule in samples: in steps of the full batch, as dsplan counts the run.
    schedule = _schedule(a, c, lr, gbs, math.ceil(total_samples / gbs) if gbs else total_iters)
    drops = _lr_drops(text, c)
    if drops and schedule is not None:
        schedule = _multistep(a, c, schedule, drops, lr, gbs, seq, (ramp_iters, ramp_samples))
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
        # What the memory rule (DSP606, with --gpu) needs: the distributed optimizer shards the
        # optimizer states over DP (ZeRO-1); Megatron's recomputation and sequence parallelism.
        zero=1 if a.has("use-distributed-optimizer") else 0,
        recompute=_recompute(a),
        sequence_parallel=a.has("sequence-parallel") and tp > 1,
        virtual_stages=_virtual_stages(a, layers, pp),
    )
    c.raise_if_any()
    ignore: list[str] = []
    for found in _IGNORE.finditer(text):
        ignore += found.group(1).replace(",", " ").split()
        c.place("check.ignore", text.count("\n", 0, found.start()) + 1, name="# dsplan-ignore")
    return build(
        c,
        dialect="megatron",
        terms=_terms(a, lr, ramp_iters == 0),
        model=model,
        tokens=tokens,
        learning_rate=lr,
        global_batch=gbs,
        schedule=schedule,
        preset=preset,
        layout=layout,
        ignore=tuple(ignore),
    )


def _terms(a: Args, lr: float, whole_batches: bool) -> dict[str, str]:
    """The schedule in Megatron's arguments, for findings (RunConfig.terms): the warm-up and the
    run's length only where they are counted in iterations of the full batch, as dsplan counts."""
    from dsplan.numbers import text as number_text

    terms = {
        "peak": f"--lr {number_text('learning_rate', lr)}",
        "floor": f"--min-lr {a.raw('min-lr')}" if a.has("min-lr") else "--min-lr 0 (the default)",
    }
    if a.has("lr-warmup-iters"):
        terms["warmup"] = f"--lr-warmup-iters {a.raw('lr-warmup-iters')}"
    if a.has("train-iters") and whole_batches:
        terms["steps"] = f"--train-iters {a.raw('train-iters')}"
    return terms


def _recompute(a: Args) -> str:
    """``--recompute-granularity``: full or selective (the attention core), else none."""
    value = a.raw("recompute-granularity") if a.has("recompute-granularity") else None
    return value if value in ("full", "selective") else "none"


def _virtual_stages(a: Args, layers: int, pp: int) -> int:
    """Interleaved chunks per pipeline rank, from either of Megatron's two arguments (1 if absent
    or not a whole number)."""
    if a.has("num-virtual-stages-per-pipeline-rank"):
        return a.int("num-virtual-stages-per-pipeline-rank") or 1
    per_chunk = a.int("num-layers-per-virtual-pipeline-stage")
    if per_chunk and layers % pp == 0 and (layers // pp) % per_chunk == 0:
        return layers // pp // per_chunk
    return 1


# `dsplan budget --format megatron` writes DeepSeek's multi-step schedule as restarts from the
# checkpoint at each drop, one comment line each (dsplan.checking.megatron_writer).
_LR_DROP = re.compile(r"^\s*#\s*dsplan-lr-drop\s+(\S+)\s+(.*)$", re.MULTILINE)
# ... and the rules the plan breaks on purpose, with the reason: `# dsplan-ignore DSP305: why`.
_IGNORE = re.compile(r"^\s*#\s*dsplan-ignore\s+([A-Za-z0-9_, ]+?)\s*:", re.MULTILINE)
_LR_VALUE = re.compile(r"(?:^|\s)--lr[\s=]+(\S+)")


def _lr_drops(text: str, c: Collector) -> list[tuple[int, float, int]]:
    """The ``# dsplan-lr-drop ITERATION ... --lr X`` lines: (iteration, rate, line)."""
    drops = []
    for found in _LR_DROP.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        rate = _LR_VALUE.search(found.group(2))
        try:
            iteration = int(found.group(1))
            value = float(rate.group(1)) if rate else math.nan
        except ValueError:
            iteration, value = -1, math.nan
        if iteration < 0 or not math.isfinite(value) or value < 0:
            c.problem(
                line,
                "dsplan-lr-drop",
                "expected '# dsplan-lr-drop ITERATION ... --lr RATE' with a whole iteration and a "
                "rate >= 0",
            )
            continue
        drops.append((iteration, value, line))
    return drops


def _multistep(
    a: Args,
    c: Collector,
    schedule: dict[str, object],
    drops: list[tuple[int, float, int]],
    lr: float,
    gbs: int,
    seq: int,
    ramp: tuple[int, int],
) -> dict[str, object] | None:
    """A constant schedule restarted at lower rates: dsplan's ``multistep``, each drop at the
    tokens seen by its iteration."""
    if schedule["schedule"] != "constant":
        c.problem(
            drops[0][2],
            "dsplan-lr-drop",
            "the restarts of a multi-step schedule need --lr-decay-style constant between them",
        )
        return None
    ramp_iters, ramp_samples = ramp

    def tokens_at(iteration: int) -> float:
        if iteration <= ramp_iters:
            return float(iteration * gbs * seq)  # inside a batch ramp: an upper bound
        return float((ramp_samples + (iteration - ramp_iters) * gbs) * seq)

    c.place("training.stage_tokens", drops[0][2], name="# dsplan-lr-drop")
    c.place("training.stage_factors", drops[0][2], name="# dsplan-lr-drop")
    del a
    return {
        **schedule,
        "schedule": "multistep",
        "stage_fractions": None,
        "stage_tokens": tuple(tokens_at(i) for i, _, _ in drops),
        "stage_factors": tuple(rate / lr if lr > 0 else math.inf for _, rate, _ in drops),
    }


def _schedule(a: Args, c: Collector, lr: float, gbs: int, total: int) -> dict[str, object] | None:
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
