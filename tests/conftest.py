"""Shared test helpers: run the CLI in-process and split its streams."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from dsplan.cli import app

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) draws the same examples on every run, so that a build
# is not failed by a random draw; a developer's run explores new ones, and what it finds is
# pinned with @example.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# What dsplan writes carries 7 significant digits (dsplan/numbers.py; README, output
# contract): a value read from its output is within 5e-7 of the exact one (6 digits after a
# leading 1), so two are within 1e-6.
OUTPUT_REL = 1e-6


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run ``dsplan ARGS`` in-process; stdout and stderr are kept apart."""
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli() -> Any:
    return run_cli


def assert_input_error(result: Result, fragment: str) -> None:
    """Exit 2, nothing on stdout, one ``error: ...`` line on stderr containing ``fragment``."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr
