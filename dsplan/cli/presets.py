"""``dsplan presets``: list the law presets, or show one with its source."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.catalog.presets import all_presets, load_preset
from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out

FORMATS = (Format.text, Format.json)

presets_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)


@presets_app.callback()
def presets(
    ctx: typer.Context,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
) -> None:
    """List the law presets, or show one with its source.

    Examples:

        dsplan presets

        dsplan presets show early

        dsplan presets --format json
    """
    if ctx.invoked_subcommand is not None:
        return
    with exit_on_error():
        items = all_presets()
        if format is Format.json:
            out(dumps([p.to_dict() for p in items]))
            return
        from dsplan.output.table import to_text
        from dsplan.output.text import presets_table

        out(to_text(presets_table(items)))


@presets_app.command("show")
def show(
    preset: Annotated[str, typer.Argument(help="A preset id or a path to a .toml file.")],
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
) -> None:
    """Show one preset: its laws, fit range and source.

    Examples:

        dsplan presets show current

        dsplan presets show ./my-fit.toml --format json
    """
    with exit_on_error():
        p = load_preset(preset)
        if format is Format.json:
            out(dumps(p.to_dict()))
            return
        from dsplan.output.text import preset_lines

        out(preset_lines(p))


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
