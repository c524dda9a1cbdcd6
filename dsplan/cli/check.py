"""``dsplan check PATH...``: lint run configs against the paper's laws, for CI."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.checking.reporters import render
from dsplan.checking.rules import check_files, parse_selection
from dsplan.checking.schema import ConfigProblems
from dsplan.cli._output import EXIT_INPUT, Format, error_line, exit_on_error, format_option, out

FORMATS = (Format.text, Format.json, Format.github)


# The options' declarations, kept out of the command's signature so that it reads as a list.
Paths = Annotated[
    list[str],
    typer.Argument(
        help="Run configs (dsplan or torchtitan TOML, Megatron-LM scripts or argument files, nanotron "
        "or OLMo YAML), folders (every *.toml under them, and every YAML, script or argument file "
        "a trainer dialect recognises), or - for standard input.",
        show_default=False,
    ),
]
PresetOption = Annotated[
    str | None,
    typer.Option(
        help="Law preset for every file, overriding [data].preset: an id or a .toml path."
    ),
]
SelectOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Run only these rules: ids or prefixes (DSP3 = the tokens family), "
        "comma-separated or repeated.",
        show_default=False,
    ),
]
IgnoreOption = Annotated[
    list[str] | None,
    typer.Option(
        help="Skip these rules: ids or prefixes, comma-separated or repeated; the more "
        "specific of --select and --ignore wins.",
        show_default=False,
    ),
]
DialectOption = Annotated[
    str | None,
    typer.Option(
        help="Read every file as this dialect: dsplan, torchtitan, megatron, nanotron or olmo "
        "(default: detected from each file's content).",
        show_default=False,
    ),
]
HfConfigOption = Annotated[
    str | None,
    typer.Option(
        "--hf-config",
        help="A model config.json for trainer files that name no shape dsplan knows "
        "(a torchtitan flavor).",
        show_default=False,
    ),
]
WorldSizeOption = Annotated[
    int | None,
    typer.Option(
        help="GPUs of the run, for trainer files that do not say (torchtitan's shard degree -1, "
        "OLMo's FSDP).",
        show_default=False,
    ),
]
GpuOption = Annotated[
    str | None,
    typer.Option(
        help="GPU id or alias (see `dsplan gpus`) whose memory each file's parallel layout must "
        "fit (DSP606), over the file's own.",
        show_default=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Print only the summary line (text, github); the exit code is unchanged.",
    ),
]


def check(
    files: Paths,
    format: Annotated[
        Format, format_option(FORMATS, "Output: text, json or github (annotations).")
    ] = Format.text,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too, not only errors.")] = False,
    preset: PresetOption = None,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    quiet: QuietOption = False,
    dialect: DialectOption = None,
    hf_config: HfConfigOption = None,
    world_size: WorldSizeOption = None,
    gpu: GpuOption = None,
) -> None:
    """Check training run configs against the DeepSeek laws: shape, learning rate, batch, tokens, schedule.

    Every rule runs on every file, then the findings are reported once. Exit 0: no errors; 1: at
    least one error (or a warning under --strict); 2: a file that cannot be read or loaded (bad
    TOML, an unknown key, a value of the wrong type).

    Examples:

        dsplan check run.toml

        dsplan check configs/*.toml --format github --strict

        dsplan check runs/ --ignore DSP302,DSP304 -q

        dsplan budget 1e22 --format toml | dsplan check -

        dsplan check train_llama3_8b.toml pretrain_gpt.sh --world-size 64

        dsplan check pretrain_gpt.sh --gpu h100
    """
    with exit_on_error():
        selection = parse_selection(select or (), ignore or (), names=("--select", "--ignore"))
        try:
            report = check_files(
                files,
                preset=preset,
                strict=strict,
                select=selection.select,
                ignore=selection.ignore,
                dialect=dialect,
                hf_config=hf_config,
                world_size=world_size,
                gpu=gpu,
            )
        except ConfigProblems as exc:
            for problem in exc.problems:
                error_line(str(problem))
            raise typer.Exit(EXIT_INPUT) from None
    from dsplan.output.table import styled_output

    styled = format is Format.text and styled_output()
    rendered = render(report, format.value, quiet=quiet, styled=styled)
    if styled:
        from rich.console import Console

        # One print of the whole report: rich's per-call overhead, not the checks, would otherwise
        # dominate a run over many files.
        Console(highlight=False, soft_wrap=True).print(rendered)
    else:
        out(rendered)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command()(check)
