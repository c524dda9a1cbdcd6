"""``dsplan budget C --moe``: the plan of a mixture-of-experts model (imported only with --moe)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsplan.cli._hardware import add_cost, finish_costs, lay_out
from dsplan.cli._moe_options import moe_search_options
from dsplan.cli._output import Format, dumps, out, require_finite, warn_line
from dsplan.errors import InputError
from dsplan.planning.moe_plan import MoePlanOptions, moe_plan
from dsplan.units import parse_positive

if TYPE_CHECKING:
    from dsplan.planning.cost import Cost, Hardware


def moe_budget(
    compute: list[str] | None,
    dense_only: dict[str, bool],
    *,
    preset: str,
    seq_len: int,
    vocab_size: int,
    aspect_ratio: float,
    warmup_steps: int,
    format: Format,
    hardware: Hardware | None,
    n_experts: int | None,
    top_k: int | None,
    n_shared_experts: int,
    first_dense_layers: int,
    mla: bool,
) -> None:
    """Plan, price and print one MoE budget per C (text, json, toml or megatron)."""
    stray = [flag for flag, given in dense_only.items() if given]
    if stray:
        raise InputError(f"{', '.join(stray)} cannot be used with --moe")
    search = moe_search_options(
        n_experts=n_experts,
        top_k=top_k,
        n_shared_experts=n_shared_experts,
        first_dense_layers=first_dense_layers,
        mla=mla,
        aspect_ratio=aspect_ratio,
        vocab_size=vocab_size,
        seq_len=seq_len,
    )
    if not compute and (hardware is None or hardware.n_gpus is None or hardware.days is None):
        raise InputError(
            "give a compute budget C (e.g. 4e24), or --gpu, --gpus and --days to derive one"
        )
    budgets = [parse_positive(text, "compute budget") for text in compute or []]
    options = MoePlanOptions(search=search, preset=preset, warmup_steps=warmup_steps)
    costs: list[Cost] = []
    if not budgets:
        assert hardware is not None
        from dsplan.planning.moe_plan import moe_plan_for_cluster

        one, cost = moe_plan_for_cluster(hardware, options)
        plans, costs = [one], [cost]
    else:
        plans = [moe_plan(c, options) for c in budgets]
    if hardware is not None and not costs:
        from dsplan.planning.cost import estimate

        costs = [estimate(p.candidate.counts, p.tokens, hardware) for p in plans]
    runs = [(p.candidate.shape, p.hyperparameters.batch_size_sequences) for p in plans]
    costs, fits = lay_out(runs, costs, hardware, format)
    documents = []
    for i, p in enumerate(plans):
        doc = p.to_dict()
        if costs:
            add_cost(doc, costs[i], fits[i])
        documents.append(doc)
    require_finite(documents)
    if format is Format.json:
        out(dumps(documents[0] if len(documents) == 1 else documents))
    elif format is Format.toml:
        if len(plans) != 1:
            raise InputError("--format toml takes one budget: it writes one run config")
        from dsplan.checking.writers import moe_config_toml

        out(moe_config_toml(plans[0], costs[0] if costs else None, fits[0]))
    elif format is Format.megatron:
        if len(plans) != 1:
            raise InputError("--format megatron takes one budget: it writes one launch script")
        from dsplan.checking.megatron_writer import megatron_script

        out(megatron_script(plans[0], costs[0] if costs else None, fits[0]))
    elif format is Format.text:
        from dsplan.output.moe_text import moe_plan_text

        out("\n\n".join(moe_plan_text(doc) for doc in documents))
        seen: set[str] = set()
        for doc in documents:
            for w in doc["warnings"]:
                if w not in seen and not w.startswith("mixture-of-experts plan:"):
                    seen.add(w)
                    warn_line(w)
    else:
        raise InputError(
            f"--moe plans are written as text, json, toml or megatron, not {format.value}"
        )
    finish_costs(costs)
