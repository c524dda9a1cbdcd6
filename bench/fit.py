"""Benchmark: `dsplan fit` core on 10,000 runs with 1,000 bootstrap resamples (target: < 5 s).

Run from the repository root: ``python bench/fit.py``. Not a timed test: the time depends on the
machine; the issue's target is a 2-core machine. The CPU time is printed beside the wall time: on a
shared machine the wall time also counts the other processes' turns.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _synthetic import Law, isoflop_csv

from dsplan.fitting import fit_isoflop, sweep_data

RUNS = 10_000
RESAMPLES = 1_000
TARGET_SECONDS = 5.0


def data(n_budgets: int):  # type: ignore[no-untyped-def]
    import csv
    import io

    import numpy as np

    text = isoflop_csv(
        Law(), budgets=tuple(np.geomspace(1e17, 3e20, n_budgets)), points=RUNS // n_budgets
    )
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    rows = [(i, dict(zip(header, cells, strict=True))) for i, cells in enumerate(reader, start=2)]
    return sweep_data(header, rows, "bench")


def main() -> int:
    worst = 0.0
    for n_budgets in (8, 100, 1000):
        d = data(n_budgets)
        start, cpu = time.perf_counter(), time.process_time()
        fit = fit_isoflop(d, bootstrap=RESAMPLES, seed=0)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        worst = max(worst, seconds)
        lo, hi = fit.model_scaling.exponent_interval or (float("nan"), float("nan"))
        print(
            f"{len(d)} runs in {n_budgets} budgets, {RESAMPLES} resamples: {seconds:.2f} s "
            f"(CPU {cpu:.2f} s) "
            f"(a = {fit.model_scaling.exponent:.4f}, 95% [{lo:.4f}, {hi:.4f}])"
        )
    print(
        f"worst {worst:.2f} s; target {TARGET_SECONDS:.0f} s: {'ok' if worst < TARGET_SECONDS else 'SLOW'}"
    )
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
