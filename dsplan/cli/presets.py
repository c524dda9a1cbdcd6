"""``dsplan presets``: list the law presets, or show one with its source."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out
from dsplan.presets import FitRange, Preset, all_presets, load_preset

FORMATS = (Format.text, Format.json)

presets_app = typer.Typer(
    help="List the law presets, or show one with its source.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@presets_app.callback()
def presets(
    ctx: typer.Context,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
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
        items = all_presets()
        if format is Format.json:
            out(dumps([p.to_dict() for p in items]))
            return
        from rich.table import Table

        from dsplan.render import to_text

        table = Table(title="dsplan presets", title_justify="left")
        for name in ("id", "predicts", "law", "fit range", "status", "hyperparameters"):
            table.add_column(name)
        for p in items:
            table.add_row(
                p.id,
                p.predicts,
                law_formula(p),
                fit_range_text(p.fit_range),
                "assumed (see show)" if p.status_label == "assumption" else p.status_label,
                p.hyperparameter_law_id or "own (Eq. 1)",
            )
        out(to_text(table))


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
        lines = [
            f"{p.id}: {p.description}",
            f"  source:        {p.source}",
            f"  predicts:      {p.predicts} ({p.form})",
            f"  law:           {law_formula(p)}",
        ]
        if p.learning_rate is not None and p.batch_size is not None:
            lines += [
                f"  learning rate  = {p.learning_rate.coefficient} * C ^ {p.learning_rate.exponent}",
                f"  batch size     = {p.batch_size.coefficient} * C ^ {p.batch_size.exponent}  (tokens)",
            ]
        else:
            lines.append(f"  hyperparameters: {p.hyperparameter_law_id} (presets/hyperparameters/)")
        if p.own_hyperparameters is not None:
            lines.append(
                f"  paper's own hyperparameter law: {p.own_hyperparameters} "
                f"(--hyperparameters {p.own_hyperparameters}; shown by dsplan compare)"
            )
        lines += [
            f"  fit range:     {fit_range_text(p.fit_range)}",
            f"  status:        {p.status_label}",
        ]
        if p.hyperparameter_fit_range:
            r = p.hyperparameter_fit_range
            lines.append(f"  hyperparameter fit range: {fit_range_text(r)}")
        if p.verification:
            lines.append(f"  verification:  {p.verification}")
        if p.assumption:
            lines.append(f"  ASSUMPTION:    {p.assumption}")
        if p.notes:
            lines.append(f"  notes:         {p.notes}")
        lines.append(f"  file:          {p.path}")
        out("\n".join(lines))


def law_formula(p: Preset) -> str:
    """The allocation law in one line, in the law's own units."""
    c = "C_min[PF-days]" if p.compute_unit == "pf_days" else "C"
    if p.compute_fraction != 1.0:
        c += f" (= {p.compute_fraction:g} C)"
    if p.form == "parametric_loss" and p.loss is not None:
        lo = p.loss
        return (
            f"L = {lo.e:.4g} + {lo.a:.5g}/N^{lo.alpha:.4g} + {lo.b:.5g}/D^{lo.beta:.4g}, "
            "argmin on C = 6ND"
        )
    if p.form == "fixed_ratio" and p.tokens_per_param is not None:
        return f"D = {p.tokens_per_param:g} N, C = 6ND"
    parts = []
    if p.model_scaling is not None:
        name = "M_opt" if p.predicts == "flops_per_token" else "N_opt"
        parts.append(
            f"{name} = {p.model_scaling.coefficient:.5g} {c}^{p.model_scaling.exponent:.5g}"
        )
    if p.data_scaling is not None:
        parts.append(f"D_opt = {p.data_scaling.coefficient:.5g} {c}^{p.data_scaling.exponent:.5g}")
    return "; ".join(parts)


def fit_range_text(r: FitRange) -> str:
    """``1e+17 to 3e+20 FLOPs; 7e+07 to 1.6e+10 params``: only the bounds the paper states."""
    parts = []
    for name, unit in (("compute", "FLOPs"), ("params", "params"), ("tokens", "tokens")):
        lo, hi = getattr(r, f"{name}_min"), getattr(r, f"{name}_max")
        if lo is None and hi is None:
            continue
        lo_text = "?" if lo is None else f"{lo:.2g}"
        hi_text = "?" if hi is None else f"{hi:.2g}"
        parts.append(f"{lo_text} to {hi_text} {unit}")
    return "; ".join(parts)


def register(app: typer.Typer) -> None:
    app.add_typer(presets_app, name="presets")
