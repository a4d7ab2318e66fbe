"""Runs the ``papers`` suite's missing runs, one after another, until `modecollapse bench` can.

A stop-gap for issue 15, to be replaced by ``modecollapse bench --suite papers``: it reads
``src/modecollapse/suites/papers.toml`` and trains every (dataset, method, seed) in the
layout bench uses, ``OUT/<dataset>/<method label, filesystem-safe>/seed-<seed>/``, each a
normal ``modecollapse train`` run directory. A run whose ``summary.json`` says ``ok`` and
whose ``config.json`` equals the resolved config (``train --dry-run``) is skipped, so the
sweep continues where it stopped; an unfinished one of the same config continues from its
checkpoint (``train --resume``), any other is trained again from scratch.
Entries marked ``gpu = true`` are skipped unless ``--gpu`` is given. Sequential, one thread
per run (the 2-core budget). Each finished run's wall and CPU time (user + system of the
child process; a resumed run adds a segment) is appended to ``OUT/times.jsonl``.

    PYTHONPATH=src python benchmarks/papers_runs.py --out /work/papers-runs
    PYTHONPATH=src python benchmarks/papers_runs.py --out /work/papers-runs --only ring-metz --seeds 5
    PYTHONPATH=src python benchmarks/papers_runs.py --out /work/papers-runs --report   # tables only

``--report`` trains nothing: it reads the finished runs and writes
``benchmarks/results/papers.md`` and ``papers.json`` (per protocol: plain GAN and technique,
mean ± standard error over the seeds that finished, per-run wall and CPU time, the published
numbers, and the technique's gain over plain marked as the leaderboard marks it: better or
worse by more than two combined standard errors, ``aggregate.versus``).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse.aggregate import mean_se, versus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "src" / "modecollapse" / "suites" / "papers.toml"
RESULTS = ROOT / "benchmarks" / "results"
METRICS = (("modes", True, 1), ("hq_fraction", True, 3), ("reverse_kl", False, 3))
SHORT = {"modes": "modes", "hq_fraction": "hq", "reverse_kl": "rkl"}


def safe_label(label: str) -> str:
    """The method label as one path component: every run of other characters becomes '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")


def train_argv(suite: dict[str, Any], dataset: dict[str, Any], method: dict[str, Any], seed: int, out: Path) -> list[str]:
    args = [*suite.get("defaults", {}).get("options", []), *dataset.get("options", []), *method["options"],
            "--data", dataset["data"]]
    for key, value in dataset.get("args", {}).items():
        args += ["--data-arg", f"{key}={value}"]
    return args + ["--seed", str(seed), "--out", str(out)]


def planned(suite: dict[str, Any], seeds: int, only: set[str], gpu: bool,
            methods_only: set[str] = frozenset()) -> Iterator[tuple[dict, dict, int]]:
    """Dataset by dataset in file order; within one, seed by seed, every method of that seed."""
    for dataset in suite["datasets"]:
        if (only and dataset["name"] not in only) or (dataset.get("gpu", False) and not gpu):
            continue
        methods = [m for m in suite["methods"] if dataset["name"] in m["datasets"]
                   and (not methods_only or m["name"] in methods_only)]
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


def load_times(out: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The last recorded wall / CPU time of each (dataset, method, seed)."""
    times: dict[tuple[str, str, int], dict[str, Any]] = {}
    path = out / "times.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                key = (r["dataset"], r["method"], int(r["seed"]))
                if r.get("resumed") and key in times:  # a resumed run adds its segment to the earlier ones
                    r = {**r, "wall_s": times[key]["wall_s"] + r["wall_s"], "cpu_s": times[key]["cpu_s"] + r["cpu_s"]}
                times[key] = r
    return times


def collect(suite: dict[str, Any], out: Path, seeds: int) -> list[dict[str, Any]]:
    """Per dataset and method: every finished run's summary, time and mode history."""
    times = load_times(out)
    rows = []
    for dataset in suite["datasets"]:
        for method in (m for m in suite["methods"] if dataset["name"] in m["datasets"]):
            runs, unfinished = [], []
            for seed in range(seeds):
                run_dir = out / dataset["name"] / safe_label(method["name"]) / f"seed-{seed}"
                try:
                    history = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
                    summary = json.loads((run_dir / "summary.json").read_text())
                except (OSError, ValueError):
                    continue
                if summary.get("status") != "ok":
                    evals = [h for h in history if "modes" in h]
                    if evals:
                        unfinished.append({"seed": seed, "step": evals[-1]["step"], "of": json.loads(
                            (run_dir / "config.json").read_text())["steps"], "modes": evals[-1]["modes"],
                            "hq_fraction": evals[-1]["hq_fraction"], "reverse_kl": evals[-1]["reverse_kl"],
                            "modes_history": [(h["step"], h["modes"]) for h in evals]})
                    continue
                t = times.get((dataset["name"], method["name"], seed), {})
                runs.append({"seed": seed, **{k: summary[k] for k, _, _ in METRICS}, "steps": summary["steps"],
                             "wall_s": t.get("wall_s", summary.get("wall_seconds")), "cpu_s": t.get("cpu_s"),
                             "modes_history": [(h["step"], h["modes"]) for h in history if "modes" in h]})
            rows.append({"dataset": dataset["name"], "method": method["name"], "cite": method.get("cite", ""),
                         "published": method.get("published", {}).get(dataset["name"], {}), "runs": runs,
                         "unfinished": unfinished})
    return rows


def _cell(values: list[float], digits: int) -> str:
    if not values:
        return "not run"
    m, s = mean_se(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _gain(plain: list[dict], other: list[dict]) -> str:
    """Technique minus plain per metric, marked * (better) / † (worse) by 2 combined s.e."""
    if not plain or not other:
        return "n/a"
    screened = len(plain) >= 2 and len(other) >= 2  # one seed has no standard error to screen with
    parts = []
    for key, higher, digits in METRICS:
        a, b = [r[key] for r in plain], [r[key] for r in other]
        mark = {1: "\\*", -1: "†", 0: ""}[versus(a, b, higher)] if screened else ""
        parts.append(f"{SHORT[key]} {mean_se(b)[0] - mean_se(a)[0]:+.{digits}f}{mark}")
    return ", ".join(parts) + ("" if screened else " (one seed: not screened)")


def _published(p: dict[str, Any]) -> str:
    if not p:
        return ""
    nums = [f"{k} {p[k]}" + (f" ± {p[k + '_se']}" if k + "_se" in p else "") for k, _, _ in METRICS if k in p]
    return (", ".join(nums) + "; " if nums else "") + p.get("source", "")


def write_report(suite: dict[str, Any], out: Path, seeds: int) -> None:
    rows = collect(suite, out, seeds)
    lines = ["# The `papers` suite: each technique on its own paper's protocol", "",
             "Generated by `PYTHONPATH=src python benchmarks/papers_runs.py --out OUT --report` from the runs",
             "under OUT (`src/modecollapse/suites/papers.toml` holds every protocol with its source).",
             "Mean ± standard error over the seeds that finished (n); `\\*` marks a metric better than the",
             "plain GAN's on the same protocol by more than two combined standard errors, `†` one worse by",
             "as much (the leaderboard's screen, not a significance test). Times are per run, on a 2-core",
             "machine shared with ~6 other jobs (load average 3-14): compare them within one table only.", ""]
    by_dataset: dict[str, list[dict]] = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"], []).append(r)
    for dataset in suite["datasets"]:
        group = by_dataset.get(dataset["name"], [])
        args = ", ".join(f"{k}={v}" for k, v in dataset.get("args", {}).items())
        lines += [f"## {dataset['name']}: `--data {dataset['data']}` ({args})" + (" (GPU)" if dataset.get("gpu") else ""), ""]
        if dataset.get("deviations"):
            lines += ["Deviations from the paper: " + " ".join(dataset["deviations"].split()), ""]
        lines += ["| method | n | modes | hq_fraction | reverse_kl | gain over plain | wall / CPU per run (s) | published |",
                  "|---|---|---|---|---|---|---|---|"]
        plain = next((g["runs"] for g in group if g["method"].endswith("/plain")), [])
        for g in group:
            runs = g["runs"]
            cells = [_cell([r[k] for r in runs], d) for k, _, d in METRICS]
            gain = "" if g["method"].endswith("/plain") else _gain(plain, runs)
            t = "not run" if not runs else (f"{mean_se([r['wall_s'] for r in runs])[0]:.0f} / "
                                            + (f"{mean_se([r['cpu_s'] for r in runs if r['cpu_s'] is not None])[0]:.0f}"
                                               if any(r["cpu_s"] is not None for r in runs) else "?"))
            lines.append(f"| `{g['method']}` | {len(runs)} | " + " | ".join(cells) + f" | {gain} | {t} | {_published(g['published'])} |")
        if dataset.get("per_run"):
            lines += ["", f"Cost of one run: {dataset['per_run']}."]
        for g in group:
            for u in g["unfinished"]:
                lines += ["", f"Unfinished, `{g['method']}` seed {u['seed']}: stopped at step {u['step']} of {u['of']}; "
                          f"last evaluation {u['modes']} modes, hq {u['hq_fraction']:.3f}, rkl {u['reverse_kl']:.3f}; modes at "
                          "each evaluation: " + " ".join(str(m) for _, m in u["modes_history"])]
            if g["runs"]:
                lines += ["", f"Per seed, `{g['method']}`: " + "; ".join(
                    f"seed {r['seed']}: {r['modes']} modes, hq {r['hq_fraction']:.3f}, rkl {r['reverse_kl']:.3f}, "
                    f"modes at the evaluations of the second half {min(m for s, m in r['modes_history'] if s > r['steps'] // 2)}"
                    f"-{max(m for s, m in r['modes_history'] if s > r['steps'] // 2)}, {r['wall_s']:.0f} s"
                    for r in g["runs"])]
        lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "papers.md").write_text("\n".join(lines))
    (RESULTS / "papers.json").write_text(json.dumps({"suite": suite["name"], "seeds": seeds, "rows": rows}, indent=1))
    print(f"wrote {RESULTS / 'papers.md'} and papers.json")


def resumable(run_dir: Path, config: dict[str, Any]) -> bool:
    """An interrupted run of the same config, with a checkpoint to continue from."""
    try:
        return (run_dir / "checkpoint.pt").is_file() and json.loads((run_dir / "config.json").read_text()) == config
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="root of the run layout")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: the suite's)")
    parser.add_argument("--only", default="", help="comma-separated dataset names")
    parser.add_argument("--methods", default="", help="comma-separated method labels (default: all)")
    parser.add_argument("--gpu", action="store_true", help="also run entries marked gpu = true")
    parser.add_argument("--suite", type=Path, default=SUITE)
    parser.add_argument("--report", action="store_true", help="write benchmarks/results/papers.{md,json}; train nothing")
    args = parser.parse_args()
    suite = tomllib.loads(args.suite.read_text())
    seeds = args.seeds if args.seeds is not None else int(suite.get("seeds", 5))
    if args.report:
        write_report(suite, args.out, seeds)
        return 0
    only = {s for s in args.only.split(",") if s}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    python = sys.executable
    methods_only = {s for s in args.methods.split(",") if s}
    for dataset, method, seed in planned(suite, seeds, only, args.gpu, methods_only):
        run_dir = args.out / dataset["name"] / safe_label(method["name"]) / f"seed-{seed}"
        argv = train_argv(suite, dataset, method, seed, run_dir)
        config = resolved_config(python, argv, env)
        if finished(run_dir, config):
            continue
        resume = resumable(run_dir, config)
        print(f"[{time.strftime('%H:%M:%S')}] {dataset['name']} {method['name']} seed {seed}"
              + (" (resumed from its checkpoint)" if resume else ""), flush=True)
        command = (["--resume", str(run_dir), "--threads", "1"] if resume else [*argv, "--overwrite"])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([python, "-m", "modecollapse", "train", *command, "--json", "--quiet"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        record = {"dataset": dataset["name"], "method": method["name"], "seed": seed, "rc": done.returncode,
                  "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "resumed": resume, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
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
