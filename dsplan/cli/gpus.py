"""``dsplan gpus [ID]``: the GPU table (dense peaks, memory, links, planning MFU, prices, sources)."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out

FORMATS = (Format.text, Format.json)
FOOTER = (
    "* fp16 (no bf16). MFU: dsplan's planning assumption against the dense bf16 peak.\n"
    "A row is one GPU as --gpus counts it: per Blackwell GPU for GB200/GB300 (2 per superchip), "
    "per 2-GCD package for MI250X, per chip for TPU and Trainium.\n"
    "Prices: USD per GPU-hour on the date shown; on-demand quotes except where the entry says "
    "otherwise (h800: DeepSeek-V3's own rental assumption).\n"
    "node: GPUs per scale-up domain (the tensor-parallel ceiling of `dsplan layout`); links: GB/s "
    "one direction per GPU, within / across nodes (- not in the table).\n"
    "`dsplan gpus ID` shows every field with its source and our assumptions."
)


def gpus(
    gpu: Annotated[
        str | None,
        typer.Argument(help="A GPU id or alias (h100 = h100-sxm); omit to list them all."),
    ] = None,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
) -> None:
    """The GPU table: dense peak TFLOP/s, memory, links, planning MFU and prices, with sources.

    Peaks are dense (a vendor's 2:4-sparsity figure is halved); planning MFUs are dsplan's
    assumptions, drawn from published runs; prices carry the date they were observed.

    Examples:

        dsplan gpus

        dsplan gpus h100

        dsplan gpus --format json
    """
    with exit_on_error():
        from dsplan.catalog.gpus import SCHEMA_VERSION, get_gpu, load_table
        from dsplan.output.gpus import gpu_lines, gpus_table
        from dsplan.output.table import to_text

        if gpu is not None:
            entry = get_gpu(gpu).to_dict()
            if format is Format.json:
                out(dumps({"schema_version": SCHEMA_VERSION, **entry}))
            else:
                out(gpu_lines(entry))
            return
        table = load_table()
        entries = [g.to_dict() for g in table.gpus]
        if format is Format.json:
            as_of = table.as_of.isoformat() if table.as_of else None
            out(dumps({"schema_version": SCHEMA_VERSION, "as_of": as_of, "gpus": entries}))
        else:
            out(to_text(gpus_table(entries), FOOTER))


def register(app: typer.Typer) -> None:
    app.command()(gpus)
