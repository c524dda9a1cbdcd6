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
        props.append(f"title={_escape_property(f'{f.rule} {f.shown_key}')}")
        body = f.message + (f" (suggested: {f.hint})" if f.hint else "")
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{_escape_data(body)}")
    lines.append(summary(report))
    return "\n".join(lines)


def _location(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line is not None else f.file


def text_report(report: Report, *, styled: bool = True) -> str:
    """A file line, its findings and hints, and the summary: rich markup with user text escaped,
    or (``styled=False``) the same text without markup, for a pipe."""
    mark = _marker(styled)
    lines: list[str] = []
    for file_report in report.files:
        d = file_report.derived
        head = (
            f"{mark('green', 'ok')} {mark('', file_report.file)}"
            if not file_report.findings
            else mark("bold", file_report.file)
        )
        if d.compute_flops is not None:
            dialect = f", read as {d.dialect}" if d.dialect != "dsplan" else ""
            head += " " + mark(
                "dim", f"(C = {d.compute_flops:.3g} FLOPs, preset {d.preset}{dialect})"
            )
        lines.append(head)
        for f in file_report.findings:
            lines.append(
                f"  {mark('', _location(f))}: {mark(_STYLE[f.severity], f'{f.severity} {f.rule}')} "
                f"{mark('bold', f.shown_key)}: {mark('', f.message)}"
            )
            if f.hint:
                lines.append(f"      {mark('dim', 'suggested:')} {mark('', f.hint)}")
    lines.append(_summary_text(report, styled=styled))
    return "\n".join(lines)


def _marker(styled: bool) -> Callable[[str, str], str]:
    """``mark(style, text)``: the text in rich markup (escaped; unstyled when ``style`` is empty),
    or as it is when not ``styled``. Unstyled text never imports rich (start-up: bench/startup.py
    times `dsplan check` on a config, piped)."""
    if not styled:
        return lambda _style, text: text
    from rich.markup import escape  # noqa: TID251 - markup escaping only; printing is the CLI's

    return lambda style, text: f"[{style}]{escape(text)}[/]" if style else escape(text)


def _summary_text(report: Report, *, styled: bool = True) -> str:
    style = "bold red" if report.exit_code else "bold green"
    return _marker(styled)(style, summary(report))


def _summary_markup(report: Report) -> str:
    return _summary_text(report)


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


def render(report: Report, name: str, *, quiet: bool = False, styled: bool = True) -> str:
    """The report in the format ``name`` (text, json or github); with ``quiet``, the summary
    line only (text and github; JSON is always the whole document). ``styled=False`` gives the text
    report without rich markup."""
    if name == "text" and not styled:
        return _summary_text(report, styled=False) if quiet else text_report(report, styled=False)
    return (_QUIET_BY_NAME if quiet else REPORTER_BY_NAME)[name](report)
