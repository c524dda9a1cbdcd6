"""Start-up benchmark: common dsplan commands against `python -c "import typer"`.

Targets (issues #2 and #12), each a ratio of medians measured in the same run:

* `dsplan budget 1e24 --format json` (the scripting path): at most 1.3;
* the text paths, which also pay for rich's tables: `budget 1e24`, `budget 1e24 --gpu h800`,
  `check` on a config, `schedule`: at most 1.5.

The baseline and the commands run in turn, several times. Also prints the typer version (typer
0.29 would import pydantic on every run; dsplan/cli/_coercion.py avoids it) and any heavy module a
command imports (scipy, numpy, matplotlib, pandas must not appear).

    python bench/startup.py [--runs 21] [--only budget-json] [--python OTHER_VENV/bin/python ...]

`--python` (repeatable) measures the same commands with other interpreters, for example a venv
with another typer, built once with
`python -m venv /tmp/t28 && /tmp/t28/bin/pip install . 'typer==0.28.*'`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("scipy", "numpy", "matplotlib", "pandas", "sympy", "pydantic")
CONFIG = Path(__file__).resolve().parent.parent / "tests/data/configs/valid/deepseek-67b.toml"
# name -> (arguments, target ratio)
COMMANDS: dict[str, tuple[list[str], float]] = {
    "budget-json": (["budget", "1e24", "--format", "json"], 1.3),
    "budget-text": (["budget", "1e24"], 1.5),
    "budget-gpu": (["budget", "1e24", "--gpu", "h800", "--gpus", "2048"], 1.5),
    "check": (["check", str(CONFIG)], 1.5),
    "schedule": (
        [
            "schedule",
            "--tokens",
            "2e12",
            "--batch-size-tokens",
            "9437184",
            "--learning-rate",
            "4.2e-4",
        ],
        1.5,
    ),
}

# An installed dsplan has its bytecode compiled by pip; a checkout gets it on the first run, unless
# PYTHONDONTWRITEBYTECODE is set (as on some CI images), which would time the compiler, not dsplan.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: the tool ran and found something (a check finding)
        raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}")
    return elapsed


def heavy_imports(python: str, args: list[str]) -> list[str]:
    trace = subprocess.run(
        [python, "-X", "importtime", "-m", "dsplan", *args],
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
    ).stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in trace.splitlines() if "|" in line
    }
    return sorted(imported & set(HEAVY))


def measure(python: str, names: list[str], runs: int) -> bool:
    version = subprocess.run(
        [python, "-c", "import typer; print(typer.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The console script users run, installed beside this interpreter (not a shell shim in front of
    # it); `python -m dsplan` where there is none (a bare checkout).
    script = Path(python).parent / "dsplan"
    entry = [str(script)] if script.is_file() else [python, "-m", "dsplan"]
    baseline = [python, "-c", "import typer"]
    commands = {name: [*entry, *COMMANDS[name][0]] for name in names}
    for cmd in [baseline, *commands.values()]:
        wall(cmd)  # warm the file cache and the bytecode
    base: list[float] = []
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(runs):
        for name, cmd in commands.items():
            base.append(wall(baseline))
            times[name].append(wall(cmd))
    b = statistics.median(base)
    print(f"{python}: typer {version}")
    print(f"  {'import typer':<13} {b * 1000:7.1f} ms (median of {len(base)})")
    ok = True
    for name in names:
        t = statistics.median(times[name])
        target = COMMANDS[name][1]
        heavy = heavy_imports(python, COMMANDS[name][0])
        passed = t / b <= target and not heavy
        ok &= passed
        print(
            f"  {name:<13} {t * 1000:7.1f} ms  ratio {t / b:5.2f} (target <= {target:.2f}; "
            f"fastest runs {min(times[name]) / min(base):4.2f})  heavy imports: "
            f"{', '.join(heavy) or 'none'}{'' if passed else '  FAIL'}"
        )
    print(f"  command of each: dsplan {' '.join(COMMANDS[names[0]][0])}, ...")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--only", action="append", choices=sorted(COMMANDS), default=None)
    parser.add_argument("--python", action="append", default=None, help="another interpreter")
    args = parser.parse_args()
    names = args.only or list(COMMANDS)
    ok = True
    for python in args.python or [sys.executable]:
        ok &= measure(python, names, args.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
