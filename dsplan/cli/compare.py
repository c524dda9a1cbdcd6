"""``dsplan compare C [C ...]``: every published law at the same budget, in the same units."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dsplan.cli._options import SeqLenOption, UniqueTokensOption, VocabSizeOption
from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out, warn_line
from dsplan.units import count, parse_positive, sci

FORMATS = (Format.text, Format.json)


def compare(
    compute: Annotated[
        list[str],
        typer.Argument(help="Compute budget(s) C in FLOPs: 1e21 1e24.", show_default=False),
    ],
    preset: Annotated[
        list[str] | None,
        typer.Option(help="Compare only these presets (repeat the option) [default: all]."),
    ] = None,
    hyperparameters: Annotated[
        str | None,
        typer.Option(
            help="Evaluate this hyperparameter law (deepseek, step-law, kaplan) for every law."
        ),
    ] = None,
    unique_tokens: UniqueTokensOption = None,
    seq_len: SeqLenOption = 4096,
    vocab_size: VocabSizeOption = 102_400,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also write a PNG of M and D against C (needs the 'plot' extra)."),
    ] = None,
    format: Annotated[Format, format_option(FORMATS, "Output: text or json.")] = Format.text,
) -> None:
    """The same budget under every law: model size in the law's own unit, params, M, tokens, LR, loss.

    Rows agree when their total parameters lie within 15% of the median law, and diverge beyond 2x.

    Examples:

        dsplan compare 1e24

        dsplan compare 1e21 1e24 --format json

        dsplan compare 1e24 --preset current --preset chinchilla-a3 --preset llama3

        dsplan compare 1e24 --unique-tokens 3e11 --hyperparameters step-law
    """
    from dsplan.errors import InputError
    from dsplan.model.shape import SearchOptions
    from dsplan.planning.compare import compare as run_compare
    from dsplan.planning.compare import comparison_document, plot_comparison

    with exit_on_error():
        budgets = [parse_positive(text, "compute budget") for text in compute]
        unique = None if unique_tokens is None else parse_positive(unique_tokens, "--unique-tokens")
        if seq_len <= 0 or vocab_size <= 0:
            raise InputError("--seq-len and --vocab-size must be positive integers")
        search = SearchOptions(seq_len=seq_len, vocab_size=vocab_size)
        if plot is not None and plot.suffix.lower() != ".png":
            raise InputError(f"--plot writes a PNG: give a file name ending in .png, got {plot}")
        comparisons = run_compare(
            budgets,
            preset or None,
            search=search,
            hyperparameters=hyperparameters,
            unique_tokens=unique,
        )
        if plot is not None:
            plot_comparison(plot, budgets, preset or None, search)
        document = comparison_document(
            comparisons, hyperparameters=hyperparameters, unique_tokens=unique, search=search
        )
        if format is Format.json:
            out(dumps(document))
        else:
            _text(document)
        for c in comparisons:
            for w in c.warnings:
                warn_line(w)


def _opt(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _text(document: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    styles = {"agrees": "green", "differs": "yellow", "diverges": "bold red"}
    # The table has 11 columns: keep it readable when piped or in a narrow terminal.
    console = Console(highlight=False, soft_wrap=False, width=max(Console().width, 150))
    units = {
        "flops_per_token": "FLOPs/tok",
        "params_total": "params",
        "params_non_embedding": "non-emb",
        "params_non_embedding_with_head": "non-emb+head",
        "tokens": "tokens",
    }
    for budget in document["budgets"]:
        # The title printed on its own line: a table title is padded to the table's width.
        console.print(f"dsplan compare {sci(budget['compute_flops'])} FLOPs")
        table = Table()
        for name in (
            "law",
            "law's own size",
            "params",
            "M",
            "tokens",
            "D/N",
            "lr",
            "batch",
            "loss",
            "beyond fit",
            "vs median N",
        ):
            table.add_column(name, justify="left" if name == "law" else "right")
        for row in budget["laws"]:
            unit = units.get(row["model_size_unit"], row["model_size_unit"])
            size = row["model_size"]
            own = f"{sci(size, 3)} {unit}" if unit == "FLOPs/tok" else f"{count(size)} {unit}"
            beyond = row["fit_orders_beyond"]
            # "-": the law publishes no hyperparameter law; "undefined": it does, not at this N.
            lr = _opt(row["learning_rate"], ".2e")
            if row["hyperparameter_law"] is not None and row["learning_rate"] is None:
                lr = "undefined"
            table.add_row(
                f"{row['id']} ({row['status']})",
                own,
                count(row["params_total"]),
                sci(row["flops_per_token"], 3),
                count(row["tokens"]),
                f"{row['tokens_per_param']:.1f}",
                lr,
                "-" if row["batch_size_tokens"] is None else count(row["batch_size_tokens"]),
                _opt(row["predicted_loss"], ".3f"),
                Text(f"{beyond:.1f} OOM", style="red" if beyond >= 1 else ""),
                Text(
                    f"{row['params_vs_median']:.2f}x {row['agreement']}",
                    style=styles[row["agreement"]],
                ),
            )
        console.print(table)
        summary = budget["summary"]
        console.print(
            f"agree (total params within {summary['agreement_band']:.0%} of the median "
            f"{count(summary['median_params_total'])}): {', '.join(summary['agree']) or 'none'}",
            style="green",
        )
        console.print(
            f"diverge (more than {summary['divergence_factor']:g}x from the median): "
            f"{', '.join(summary['diverge']) or 'none'}",
            style="red",
        )
        for row in budget["laws"]:
            data = row.get("data_constrained")
            if data is None:
                continue
            realloc = data["reallocated"]
            tail = (
                f"; re-allocated: {count(realloc['params_total'])} params on "
                f"{count(realloc['tokens'])} tokens ({realloc['epochs']:.1f} epochs)"
                if realloc
                else ""
            )
            console.print(
                f"  {row['id']}: {data['epochs']:.2f} epochs of {count(data['unique_tokens'])} "
                f"unique tokens, effective {count(data['effective_tokens'])}{tail}"
            )
    for line in (
        "Params and M are those of a real shape matching each law's own prediction (never M = 6N);",
        "tokens = C / M; D/N = tokens / total params. lr and batch: the law's own hyperparameter law",
        "(- where its paper gives none). Losses are each law's own (nats, own data): not comparable",
        "across laws. Sources: dsplan presets show ID.",
    ):
        console.print(line, style="dim")


def register(app: typer.Typer) -> None:
    app.command()(compare)
