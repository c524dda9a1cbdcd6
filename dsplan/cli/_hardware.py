"""The hardware options shared by ``dsplan budget`` and ``dsplan model``, and their exit path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dsplan.cli._output import Format, warn_line
from dsplan.errors import InfeasiblePlanError, InputError
from dsplan.records import record

if TYPE_CHECKING:
    from dsplan.model.flops import Shape
    from dsplan.model.moe import MoeShape
    from dsplan.planning.cost import Cost, Hardware
    from dsplan.planning.layout_fit import LayoutFit

HARDWARE_HELP = "Hardware: time, cost, memory and feasibility (needs --gpu)"

GpuOption = Annotated[
    str | None,
    typer.Option(
        help="GPU id or alias (see `dsplan gpus`), or a .toml file of one entry: adds GPU-hours, "
        "days, cost and memory.",
        rich_help_panel=HARDWARE_HELP,
    ),
]
GpusOption = Annotated[
    int | None, typer.Option(help="Number of GPUs.", rich_help_panel=HARDWARE_HELP)
]
MfuOption = Annotated[
    float | None,
    typer.Option(
        help="Model FLOPs utilisation in (0, 1], against the dense peak of --dtype "
        "[default: the GPU's planning MFU, an assumption].",
        rich_help_panel=HARDWARE_HELP,
    ),
]
DtypeOption = Annotated[
    str | None,
    typer.Option(
        help="Training precision whose dense peak is used: bf16 or fp8 (fp16 also accepted) "
        "[default: bf16; fp16 on parts without bf16].",
        rich_help_panel=HARDWARE_HELP,
    ),
]
PriceOption = Annotated[
    float | None,
    typer.Option(
        help="USD per GPU-hour [default: the table's dated on-demand price, where one exists].",
        rich_help_panel=HARDWARE_HELP,
    ),
]
DaysOption = Annotated[
    float | None,
    typer.Option(
        help="Deadline in days: does the run fit on --gpus, or how many GPUs does it need?",
        rich_help_panel=HARDWARE_HELP,
    ),
]
MaxCostOption = Annotated[
    float | None,
    typer.Option(help="Spending limit in USD.", rich_help_panel=HARDWARE_HELP),
]


@record
class HardwareOptions:
    """The hardware flags shared by ``dsplan budget`` and ``dsplan model``, as given."""

    gpu: str | None
    gpus: int | None = None
    mfu: float | None = None
    dtype: str | None = None
    price_per_gpu_hour: float | None = None
    days: float | None = None
    max_cost_usd: float | None = None

    def resolve(self) -> Hardware | None:
        """The resolved hardware, None without --gpu. Reads the GPU table only when --gpu is given."""
        if self.gpu is None:
            for f in fields(self)[1:]:
                if getattr(self, f.name) is not None:
                    flag = "--" + f.name.replace("_", "-")
                    raise InputError(f"{flag} needs --gpu ID (see `dsplan gpus` for the ids)")
            return None
        from dsplan.planning.cost import resolve_hardware

        return resolve_hardware(
            self.gpu,
            dtype=self.dtype,
            mfu=self.mfu,
            n_gpus=self.gpus,
            days=self.days,
            max_cost_usd=self.max_cost_usd,
            price_usd_per_gpu_hour=self.price_per_gpu_hour,
        )


def finish_costs(costs: list[Cost]) -> None:
    """After the result is on stdout: cost warnings on stderr, then exit 1 if any plan is infeasible."""
    for c in costs:
        for w in c.warnings:
            warn_line(w)
    reasons = [r for c in costs for r in c.feasibility.reasons]
    if reasons:
        raise InfeasiblePlanError("infeasible: " + "; ".join(reasons))


# Their writers take the best layout the trainer can express: the whole ranking, not the best alone.
TRAINER_FORMATS = (Format.nanotron, Format.megatron)


def lay_out(
    runs: Sequence[tuple[Shape | MoeShape, int]],
    costs: list[Cost],
    hardware: Hardware | None,
    format: Format,
) -> tuple[list[Cost], list[LayoutFit | None]]:
    """Each plan's best layout on the GPUs given (``--gpu`` with ``--gpus``), from its shape and
    batch in sequences, and its cost with the feasibility corrected by it; the costs unchanged and
    no layouts without ``--gpus``. A trainer's format keeps every fitting layout, best first;
    otherwise the search stops at the best (start-up)."""
    fits: list[LayoutFit | None] = [None] * len(runs)
    if hardware is None or hardware.n_gpus is None:
        return costs, fits
    # Imported here: only a plan on a given cluster is laid out (start-up).
    from dsplan.planning.layout_fit import fit_layout, with_layout

    laid = list(costs)
    for i, ((shape, batch), cost) in enumerate(zip(runs, costs, strict=True)):
        fit = fit_layout(
            shape,
            hardware,
            n_gpus=hardware.n_gpus,
            global_batch=batch,
            best_only=format not in TRAINER_FORMATS,
        )
        laid[i], fits[i] = with_layout(cost, fit), fit
    return laid, fits


def add_cost(doc: dict[str, Any], cost: Cost, fit: LayoutFit | None) -> None:
    """Put a plan's cost (and its layout, when it has one) and the cost's warnings in its document."""
    doc["cost"] = cost.to_dict()
    if fit is not None:
        doc["cost"]["layout"] = fit.to_dict()
    doc["warnings"] = [*doc["warnings"], *cost.warnings]
