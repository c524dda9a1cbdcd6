"""The CLI at the process edge (issue #12): real processes, pipes, closed streams and signals.

Each case ends in the contract's exit code and at most one ``error: ...`` line, never a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_input_error, run_cli

import dsplan

ROOT = Path(__file__).resolve().parent.parent
DSPLAN = [sys.executable, "-m", "dsplan"]
LONG_CSV = [
    "schedule",
    "--tokens",
    "1e9",
    "--batch-size-tokens",
    "1000",
    "--learning-rate",
    "1e-3",
    "--format",
    "csv",
]  # a million rows: seconds of writing


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLUMNS", "LINES"))}
    return {**env, **extra}


def _one_error_line(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors == [errors[0]] and fragment in errors[0], stderr


def test_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"dsplan {dsplan.__version__}\n"


@pytest.mark.parametrize(("typed", "meant"), [("buget", "budget"), ("shapse", "shapes")])
def test_a_mistyped_command_gets_a_suggestion(typed: str, meant: str) -> None:
    assert_input_error(
        run_cli(typed, "1e24"), f"No such command '{typed}'. Did you mean '{meant}'?"
    )


def test_an_unknown_command_without_a_close_one() -> None:
    result = run_cli("frobnicate")
    assert_input_error(result, "No such command 'frobnicate'.")
    assert "Did you mean" not in result.stderr


def _examples(words: list[str]) -> list[str]:
    from typer.main import get_command

    from dsplan.cli import app

    cmd = get_command(app)
    for word in words:
        cmd = cmd.get_command(None, word)  # type: ignore[attr-defined]
    return [ln.strip() for ln in (cmd.help or "").splitlines() if ln.startswith("    dsplan ")]


@pytest.mark.parametrize(
    "command", ["budget", "presets", "presets show", "schedule", "check", "fit", "model"]
)
def test_help_examples_keep_their_lines_at_any_width(command: str) -> None:
    examples = _examples(command.split())
    assert examples, f"dsplan {command} --help has no examples"
    for columns in ("40", "200"):
        done = subprocess.run(
            [*DSPLAN, *command.split(), "--help"],
            capture_output=True,
            text=True,
            check=True,
            env=_env(COLUMNS=columns),
        )
        shown = {line.strip() for line in done.stdout.splitlines()}
        for example in examples:
            assert example in shown, f"COLUMNS={columns}: {example!r} was wrapped"


def test_shell_completion() -> None:
    script = subprocess.run(
        [*DSPLAN, "--show-completion", "bash"],
        capture_output=True,
        text=True,
        check=False,
        env=_env(SHELL="/bin/bash"),
    )
    assert script.returncode == 0, script.stderr
    assert "_DSPLAN_COMPLETE" in script.stdout.upper()
    done = subprocess.run(
        [sys.executable, "-c", "from dsplan.cli import main; main()"],
        capture_output=True,
        text=True,
        check=False,
        env=_env(_DSPLAN_COMPLETE="complete_bash", COMP_WORDS="dsplan bu", COMP_CWORD="1"),
    )
    assert done.stdout.split() == ["budget"], done.stderr


def _closed_pipe_run(args: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run with stdout a pipe whose reader is already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [*DSPLAN, *args], stdout=write_end, stderr=subprocess.PIPE, text=True, check=False
        )
    finally:
        os.close(write_end)
    return done, time.perf_counter() - start


@pytest.mark.parametrize(
    "args", [["compare", "1e24"], ["budget", "1e24", "--format", "json"], ["gpus"], LONG_CSV]
)
def test_a_closed_pipe_is_exit_0(args: list[str]) -> None:
    done, _ = _closed_pipe_run(args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "error" not in done.stderr


def test_head_of_a_long_csv_stops_at_once() -> None:
    # `dsplan schedule ... --format csv | head`: the first write after the reader left ends it.
    done, seconds = _closed_pipe_run(LONG_CSV)
    assert done.returncode == 0
    full = time.perf_counter()
    subprocess.run([*DSPLAN, *LONG_CSV], stdout=subprocess.DEVNULL, check=True)
    assert seconds < (time.perf_counter() - full) / 2


def test_head_dash_1_through_a_shell() -> None:
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{sys.executable} -m dsplan compare 1e24 | head -1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dsplan compare")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_error_line() -> None:
    with Path("/dev/full").open("w") as full:
        done = subprocess.run(
            [*DSPLAN, "budget", "1e24", "--format", "json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 2
    _one_error_line(done.stderr, "cannot write the output: No space left on device")


def _bash(command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=False, env=_env(**env)
    )


def test_a_closed_stdout_is_one_error_line() -> None:
    done = _bash(f"{sys.executable} -m dsplan budget 1e24 >&-")
    assert done.returncode == 2
    _one_error_line(done.stderr, "standard output is closed")


@pytest.mark.parametrize("command", ["fit -", "check -"])
def test_reading_a_closed_stdin_is_one_error_line(command: str) -> None:
    done = _bash(f"{sys.executable} -m dsplan {command} <&-")
    assert done.returncode == 2
    _one_error_line(done.stderr, "cannot read standard input: it is closed")


def test_a_closed_stdin_does_not_matter_to_a_command_that_does_not_read_it() -> None:
    done = _bash(f"{sys.executable} -m dsplan budget 1e24 --format json <&-")
    assert done.returncode == 0, done.stderr
    assert '"compute_flops"' in done.stdout


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    ],
    ids=["PYTHONIOENCODING=ascii", "LC_ALL=C"],
)
def test_an_ascii_terminal_gets_ascii(env: dict[str, str]) -> None:
    # The extension's chart draws with block and box characters.
    args = "schedule --tokens 2e12 --batch-size-tokens 9437184 --learning-rate 4.2e-4"
    done = _bash(f"{sys.executable} -m dsplan {args} --extend-to 3e12", **env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.isascii()
    assert "reused checkpoint" in done.stdout


def test_ctrl_c_is_one_line_and_exit_130() -> None:
    proc = subprocess.Popen(
        [*DSPLAN, *LONG_CSV], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "step,tokens,learning_rate\n"  # it is running
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    _one_error_line(stderr, "error: interrupted")
