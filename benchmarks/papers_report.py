"""The `papers` suite's tables: each technique against the plain GAN on its own paper's protocol.

``modecollapse bench --suite papers --out OUT`` trains the runs (restartable; protocols marked
``gpu = true`` only when named with ``--datasets``); this script reads them from bench's
layout, ``OUT/<dataset>/<method, filesystem-safe>/seed-<seed>/``, and writes
``benchmarks/results/papers.md`` and ``papers.json``: per protocol, plain GAN and technique,
mean ± standard error over the seeds that finished, per-run wall time (and CPU time where an
``OUT/times.jsonl`` recorded it), the published numbers, and the technique's gain over plain
marked as the leaderboard marks it: better or worse by more than two combined standard
errors (``aggregate.versus``). Unfinished runs are listed with their last evaluation.

    modecollapse bench --suite papers --out runs/papers --datasets ring-metz
    PYTHONPATH=src python benchmarks/papers_report.py --out runs/papers
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse.bench.aggregate import mean_se, versus  # noqa: E402
from modecollapse.bench.suite import safe_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "src" / "modecollapse" / "suites" / "papers.toml"
RESULTS = ROOT / "benchmarks" / "results"
# final modes, hq and reverse KL; and the fewest modes at any evaluation of the second half of
# training, which catches the mode hopping that a good final evaluation can hide
METRICS = (("modes", True, 1), ("modes_late_min", True, 1), ("hq_fraction", True, 3), ("reverse_kl", False, 3))
SHORT = {"modes": "modes", "modes_late_min": "late min", "hq_fraction": "hq", "reverse_kl": "rkl"}


def late_range(history: list[tuple[int, int]], steps: int) -> tuple[int, int]:
    """The fewest and the most modes at the evaluations after the first half of ``steps``."""
    late = [m for s, m in history if s > steps // 2]
    return min(late), max(late)


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
                run_dir = out / dataset["name"] / safe_name(method["name"]) / f"seed-{seed}"
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
                modes_history = [(h["step"], h["modes"]) for h in history if "modes" in h]
                low, high = late_range(modes_history, summary["steps"])
                runs.append({"seed": seed, **{k: summary[k] for k in ("modes", "hq_fraction", "reverse_kl")},
                             "modes_late_min": low, "modes_late_max": high, "steps": summary["steps"],
                             "wall_s": t.get("wall_s", summary.get("wall_seconds")), "cpu_s": t.get("cpu_s"),
                             "modes_history": modes_history})
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
             "Generated by `PYTHONPATH=src python benchmarks/papers_report.py --out OUT` from the runs",
             "that `modecollapse bench --suite papers --out OUT` made (`src/modecollapse/bench/suites/papers.toml` holds",
             "every protocol with its source).",
             "Mean ± standard error over the seeds that finished (n); `\\*` marks a metric better than the",
             "plain GAN's on the same protocol by more than two combined standard errors, `†` one worse by",
             "as much (the leaderboard's screen, not a significance test). \"Fewest modes, 2nd half\" is the",
             "lowest mode count at any evaluation after the first half of training: a run that hops between",
             "modes can end on a good evaluation, and this column shows the hopping. Times are wall time per",
             "run on a 2-core machine shared with other jobs (2 runs at a time, load average 2-17), with the",
             "CPU time where it was recorded: compare them within one table only.", ""]
    by_dataset: dict[str, list[dict]] = {}
    for r in rows:
        by_dataset.setdefault(r["dataset"], []).append(r)
    for dataset in suite["datasets"]:
        group = by_dataset.get(dataset["name"], [])
        args = ", ".join(f"{k}={v}" for k, v in dataset.get("args", {}).items())
        lines += [f"## {dataset['name']}: `--data {dataset['data']}` ({args})" + (" (GPU)" if dataset.get("gpu") else ""), ""]
        if dataset.get("deviations"):
            lines += ["Deviations from the paper: " + " ".join(dataset["deviations"].split()), ""]
        lines += ["| method | n | modes | fewest modes, 2nd half | hq_fraction | reverse_kl | gain over plain | "
                  "wall (/ CPU) per run (s) | published |",
                  "|---|---|---|---|---|---|---|---|---|"]
        # each technique against the plain GAN of its own group ("pacgan-10k/pack4" -> "pacgan-10k/plain")
        plains = {g["method"].split("/")[0]: g["runs"] for g in group if g["method"].endswith("/plain")}
        for g in group:
            runs = g["runs"]
            cells = [_cell([r[k] for r in runs], d) for k, _, d in METRICS]
            gain = "" if g["method"].endswith("/plain") else _gain(plains.get(g["method"].split("/")[0], []), runs)
            t = "not run" if not runs else (f"{mean_se([r['wall_s'] for r in runs])[0]:.0f}"
                                            + (f" / {mean_se([r['cpu_s'] for r in runs if r['cpu_s'] is not None])[0]:.0f}"
                                               if any(r["cpu_s"] is not None for r in runs) else ""))
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
                    f"modes at the evaluations of the second half {r['modes_late_min']}-{r['modes_late_max']}, "
                    f"{r['wall_s']:.0f} s"
                    for r in g["runs"])]
        lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "papers.md").write_text("\n".join(lines))
    (RESULTS / "papers.json").write_text(json.dumps({"suite": suite["name"], "seeds": seeds, "rows": rows}, indent=1))
    print(f"wrote {RESULTS / 'papers.md'} and papers.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the bench directory of the papers suite")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: the suite's)")
    parser.add_argument("--suite", type=Path, default=SUITE)
    args = parser.parse_args()
    suite = tomllib.loads(args.suite.read_text())
    write_report(suite, args.out, args.seeds if args.seeds is not None else int(suite.get("seeds", 5)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
