"""The inference-aware allocation of ``dsplan budget --inference-tokens`` as a text table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dsplan.output.table import Column, FitTable, Styled
from dsplan.units import count, sci

if TYPE_CHECKING:
    from rich.console import RenderableType


def target_text(inference: dict[str, Any]) -> str:
    """What the target loss stands for, in words."""
    target = inference["target"]
    kind, value = target["kind"], target["value"]
    if kind == "compute":
        where = f"the compute-optimal plan at {sci(value)} FLOPs"
    elif kind == "model_size":
        where = f"{count(value)} {inference['model_size_unit']} trained compute-optimally"
    else:
        where = "as given"
    return f"{target['loss']:.4f} nats ({where})"


def _size(value: float, unit: str) -> str:
    return f"{count(value)} {'M' if unit == 'flops_per_token' else 'params'}"


def inference_table(document: dict[str, Any]) -> RenderableType:
    """The allocation beside the compute-optimal one at the same loss, in the law's units."""
    inf = document["inference"]
    co = inf["compute_optimal"]
    unit = inf["model_size_unit"]
    table = FitTable(
        [
            Column("", "text", style="bold"),
            Column("inference-aware"),
            Column("compute-optimal"),
        ],
        title="Inference-aware allocation (Sardana et al. 2023)",
        box="simple_head",
    )
    loss = f"{inf['target']['loss']:.4f}"
    table.add_row("tokens served", count(inf["inference_tokens"]), count(inf["inference_tokens"]))
    table.add_row("loss (nats)", loss, loss)
    table.add_row(f"model ({unit})", _size(inf["model_size"], unit), _size(co["model_size"], unit))
    table.add_row("training tokens", count(inf["tokens"]), count(co["tokens"]))
    if inf["tokens_per_param"] is not None:
        table.add_row(
            "tokens/parameter", f"{inf['tokens_per_param']:.1f}", f"{co['tokens_per_param']:.1f}"
        )
    for key in ("training_flops", "inference_flops", "total_flops"):
        table.add_row(key.replace("_flops", " FLOPs"), sci(inf[key]), sci(co[key]))
    cost = inf.get("cost")
    if cost is not None:
        table.add_row(
            "training GPU-hours",
            f"{cost['training_gpu_hours']:,.0f}",
            f"{cost['compute_optimal_training_gpu_hours']:,.0f}",
        )
        if "training_cost_usd" in cost:
            table.add_row(
                "training cost",
                f"${cost['training_cost_usd']:,.0f}",
                f"${cost['compute_optimal_training_cost_usd']:,.0f}",
            )
    table.add_row(
        Styled("saving", "cyan"),
        f"{sci(inf['saving_flops'])} FLOPs",
        f"{inf['saving_fraction']:.1%} of the total",
    )
    return table


def inference_notes(documents: list[dict[str, Any]]) -> str:
    """The targets, the FLOPs convention and the hyperparameter basis, one line each."""
    inf = documents[0]["inference"]
    lines = [f"target: {target_text(d['inference'])}" for d in documents]
    lines += [f"FLOPs: {inf['convention']}", f"plan: {inf['hyperparameters_basis']}"]
    if inf.get("cost") is not None:
        lines.append("inference is counted in FLOPs, not priced: serving runs at an MFU of its own")
    return "\n".join(lines)


def inference_compare_table(budget: dict[str, Any], inference_tokens: float) -> RenderableType:
    """``dsplan compare --inference-tokens``: each law's inference-aware allocation at the loss of
    its compute-optimal plan at C, in its own units; N/A, with the reason, for laws without one."""
    table = FitTable(
        [
            Column("law", "text"),
            Column("model"),
            Column("tokens"),
            Column("D/N"),
            Column("total FLOPs"),
            Column("compute-optimal"),
            Column("saving"),
        ],
        title=(
            f"Inference-aware (Sardana et al. 2023): {count(inference_tokens)} tokens served, "
            "each law's loss at C"
        ),
    )
    for row in budget["laws"]:
        inf = row.get("inference")
        if inf is None:
            continue
        if not inf["available"]:
            table.add_row(row["id"], "N/A", "", "", "", "", "no loss law")
            continue
        per = inf["tokens_per_param"]
        table.add_row(
            row["id"],
            _size(inf["model_size"], row["model_size_unit"]),
            count(inf["tokens"]),
            "-" if per is None else f"{per:.1f}",
            sci(inf["total_flops"]),
            sci(inf["compute_optimal_total_flops"]),
            f"{inf['saving_fraction']:.1%}",
        )
    missing = [r["id"] for r in budget["laws"] if not r.get("inference", {}).get("available", True)]
    if not missing:
        return table
    from rich.console import Group

    return Group(
        table,
        f"N/A: {', '.join(missing)} {'predicts' if len(missing) == 1 else 'predict'} the "
        "allocation directly, with no loss law L(N, D) "
        "to trade model size for tokens at equal loss",
    )
