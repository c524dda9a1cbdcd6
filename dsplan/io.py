"""Users' files: sweep results (CSV) and files dsplan writes."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from dsplan.errors import InputError, SweepDataError


def read_csv_rows(path: Path | str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a CSV file with a header row; ``-`` reads standard input.

    Returns:
        The header (stripped column names) and, per data row, its line number in the file and its
        cells by column name. Blank lines are skipped.

    Raises:
        SweepDataError: an unreadable file, no header, or a row with more cells than the header.
    """
    name = str(path)
    try:
        text = sys.stdin.read() if name == "-" else Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SweepDataError(f"{name}: no such file") from None
    except OSError as exc:
        raise SweepDataError(f"{name}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SweepDataError(f"{name}: not UTF-8 text") from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                continue
            if len(cells) > len(header):
                raise SweepDataError(
                    f"{name}, line {line}: {len(cells)} cells but the header has {len(header)}"
                )
            # A short row's missing cells read as empty, and the caller refuses them by name.
            rows.append((line, {h: c.strip() for h, c in zip(header, cells, strict=False)}))
    except csv.Error as exc:
        raise SweepDataError(f"{name}, line {reader.line_num}: not valid CSV: {exc}") from None
    if header is None:
        raise SweepDataError(f"{name}: empty file; expected a CSV header row")
    return header, rows


def write_text(path: Path | str, text: str) -> None:
    """Write a text file (UTF-8), creating its folder.

    Raises:
        InputError: the file or its folder cannot be written.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror}") from None
