"""A plan as a nanotron training YAML: ``dsplan budget C --format nanotron``.

nanotron's model config is inline, so the plan's shape goes in whole (a ``LlamaConfig``), with the
batch, the duration and the learning-rate schedule; with ``--gpu`` and ``--gpus`` the best fitting
layout that nanotron can run sets ``parallelism`` and the micro-batch. ``dsplan check --strict`` reads it back through
the nanotron dialect (:mod:`dsplan.checking.dialects.nanotron`) without a finding; where the plan
departs from the laws on purpose, a ``# dsplan: ignore CODES`` comment says so, with the reason, as
a dsplan TOML's ``[check]`` table does. The YAML is written by hand (no PyYAML needed to write it),
with every float in the form YAML 1.1 reads as a float (``1.0e-05``, not ``1e-05``, which PyYAML and
so nanotron read as a string).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dsplan.checking.schema import DEFAULT_STAGE_FACTORS, DEFAULT_STAGE_FRACTIONS
from dsplan.checking.writers import plan_ignores, preset_reference
from dsplan.scheduling.schedules import MAX_WARMUP_FRACTION

if TYPE_CHECKING:
    from dsplan.planning.layout import Candidate
    from dsplan.planning.layout_fit import LayoutFit
    from dsplan.planning.plan import Plan

# DeepSeek LLM's optimizer (arXiv 2401.02954, Section 2.3): AdamW, beta1 0.9, beta2 0.95, weight
# decay 0.1, gradient clipping at 1.0.
ADAM = {"adam_beta1": 0.9, "adam_beta2": 0.95, "adam_eps": 1e-08}
WEIGHT_DECAY = 0.1
CLIP_GRAD = 1.0


def yaml_float(value: float) -> str:
    """A float as YAML 1.1 reads it as a float: a dot in the mantissa (``1.0e-05``), 7 digits."""
    from dsplan.numbers import text

    written = text("learning_rate", float(value))
    mantissa, e, exponent = written.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}{e}{exponent}"


def _nanotron_layout(fit: LayoutFit, batch: int) -> Candidate | None:
    """The best fitting layout nanotron can run: ZeRO-1 at most (``zero_stage``), no or full
    recomputation (``recompute_layer``), no context or expert parallelism and no virtual stages
    in this writer, and a micro-batch x DP that divides the batch."""
    for candidate in fit.search.candidates:
        lay = candidate.memory.layout
        if (
            lay.zero <= 1
            and lay.recompute in ("none", "full")
            and getattr(lay, "cp", 1) == 1
            and getattr(lay, "ep", 1) == 1
            and lay.virtual_stages == 1
            and batch % (lay.dp * lay.micro_batch) == 0
        ):
            return candidate
    return None


def nanotron_yaml(plan: Plan, fit: LayoutFit | None = None) -> str:
    """The nanotron config of a plan; see the module's docstring.

    The global batch is the plan's, in sequences: dp x micro_batch_size x
    batch_accumulation_per_replica. Without a layout the run is written for one data-parallel
    rank (dp 1, micro-batch 1); raise ``dp`` and divide the accumulation by the same factor.
    ``train_steps`` is the plan's tokens over the batch, rounded up. DeepSeek's multi-step schedule
    (x0.316 at 80% and x0.1 at 90% of the tokens) has no nanotron equivalent: it is written as
    nanotron's linear decay from 80% of the steps to the end, down to 0.1 x the peak, which keeps
    where the decay starts and the rate the run ends at.
    """
    shape = plan.architecture.shape
    h = plan.hyperparameters
    batch = h.batch_size_sequences
    # Rounded up: the run reaches the planned C (at the edge of a fit range, not just below it).
    steps = max(1, math.ceil(plan.training.tokens / (batch * shape.seq_len)))
    # The plan's warm-up, within dsplan's cap of the steps as rounded here (DSP402).
    warmup = min(plan.schedule.warmup_steps, math.floor(MAX_WARMUP_FRACTION * steps))
    first_drop = DEFAULT_STAGE_FRACTIONS[0]
    floor = DEFAULT_STAGE_FACTORS[-1]
    start = min(steps, max(warmup, round(first_drop * steps)))
    tp = pp = dp = micro = 1
    zero, recompute, sequence_parallel = 0, "none", False
    layout_note = [
        "# No layout given (budget --gpu G --gpus N): written for one data-parallel rank. Raise",
        "# parallelism.dp and divide batch_accumulation_per_replica by the same factor.",
    ]
    best = _nanotron_layout(fit, batch) if fit is not None else None
    if fit is not None and best is None:
        layout_note = [
            f"# No layout that fits on {fit.gpus:,} x {fit.gpu} is one nanotron can run (ZeRO-1 at",
            "# most, full or no recomputation, no context or expert parallelism, no virtual",
            "# stages): written for one data-parallel rank. See `dsplan layout`.",
        ]
    if fit is not None and best is not None:
        lay = best.memory.layout
        tp, pp, dp, micro = lay.tp, lay.pp, lay.dp, lay.micro_batch
        zero, recompute, sequence_parallel = lay.zero, lay.recompute, lay.sequence_parallel
        first = fit.best is best
        layout_note = [
            f"# Layout: dsplan's {'best' if first else 'best nanotron can run'} on "
            f"{fit.gpus:,} x {fit.gpu} ({best.memory.required_bytes / 1e9:.1f} of "
            f"{fit.gpu_memory_gb:g} GB on the fullest GPU; `dsplan layout` lists the others).",
        ]
    accumulation = batch // (dp * micro)
    lr = h.learning_rate
    lines = [
        f"# dsplan budget {plan.compute_flops:.4g}: "
        f"{'compute-optimal' if plan.inference is None else 'inference-aware'} run under preset "
        f"{plan.preset.id!r}, as a nanotron config.",
        f"# C = M * D = {plan.architecture.flops_per_token} FLOPs/token x "
        f"{steps * batch * shape.seq_len:.6g} tokens (train_steps x global batch x "
        "sequence_length).",
        "# Check it with: dsplan check FILE (reading YAML needs pip install 'dsplan[yaml]').",
        "# Schedule: DeepSeek's multi-step (x0.316 at 80% and x0.1 at 90% of the tokens) has no",
        "# nanotron equivalent; written as a linear decay from 80% of train_steps to the end, down to",
        "# 0.1 x learning_rate: the same start of the decay and the same final rate.",
        *layout_note,
    ]
    lines.append(f"# dsplan: preset {preset_reference(plan.preset)}")
    if plan.options.hyperparameters is not None:
        lines.append(f"# dsplan: hyperparameters {plan.options.hyperparameters}")
    for group, why in plan_ignores(plan):
        lines.append(f"# dsplan: ignore {', '.join(group)} ({why})")
    lines += [
        "general:",
        "  project: dsplan",
        f"  run: budget-{plan.compute_flops:.4g}",
        "  seed: 42",
        "model:",
        "  dtype: bfloat16",
        "  make_vocab_size_divisible_by: 1",
        "  init_method:",
        "    std: 0.02",
        "  model_config:",
        "    is_llama_config: true",
        "    hidden_act: silu",
        f"    hidden_size: {shape.d_model}",
        f"    intermediate_size: {shape.d_ff}",
        f"    num_hidden_layers: {shape.n_layers}",
        f"    num_attention_heads: {shape.n_heads}",
        f"    num_key_value_heads: {shape.n_kv_heads}",
        f"    vocab_size: {shape.vocab_size}",
        f"    max_position_embeddings: {shape.seq_len}",
        f"    tie_word_embeddings: {'true' if shape.tied_embeddings else 'false'}",
        "    rms_norm_eps: 1.0e-06",
        "    rope_theta: 10000.0",
        "parallelism:",
        f"  dp: {dp}",
        f"  tp: {tp}",
        f"  pp: {pp}",
        "  pp_engine: 1f1b",
        f"  tp_mode: {'REDUCE_SCATTER' if sequence_parallel else 'ALL_REDUCE'}",
        "  tp_linear_async_communication: false",
        f"  recompute_layer: {'true' if recompute == 'full' else 'false'}",
        "optimizer:",
        f"  zero_stage: {1 if zero else 0}",
        f"  weight_decay: {yaml_float(WEIGHT_DECAY)}",
        f"  clip_grad: {yaml_float(CLIP_GRAD)}",
        "  accumulate_grad_in_fp32: true",
        "  optimizer_factory:",
        "    name: adamW",
        *(f"    {key}: {yaml_float(value)}" for key, value in ADAM.items()),
        "    torch_adam_is_fused: true",
        "  learning_rate_scheduler:",
        f"    learning_rate: {yaml_float(lr)}",
        f"    lr_warmup_steps: {warmup}",
        "    lr_warmup_style: linear",
        "    lr_decay_style: linear",
        f"    lr_decay_starting_step: {start}",
        f"    lr_decay_steps: {steps - start}",
        f"    min_decay_lr: {yaml_float(lr * floor)}",
        "tokens:",
        f"  sequence_length: {shape.seq_len}",
        f"  micro_batch_size: {micro}",
        f"  batch_accumulation_per_replica: {accumulation}",
        f"  train_steps: {steps}",
    ]
    return "\n".join(lines) + "\n"
