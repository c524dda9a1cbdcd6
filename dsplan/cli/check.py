"""``dsplan check FILE...``: lint run configs against the paper's laws, for CI."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.checking.reporters import REPORTER_BY_NAME
from dsplan.checking.rules import check_files
from dsplan.checking.schema import ConfigProblems
from dsplan.cli._output import EXIT_INPUT, Format, error_line, exit_on_error, format_option, out

FORMATS = (Format.text, Format.json, Format.github)


def check(
    files: Annotated[
        list[str],
        typer.Argument(help="Run config files (TOML); - reads standard input.", show_default=False),
    ],
    format: Annotated[
        Format, format_option(FORMATS, "Output: text, json or github (annotations).")
    ] = Format.text,
    strict: Annotated[bool, typer.Option(help="Exit 1 on warnings too, not only errors.")] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Law preset for every file, overriding [data].preset: an id or a .toml path."
        ),
    ] = None,
) -> None:
    """Check training run configs against the DeepSeek laws: shape, learning rate, batch, tokens, schedule.

    Every rule runs on every file, then the findings are reported once. Exit 0: no errors; 1: at
    least one error (or a warning under --strict); 2: a file that cannot be read or loaded (bad
    TOML, an unknown key, a value of the wrong type).

    Examples:

        dsplan check run.toml

        dsplan check configs/*.toml --format github --strict

        dsplan budget 1e22 --format toml | dsplan check -
    """
    with exit_on_error():
        try:
            report = check_files(files, preset=preset, strict=strict)
        except ConfigProblems as exc:
            for problem in exc.problems:
                error_line(str(problem))
            raise typer.Exit(EXIT_INPUT) from None
    rendered = REPORTER_BY_NAME[format.value](report)
    if format is Format.text:
        from rich.console import Console

        # One print of the whole report: rich's per-call overhead, not the checks, would otherwise
        # dominate a run over many files.
        Console(highlight=False, soft_wrap=True).print(rendered)
    else:
        out(rendered)
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command()(check)
