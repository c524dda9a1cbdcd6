"""Users' files: one bounded reader for every file dsplan reads, sweep results (CSV), writing (text,
TOML strings).

Every file a user hands dsplan (a preset, a GPU table, a hyperparameter law, a run config, a Hugging
Face ``config.json``, a results CSV, standard input) is read by :func:`read_input`: at most
:data:`MAX_INPUT_BYTES` (16 MiB, far above any real input), so ``/dev/zero``, an endless FIFO or a
huge one-line file is refused at once instead of filling memory; bytes that are not UTF-8, and
TOML or JSON nested too deeply to parse, are one-line input errors naming the file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from dsplan.errors import InputError, SweepDataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

MAX_INPUT_BYTES = 16 * 1024 * 1024
"""The largest input file dsplan reads (16 MiB); a larger one is refused, not truncated."""


class UnreadableFile(InputError):
    """A file that cannot be read as text: missing, a directory, too large, not UTF-8.

    ``str(exc)`` is ``"NAME: REASON"``; ``name`` and ``reason`` are kept apart for callers that
    report problems per file (``dsplan check``).
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


def read_input(path: Path | str) -> str:
    """The text of a user's file (``-``: standard input), read with a bound.

    At most :data:`MAX_INPUT_BYTES` are read, whatever the file is (``/dev/zero``, a FIFO that never
    ends): a larger input is refused. A UTF-8 byte-order mark is dropped.

    Raises:
        UnreadableFile: missing, a directory, unreadable, larger than the bound, or not UTF-8.
    """
    name = str(path)
    limit = MAX_INPUT_BYTES
    try:
        if name == "-":
            stdin: Any = sys.stdin
            buffer = getattr(stdin, "buffer", None)
            raw = buffer.read(limit + 1) if buffer is not None else stdin.read(limit + 1)
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
        else:
            with Path(path).open("rb") as fh:
                data = fh.read(limit + 1)
    except FileNotFoundError:
        raise UnreadableFile(name, "no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(name, "is a directory, not a file") from None
    except OSError as exc:
        raise UnreadableFile(name, f"cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise UnreadableFile(
            name, f"larger than {limit // (1024 * 1024)} MiB, the most dsplan reads from a file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(
            name, f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})"
        ) from None


def loads_toml(text: str, name: str) -> dict[str, Any]:
    """Parse TOML text from file ``name``.

    Raises:
        tomllib.TOMLDecodeError: not valid TOML (the caller reports it its own way).
        UnreadableFile: nested too deeply for the parser (thousands of levels).
    """
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except RecursionError:
        raise UnreadableFile(name, "not valid TOML: nested too deeply") from None
    return data


def loads_json(text: str, name: str) -> Any:
    """Parse JSON text from file ``name``; NaN and Infinity are refused (they are not JSON).

    Raises:
        UnreadableFile: not valid JSON, or nested too deeply for the parser.
    """

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a JSON number")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise UnreadableFile(name, "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise UnreadableFile(name, f"not valid JSON: {exc}") from None


MAX_CSV_ROWS = 10_000_000
"""The most lines a results CSV may have (10 million; a real sweep has hundreds of runs)."""
MAX_CSV_LINE_BYTES = 1024 * 1024
"""The longest line of a results CSV (1 MiB); ``/dev/zero`` or a file without newlines stops here."""


class _EncodedText:
    """Bytes from a text stream without a binary buffer (a test's, or a closed stdin's stand-in)."""

    def __init__(self, text: Any) -> None:
        self.text = text

    def read(self, size: int = -1) -> bytes:
        data: str = self.text.read(size)
        return data.encode("utf-8")


def _stdin_bytes() -> Any:
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else _EncodedText(sys.stdin)


@contextmanager
def csv_rows(path: Path | str) -> Iterator[tuple[list[str], Iterator[tuple[int, dict[str, str]]]]]:
    """Stream a CSV file with a header row; ``-`` reads standard input. A context manager.

    The file is read a line at a time (never whole), so a million-row results file costs the
    memory of one row; at most :data:`MAX_CSV_ROWS` lines of at most :data:`MAX_CSV_LINE_BYTES`.

    Yields:
        The header (stripped column names) and an iterator over the data rows: each row's line
        number in the file and its cells by column name. Blank lines are skipped. The iterator
        raises the errors below for the rows it reaches.

    Raises:
        SweepDataError: an unreadable file, a line too long or not UTF-8, too many lines, no
            header, not valid CSV, or a row with more cells than the header.
    """
    import csv  # not on the start-up path: the readers of presets import this module

    name = str(path)
    with ExitStack() as stack:
        try:
            stream: Any = (
                _stdin_bytes() if name == "-" else stack.enter_context(Path(path).open("rb"))
            )
        except FileNotFoundError:
            raise SweepDataError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise SweepDataError(f"{name}: is a directory, not a file") from None
        except OSError as exc:
            raise SweepDataError(f"{name}: cannot read: {exc.strerror}") from None

        def lines() -> Iterator[str]:
            # Whole lines, read in blocks of 1 MiB and split in C; a line longer than the bound
            # (``/dev/zero``, a file without newlines) stops the read.
            number = 0  # lines before this block
            rest = b""
            first = True
            while True:
                try:
                    block = stream.read(MAX_CSV_LINE_BYTES)
                except OSError as exc:
                    raise SweepDataError(f"{name}: cannot read: {exc.strerror}") from None
                data = rest + block if block else rest
                cut = data.rfind(b"\n") + 1 if block else len(data)
                rest = data[cut:]
                if len(rest) > MAX_CSV_LINE_BYTES:
                    raise SweepDataError(f"{name}, line {number + 1}: longer than 1 MiB")
                whole = data[:cut]
                if whole:
                    try:
                        text = whole.decode("utf-8-sig" if first else "utf-8")
                    except UnicodeDecodeError as exc:
                        line = number + whole.count(b"\n", 0, exc.start) + 1
                        byte = whole[exc.start]
                        raise SweepDataError(
                            f"{name}, line {line}: not UTF-8 text (byte 0x{byte:02x})"
                        ) from None
                    first = False
                    found = text.split("\n")
                    if found[-1] == "":
                        found.pop()
                        found = [line + "\n" for line in found]
                    else:  # the last line of a file without a final newline
                        found = [line + "\n" for line in found[:-1]] + [found[-1]]
                    number += len(found)
                    if number > MAX_CSV_ROWS:
                        raise SweepDataError(f"{name}: more than {MAX_CSV_ROWS:,} lines")
                    yield from found
                if not block:
                    return

        reader = csv.reader(lines())
        try:
            header = next((h for h in reader if "".join(h).strip()), None)
        except csv.Error as exc:
            raise SweepDataError(f"{name}, line {reader.line_num}: not valid CSV: {exc}") from None
        if header is None:
            raise SweepDataError(f"{name}: empty file; expected a CSV header row")
        names = [cell.strip() for cell in header]

        def rows() -> Iterator[tuple[int, dict[str, str]]]:
            width = len(names)
            try:
                for cells in reader:
                    if not "".join(cells).strip():
                        continue
                    if len(cells) > width:
                        raise SweepDataError(
                            f"{name}, line {reader.line_num}: {len(cells)} cells but the header "
                            f"has {width}"
                        )
                    # A short row's missing cells read as empty, and the caller refuses them.
                    yield reader.line_num, dict(zip(names, map(str.strip, cells), strict=False))
            except csv.Error as exc:
                raise SweepDataError(
                    f"{name}, line {reader.line_num}: not valid CSV: {exc}"
                ) from None

        yield names, rows()


def read_csv_rows(path: Path | str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Read a whole CSV file with a header row; see :func:`csv_rows` (which streams it)."""
    with csv_rows(path) as (header, rows):
        return header, list(rows)


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


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string, for every TOML file dsplan writes (configs, presets).

    JSON's escapes (backslash, quote, newline, and four-digit unicode escapes for the other control
    characters) are TOML's too; DEL, which TOML forbids unescaped and JSON leaves alone, is escaped
    as well. Other characters are kept as they are (TOML files are UTF-8).
    """
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
