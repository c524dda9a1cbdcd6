"""Batch benchmark for `dsplan check`: 100 configs in one call against one config (issue #5).

The target is a ratio of at most 2.0 (issues #5 and #17): the start-up (Python, typer, the presets)
is paid once per call, and each further file costs a parse and a few dozen arithmetic operations.
The 100 files are copies of the example configs of every dialect in tests/data/configs/valid
(dsplan, torchtitan, Megatron-LM scripts and argument files, nanotron and OLMo YAML), written to a
temporary folder.
Both commands run alternately, several times, and the medians are compared.

    python bench/check.py [--runs 11] [--files 100]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VALID = Path(__file__).resolve().parent.parent / "tests" / "data" / "configs" / "valid"
# As in bench/startup.py: time dsplan, not the bytecode compiler.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... exited {done.returncode}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--files", type=int, default=100)
    args = parser.parse_args()
    # Configs of every dialect (dsplan, torchtitan, Megatron-LM, nanotron, OLMo) that need no other
    # file (hf_config / hf_assets_path are relative to the original folder).
    sources = [
        p
        for p in sorted(VALID.iterdir())
        if p.suffix in (".toml", ".sh", ".args", ".yaml")
        and "hf_config" not in p.read_text()
        and "hf_assets_path" not in p.read_text()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, src in zip(range(args.files), itertools.cycle(sources)):
            path = Path(tmp) / f"run-{i:03d}{src.suffix}"
            path.write_text(src.read_text())
            paths.append(str(path))
        one = [sys.executable, "-m", "dsplan", "check", paths[0]]
        many = [sys.executable, "-m", "dsplan", "check", *paths]
        wall(one)
        wall(many)  # warm the file cache and the bytecode
        t_one, t_many = [], []
        for _ in range(args.runs):
            t_one.append(wall(one))
            t_many.append(wall(many))
    a, b = statistics.median(t_one), statistics.median(t_many)
    print(f"dsplan check, 1 file:     {a * 1000:7.1f} ms (median of {args.runs})")
    print(f"dsplan check, {args.files} files: {b * 1000:7.1f} ms")
    print(f"ratio:                    {b / a:7.2f}  (target <= 2.00)")
    return 0 if b / a <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
