"""``dsplan budget C [C ...]``: the plan for a compute budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from dsplan.cli._hardware import (
    DaysOption,
    DtypeOption,
    GpuOption,
    GpusOption,
    HardwareOptions,
    MaxCostOption,
    MfuOption,
    PriceOption,
    add_cost,
    finish_costs,
    lay_out,
)
from dsplan.cli._options import (
    AspectRatioOption,
    FirstDenseLayersOption,
    HeadDimOption,
    HeadsMultipleOption,
    HyperparametersOption,
    InferenceTokensOption,
    KvHeadsOption,
    LayersMultipleOption,
    MatchQualityOption,
    MlaOption,
    MoeOption,
    NExpertsOption,
    PresetOption,
    SeqLenOption,
    SharedExpertsOption,
    TargetLossOption,
    TopKOption,
    UniqueTokensOption,
    VocabSizeOption,
    WarmupStepsOption,
)
from dsplan.cli._output import (
    Format,
    dumps,
    exit_on_error,
    format_option,
    out,
    require_finite,
    warn_line,
)
from dsplan.errors import InputError
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.model.shape import SearchOptions
from dsplan.planning.plan import Plan, PlanOptions, plan
from dsplan.scheduling.schedules import DEEPSEEK_WARMUP_STEPS
from dsplan.units import parse_positive, positive_int

if TYPE_CHECKING:
    from dsplan.planning.cost import Cost, Hardware
    from dsplan.planning.layout_fit import LayoutFit


FORMATS = (
    Format.text,
    Format.json,
    Format.env,
    Format.toml,
    Format.nanotron,
    Format.megatron,
)
# The formats that write one run config a launcher or `dsplan check` reads: one budget each.
CONFIG_FORMATS = (Format.toml, Format.nanotron, Format.megatron)


def budget(
    compute: Annotated[
        list[str] | None,
        typer.Argument(
            help="Compute budget(s) C in FLOPs: 1e24, 3.2e23, 2_000e20. Omit with --gpu, --gpus "
            "and --days to plan for what that cluster computes.",
            show_default=False,
        ),
    ] = None,
    preset: PresetOption = "current",
    hyperparameters: HyperparametersOption = None,
    unique_tokens: UniqueTokensOption = None,
    inference_tokens: InferenceTokensOption = None,
    target_loss: TargetLossOption = None,
    match_quality: MatchQualityOption = None,
    seq_len: SeqLenOption = DEFAULT_SEQ_LEN,
    vocab_size: VocabSizeOption = DEFAULT_VOCAB_SIZE,
    aspect_ratio: AspectRatioOption = 128.0,
    head_dim: HeadDimOption = None,
    n_kv_heads: KvHeadsOption = None,
    layers_multiple: LayersMultipleOption = 1,
    heads_multiple: HeadsMultipleOption = None,
    warmup_steps: WarmupStepsOption = DEEPSEEK_WARMUP_STEPS,
    format: Annotated[
        Format,
        format_option(
            FORMATS,
            "Output: text, json, env, toml (a dsplan run config), nanotron (a nanotron "
            "training YAML) or megatron (a Megatron-LM launch script).",
        ),
    ] = Format.text,
    field: Annotated[
        str | None, typer.Option(help="Print one value bare, e.g. hyperparameters.learning_rate.")
    ] = None,
    export: Annotated[
        bool,
        typer.Option(
            "--export",
            help="env: write `export NAME=value` lines, so that the programs a run script starts "
            "see the variables.",
        ),
    ] = False,
    gpu: GpuOption = None,
    gpus: GpusOption = None,
    mfu: MfuOption = None,
    dtype: DtypeOption = None,
    price_per_gpu_hour: PriceOption = None,
    days: DaysOption = None,
    max_cost_usd: MaxCostOption = None,
    moe: MoeOption = False,
    n_experts: NExpertsOption = None,
    top_k: TopKOption = None,
    n_shared_experts: SharedExpertsOption = 0,
    first_dense_layers: FirstDenseLayersOption = 0,
    mla: MlaOption = False,
) -> None:
    """The compute-optimal plan for a budget: M, D, shape, learning rate, batch and schedule.

    Examples:

        dsplan budget 1e24

        dsplan budget 1e21 1e22 1e23 --format json

        LR=$(dsplan budget 1e24 --field hyperparameters.learning_rate)

        eval "$(dsplan budget 1e24 --format env --export)"

        dsplan budget 1e24 --gpu h800 --gpus 2048 --days 30

        dsplan budget --gpu h800 --gpus 2048 --days 30 --format json

        dsplan budget 1e24 --preset chinchilla-a3 --hyperparameters step-law

        dsplan budget 1e24 --unique-tokens 3e11

        dsplan budget 1e22 --preset chinchilla-a3 --inference-tokens 2e12

        dsplan budget --match-quality 13e9 --inference-tokens 2e12 --preset chinchilla-a3

        dsplan budget 1e22 --format toml > run.toml && dsplan check run.toml

        dsplan budget 1e22 --gpu h100 --gpus 64 --format nanotron | dsplan check --strict -

        dsplan budget 1e24 --gpu h800 --gpus 2048 --format megatron > pretrain.sh

        dsplan budget 4e24 --moe --n-experts 256 --top-k 8 --n-shared-experts 1 --first-dense-layers 3 --mla
    """
    with exit_on_error():
        moe_flags = {
            "--n-experts": n_experts is not None,
            "--top-k": top_k is not None,
            "--n-shared-experts": n_shared_experts != 0,
            "--first-dense-layers": first_dense_layers != 0,
            "--mla": mla,
        }
        if moe:
            # Imported here: only --moe plans need the MoE model (start-up).
            from dsplan.cli._moe_budget import moe_budget

            moe_budget(
                compute,
                {
                    "--hyperparameters": hyperparameters is not None,
                    "--unique-tokens": unique_tokens is not None,
                    "--head-dim": head_dim is not None,
                    "--n-kv-heads": n_kv_heads is not None,
                    "--layers-multiple": layers_multiple != 1,
                    "--heads-multiple": heads_multiple is not None,
                    "--field": field is not None,
                    "--export": export,
                    "--inference-tokens": inference_tokens is not None,
                    "--target-loss": target_loss is not None,
                    "--match-quality": match_quality is not None,
                },
                preset=preset,
                seq_len=seq_len,
                vocab_size=vocab_size,
                aspect_ratio=aspect_ratio,
                warmup_steps=warmup_steps,
                format=format,
                hardware=HardwareOptions(
                    gpu, gpus, mfu, dtype, price_per_gpu_hour, days, max_cost_usd
                ).resolve(),
                n_experts=n_experts,
                top_k=top_k,
                n_shared_experts=n_shared_experts,
                first_dense_layers=first_dense_layers,
                mla=mla,
            )
            return
        stray = [flag for flag, given in moe_flags.items() if given]
        if stray:
            raise InputError(f"{', '.join(stray)} plan a mixture-of-experts model: add --moe")
        budgets = [parse_positive(text, "compute budget") for text in compute or []]
        hardware = HardwareOptions(
            gpu, gpus, mfu, dtype, price_per_gpu_hour, days, max_cost_usd
        ).resolve()
        options = PlanOptions(
            preset=preset,
            search=SearchOptions(
                seq_len=positive_int(seq_len, "--seq-len"),
                vocab_size=positive_int(vocab_size, "--vocab-size"),
                aspect_ratio=aspect_ratio,
                head_dim=head_dim,
                n_kv_heads=n_kv_heads,
                layers_multiple=layers_multiple,
                heads_multiple=heads_multiple,
            ),
            warmup_steps=warmup_steps,
            hyperparameters=hyperparameters,
            unique_tokens=(
                None if unique_tokens is None else parse_positive(unique_tokens, "--unique-tokens")
            ),
        )
        if inference_tokens is None and target_loss is None and match_quality is None:
            plans, costs = _plans(budgets, options, hardware)
        else:
            # Imported here: only inference-aware plans need their maths (start-up).
            from dsplan.cli._inference_budget import inference_plans, inference_targets

            targets, serve = inference_targets(
                budgets,
                inference_tokens=inference_tokens,
                target_loss=target_loss,
                match_quality=match_quality,
            )
            plans, costs = inference_plans(targets, serve, options, hardware)
        runs = [(p.architecture.shape, p.hyperparameters.batch_size_sequences) for p in plans]
        costs, fits = lay_out(runs, costs, hardware, format)
        cost_of: list[Cost | None] = list(costs) if costs else [None] * len(plans)
        documents = [_document(p, c, f) for p, c, f in zip(plans, cost_of, fits, strict=True)]
        require_finite(documents)
        if export and format is not Format.env:
            raise InputError("--export applies to --format env only")
        if field is not None:
            # Imported here: the JSON path, the common one, needs no renderer (start-up).
            from dsplan.numbers import clean
            from dsplan.output.text import field_text, get_field

            out("\n".join(field_text(get_field(clean(doc), field)) for doc in documents))
        elif format is Format.json:
            out(dumps(documents[0] if len(documents) == 1 else documents))
        elif format is Format.env:
            if len(documents) != 1:
                raise InputError("--format env takes one budget; use --format json for several")
            from dsplan.output.text import env_lines

            out(env_lines(documents[0], export=export))
        elif format in CONFIG_FORMATS:
            if len(documents) != 1:
                raise InputError(
                    f"--format {format.value} takes one budget: it writes one run config"
                )
            out(_config(format, plans[0], costs[0] if costs else None, fits[0]))
        else:
            _text(plans, documents)
        finish_costs(costs)


def _config(format: Format, p: Plan, cost: Cost | None, fit: LayoutFit | None) -> str:
    """The run config of one plan in a config format (imported here: start-up)."""
    if format is Format.megatron:
        from dsplan.checking.megatron_writer import megatron_script

        return megatron_script(p, cost, fit)
    if format is Format.nanotron:
        from dsplan.checking.nanotron_writer import nanotron_yaml

        return nanotron_yaml(p, fit)
    from dsplan.checking.config import config_toml

    return config_toml(p, cost, fit)


def _plans(
    budgets: list[float], options: PlanOptions, hardware: Hardware | None
) -> tuple[list[Plan], list[Cost]]:
    """The plans, and their costs when a GPU is given (the inverse mode when no budget is)."""
    if not budgets:
        if hardware is None or hardware.n_gpus is None or hardware.days is None:
            raise InputError(
                "give a compute budget C (e.g. 1e24), or --gpu, --gpus and --days to derive one"
            )
        from dsplan.planning.cost import plan_for_cluster

        p, c = plan_for_cluster(hardware, options)
        return [p], [c]
    plans = [plan(c, options) for c in budgets]
    if hardware is None:
        return plans, []
    from dsplan.planning.cost import estimate

    costs = [estimate(p.architecture.counts, p.training.tokens, hardware) for p in plans]
    return plans, costs


def _document(p: Plan, cost: Cost | None, fit: LayoutFit | None) -> dict[str, Any]:
    doc = p.to_dict()
    if cost is not None:
        add_cost(doc, cost, fit)
        if p.inference is not None:
            from dsplan.cli._inference_budget import inference_cost

            doc["inference"]["cost"] = inference_cost(p, cost)
    return doc


def _text(plans: list[Plan], documents: list[dict[str, Any]]) -> None:
    from dsplan.output.table import to_text
    from dsplan.output.text import plan_text, plans_table, preset_footer

    parts: list[Any] = [plan_text(plans[0]) if len(plans) == 1 else plans_table(plans)]
    notes: list[str] = []
    if plans[0].inference is not None:
        from dsplan.output.inference import inference_notes, inference_table

        parts += [inference_table(doc) for doc in documents]
        notes.append(inference_notes(documents))
    if "cost" in documents[0]:
        from dsplan.output.hardware_text import cost_table, costs_table

        parts.append(
            cost_table(documents[0]["cost"]) if len(plans) == 1 else costs_table(documents)
        )
    out(to_text(*parts, *notes, preset_footer(plans)))
    seen: set[str] = set()
    for p in plans:
        for w in p.warnings:
            if w not in seen:
                seen.add(w)
                warn_line(w)


def register(app: typer.Typer) -> None:
    app.command()(budget)
