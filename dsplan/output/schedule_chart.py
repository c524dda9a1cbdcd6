"""The text of ``dsplan schedule``: milestones, notes and a block-character chart of the rate.

The chart is drawn for the width it is printed at (60 columns of plot at most, 20 at least), and
the milestone table turns into one block per milestone where its 48 columns do not fit, so no
number is cut (:mod:`dsplan.output.table`).
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Any

from dsplan.scheduling.schedules import REFERENCES, ROUNDING_NOTE, Schedule, learning_rate_at
from dsplan.units import count, sci

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from dsplan.planning.schedule_report import ScheduleReport

CHART_WIDTH = 60  # columns of plot, at most
MIN_CHART_WIDTH = 20
CHART_HEIGHT = 10
AXIS_WIDTH = 11  # "4.20e-04 │" and its leading space
NOTE_WIDTH = 100  # notes wrap here on wide terminals
_EIGHTHS = " ▁▂▃▄▅▆▇█"
_MARKER = "▲ reused checkpoint"


def chart_rows(
    sched: Schedule,
    x_max_tokens: float,
    y_max: float,
    marker_tokens: float | None = None,
    width: int = CHART_WIDTH,
    room: int | None = None,
) -> list[str]:
    """The schedule as rows of block characters, learning rate up, tokens across.

    Each column shows the rate at the step in the middle of its token span (blank past the run's
    end); the top block is filled in eighths. With ``marker_tokens``, a last row points at it,
    its label to the right of the arrow, or to the left where ``room`` columns do not hold it.
    """
    columns: list[float | None] = []
    for col in range(width):
        at_tokens = (col + 0.5) * x_max_tokens / width
        if at_tokens > sched.tokens:
            columns.append(None)
            continue
        step = min(sched.total_steps - 1, int(at_tokens // sched.tokens_per_step))
        columns.append(learning_rate_at(sched, step) / y_max * CHART_HEIGHT)
    rows = []
    for row in range(CHART_HEIGHT, 0, -1):
        cells = []
        for height in columns:
            if height is None:
                cells.append(" ")
                continue
            fill = min(max(height - (row - 1), 0.0), 1.0)
            cells.append(_EIGHTHS[round(fill * 8)])
        rows.append("".join(cells))
    if marker_tokens is not None:
        col = chart_column(marker_tokens, x_max_tokens, width)
        if room is None or col + len(_MARKER) <= room:
            rows.append(" " * col + _MARKER)
        else:  # the label to the left of its arrow
            label = _MARKER[2:] + " ▲"
            rows.append(" " * max(0, col - len(label) + 1) + label)
    return rows


def axis_rows(sched: Schedule, x_max_tokens: float, width: int = CHART_WIDTH) -> tuple[str, str]:
    """The token axis: a tick under each point where the rate changes course, and its tokens.

    Ticks mark the drops of ``multistep``, the decay start of ``wsd`` and the half-way point of
    ``cosine``. A label is centred under its tick, nudged right to clear its neighbour; one that
    still does not fit is left out, and the tick stays.
    """
    right = count(x_max_tokens)
    axis = ["─"] * width
    labels = [" "] * width
    labels[0] = "0"
    labels[width - len(right) :] = right
    free_from, free_to = 2, width - len(right) - 1  # label cells kept clear of the ends
    for m in sched.milestones:
        if m.name in ("warmup_end", "end"):
            continue
        col = chart_column(m.tokens, x_max_tokens, width)
        axis[col] = "┬"
        label = count(m.tokens)
        start = max(free_from, col - len(label) // 2)  # centred, or nudged right up to the tick
        if start <= col and start + len(label) <= free_to:
            labels[start : start + len(label)] = label
            free_from = start + len(label) + 1
    return "".join(axis), "".join(labels) + " tokens"


def chart_column(tokens: float, x_max_tokens: float, width: int = CHART_WIDTH) -> int:
    """The first chart column drawn at or after ``tokens`` (columns show their midpoints)."""
    return min(width - 1, max(0, math.ceil(tokens / x_max_tokens * width - 0.5)))


Segments = list[tuple[str, str]]  # (text, rich style); "" for none


def _chart(
    sched: Schedule,
    x_max_tokens: float,
    style: str,
    width: int,
    room: int,
    marker: float | None = None,
) -> Segments:
    y_max = sched.peak_learning_rate
    out: Segments = []
    rows = chart_rows(sched, x_max_tokens, y_max, marker, width, room)
    for i, row in enumerate(rows[:CHART_HEIGHT]):
        label = f"{y_max:.2e}" if i == 0 else ("0" if i == CHART_HEIGHT - 1 else "")
        out.append((f"{label:>9} │", "dim"))
        out.append((row.rstrip() + "\n", style))
    axis, labels = axis_rows(sched, x_max_tokens, width)
    out.append((" " * 10 + "└" + axis + "\n", "dim"))
    out.append((" " * AXIS_WIDTH + labels + "\n", "dim"))
    for row in rows[CHART_HEIGHT:]:
        out.append((" " * AXIS_WIDTH + row + "\n", "bold"))
    return out


def _milestone_lines(sched: Schedule, width: int) -> list[str]:
    rows = [
        (m.name, f"{m.step:,}", count(m.tokens), f"{m.learning_rate:.4e}") for m in sched.milestones
    ]
    if width >= 50:
        lines = [f"  {'milestone':<12}{'step':>10}{'tokens':>10}{'learning rate':>16}"]
        return lines + [f"  {n:<12}{s:>10}{t:>10}{lr:>16}" for n, s, t, lr in rows]
    # Narrow: one line per milestone and quantity.
    lines = []
    for n, s, t, lr in rows:
        lines += [f"  {n}:", f"    step {s}", f"    tokens {t}", f"    learning rate {lr}"]
    return lines


def _wrap(text: str, lead: str, width: int) -> str:
    """A long note as lines of at most ``width`` columns, hanging under its lead-in."""
    return textwrap.fill(
        text,
        width=min(NOTE_WIDTH, width),
        initial_indent=lead,
        subsequent_indent=" " * min(len(lead), 8 if width < 60 else len(lead)),
        break_on_hyphens=False,
    )


class ScheduleText:
    """The text of a :class:`~dsplan.planning.schedule_report.ScheduleReport`, drawn at print width."""

    def __init__(self, report: ScheduleReport) -> None:
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.render(options.max_width)

    def render(self, width: int) -> Any:
        """The report as rich Text for a ``width``-column terminal."""
        from rich.text import Text

        t = Text()
        for text, style in self.segments(width):
            t.append(text, style=style or None)
        return t

    def plain_lines(self, width: int) -> list[str] | None:
        """The report without styles, as rich prints :meth:`render` when no line needs wrapping
        (None otherwise). Piped output takes this path and does not import rich (start-up:
        bench/startup.py times ``dsplan schedule``)."""
        lines = "".join(text for text, _ in self.segments(width)).split("\n")
        if any(len(line) > width for line in lines):
            return None
        return lines

    def segments(self, width: int) -> Segments:
        """The report as ``(text, style)`` pieces for a ``width``-column terminal."""
        sched, e = self.report.schedule, self.report.extension
        # The axis labels end in " tokens": the chart is that much narrower than the room.
        room = width - AXIS_WIDTH
        chart_width = max(MIN_CHART_WIDTH, min(CHART_WIDTH, room - len(" tokens")))
        t: Segments = []
        x_max = e.extended_tokens if e else sched.tokens
        t.append((f"dsplan schedule: {sched.kind}\n", "bold"))
        t.append(
            (
                f"{sci(sched.tokens)} tokens ({count(sched.tokens)}) in {sched.total_steps:,} steps "
                f"of {sched.tokens_per_step:,} tokens; peak lr {sched.peak_learning_rate:.4e}, "
                f"warm-up {sched.warmup_steps:,} steps\n",
                "",
            )
        )
        t.append(("\n".join(_milestone_lines(sched, width)) + "\n\n", ""))
        t += _chart(sched, x_max, "cyan", chart_width, room)
        if e:
            t.append(("\n", ""))
            t.append(
                (
                    f"Extended to {sci(e.extended_tokens)} tokens ({count(e.extended_tokens)}), "
                    f"{e.schedule.total_steps:,} steps\n",
                    "bold",
                )
            )
            t.append(
                (
                    f"  reuse the checkpoint at step {e.reusable_step:,} = "
                    f"{count(e.reusable_tokens)} tokens ({e.reuse_fraction:.1%} of the planned "
                    f"run); {count(e.lost_tokens)} planned tokens after it are not reused\n",
                    "",
                )
            )
            t.append(("\n".join(_milestone_lines(e.schedule, width)) + "\n", ""))
            if e.drift:
                dr = e.drift
                t.append(
                    (
                        f"  laws ({dr.preset}, Eq. 1) at C2 = M x D2 = {sci(dr.compute_flops)} "
                        f"FLOPs: peak lr {dr.law_learning_rate:.4e} ({dr.learning_rate_drift:+.1%} "
                        f"vs running), batch {count(dr.law_batch_size_tokens)} tokens "
                        f"({dr.batch_size_drift:+.1%} vs running {count(sched.tokens_per_step)})\n",
                        "",
                    )
                )
            for note in e.notes:
                t.append((_wrap(note, "  note: ", width) + "\n", "dim"))
            t.append(("\n", ""))
            t += _chart(e.schedule, x_max, "magenta", chart_width, room, e.reusable_tokens)
        t.append(("\n", ""))
        t.append((_wrap(ROUNDING_NOTE, "steps: ", width) + "\n", "dim"))
        t.append((_wrap(REFERENCES[sched.kind], "reference: ", width), "dim"))
        return t
