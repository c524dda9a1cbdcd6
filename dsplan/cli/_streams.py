"""The process edge of the CLI: closed pipes, full disks, closed streams, ASCII terminals, Ctrl-C.

Each ends in one ``error: ...`` line (or none) and an exit code of the contract, never a traceback:

* the reader of a pipe goes away (``dsplan compare 1e24 | head -1``): exit 0, at the first write
  after it, with nothing more written;
* stdout cannot be written (``> /dev/full``), or is closed (``>&-``): exit 2, ``error: cannot write
  the output: ...``;
* stdin is closed (``<&-``): only a command that reads ``-`` notices; it exits 2 as for any other
  unreadable input;
* stdout or stderr cannot encode a character (``PYTHONIOENCODING=ascii``, an ASCII locale): the
  character is written in ASCII (``×`` as ``x``, a chart's ``█`` as ``#``), exit as usual;
* SIGINT (Ctrl-C): ``error: interrupted``, exit 130.

Only :func:`dsplan.cli.main`, the console script, installs these; tests that run the app in-process
(``CliRunner``) do not, and tests/test_cli_process.py runs real processes.
"""

from __future__ import annotations

import codecs
import errno
import os
import signal
import sys
from typing import Any

from dsplan.errors import InputError

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

# What an ASCII stream gets instead of the non-ASCII characters dsplan writes.
_ASCII = {
    "×": "x",
    "≈": "~",
    "≤": "<=",
    "≥": ">=",
    "→": "->",
    "←": "<-",
    "…": "...",
    "–": "-",
    "—": "-",
    "−": "-",
    "·": "*",
    "±": "+/-",
    "²": "^2",
    "³": "^3",
    "µ": "u",
    "▲": "^",
    "─": "-",
    "│": "|",
    "└": "+",
    "┬": "+",
    "█": "#",
}
_ASCII.update({c: ("#" if i >= 4 else "_") for i, c in enumerate("▁▂▃▄▅▆▇", start=1)})


def _to_ascii(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    return "".join(_ASCII.get(c, "?") for c in text), exc.end


class Interrupted(BaseException):
    """SIGINT, raised where the command is. A BaseException, as KeyboardInterrupt, but not one that
    click turns into its own ``Aborted!``."""


class WriteFailed(BaseException):
    """stdout could not be written; passes through click (which would exit 1 on a closed pipe)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class _GuardedStdout:
    """sys.stdout, with a write error raised as :class:`WriteFailed`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            raise WriteFailed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise WriteFailed(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _ClosedStdin:
    """Stands in for a closed stdin (``<&-``): reading it is an unreadable input."""

    encoding = "utf-8"

    def read(self, size: int = -1) -> str:  # noqa: ARG002 - io's signature
        raise InputError("cannot read standard input: it is closed")

    readline = read

    def isatty(self) -> bool:
        return False

    def __iter__(self) -> Any:
        return iter([self.read()])


def _on_sigint(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal's signature
    raise Interrupted


def _ascii_safe(stream: Any) -> None:
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="dsplan-ascii")


def prepare() -> int | None:
    """Set the streams and SIGINT up for the console script; an exit code if it cannot run."""
    codecs.register_error("dsplan-ascii", _to_ascii)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            _ascii_safe(stream)
    if sys.stdin is None:
        sys.stdin = _ClosedStdin()
    if sys.stdout is None:
        error_line("cannot write the output: standard output is closed")
        return 2
    sys.stdout = _GuardedStdout(sys.stdout)
    signal.signal(signal.SIGINT, _on_sigint)
    return None


def error_line(message: str) -> None:
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"error: {message}\n")
            sys.stderr.flush()
        except OSError:
            pass


def finish(exc: BaseException) -> int:
    """The exit code (and the one error line) for an :class:`Interrupted` or :class:`WriteFailed`."""
    if isinstance(exc, Interrupted):
        error_line("interrupted")
        _drop_stdout()
        return EXIT_INTERRUPTED
    assert isinstance(exc, WriteFailed)
    _drop_stdout()
    if exc.error.errno == errno.EPIPE:
        return 0  # the reader has all it wanted: not a failure (`dsplan ... | head -1`)
    error_line(f"cannot write the output: {exc.error.strerror or exc.error}")
    return 2


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit writes nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass
