"""``dsplan compare C [C ...]``: every published law at the same budget, in the same units."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dsplan.cli._options import (
    InferenceTokensOption,
    SeqLenOption,
    UniqueTokensOption,
    VocabSizeOption,
)
from dsplan.cli._output import Format, dumps, exit_on_error, format_option, out, warn_line
from dsplan.model.defaults import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE
from dsplan.units import parse_positive, positive_int

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
    inference_tokens: InferenceTokensOption = None,
    seq_len: SeqLenOption = DEFAULT_SEQ_LEN,
    vocab_size: VocabSizeOption = DEFAULT_VOCAB_SIZE,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also draw M and D against C to this .png, .svg or .pdf (needs dsplan[plot])."
        ),
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

        dsplan compare 1e22 --inference-tokens 2e12
    """
    from dsplan.model.shape import SearchOptions
    from dsplan.planning.compare import compare as run_compare
    from dsplan.planning.compare import comparison_document

    with exit_on_error():
        budgets = [parse_positive(text, "compute budget") for text in compute]
        unique = None if unique_tokens is None else parse_positive(unique_tokens, "--unique-tokens")
        serve = (
            None
            if inference_tokens is None
            else parse_positive(inference_tokens, "--inference-tokens")
        )
        search = SearchOptions(
            seq_len=positive_int(seq_len, "--seq-len"),
            vocab_size=positive_int(vocab_size, "--vocab-size"),
        )
        if plot is not None:
            from dsplan.output.plot import require_matplotlib, validate_plot_path

            validate_plot_path(plot)
            require_matplotlib()
        comparisons = run_compare(
            budgets,
            preset or None,
            search=search,
            hyperparameters=hyperparameters,
            unique_tokens=unique,
            inference_tokens=serve,
        )
        if plot is not None:
            from dsplan.output.plot import plot_comparison

            plot_comparison(plot, budgets, preset or None, search)
        document = comparison_document(
            comparisons,
            hyperparameters=hyperparameters,
            unique_tokens=unique,
            search=search,
            inference_tokens=serve,
        )
        if format is Format.json:
            out(dumps(document))
        else:
            from dsplan.output.reports import compare_text
            from dsplan.output.table import to_text

            out(to_text(*compare_text(document)))
        for c in comparisons:
            for w in c.warnings:
                warn_line(w)


def register(app: typer.Typer) -> None:
    app.command()(compare)
