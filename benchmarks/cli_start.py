"""Start-up time of the command line against ``python -c "import torch"``, side by side.

Each command runs ``--repeats`` times in a fresh interpreter, interleaved with the baseline
so that load on a shared machine hits both alike; the medians of wall and CPU (user + sys)
time are printed with their ratio to the baseline's. Issue 22 asks for at most 1.3x.

    .venv/bin/python benchmarks/cli_start.py --repeats 7
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "python -c \"import modecollapse\"": [sys.executable, "-c", "import modecollapse"],
    "modecollapse --help": [sys.executable, "-m", "modecollapse", "--help"],
    "modecollapse measure --help": [sys.executable, "-m", "modecollapse", "measure", "--help"],
    "modecollapse train --help": [sys.executable, "-m", "modecollapse", "train", "--help"],
    "modecollapse bench --help": [sys.executable, "-m", "modecollapse", "bench", "--help"],
}


def timed(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in COMMANDS}
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            runs[name].append(timed(cmd))
    base_wall = statistics.median(w for w, _ in runs['python -c "import torch"'])
    base_cpu = statistics.median(c for _, c in runs['python -c "import torch"'])
    print(f"median of {args.repeats} runs each, interleaved; ratio = this / python -c \"import torch\"")
    print(f"{'command':32s} {'wall s':>7s} {'ratio':>6s} {'CPU s':>7s} {'ratio':>6s}")
    for name, vals in runs.items():
        w = statistics.median(v for v, _ in vals)
        c = statistics.median(v for _, v in vals)
        print(f"{name:32s} {w:7.2f} {w / base_wall:6.2f} {c:7.2f} {c / base_cpu:6.2f}")


if __name__ == "__main__":
    main()
