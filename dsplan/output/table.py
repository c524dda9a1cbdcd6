"""Tables that never cut a number, and the one place text output gets its width.

A column holds numbers (never wrapped, never shortened: ``1.00e+24`` is printed whole or not at all)
or text (wrapped at spaces, a long word folded). When the numbers and the longest words do not fit
the width, the table is printed as one block per row instead, ``column: value`` per line. rich
would otherwise shorten a cell to ``1.00e…``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from dsplan.records import record

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

# Piped output has no width of its own: wide enough that no table wraps.
PIPE_WIDTH = 200


def output_width(is_terminal: bool, terminal_width: int) -> int:
    """The width to render for: ``COLUMNS`` when set, else the terminal's, else :data:`PIPE_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return terminal_width if is_terminal else PIPE_WIDTH


def styled_output() -> bool:
    """Whether stdout gets styles (rich's terminal detection, without importing rich): a terminal,
    or ``FORCE_COLOR`` / ``TTY_COMPATIBLE=1`` set."""
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return True
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def to_text(*renderables: RenderableType | str) -> str:
    """Render for stdout: styled on a terminal, plain when piped, at :func:`output_width`.

    Trailing spaces that rich pads lines with are removed, so piped output diffs cleanly.

    Piped, strings and tables are laid out here, without rich (``plain_lines``): importing
    rich's console and table modules is about 20 ms, a third of a ``dsplan budget`` run, which
    bench/startup.py showed the text paths paying (``budget`` 1.79x, ``budget --gpu`` 2.03x of
    ``import typer``; the target is 1.5x). Anything else, and any table that would need rich's
    wrapping, goes to rich as before; tests/test_output_plain.py holds the two renderings equal.
    """
    if not styled_output():
        fast = _plain_text(renderables, output_width(False, PIPE_WIDTH))
        if fast is not None:
            return fast
    return _rich_text(*renderables)


_RICH_READS = re.compile(r"\[[a-zA-Z#/@]|:\S*?:")  # markup tags and :emoji: codes


def _plain_text(renderables: Sequence[Any], width: int) -> str | None:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if encoding not in ("utf8", "utf_8"):
        return None  # rich draws boxes in ASCII then
    parts = []
    for item in renderables:
        if isinstance(item, str):
            if _RICH_READS.search(item) or not item.isascii():
                return None
            if any(len(line) > width for line in item.split("\n")):
                return None  # rich would wrap it
            parts.append(item)
        elif hasattr(item, "plain_lines"):  # a FitTable, the schedule's text
            lines = item.plain_lines(width)
            if lines is None:
                return None
            parts.extend(lines)
        else:
            return None
    return "\n".join(line.rstrip() for part in parts for line in part.split("\n"))


def _rich_text(*renderables: RenderableType | str) -> str:
    from rich.console import Console

    con = Console(highlight=False)
    width = output_width(con.is_terminal, con.width)
    if not con.is_terminal:
        con = Console(highlight=False, width=width, no_color=True)
    elif width != con.width:
        con = Console(highlight=False, width=width)
    with con.capture() as capture:
        for item in renderables:
            con.print(item)
    return "\n".join(line.rstrip() for line in capture.get().splitlines())


@record
class Styled:
    """A table cell with a rich style, made into rich ``Text`` only when rich renders the table."""

    plain: str
    style: str


def _rich_cell(cell: Any) -> Any:
    if isinstance(cell, Styled):
        from rich.text import Text

        return Text(cell.plain, style=cell.style)
    return cell


def _plain_cell(cell: Any) -> str | None:
    """The cell as plain ASCII on one line, or None for what only rich lays out."""
    text = cell.plain if hasattr(cell, "plain") else cell
    if not isinstance(text, str) or "\n" in text or not text.isascii():
        return None
    return text


def _width(cell: Any) -> int:
    """The terminal cells a table cell takes on one line (str or rich Text)."""
    from rich.cells import cell_len

    return cell_len(cell.plain if hasattr(cell, "plain") else str(cell))


def _longest_word(cell: Any) -> int:
    from rich.cells import cell_len

    text = cell.plain if hasattr(cell, "plain") else str(cell)
    return max((cell_len(word) for word in text.split()), default=0)


@record
class Column:
    """A column: its header, what it holds, its style.

    ``kind``: ``"number"`` (right-aligned, never wrapped), ``"label"`` (left-aligned, never
    wrapped: an id) or ``"text"`` (left-aligned, wrapped at spaces; the numbers inside stay whole
    while the table is wide enough for its longest word).
    """

    header: str
    kind: str = "number"
    style: str = ""


@record
class FitTable:
    """A table that fits its width without shortening a number (see the module docstring).

    Args:
        columns: The columns, left to right.
        rows: One sequence of cells (str or rich Text) per row.
        title: Printed above the table (and above the blocks of the vertical form).
        box: ``"heavy_head"`` (rich's default), ``"simple_head"``, ``"plain"`` (a header, no
            lines) or ``None`` (no lines, no header).
    """

    columns: Sequence[Column]
    rows: list[Sequence[Any]] = field(default_factory=list)
    title: str | None = None
    box: str | None = "heavy_head"

    def add_row(self, *cells: Any) -> None:
        self.rows.append(cells)

    def table(self) -> Any:
        """The rich Table of the wide form."""
        from rich import box
        from rich.table import Table

        boxes = {"heavy_head": box.HEAVY_HEAD, "simple_head": box.SIMPLE_HEAD}
        table = Table(
            title=self.title,
            title_justify="left",
            box=boxes.get(self.box or ""),
            show_header=self.box is not None,
            pad_edge=self.box in boxes,
        )
        for i, c in enumerate(self.columns):
            whole = c.kind != "text"
            table.add_column(
                c.header,
                justify="right" if c.kind == "number" else "left",
                no_wrap=whole,
                overflow="fold",
                style=c.style or None,
                # rich measures a cell by its longest word; a cell never wrapped needs all of it.
                min_width=max(_width(cell) for cell in (c.header, *(r[i] for r in self.rows)))
                if whole
                else None,
            )
        for row in self.rows:
            table.add_row(*(_rich_cell(cell) for cell in row))
        return table

    def plain_lines(self, width: int) -> list[str] | None:
        """The wide form as rich lays it out without styles, when rich would neither wrap nor fold
        a cell nor move to the vertical form; otherwise None (then rich renders it).

        Each column is as wide as its widest cell; cells are padded by one space on each side
        (none at the outer edges without a box) and justified as :meth:`table` says.
        """
        if self.box not in (None, "heavy_head", "plain"):
            return None
        cells = [[_plain_cell(c) for c in row] for row in self.rows]
        header = [c.header for c in self.columns]
        if any(c is None for row in cells for c in row) or not all(h.isascii() for h in header):
            return None
        rows: list[list[str]] = cells  # type: ignore[assignment]
        shown = self.box is not None
        widths = [
            max([len(h) if shown else 0, *(len(r[i]) for r in rows)]) for i, h in enumerate(header)
        ]
        n = len(widths)
        boxed = self.box == "heavy_head"
        total = sum(widths) + (2 * n if boxed else 2 * n - 2) + (n + 1 if boxed else 0)
        if total > width or (self.title is not None and len(self.title) > total):
            return None
        right = [c.kind == "number" for c in self.columns]

        def line(row: Sequence[str], edge: str, sep: str) -> str:
            padded = [
                (cell.rjust(w) if r else cell.ljust(w))
                for cell, w, r in zip(row, widths, right, strict=True)
            ]
            if boxed:
                return edge + sep.join(f" {cell} " for cell in padded) + edge
            return "  ".join(padded)

        def rule(left: str, fill: str, cross: str, end: str) -> str:
            return left + cross.join(fill * (w + 2) for w in widths) + end

        out = [] if self.title is None else [self.title]
        if boxed:
            out += [rule("┏", "━", "┳", "┓"), line(header, "┃", "┃"), rule("┡", "━", "╇", "┩")]
        elif shown:
            out.append(line(header, "", ""))
        out += [line(row, "│", "│") for row in rows]
        if boxed:
            out.append(rule("└", "─", "┴", "┘"))
        return out

    def needed_width(self) -> int:
        """The fewest columns the wide form takes with every number whole and text wrapped.

        A number or label column needs its longest cell (header included), a text column its
        longest word; then rich's padding (one column each side of a cell, none at the outer
        edges without a box) and the box's vertical lines. Counted here rather than by rich's
        measurement, which is a few milliseconds per table and under-counts cells never wrapped.
        """
        widths = []
        for i, c in enumerate(self.columns):
            cells = (c.header, *(r[i] for r in self.rows))
            if c.kind == "text":
                widths.append(max((_longest_word(cell) for cell in cells), default=0))
            else:
                widths.append(max(_width(cell) for cell in cells))
        n = len(self.columns)
        boxed = self.box in ("heavy_head", "simple_head")
        padding = 2 * n if boxed else 2 * n - 2
        lines = n + 1 if self.box == "heavy_head" else 0
        return sum(widths) + padding + lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.needed_width() <= options.max_width:
            yield self.table()
            return
        yield from self.vertical()

    def vertical(self) -> Iterable[RenderableType]:
        """One block per row: the first cell as its heading, then ``column  value`` lines."""
        from rich.table import Table
        from rich.text import Text

        if self.title:
            yield Text(self.title)
        labels = [c.header for c in self.columns]
        for i, row in enumerate(self.rows):
            if i:
                yield Text("")
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True, style="bold")
            grid.add_column(overflow="fold")
            first, *rest = row
            grid.add_row(Text(f"{labels[0]}:", style="bold"), _rich_cell(first))
            for label, cell in zip(labels[1:], rest, strict=True):
                grid.add_row(f"  {label}", _rich_cell(cell))
            yield grid
