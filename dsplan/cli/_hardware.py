"""The hardware options shared by ``dsplan budget`` and ``dsplan model``, and their exit path."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Annotated

import typer

from dsplan.cli._output import warn_line
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


def lay_out(
    shape: Shape | MoeShape,
    global_batch: int,
    cost: Cost,
    hardware: Hardware | None,
    *,
    ranked: bool = False,
) -> tuple[Cost, LayoutFit | None]:
    """The plan's best layout on the GPUs given (``--gpu`` with ``--gpus``), and its cost with the
    feasibility corrected by it; the cost unchanged without ``--gpus``. ``ranked`` keeps every
    fitting layout, best first (a trainer's writer takes the best it can express); otherwise the
    search stops at the best (start-up)."""
    if hardware is None or hardware.n_gpus is None:
        return cost, None
    # Imported here: only a plan on a given cluster is laid out (start-up).
    from dsplan.planning.layout_fit import fit_layout, with_layout

    fit = fit_layout(
        shape,
        hardware,
        n_gpus=hardware.n_gpus,
        global_batch=global_batch,
        best_only=not ranked,
    )
    return with_layout(cost, fit), fit
