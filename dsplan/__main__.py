"""`python -m dsplan`, and the `dsplan` console script's entry point.

Ctrl-C while the CLI is still being imported (typer alone takes tens of milliseconds) would show a
KeyboardInterrupt traceback: until :func:`dsplan.cli.main` installs its own handler, SIGINT ends
the process with the same one line and exit code 130.
"""

from __future__ import annotations

import signal
import sys
from typing import Any


def _interrupted_while_starting(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal's
    sys.stderr.write("error: interrupted\n")
    raise SystemExit(130)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    from dsplan.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
