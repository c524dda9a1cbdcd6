"""Start-up benchmark: `dsplan budget 1e24 --format json` against `python -c "import typer"`.

The target (issue #2) is a ratio of at most 1.3, measured in the same run. Both commands are run
alternately, several times, and the medians compared. Also lists any heavy module the command
imports (scipy, numpy, matplotlib, pandas must not appear).

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("scipy", "numpy", "matplotlib", "pandas", "sympy")


# An installed dsplan has its bytecode compiled by pip; a checkout gets it on the first run, unless
# PYTHONDONTWRITEBYTECODE is set (as on some CI images), which would time the compiler, not dsplan.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    baseline_cmd = [sys.executable, "-c", "import typer"]
    # The console script users run, installed beside this interpreter (not a shell shim in front of
    # it); `python -m dsplan` where there is none (a bare checkout).
    script = Path(sys.executable).parent / "dsplan"
    entry = [str(script)] if script.is_file() else [sys.executable, "-m", "dsplan"]
    dsplan_cmd = [*entry, "budget", "1e24", "--format", "json"]
    wall(baseline_cmd)
    wall(dsplan_cmd)  # warm the file cache and the bytecode
    base, ours = [], []
    for _ in range(args.runs):
        base.append(wall(baseline_cmd))
        ours.append(wall(dsplan_cmd))
    b, o = statistics.median(base), statistics.median(ours)
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dsplan", *dsplan_cmd[len(entry) :]],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    ).stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in trace.splitlines() if "|" in line
    }
    heavy = sorted(imported & set(HEAVY))
    print(f"command:                          {' '.join(dsplan_cmd)}")
    print(f"import typer:                     {b * 1000:7.1f} ms (median of {args.runs})")
    print(f"dsplan budget 1e24 --format json: {o * 1000:7.1f} ms")
    print(f"ratio:                            {o / b:7.2f}  (target <= 1.30)")
    print(f"ratio of the fastest runs:        {min(ours) / min(base):7.2f}  (less noisy)")
    print(f"heavy modules imported:           {', '.join(heavy) or 'none'}")
    return 0 if o / b <= 1.3 and not heavy else 1


if __name__ == "__main__":
    raise SystemExit(main())
