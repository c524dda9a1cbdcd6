"""``dsplan check FILE...``: lint run configs against the paper's laws, for CI."""

from __future__ import annotations

from typing import Annotated

import typer

from dsplan.checking.config import ConfigProblems
from dsplan.checking.rules import ERROR, INFO, WARNING, Finding, Report, check_files, iter_findings
from dsplan.cli._output import (
    EXIT_INPUT,
    Format,
    dumps,
    error_line,
    exit_on_error,
    format_option,
    out,
)

FORMATS = (Format.text, Format.json, Format.github)
_GITHUB_LEVEL = {ERROR: "error", WARNING: "warning", INFO: "notice"}
_STYLE = {ERROR: "bold red", WARNING: "yellow", INFO: "cyan"}


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
    if format is Format.json:
        out(dumps(report.to_dict()))
    elif format is Format.github:
        out(_github(report))
    else:
        _text(report)
    raise typer.Exit(report.exit_code)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(report: Report) -> str:
    """GitHub Actions workflow commands, one per finding, and a summary line."""
    lines = []
    for f in iter_findings(report):
        props = [f"file={_escape_property(f.file)}"]
        if f.line is not None:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f'{f.rule} {f.key}')}")
        body = f.message + (f" (suggested: {f.hint})" if f.hint else "")
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{_escape_data(body)}")
    lines.append(_summary(report))
    return "\n".join(lines)


def _summary(report: Report) -> str:
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    n = len(report.files)
    verdict = "failed" if report.exit_code else "passed"
    return (
        f"dsplan check {verdict}: {plural(report.count(ERROR), 'error')}, "
        f"{plural(report.count(WARNING), 'warning')}, {plural(report.count(INFO), 'info')} "
        f"in {plural(n, 'file')}" + (" (--strict)" if report.strict else "")
    )


def _location(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line is not None else f.file


def _text(report: Report) -> None:
    from rich.console import Console
    from rich.markup import escape

    # One print of the whole report: rich's per-call overhead, not the checks, would otherwise
    # dominate a run over many files.
    lines: list[str] = []
    for file_report in report.files:
        d = file_report.derived
        head = (
            f"[green]ok[/] {escape(file_report.file)}"
            if not file_report.findings
            else f"[bold]{escape(file_report.file)}[/]"
        )
        if d.compute_flops is not None:
            head += f" [dim](C = {d.compute_flops:.3g} FLOPs, preset {escape(d.preset)})[/]"
        lines.append(head)
        for f in file_report.findings:
            lines.append(
                f"  {escape(_location(f))}: [{_STYLE[f.severity]}]{f.severity} {f.rule}[/] "
                f"[bold]{escape(f.key)}[/]: {escape(f.message)}"
            )
            if f.hint:
                lines.append(f"      [dim]suggested:[/] {escape(f.hint)}")
    style = "bold red" if report.exit_code else "bold green"
    lines.append(f"[{style}]{escape(_summary(report))}[/]")
    Console(highlight=False, soft_wrap=True).print("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command()(check)
