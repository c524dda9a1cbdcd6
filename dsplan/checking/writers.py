"""Writing run configs: the TOML that ``dsplan budget --format toml`` and ``dsplan sweep
--configs-dir`` produce, and that ``dsplan check --strict`` reads back without a finding."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dsplan.catalog.presets import Preset, load_preset, presets_dir, resolve_hyperparameter_law
from dsplan.checking.schema import (
    CONFIG_SCHEMA_VERSION,
    DEFAULT_STAGE_FACTORS,
    DEFAULT_STAGE_FRACTIONS,
)
from dsplan.io import toml_string

if TYPE_CHECKING:
    from dsplan.laws.inference import InferenceReport
    from dsplan.model.flops import Shape
    from dsplan.model.moe import MoeShape
    from dsplan.planning.cost import Cost
    from dsplan.planning.layout_fit import LayoutFit
    from dsplan.planning.moe_plan import MoePlan
    from dsplan.planning.plan import Hyperparameters, Plan
    from dsplan.planning.sweep import SweepRun


def _toml_number(key: str, value: float) -> str:
    """A finite number under ``key`` as TOML, written as every document is
    (:mod:`dsplan.numbers`: whole quantities as integers, the rest to 7 digits)."""
    from dsplan.numbers import text

    return text(key, float(value))


def config_toml(plan: Plan, cost: Cost | None = None, layout: LayoutFit | None = None) -> str:
    """The run config of a plan, as TOML that ``dsplan check`` reads back.

    The batch is written in sequences (what the plan rounds to) and the schedule as DeepSeek's
    multi-step one with the plan's warm-up; tokens are a whole number (C / M rounded) and rates
    keep 7 significant digits, well inside every tolerance of ``dsplan check``.
    With a ``cost`` (``dsplan budget --gpu ...``), a ``[hardware]`` table holds the GPU, precision,
    MFU and, where known, the GPU count, the wall-clock days and the spending limit; with a
    ``layout`` that fits (``--gpus``), a ``[parallelism]`` table holds its best layout.
    """
    h = plan.hyperparameters
    sched = plan.schedule
    preset = plan.preset
    kind = "compute-optimal" if plan.inference is None else "inference-aware"
    lines = [
        f"# dsplan budget {plan.compute_flops:.4g}: {kind} run under preset {preset.id!r}.",
        f"# C = M * D = {plan.architecture.flops_per_token} FLOPs/token x "
        f"{plan.training.tokens:.6g} tokens. Check it with: dsplan check FILE",
        f"schema_version = {CONFIG_SCHEMA_VERSION}",
        "",
        *model_table(plan.architecture.shape),
        "",
        *_training_table(plan.training.tokens, h, sched.warmup_steps),
        "",
        "[data]",
        f"preset = {toml_string(preset_reference(preset))}",
    ]
    if plan.options.hyperparameters is not None:
        lines.append(f"hyperparameters = {toml_string(plan.options.hyperparameters)}")
    if cost is not None:
        lines += ["", *hardware_table(cost)]
    if layout is not None and layout.best is not None:
        lines += ["", *parallelism_table(layout)]
    if plan.inference is not None:
        lines += ["", *plan_table(plan.inference)]
    check = check_table(plan_ignores(plan))
    if check:
        lines += ["", *check]
    return "\n".join(lines) + "\n"


def _training_table(tokens: float, h: Hyperparameters, warmup_steps: int) -> list[str]:
    """The [training] table of a plan: its tokens, batch, learning rate and the multi-step
    schedule."""
    stage_fractions = ", ".join(repr(f) for f in DEFAULT_STAGE_FRACTIONS)
    stage_factors = ", ".join(repr(f) for f in DEFAULT_STAGE_FACTORS)
    return [
        "[training]",
        f"tokens = {_toml_number('tokens', tokens)}",
        f"batch_size_sequences = {h.batch_size_sequences}  # {h.tokens_per_step} tokens per step",
        f"learning_rate = {_toml_number('learning_rate', h.learning_rate)}",
        f"warmup_steps = {warmup_steps}",
        'schedule = "multistep"',
        f"stage_fractions = [{stage_fractions}]",
        f"stage_factors = [{stage_factors}]",
    ]


def moe_config_toml(
    plan: MoePlan, cost: Cost | None = None, layout: LayoutFit | None = None
) -> str:
    """The run config of an MoE plan (``dsplan budget --moe --format toml``): the [model] table
    holds the attention and the dense layers' width, [model.moe] the experts and, with MLA,
    [model.mla] its sizes; ``dsplan check`` reads it back and checks it at its activated C."""
    from dsplan.model.shape import ASPECT_RANGE

    h, sched, preset = plan.hyperparameters, plan.schedule, plan.preset
    shape = plan.candidate.shape
    m = plan.candidate.counts.flops_per_token
    lines = [
        f"# dsplan budget {plan.compute_flops:.4g} --moe: Eq. 4 on the activated compute (dsplan's "
        f"assumption) under preset {preset.id!r}.",
        f"# C = M * D = {m} FLOPs/token (activated) x {plan.tokens:.6g} tokens. Check it with: "
        "dsplan check FILE",
        f"schema_version = {CONFIG_SCHEMA_VERSION}",
        "",
        *moe_model_tables(shape),
        "",
        *_training_table(plan.tokens, h, sched.warmup_steps),
        "",
        "[data]",
        f"preset = {toml_string(preset_reference(preset))}",
    ]
    if cost is not None:
        lines += ["", *hardware_table(cost)]
    if layout is not None and layout.best is not None:
        lines += ["", *parallelism_table(layout)]
    ignores = fit_range_ignores(preset, plan.compute_flops, None)
    aspect = shape.d_model / shape.n_layers
    if not ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]:
        ignores.append(
            (
                ("DSP106",),
                f"d_model / n_layers = {aspect:.3g}: no MoE shape inside {ASPECT_RANGE[0]:g} to "
                f"{ASPECT_RANGE[1]:g} reaches M = {m:.3g} within the search's tolerance",
            )
        )
    check = check_table(ignores)
    if check:
        lines += ["", *check]
    return "\n".join(lines) + "\n"


def moe_model_tables(shape: MoeShape) -> list[str]:
    """The ``[model]``, ``[model.moe]`` and (with MLA) ``[model.mla]`` tables of an MoE shape."""
    lines = [
        "[model]",
        f"n_layers = {shape.n_layers}",
        f"d_model = {shape.d_model}",
        f"n_heads = {shape.n_heads}",
        f"n_kv_heads = {shape.n_kv_heads}",
    ]
    if shape.n_dense_layers:
        lines.append(f"d_ff = {shape.d_ff}  # the dense layers'")
    lines += [
        f"vocab_size = {shape.vocab_size}",
        f"seq_len = {shape.seq_len}",
        f"tied_embeddings = {'true' if shape.tied_embeddings else 'false'}",
        "",
        "[model.moe]",
        f"n_experts = {shape.n_experts}",
        f"top_k = {shape.top_k}",
        f"d_ff_expert = {shape.d_ff_expert}",
        f"n_shared_experts = {shape.n_shared_experts}",
    ]
    if shape.n_shared_experts:
        lines.append(f"d_ff_shared = {shape.d_ff_shared}")
    lines.append(f"n_dense_layers = {shape.n_dense_layers}")
    if shape.mla is not None:
        a = shape.mla
        lines += [
            "",
            "[model.mla]",
            f"kv_lora_rank = {a.kv_lora_rank}",
            f"q_lora_rank = {a.q_lora_rank}",
            f"qk_nope_head_dim = {a.qk_nope_head_dim}",
            f"qk_rope_head_dim = {a.qk_rope_head_dim}",
            f"v_head_dim = {a.v_head_dim}",
        ]
    return lines


def hardware_table(cost: Cost) -> list[str]:
    """The ``[hardware]`` table of a costed plan: GPU, precision, MFU and, where known, the GPU
    count, the wall-clock days, the spending limit and a price given on the command line."""
    hw = cost.hardware
    lines = [
        "[hardware]",
        f"gpu = {toml_string(hw.gpu.id)}",
        f"dtype = {toml_string(hw.dtype)}",
        f"mfu = {_toml_number('mfu', hw.mfu)}",
    ]
    if cost.n_gpus is not None:
        lines.append(f"num_gpus = {cost.n_gpus}")
    days = cost.wall_clock_days
    if days is not None:
        lines.append(f"expected_days = {_toml_number('expected_days', days)}")
    if hw.max_cost_usd is not None:
        lines.append(f"budget_usd = {_toml_number('budget_usd', hw.max_cost_usd)}")
    if hw.price_usd_per_gpu_hour is not None and hw.price_source == "given":
        price = _toml_number("price_usd_per_gpu_hour", hw.price_usd_per_gpu_hour)
        lines.append(f"price_usd_per_gpu_hour = {price}")
    return lines


def parallelism_table(fit: LayoutFit) -> list[str]:
    """The ``[parallelism]`` table of the best layout a plan found on its GPUs (one that fits)."""
    best = fit.best
    assert best is not None
    lay = best.memory.layout
    mem = best.memory
    stages = [s.layers for s in mem.stages]
    lines = [
        "[parallelism]",
        f"# dsplan's best layout on {fit.gpus:,} x {fit.gpu}: {mem.required_bytes / 1e9:.1f} of "
        f"{fit.gpu_memory_gb:g} GB on the fullest GPU; see `dsplan layout` for the others",
        f"tensor_parallel = {lay.tp}",
        f"pipeline_parallel = {lay.pp}",
        f"context_parallel = {getattr(lay, 'cp', 1)}",
        f"expert_parallel = {getattr(lay, 'ep', 1)}",
        f"data_parallel = {lay.dp}",
        f"zero_stage = {lay.zero}",
        f"micro_batch = {lay.micro_batch}",
        f"recompute = {toml_string(lay.recompute)}",
        f"sequence_parallel = {'true' if lay.sequence_parallel else 'false'}",
        f"virtual_stages = {lay.virtual_stages}",
    ]
    if len(set(stages)) > 1:
        lines.append(f"stage_layers = [{', '.join(str(n) for n in stages)}]")
    lines += [f"gpus = {fit.gpus}", f"gpu = {toml_string(fit.gpu)}"]
    return lines


def plan_table(inference: InferenceReport) -> list[str]:
    """The ``[plan]`` table of an inference-aware plan: its inference demand, and why its tokens sit
    above D_opt (``dsplan check`` measures them against the same allocation instead)."""
    r = inference.optimum
    best, co = r.optimum, r.compute_optimal
    unit = inference.model_size_unit
    return [
        "[plan]",
        f"# Inference-aware allocation (Sardana et al. 2023): to serve {r.inference_tokens:.4g} "
        f"tokens at a loss of {r.target_loss:.4g} nats,",
        f"# {best.model_size:.4g} {unit} on {best.tokens:.4g} tokens costs "
        f"{best.total_flops:.4g} FLOPs of training + inference; the compute-optimal",
        f"# {co.model_size:.4g} on {co.tokens:.4g} tokens costs {co.total_flops:.4g} "
        f"({r.saving_fraction:.1%} more). The tokens sit above D_opt on purpose:",
        "# dsplan check measures them against this allocation (DSP302).",
        f"inference_tokens = {_toml_number('inference_tokens', r.inference_tokens)}",
    ]


def plan_ignores(plan: Plan) -> Ignores:
    """The rules a plan's config breaks as asked, and why (``dsplan budget`` warned of each).

    Besides a budget below the fit range (DSP305) and a shape outside the width/depth band
    (DSP106): a preset whose law predicts a parameter count has its matching shape trained on
    C / M tokens, which at small scale (attention over ``seq_len`` weighs more than 6N) is well
    below the law's own D (DSP303).
    """
    from dsplan.checking.rules.tokens import UNDERTRAIN_FACTOR

    ignores = fit_range_ignores(plan.preset, plan.compute_flops, plan.options.hyperparameters)
    ignores += shape_ignores(plan.architecture.shape, plan.architecture.counts.flops_per_token)
    law_tokens = plan.optimal.law_tokens
    if law_tokens and plan.training.tokens / law_tokens < 1 / UNDERTRAIN_FACTOR:
        basis = plan.optimal.law_tokens_basis
        ignores.append(
            (
                ("DSP303",),
                f"preset {plan.preset.id} predicts {plan.optimal.model_size_unit}: the plan trains "
                f"the matching shape on C / M tokens, "
                f"{plan.training.tokens / law_tokens:.2f}x the law's own D"
                + (f" ({basis})" if basis else ""),
            )
        )
    return ignores


def model_table(shape: Shape) -> list[str]:
    """The ``[model]`` table of a run config, one line per key."""
    return [
        "[model]",
        f"n_layers = {shape.n_layers}",
        f"d_model = {shape.d_model}",
        f"n_heads = {shape.n_heads}",
        f"n_kv_heads = {shape.n_kv_heads}",
        f"d_ff = {shape.d_ff}",
        f"vocab_size = {shape.vocab_size}",
        f"seq_len = {shape.seq_len}",
        f"tied_embeddings = {'true' if shape.tied_embeddings else 'false'}",
    ]


def preset_reference(preset: Preset, folder: Path | None = None) -> str:
    """How a run config names ``preset`` in ``data.preset``: its id when shipped, else its path.

    A config's relative preset path is resolved from the config's folder, so a config written into
    ``folder`` gets the path relative to that folder (absolute where none exists); a config whose
    folder is unknown (``dsplan budget --format toml`` writes to stdout) gets the absolute path.
    """
    target = Path(preset.path).resolve()
    if target.parent == presets_dir().resolve():
        return preset.id
    if folder is None:
        return str(target)
    try:
        return os.path.relpath(target, Path(folder).resolve())
    except ValueError:  # another drive on Windows: no relative path exists
        return str(target)


def check_table(ignores: Sequence[tuple[Sequence[str], str]]) -> list[str]:
    """A ``[check]`` table whose ``ignore`` lists rules a config breaks on purpose, each group of
    rules under a comment that says why (empty when nothing is ignored)."""
    if not ignores:
        return []
    lines = ["[check]"]
    for codes, why in ignores:
        lines.append(f"# {', '.join(codes)}: {why}")
    codes = [code for group, _ in ignores for code in group]
    lines.append("ignore = [" + ", ".join(toml_string(code) for code in codes) + "]")
    return lines


# What a written config declares in its [check] table: (rule codes, why), one entry per reason.
Ignores = list[tuple[tuple[str, ...], str]]


def shape_ignores(shape: Shape | MoeShape, flops_per_token: float) -> Ignores:
    """DSP106 for a shape outside the width/depth band, which the shape search keeps only when no
    shape inside reaches the target within its tolerance (or ``--aspect-ratio`` asks for one)."""
    from dsplan.model.shape import ASPECT_RANGE

    aspect = shape.d_model / shape.n_layers
    if ASPECT_RANGE[0] <= aspect <= ASPECT_RANGE[1]:
        return []
    return [
        (
            ("DSP106",),
            f"d_model / n_layers = {aspect:.3g}: the shape search keeps a shape outside "
            f"{ASPECT_RANGE[0]:g} to {ASPECT_RANGE[1]:g} only when none inside reaches "
            f"M = {flops_per_token:.3g} within its tolerance, or --aspect-ratio asks for it",
        )
    ]


def fit_range_ignores(preset: Preset, compute_flops: float, hyperparameters: str | None) -> Ignores:
    """DSP305 for a budget below the fit range of the preset's allocation law, or of its in-file
    Eq. 1 (what ``dsplan check`` reports there); ``dsplan budget`` and ``dsplan sweep`` warn about
    the same extrapolation when they write the config."""
    floors = [preset.fit_range]
    if resolve_hyperparameter_law(preset, hyperparameters) is None:  # the preset's own Eq. 1
        floors.append(preset.hyperparameter_fit_range or preset.fit_range)
    below = [
        r.orders_beyond(compute_flops)
        for r in floors
        if r.compute_min is not None and compute_flops < r.compute_min
    ]
    if not below or max(below) <= 0:
        return []
    return [
        (
            ("DSP305",),
            f"C = {compute_flops:.4g} FLOPs is {max(below):.1f} orders of magnitude below preset "
            f"{preset.id}'s fit range, as asked: its laws are extrapolated here",
        )
    ]


def run_config_toml(run: SweepRun, preset: str | None = None) -> str:
    """One run's config in the ``dsplan check`` format ([model], [training], [data]).

    Args:
        run: The experiment.
        preset: How ``data.preset`` names the preset (:func:`preset_reference`, so that
            a preset file is found from the config's folder); default the run's own.

    The batch is given in sequences (what a launcher sets); its size in tokens is in the comment.
    Tokens are rounded to a whole number. A ``[check]`` table names the rules the run breaks by
    design, with the reason (:func:`sweep_run_ignores`), so that ``dsplan check --strict`` passes it.
    """
    check = check_table(sweep_run_ignores(run))

    return "\n".join(
        [
            f"# dsplan sweep: {run.kind} run {run.run_id} at C = {run.compute_flops:.4g} FLOPs",
            f"# M = {run.flops_per_token} FLOPs/token, {run.total_steps} steps",
            f"schema_version = {CONFIG_SCHEMA_VERSION}",
            "",
            *model_table(run.shape),
            "",
            "[training]",
            f"tokens = {round(run.tokens)}",
            f"batch_size_sequences = {run.batch_size_sequences}  # {run.batch_size_tokens} tokens",
            f"learning_rate = {_toml_number('learning_rate', run.learning_rate)}",
            f"warmup_steps = {run.warmup_steps}",
            'schedule = "multistep"',
            "",
            "[data]",
            f"preset = {toml_string(run.preset if preset is None else preset)}",
            *(["", *check] if check else []),
            "",
        ]
    )


def sweep_run_ignores(run: SweepRun) -> Ignores:
    """The ``dsplan check`` rules a sweep run breaks on purpose, and why.

    An IsoFLOP point trains a model set off M_opt on C / M tokens, so its tokens sit off D_opt by
    design (DSP302, DSP303: that distance is what the sweep measures). A grid point sets its
    learning rate and batch off Eq. 1 by design (DSP201, DSP202). Budgets below the preset's fit
    range (DSP305) and shapes outside the width/depth band (DSP106) are declared where they occur
    (:func:`fit_range_ignores`, :func:`shape_ignores`).
    """
    ignores: Ignores
    if run.kind == "hyperparameters":
        ignores = [
            (("DSP201", "DSP202"), "a grid point: learning rate and batch set off Eq. 1 on purpose")
        ]
    else:
        ignores = [
            (
                ("DSP302", "DSP303"),
                "an IsoFLOP point: the model is set off M_opt on purpose, so its tokens (C / M) "
                "sit off D_opt",
            )
        ]
    ignores += fit_range_ignores(load_preset(run.preset), run.compute_flops, None)
    return ignores + shape_ignores(run.shape, run.flops_per_token)
