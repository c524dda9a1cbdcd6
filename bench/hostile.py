"""Benchmark: time and peak memory of dsplan on large inputs (issue 12, point 5).

Each case runs ``dsplan`` in a fresh subprocess (stdout to /dev/null) that reports its own peak
resident set size, so the numbers do not mix. Run from the repository root:
``python bench/hostile.py`` (about a minute on 2 cores). Not a timed test: the numbers depend on
the machine. What to look for:

* ``schedule --format csv``: memory flat in the number of steps (the CSV is written as it is made);
  past 1,000,000 rows the command refuses at once and names the ``--every`` that fits.
* ``fit``: time and memory per results row (the columnar reader).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (steps, --every): the last two are refused at once (more than 1,000,000 rows).
STEPS = ((10**5, 1), (10**6, 1), (10**7, 20), (10**7, 1), (10**9, 1))

# Runs dsplan in-process, then prints the process's peak RSS (KiB on Linux) on stderr's last line.
WRAPPER = """
import resource, sys
from dsplan.cli import main
sys.argv = ["dsplan", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
sys.stderr.write(f"\\nmaxrss_kib={usage.ru_maxrss} cpu={cpu:.3f} exit={code}\\n")
"""


def measure(args: list[str]) -> tuple[float, float, str]:
    """(CPU seconds, peak RSS in MiB, exit code) of ``dsplan ARGS`` in a fresh process.

    CPU time (user + system) rather than wall time: the machine may be shared.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,  # the checkout measured, not the one the shell is in
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1]
    fields = dict(part.split("=") for part in last.split())
    return float(fields["cpu"]), int(fields["maxrss_kib"]) / 1024, fields["exit"]


def results_csv(path: Path, rows: int) -> None:
    """An IsoFLOP results file of ``rows`` runs over 8 budgets (loss from a known law)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import numpy as np
    from _synthetic import Law

    law = Law()
    budgets = np.geomspace(1e17, 3e20, 8)
    per = rows // len(budgets)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("compute_flops,flops_per_token,tokens,loss,note\n")
        for c in budgets:
            m = law.m_opt(c) * np.logspace(-1, 1, per)
            d = c / m
            loss = law.e + law.a / m**law.alpha + law.b / d**law.beta
            for row in zip(m, d, loss, strict=True):
                fh.write(f"{float(c)!r},{float(row[0])!r},{float(row[1])!r},{float(row[2])!r},x\n")


def main() -> int:
    print("schedule --format csv (steps -> rows written)")
    for steps, every in STEPS:
        args = ["schedule", "--tokens", f"{4e6 * steps:.0f}", "--batch-size-tokens", "4e6"]
        args += ["--learning-rate", "3e-4", "--format", "csv", "--every", str(every)]
        seconds, mib, code = measure(args)
        print(
            f"  {steps:>13,} steps, every {every:>2}: {seconds:6.2f} s CPU {mib:7.1f} MiB exit {code}"
        )
    print("fit (results rows)")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (10**4, 10**5, 10**6):
            path = Path(tmp) / f"results-{rows}.csv"
            results_csv(path, rows)
            seconds, mib, code = measure(["fit", str(path), "--format", "json"])
            size = path.stat().st_size / 2**20
            print(
                f"  {rows:>13,} rows ({size:5.1f} MiB): {seconds:6.2f} s CPU {mib:7.1f} MiB exit {code}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
