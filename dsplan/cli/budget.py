"""``dsplan budget C [C ...]``: the plan for a compute budget."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.cli._output import Format, dumps, exit_on_error, out, require_format, warn_line
from dsplan.errors import InputError
from dsplan.plan import Plan, PlanOptions, plan
from dsplan.render import env_lines, field_text, get_field
from dsplan.units import parse_positive

FORMATS = (Format.text, Format.json, Format.env)


def budget(
    compute: Annotated[
        list[str],
        typer.Argument(
            help="Compute budget(s) C in FLOPs: 1e24, 3.2e23, 2_000e20.", show_default=False
        ),
    ],
    preset: Annotated[
        str,
        typer.Option(help="Law preset: an id (see `dsplan presets`) or a path to a .toml file."),
    ] = "current",
    seq_len: Annotated[int, typer.Option(help="Sequence length in tokens.")] = 4096,
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size.")] = 102_400,
    aspect_ratio: Annotated[
        float, typer.Option(help="Target d_model / n_layers of the shape.")
    ] = 128.0,
    head_dim: Annotated[
        int | None, typer.Option(help="Head size [default: 128; 64 below 1024 wide].")
    ] = None,
    n_kv_heads: Annotated[
        int | None, typer.Option(help="KV heads [default: MHA up to 40 heads, else 8].")
    ] = None,
    layers_multiple: Annotated[
        int, typer.Option(help="Layer count multiple (pipeline stages).")
    ] = 1,
    warmup_steps: Annotated[
        int, typer.Option(help="Warm-up steps (clamped to 10% of short runs).")
    ] = 2000,
    format: Annotated[
        Format, typer.Option("--format", "-f", help="Output: text, json or env.")
    ] = Format.text,
    field: Annotated[
        str | None, typer.Option(help="Print one value bare, e.g. hyperparameters.learning_rate.")
    ] = None,
) -> None:
    """The compute-optimal plan for a budget: M, D, shape, learning rate, batch and schedule.

    Examples:

        dsplan budget 1e24

        dsplan budget 1e21 1e22 1e23 --format json

        LR=$(dsplan budget 1e24 --field hyperparameters.learning_rate)

        eval "$(dsplan budget 1e24 --format env)"
    """
    with exit_on_error():
        require_format(format, FORMATS)
        budgets = [parse_positive(text, "compute budget") for text in compute]
        options = PlanOptions(
            preset=preset,
            seq_len=_positive(seq_len, "--seq-len"),
            vocab_size=_positive(vocab_size, "--vocab-size"),
            aspect_ratio=aspect_ratio,
            head_dim=head_dim,
            n_kv_heads=n_kv_heads,
            layers_multiple=layers_multiple,
            warmup_steps=warmup_steps,
        )
        plans = [plan(c, options) for c in budgets]
        documents = [p.to_dict() for p in plans]
        if field is not None:
            out("\n".join(field_text(get_field(doc, field)) for doc in documents))
            return
        if format is Format.json:
            out(dumps(documents[0] if len(documents) == 1 else documents))
        elif format is Format.env:
            if len(documents) != 1:
                raise InputError("--format env takes one budget; use --format json for several")
            out(env_lines(documents[0]))
        else:
            _text(plans)


def _positive(value: int, flag: str) -> int:
    if value <= 0:
        raise InputError(f"{flag} must be a positive integer, got {value}")
    return value


def _text(plans: list[Plan]) -> None:
    from dsplan.render import plan_text, plans_table, preset_footer, to_text

    out(
        to_text(
            plan_text(plans[0]) if len(plans) == 1 else plans_table(plans), preset_footer(plans)
        )
    )
    seen: set[str] = set()
    for p in plans:
        for w in p.warnings:
            if w not in seen:
                seen.add(w)
                warn_line(w)


def register(app: typer.Typer) -> None:
    app.command()(budget)
