"""``dsplan budget --format megatron``: a plan and its layout as a Megatron-LM launch script.

One argument per line with ``\\`` continuations, named as Megatron-LM core_v0.14.0's parser names
them (``megatron/training/arguments.py``; the names the Megatron dialect of ``dsplan check`` reads,
:mod:`dsplan.checking.dialects.megatron`), so that ``dsplan check --strict`` reads the script back
at the plan's own M, C, learning rate and batch.

Megatron-LM has no step decay (``--lr-decay-style`` is constant, linear, cosine,
inverse-square-root or WSD). DeepSeek's multi-step schedule is written as what it is on that
trainer: a constant rate after the warm-up, stopped at each drop (``--exit-interval``) and restarted
from the checkpoint with the lower rate (``--override-opt_param-scheduler --lr ...``). The restarts
are comment lines ``# dsplan-lr-drop ITERATION ARGUMENTS`` that the Megatron dialect reads.

The layout is the best of the search that Megatron-LM expresses: ZeRO-1 at most (its distributed
optimizer; ZeRO-2 has no argument there), and a pipeline split whose middle stages are even
(``--decoder-first-pipeline-num-layers`` / ``--decoder-last-pipeline-num-layers`` carry the rest),
its memory computed again on that split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from dsplan.errors import InputError

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.model.moe import MoeShape
    from dsplan.planning.cost import Cost
    from dsplan.planning.layout_fit import LayoutFit
    from dsplan.planning.memory import RunMemory
    from dsplan.planning.moe_plan import MoePlan
    from dsplan.planning.plan import Plan
    from dsplan.scheduling.schedules import Milestone

RELEASE = "Megatron-LM core_v0.14.0"
LR_DROP = "dsplan-lr-drop"
# Megatron's distributed optimizer shards the optimizer states over DP: ZeRO-1.
MAX_ZERO = 1
# Pads the vocabulary to a multiple of this x TP (Megatron's default divisor).
VOCAB_DIVISOR = 128


def megatron_split(n_layers: int, pp: int) -> tuple[int, ...]:
    """Layers per stage as Megatron-LM splits them: even, or first and last stage given and the
    middle stages even (``--decoder-first/last-pipeline-num-layers``). Of the middle sizes that
    leave the edges at least a layer each, the one with the fewest layers on any stage (then the
    edges closest to the middle); the first edge takes the smaller half (it carries the embedding).
    """
    if pp <= 1 or n_layers % pp == 0:
        return (n_layers // max(pp, 1),) * max(pp, 1)
    if pp == 2:
        first = n_layers // 2
        return (first, n_layers - first)
    options = []
    for middle in range(1, (n_layers - 2) // (pp - 2) + 1):
        rest = n_layers - middle * (pp - 2)
        first = rest // 2
        options.append((max(middle, rest - first), abs(rest - first - middle), middle, first))
    if not options:  # more stages than layers
        raise InputError(f"{n_layers} layers do not split over {pp} stages", quantity="pp")
    _, _, middle, first = min(options)
    return (first,) + (middle,) * (pp - 2) + (n_layers - middle * (pp - 2) - first,)


def megatron_layout(fit: LayoutFit, shape: Shape | MoeShape) -> RunMemory | None:
    """The best layout of the search that Megatron-LM expresses, with its memory on Megatron's
    split; None when none does."""
    from dsplan.planning.memory import run_memory

    search = fit.search
    for candidate in search.candidates:
        mem = candidate.memory
        lay = mem.layout
        if lay.zero > MAX_ZERO:
            continue
        split = megatron_split(shape.n_layers, lay.pp)
        if lay.virtual_stages > 1 and len(set(split)) > 1:
            continue  # interleaving over an uneven split: not written by this exporter
        if tuple(s.layers for s in mem.stages) == split:
            return mem
        try:
            again = run_memory(
                shape,
                replace(lay, stage_layers=split),
                gpu_memory_gb=fit.gpu_memory_gb,
                global_batch=search.global_batch,
                allowance=search.allowance,
            )
        except InputError:
            continue
        if again.fits:
            return again
    return None


def _number(key: str, value: float) -> str:
    from dsplan.numbers import text

    return text(key, float(value))


def _nproc(n_gpus: int, node: int) -> int:
    """GPUs per node for torchrun: the largest divisor of the GPU count up to the node size."""
    return max(d for d in range(1, min(n_gpus, node) + 1) if n_gpus % d == 0)


def megatron_script(
    plan: Plan | MoePlan, cost: Cost | None = None, fit: LayoutFit | None = None
) -> str:
    """The Megatron-LM launch script of a plan (and, with ``fit``, its layout); see the module."""
    from dsplan.planning.plan import Plan

    if isinstance(plan, Plan):
        shape: Shape | MoeShape = plan.architecture.shape
        m = plan.architecture.flops_per_token
        tokens, moe = plan.training.tokens, ""
    else:
        shape, m = plan.candidate.shape, plan.candidate.counts.flops_per_token
        tokens, moe = plan.tokens, " --moe"
    h, sched = plan.hyperparameters, plan.schedule
    gbs, seq = h.batch_size_sequences, shape.seq_len
    iters = sched.total_steps
    drops = [ms for ms in sched.milestones if ms.name.startswith("stage")]
    mem = megatron_layout(fit, shape) if fit is not None and fit.fits else None
    lay = None if mem is None else mem.layout
    tp = 1 if lay is None else lay.tp
    where = ""
    if cost is not None:
        where = f" --gpu {cost.hardware.gpu.id}"
        if cost.n_gpus is not None:
            where += f" --gpus {cost.n_gpus}"
    header = [
        "#!/usr/bin/env bash",
        f"# dsplan budget {plan.compute_flops:.4g}{moe}{where} --format megatron: the plan as a "
        "Megatron-LM launch script,",
        f"# argument names of {RELEASE} (megatron/training/arguments.py). Check it with: "
        "dsplan check --strict FILE",
        f"# C = M * D = {m} FLOPs/token x {tokens:.6g} tokens; the run: {iters} iterations x "
        f"{gbs} sequences x {seq} tokens.",
        "# Set DATA_PATH, TOKENIZER_MODEL (a tokenizer of the --vocab-size below) and "
        "CHECKPOINT_DIR.",
    ]
    if lay is None:
        header.append(
            "# No layout: give --gpu and --gpus to budget for one; the parallel sizes are "
            "Megatron's defaults (1), NNODES yours."
            if fit is None
            else "# No layout that Megatron-LM expresses fits these GPUs (dsplan budget --format "
            "json says why); the parallel sizes are Megatron's defaults (1)."
        )
    elif fit is not None and fit.best is not None and fit.best.memory.layout.zero > MAX_ZERO:
        header.append(
            f"# dsplan's best layout uses ZeRO-{fit.best.memory.layout.zero}, which has no "
            "Megatron-LM argument; this is the best with the distributed optimizer (ZeRO-1)."
        )
    if mem is not None:
        header.append(
            f"# Layout: {mem.required_bytes / 1e9:.1f} of {mem.gpu_memory_bytes / 1e9:g} GB on the "
            f"fullest GPU (dsplan's memory model, docs/memory.md)."
        )
    header += _schedule_comments(plan, drops, iters)
    header += [f"# dsplan-ignore {', '.join(codes)}: {why}" for codes, why in _ignores(plan)]
    divisor = next(
        (d for d in (VOCAB_DIVISOR, 64, 32, 16, 8, 4, 2, 1) if shape.vocab_size % (d * tp) == 0),
        VOCAB_DIVISOR,
    )
    if shape.vocab_size % (divisor * tp):
        header.append(
            f"# Megatron pads the vocabulary {shape.vocab_size} to a multiple of "
            f"{divisor} x TP {tp}: M and the parameters grow by the padding."
        )
    if lay is None:
        launcher = ["torchrun", "--nproc_per_node 8", '--nnodes "$NNODES"']
    else:
        n = lay.n_gpus
        nproc = _nproc(n, fit.search.node_size if fit is not None else 8)
        launcher = ["torchrun", f"--nproc_per_node {nproc}", f"--nnodes {n // nproc}"]
    args = [*launcher, "pretrain_gpt.py", *_model_args(shape, divisor)]
    args += [
        f"--seq-length {seq}",
        f"--max-position-embeddings {seq}",
        f"--micro-batch-size {1 if lay is None else lay.micro_batch}",
        f"--global-batch-size {gbs}",
        f"--train-iters {iters}",
        f"--lr {_number('learning_rate', h.learning_rate)}",
        f"--min-lr {_number('learning_rate', drops[-1].learning_rate if drops else 0.0)}",
        f"--lr-warmup-iters {sched.warmup_steps}",
        "--lr-decay-style constant",
    ]
    if drops:
        args.append(f"--exit-interval {drops[0].step}")
    args += _layout_args(shape, mem)
    dtype = "bf16" if cost is None else cost.hardware.dtype
    args.append("--fp16" if dtype == "fp16" else "--bf16")
    args += [
        "--tokenizer-type HuggingFaceTokenizer",
        '--tokenizer-model "$TOKENIZER_MODEL"',
        '--data-path "$DATA_PATH"',
        '--save "$CHECKPOINT_DIR"',
        '--load "$CHECKPOINT_DIR"',
    ]
    if dtype == "fp8":
        header.append(
            "# fp8 was planned: add the Transformer Engine fp8 arguments of your release "
            "(--fp8-format); the script trains in bf16 as written."
        )
    first = " ".join(args[: len(launcher) + 1])  # the launcher and the script on one line
    rest = args[len(launcher) + 1 :]
    body = [f"{first} \\"] + [f"    {a} \\" for a in rest[:-1]] + [f"    {rest[-1]}"]
    return "\n".join([*header, *body]) + "\n"


def _ignores(plan: Plan | MoePlan) -> list[tuple[tuple[str, ...], str]]:
    """The rules the plan breaks as asked, and why: those of its ``--format toml`` config."""
    from dsplan.checking.writers import fit_range_ignores, plan_ignores, shape_ignores
    from dsplan.planning.plan import Plan

    if isinstance(plan, Plan):
        return plan_ignores(plan)
    shape = plan.candidate.shape
    ignores = fit_range_ignores(plan.preset, plan.compute_flops, None)
    return ignores + shape_ignores(shape, plan.candidate.counts.flops_per_token)


def _schedule_comments(plan: Plan | MoePlan, drops: Sequence[Milestone], iters: int) -> list[str]:
    """The multi-step schedule as Megatron runs it: one restart line per drop."""
    if not drops:
        return []
    peak = plan.hyperparameters.learning_rate
    lines = [
        "# Schedule: DeepSeek's multi-step (arXiv 2401.02954, Section 2.3). Megatron-LM has no step "
        "decay, so the run",
        "# trains at the peak rate after the warm-up (--lr-decay-style constant), stops at each "
        "drop (--exit-interval,",
        "# which saves a checkpoint) and is launched again with the lines below added, the "
        "scheduler's values",
        "# taken from the new arguments. dsplan check reads these lines as the schedule.",
    ]
    for i, ms in enumerate(drops):
        lr = _number("learning_rate", ms.learning_rate)
        nxt = f" --exit-interval {drops[i + 1].step}" if i + 1 < len(drops) else ""
        lines.append(
            f"# {LR_DROP} {ms.step} --override-opt_param-scheduler --lr {lr} --min-lr {lr} "
            f"--lr-warmup-iters 0{nxt}  # {ms.learning_rate / peak:.3g} x peak from iteration "
            f"{ms.step} of {iters}"
        )
    return lines


def _model_args(shape: Shape | MoeShape, divisor: int) -> list[str]:
    from dsplan.model.flops import Shape

    args = [f"--num-layers {shape.n_layers}", f"--hidden-size {shape.d_model}"]
    if shape.d_ff:  # a dense model's, or an MoE model's dense layers'
        args.append(f"--ffn-hidden-size {shape.d_ff}")
    args.append(f"--num-attention-heads {shape.n_heads}")
    if isinstance(shape, Shape) or shape.mla is None:
        if shape.n_kv_heads != shape.n_heads:
            args += ["--group-query-attention", f"--num-query-groups {shape.n_kv_heads}"]
        if shape.n_heads * shape.head_dim != shape.d_model:
            args.append(f"--kv-channels {shape.head_dim}")
    if not isinstance(shape, Shape):
        args += _moe_args(shape)
    args += [
        "--swiglu",
        "--disable-bias-linear",
        "--normalization RMSNorm",
        "--position-embedding-type rope",
    ]
    if not shape.tied_embeddings:
        args.append("--untie-embeddings-and-output-weights")
    args += [f"--vocab-size {shape.vocab_size}", f"--make-vocab-size-divisible-by {divisor}"]
    return args


def _moe_args(shape: MoeShape) -> list[str]:
    """The experts (and MLA) of an MoE shape in Megatron's MoE and MLA arguments."""
    args = [
        f"--num-experts {shape.n_experts}",
        f"--moe-router-topk {shape.top_k}",
        f"--moe-ffn-hidden-size {shape.d_ff_expert}",
    ]
    if shape.n_shared_experts:
        # Megatron takes the total width of the shared experts: one expert of it counts the same.
        width = shape.n_shared_experts * (shape.d_ff_shared or shape.d_ff_expert)
        args.append(f"--moe-shared-expert-intermediate-size {width}")
    if shape.n_dense_layers:
        k = shape.n_dense_layers
        args.append(f'--moe-layer-freq "([0]*{k}+[1]*{shape.n_layers - k})"')
    mla = shape.mla
    if mla is not None:
        args.append("--multi-latent-attention")
        if mla.q_lora_rank:
            args.append(f"--q-lora-rank {mla.q_lora_rank}")
        args += [
            f"--kv-lora-rank {mla.kv_lora_rank}",
            f"--qk-head-dim {mla.qk_nope_head_dim}",
            f"--qk-pos-emb-head-dim {mla.qk_rope_head_dim}",
            f"--v-head-dim {mla.v_head_dim}",
        ]
    return args


def _layout_args(shape: Shape | MoeShape, mem: RunMemory | None) -> list[str]:
    if mem is None:
        return []
    lay = mem.layout
    args = [
        f"--tensor-model-parallel-size {lay.tp}",
        f"--pipeline-model-parallel-size {lay.pp}",
        f"--context-parallel-size {getattr(lay, 'cp', 1)}",
    ]
    from dsplan.model.flops import Shape

    if not isinstance(shape, Shape):
        args.append(f"--expert-model-parallel-size {getattr(lay, 'ep', 1)}")
    split = [s.layers for s in mem.stages]
    if len(set(split)) > 1:
        args += [
            f"--decoder-first-pipeline-num-layers {split[0]}",
            f"--decoder-last-pipeline-num-layers {split[-1]}",
        ]
    if lay.virtual_stages > 1:
        per_stage = split[0] // lay.virtual_stages
        args.append(f"--num-layers-per-virtual-pipeline-stage {per_stage}")
    if lay.recompute != "none":
        args.append(f"--recompute-granularity {lay.recompute}")
        if lay.recompute == "full":
            args += ["--recompute-method uniform", "--recompute-num-layers 1"]
    if lay.tp > 1 and lay.sequence_parallel:
        args.append("--sequence-parallel")
    if lay.zero >= 1:
        args.append("--use-distributed-optimizer")
    return args
