"""Cost per training step of each technique relative to the plain GAN, measured side by side.

Builds one run per method of the leaderboard's suite (``bench --suite ring-grid``, which
benchmarks/leaderboard.py reports: the plain GAN, each technique alone on top of it, the best
combination and its ablation), with the suite's options for ``--data``, and times their steps round-robin in
one process with one thread: every round gives each run ``--steps`` steps in turn, so a
change in machine load affects all of them alike. A step is one generator update with its
``n_critic`` discriminator updates. Prints ms per step and the ratio to ``plain`` (median of
the rounds).

    .venv/bin/python benchmarks/technique_cost.py                     # ring, 7 rounds of 40 steps
    .venv/bin/python benchmarks/technique_cost.py --data grid --json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse.bench.suite import expand, load_suite  # noqa: E402
from modecollapse.lab.train import build_run, train_step  # noqa: E402

SUITE = "ring-grid"


def entries(data: str) -> dict:
    """The suite's methods on dataset ``data`` (seed 0): name -> (RunSpec, the method's own options)."""
    suite = load_suite(SUITE)
    own = {m.name: " ".join(m.options) for m in suite.methods}
    specs = [s for s in expand(suite, seeds=1) if s.dataset == data]
    if not specs:
        names = sorted({s.dataset for s in expand(load_suite(SUITE), seeds=1)})
        raise SystemExit(f"error: the {SUITE} suite has no dataset {data!r}; it has {', '.join(names)}")
    bad = [s for s in specs if s.config is None]
    if bad:
        raise SystemExit(f"error: the {SUITE} suite's method {bad[0].method!r} is invalid: {bad[0].error}")
    return {s.method: (s, own[s.method]) for s in specs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="ring")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=40, help="steps per run per round")
    ap.add_argument("--only", default="", help="comma-separated entries (default all; plain is always timed)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    specs = entries(args.data)
    names = [e.strip() for e in args.only.split(",") if e.strip()] or list(specs)
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise SystemExit(f"error: no method {unknown[0]!r} in the {SUITE} suite on {args.data}; it has {', '.join(specs)}")
    names = ["plain"] + [n for n in names if n != "plain"]
    runs = {n: build_run(specs[n][0].config) for n in names}
    for run in runs.values():  # warm-up: first-call allocations, Adam state
        for _ in range(5):
            train_step(run)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for n, run in runs.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                train_step(run)
            times[n].append((time.perf_counter() - t) / args.steps * 1000)
    plain = statistics.median(times["plain"])
    rows = []
    for n in names:
        ms = statistics.median(times[n])
        # a ratio of medians per round would ignore load drift between runs; the median of
        # the per-round ratios compares runs timed seconds apart
        ratio = statistics.median(t / p for t, p in zip(times[n], times["plain"]))
        rows.append({"entry": n, "option": specs[n][1], "ms_per_step": round(ms, 2), "ratio": round(ratio, 2),
                     "batch_size": runs[n].cfg.batch_size, "n_critic": runs[n].cfg.n_critic})
    if args.json:
        print(json.dumps({"data": args.data, "plain_ms_per_step": plain, "rows": rows}))
        return
    print(f"{args.data}: plain GAN {plain:.2f} ms per step ({runs['plain'].cfg.batch_size} samples, one thread)")
    print("| technique | option | ms / step | cost vs plain |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['entry']} | `{r['option']}` | {r['ms_per_step']:.2f} | {r['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
