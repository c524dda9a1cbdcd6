"""``dsplan presets``: list the law presets, or show one with its source."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.cli._output import Format, dumps, exit_on_error, out, require_format
from dsplan.presets import all_presets, load_preset

FORMATS = (Format.text, Format.json)

presets_app = typer.Typer(
    help="List the law presets, or show one with its source.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@presets_app.callback()
def presets(
    ctx: typer.Context,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="Output: text or json.")
    ] = Format.text,
) -> None:
    """List the law presets with their source.

    Examples:

        dsplan presets

        dsplan presets show early

        dsplan presets --format json
    """
    if ctx.invoked_subcommand is not None:
        return
    with exit_on_error():
        require_format(format, FORMATS)
        items = all_presets()
        if format is Format.json:
            out(dumps([p.to_dict() for p in items]))
            return
        from rich.table import Table

        from dsplan.render import to_text

        table = Table(title="dsplan presets", title_justify="left")
        for name in ("id", "M_opt = k C^a", "D_opt = k C^b", "fit range (FLOPs)", "coefficients"):
            table.add_column(name)
        for p in items:
            table.add_row(
                p.id,
                f"{p.model_scaling.coefficient:.4g} C^{p.model_scaling.exponent:.4g}",
                f"{p.data_scaling.coefficient:.4g} C^{p.data_scaling.exponent:.4g}",
                f"{p.fit_range.compute_min:.0e} to {p.fit_range.compute_max:.0e}",
                "assumed (see show)" if p.assumption else "published",
            )
        out(to_text(table))


@presets_app.command("show")
def show(
    preset: Annotated[str, typer.Argument(help="A preset id or a path to a .toml file.")],
    format: Annotated[
        Format, typer.Option("--format", "-f", help="Output: text or json.")
    ] = Format.text,
) -> None:
    """Show one preset: its laws, fit range and source.

    Examples:

        dsplan presets show current

        dsplan presets show ./my-fit.toml --format json
    """
    with exit_on_error():
        require_format(format, FORMATS)
        p = load_preset(preset)
        if format is Format.json:
            out(dumps(p.to_dict()))
            return
        lines = [
            f"{p.id}: {p.description}",
            f"  source:        {p.source}",
            f"  M_opt          = {p.model_scaling.coefficient} * C ^ {p.model_scaling.exponent}  (FLOPs/token)",
            f"  D_opt          = {p.data_scaling.coefficient} * C ^ {p.data_scaling.exponent}  (tokens)",
            f"  learning rate  = {p.learning_rate.coefficient} * C ^ {p.learning_rate.exponent}",
            f"  batch size     = {p.batch_size.coefficient} * C ^ {p.batch_size.exponent}  (tokens)",
            f"  fit range:     {p.fit_range.compute_min:.0e} to {p.fit_range.compute_max:.0e} FLOPs",
        ]
        if p.hyperparameter_fit_range:
            r = p.hyperparameter_fit_range
            lines.append(
                f"  hyperparameter fit range: {r.compute_min:.0e} to {r.compute_max:.0e} FLOPs"
            )
        if p.verification:
            lines.append(f"  verification:  {p.verification}")
        if p.assumption:
            lines.append(f"  ASSUMPTION:    {p.assumption}")
        if p.notes:
            lines.append(f"  notes:         {p.notes}")
        lines.append(f"  file:          {p.path}")
        out("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
