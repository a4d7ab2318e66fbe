"""CollapseMonitor overhead: a monitored lab run against the same run unmonitored.

Both run the same lab training (``build_run`` / ``train_step``, the ``vanilla`` preset's
networks) for the same steps; the monitored one also draws ``batch_size`` (512) generator
samples every ``check_every`` (100, the default) steps and calls ``monitor.update``. They
run interleaved (plain, monitored, plain, ...) in one process so machine noise hits both
alike. Prints the time of each, the overhead in percent, and the cost of one check as a
fraction of one training step. Per benchmark: ring (2D) and highdim (1200-D).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/monitor_overhead.py [--steps 1000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse import CollapseMonitor, TrainConfig  # noqa: E402
from modecollapse.lab.presets import preset_values  # noqa: E402
from modecollapse.lab.train import build_run, generate, train_step  # noqa: E402


def timed(data: str, steps: int, monitor: CollapseMonitor | None) -> tuple[float, float, int]:
    """(seconds of the whole loop, seconds inside the monitor incl. sampling, checks)."""
    values = preset_values("vanilla", data)
    values.update(steps=steps, seed=0)
    run = build_run(TrainConfig.from_dict(values))
    every = monitor.settings.check_every if monitor else 0
    in_monitor, checks = 0.0, 0
    t0 = time.perf_counter()
    while run.step < steps:
        train_step(run)
        if monitor is not None and run.step % every == 0:
            t1 = time.perf_counter()
            monitor.update(run.step, fake=generate(run, monitor.settings.batch_size, seed=run.step))
            in_monitor += time.perf_counter() - t1
            checks += 1
    return time.perf_counter() - t0, in_monitor, checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default="ring,highdim")
    ap.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for data in args.data.split(","):
        from modecollapse.data import build_dataset

        real = build_dataset(data, {}).sample(4096, torch.Generator().manual_seed(1))
        plain, watched, inside, per_check = [], [], [], []
        for _ in range(args.repeats):
            plain.append(timed(data, args.steps, None)[0])
            monitor = CollapseMonitor(real=real)
            total, mon, checks = timed(data, args.steps, monitor)
            watched.append(total)
            inside.append(mon)
            per_check.append(mon / max(checks, 1))
        p, w = statistics.median(plain), statistics.median(watched)
        step = (p / args.steps)
        row = {"steps": args.steps, "check_every": monitor.settings.check_every, "repeats": args.repeats,
               "plain_seconds": p, "monitored_seconds": w, "overhead_percent": 100 * (w - p) / p,
               "monitor_share_percent": 100 * statistics.median(inside) / w,
               "check_seconds": statistics.median(per_check), "step_seconds": step,
               "check_in_steps": statistics.median(per_check) / step}
        results[data] = row
        print(f"{data}: plain {p:.2f}s, monitored {w:.2f}s over {args.steps} steps -> overhead {row['overhead_percent']:+.1f}% "
              f"(time inside the monitor incl. sampling: {row['monitor_share_percent']:.1f}%); one check = "
              f"{row['check_seconds'] * 1000:.1f} ms = {row['check_in_steps']:.2f} training steps "
              f"(at one check per {row['check_every']} steps: {100 * row['check_in_steps'] / row['check_every']:.1f}%)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
