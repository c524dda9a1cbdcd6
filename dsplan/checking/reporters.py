"""Reporters for ``dsplan check``: a :class:`~dsplan.checking.findings.Report` as text, JSON or
GitHub Actions annotations, chosen by name from :data:`REPORTER_BY_NAME`.

A reporter returns the text to write to standard output; it neither prints nor decides the exit
code (:attr:`Report.exit_code` does). The text reporter returns rich markup: the CLI prints it with
a rich console, which styles it on a terminal and strips the styles elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from dsplan.checking.findings import ERROR, INFO, WARNING, Finding, Report, iter_findings

_GITHUB_LEVEL = {ERROR: "error", WARNING: "warning", INFO: "notice"}
_STYLE = {ERROR: "bold red", WARNING: "yellow", INFO: "cyan"}


def summary(report: Report) -> str:
    """The last line of every report: the verdict and the counts."""

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    n = len(report.files)
    verdict = "failed" if report.exit_code else "passed"
    return (
        f"dsplan check {verdict}: {plural(report.count(ERROR), 'error')}, "
        f"{plural(report.count(WARNING), 'warning')}, {plural(report.count(INFO), 'info')} "
        f"in {plural(n, 'file')}" + (" (--strict)" if report.strict else "")
    )


def json_report(report: Report) -> str:
    """The JSON document (:meth:`Report.to_dict`) as every dsplan document is written: sorted keys,
    no NaN, numbers by :func:`dsplan.numbers.clean`."""
    import json

    from dsplan.numbers import clean

    return json.dumps(clean(report.to_dict()), sort_keys=True, indent=2, allow_nan=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_report(report: Report) -> str:
    """GitHub Actions workflow commands, one per finding, and a summary line."""
    lines = []
    for f in iter_findings(report):
        props = [f"file={_escape_property(f.file)}"]
        if f.line is not None:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f'{f.rule} {f.key}')}")
        body = f.message + (f" (suggested: {f.hint})" if f.hint else "")
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{_escape_data(body)}")
    lines.append(summary(report))
    return "\n".join(lines)


def _location(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line is not None else f.file


def text_report(report: Report) -> str:
    """A file line, its findings and hints, and the summary: rich markup, user text escaped."""
    from rich.markup import escape  # noqa: TID251 - markup escaping only; printing is the CLI's

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
    lines.append(_summary_markup(report))
    return "\n".join(lines)


def _summary_markup(report: Report) -> str:
    from rich.markup import escape  # noqa: TID251 - markup escaping only; printing is the CLI's

    style = "bold red" if report.exit_code else "bold green"
    return f"[{style}]{escape(summary(report))}[/]"


REPORTER_BY_NAME: dict[str, Callable[[Report], str]] = {
    "text": text_report,
    "json": json_report,
    "github": github_report,
}
# --quiet: the summary line alone. JSON has no quiet form: its summary is the document's `summary`.
_QUIET_BY_NAME: dict[str, Callable[[Report], str]] = {
    "text": _summary_markup,
    "json": json_report,
    "github": summary,
}


def render(report: Report, name: str, *, quiet: bool = False) -> str:
    """The report in the format ``name`` (text, json or github); with ``quiet``, the summary
    line only (text and github; JSON is always the whole document)."""
    return (_QUIET_BY_NAME if quiet else REPORTER_BY_NAME)[name](report)
