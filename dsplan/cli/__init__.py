"""The Typer application. Each command lives in its own module and only parses, calls, renders."""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from dsplan._version import __version__
from dsplan.cli import _streams
from dsplan.cli._coercion import skip_pydantic
from dsplan.cli._output import EXIT_INPUT, EXIT_PROBLEM, error_line
from dsplan.errors import DsplanError, ProblemFound

skip_pydantic()  # typer >= 0.29: see dsplan/cli/_coercion.py

_gc_paused_by_main = False  # see main()


class DsplanGroup(TyperGroup):
    """The top-level group: lazy subcommands, and one-line usage errors.

    Click's usage errors become one ``error: ...`` line and exit 2, never a traceback or a box.
    """

    def list_commands(self, ctx: Any) -> list[str]:  # noqa: ARG002 - click's signature
        return sorted(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:  # noqa: ARG002 - click's signature
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"dsplan.cli.{module_name}")
        holder = typer.Typer(add_completion=False, rich_markup_mode=None)
        module.register(holder)
        built = typer.main.get_command(holder)
        commands = getattr(built, "commands", None)
        command = commands[cmd_name] if commands is not None else built
        _keep_examples(command)
        if _gc_paused_by_main:
            # Imports are done: give the command (a long `dsplan fit`, say) the collector back.
            gc.enable()
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint} See 'dsplan --help'.")
        return super().resolve_command(ctx, args)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,  # noqa: ARG002 - always False below: errors are ours to print
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except DsplanError as exc:
            # Commands turn these into their exit code themselves (exit_on_error); this is the net
            # for one raised outside that, so that it is never a traceback.
            error_line(str(exc))
            sys.exit(EXIT_PROBLEM if isinstance(exc, ProblemFound) else EXIT_INPUT)
        except Exception as exc:
            # Click (vendored by recent Typer, a dependency of older Typer) raises UsageError and
            # friends; recognise them by their interface rather than a private import path.
            if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
                if type(exc).__name__ == "NoArgsIsHelpError":
                    sys.stdout.write(exc.format_message() + "\n")
                    sys.exit(0)
                error_line(exc.format_message())
                sys.exit(exc.exit_code if isinstance(exc.exit_code, int) else EXIT_INPUT)
            if type(exc).__name__ == "Abort":
                error_line("aborted")
                sys.exit(1)
            raise
        sys.exit(code if isinstance(code, int) else 0)


# Command name -> the module that registers it. Commands are imported and built only when used, so
# `dsplan budget` never pays for the other commands' modules and options (start-up time, issue #2).
COMMANDS: dict[str, str] = {
    "budget": "budget",
    "check": "check",
    "compare": "compare",
    "fit": "fit",
    "gpus": "gpus",
    "layout": "layout",
    "model": "model",
    "presets": "presets",
    "schedule": "schedule",
    "shapes": "shapes",
    "sweep": "sweep",
}


app = typer.Typer(
    cls=DsplanGroup,
    name="dsplan",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"dsplan {__version__}\n")
        raise typer.Exit


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """Plan LLM pretraining runs from the DeepSeek LLM scaling laws (arXiv 2401.02954).

    Exit codes: 0 success, 1 the tool found a problem (infeasible plan, failing check),
    2 bad input, 130 interrupted (Ctrl-C).
    """


def _keep_examples(command: Any) -> None:
    """Mark each indented paragraph of a command's help (its example command lines) as not to be
    re-wrapped: click would otherwise break ``--flops-per-token`` across lines on a narrow
    terminal. Click keeps a paragraph as written when its first line is ``\\b``."""
    for cmd in [command, *getattr(command, "commands", {}).values()]:
        text = getattr(cmd, "help", None)
        if not text:
            continue
        paragraphs = text.split("\n\n")
        cmd.help = "\n\n".join(
            "\b\n" + p if p.startswith(" ") and not p.startswith("\b") else p for p in paragraphs
        )


def main() -> None:
    """Console-script entry point.

    dsplan runs in shell loops, so start-up time matters (issue #2). The cyclic garbage collector
    is off while the command's modules are imported (it would only re-scan the long-lived objects
    that imports create; :meth:`DsplanGroup.get_command` switches it back on), and at the end every
    object is moved to the permanent generation so that the interpreter's final collection does not
    walk them all at exit. Together about 10 ms of a 70 ms `dsplan budget`. Library use
    (``import dsplan``) is unaffected.
    """
    global _gc_paused_by_main
    code = _streams.prepare()  # closed pipes, full disks, ASCII terminals, Ctrl-C: see _streams
    if code is not None:
        sys.exit(code)
    _gc_paused_by_main = gc.isenabled()
    gc.disable()
    try:
        try:
            app(prog_name="dsplan")  # also under `python -m dsplan`: usage, completion
        finally:
            sys.stdout.flush()  # here, so that a failed write is reported, not ignored at exit
    except (_streams.Interrupted, _streams.WriteFailed) as exc:
        sys.exit(_streams.finish(exc))
    finally:
        gc.freeze()
