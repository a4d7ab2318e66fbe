"""Runs the ``papers`` suite's missing runs, one after another, until `modecollapse bench` can.

A stop-gap for issue 15, to be replaced by ``modecollapse bench --suite papers``: it reads
``src/modecollapse/suites/papers.toml`` and trains every (dataset, method, seed) in the
layout bench uses, ``OUT/<dataset>/<method label, filesystem-safe>/seed-<seed>/``, each a
normal ``modecollapse train`` run directory. A run whose ``summary.json`` says ``ok`` and
whose ``config.json`` equals the resolved config (``train --dry-run``) is skipped, so the
sweep continues where it stopped; an unfinished one is trained again from scratch.
Entries marked ``gpu = true`` are skipped unless ``--gpu`` is given. Sequential, one thread
per run (the 2-core budget). Each finished run's wall and CPU time (user + system of the
child process) is appended to ``OUT/times.jsonl``.

    PYTHONPATH=src python benchmarks/papers_runs.py --out /work/papers-runs
    PYTHONPATH=src python benchmarks/papers_runs.py --out /work/papers-runs --only ring-metz --seeds 5
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "src" / "modecollapse" / "suites" / "papers.toml"


def safe_label(label: str) -> str:
    """The method label as one path component: every run of other characters becomes '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")


def train_argv(suite: dict[str, Any], dataset: dict[str, Any], method: dict[str, Any], seed: int, out: Path) -> list[str]:
    args = [*suite.get("defaults", {}).get("options", []), *dataset.get("options", []), *method["options"],
            "--data", dataset["data"]]
    for key, value in dataset.get("args", {}).items():
        args += ["--data-arg", f"{key}={value}"]
    return args + ["--seed", str(seed), "--out", str(out)]


def planned(suite: dict[str, Any], seeds: int, only: set[str], gpu: bool) -> Iterator[tuple[dict, dict, int]]:
    """Dataset by dataset in file order; within one, seed by seed, every method of that seed."""
    for dataset in suite["datasets"]:
        if (only and dataset["name"] not in only) or (dataset.get("gpu", False) and not gpu):
            continue
        methods = [m for m in suite["methods"] if dataset["name"] in m["datasets"]]
        for seed in range(seeds):
            for method in methods:
                yield dataset, method, seed


def resolved_config(python: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([python, "-m", "modecollapse", "train", *argv, "--dry-run"], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def finished(run_dir: Path, config: dict[str, Any]) -> bool:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        return summary.get("status") == "ok" and json.loads((run_dir / "config.json").read_text()) == config
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="root of the run layout")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: the suite's)")
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    parser.add_argument("--gpu", action="store_true", help="also run entries marked gpu = true")
    parser.add_argument("--suite", type=Path, default=SUITE)
    args = parser.parse_args()
    suite = tomllib.loads(args.suite.read_text())
    seeds = args.seeds if args.seeds is not None else int(suite.get("seeds", 5))
    only = {s for s in args.only.split(",") if s}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    python = sys.executable
    for dataset, method, seed in planned(suite, seeds, only, args.gpu):
        run_dir = args.out / dataset["name"] / safe_label(method["name"]) / f"seed-{seed}"
        argv = train_argv(suite, dataset, method, seed, run_dir)
        config = resolved_config(python, argv, env)
        if finished(run_dir, config):
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {dataset['name']} {method['name']} seed {seed}", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([python, "-m", "modecollapse", "train", *argv, "--overwrite", "--json", "--quiet"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        record = {"dataset": dataset["name"], "method": method["name"], "seed": seed, "rc": done.returncode,
                  "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if done.returncode not in (0, 1):
            record["stderr"] = done.stderr.strip().splitlines()[-1:] if done.stderr.strip() else []
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "times.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"    rc {done.returncode}, {wall:.0f} s wall, {cpu:.0f} s cpu: {done.stdout.strip()[:300]}", flush=True)
        if done.returncode == 130:
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
