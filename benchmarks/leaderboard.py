"""The technique leaderboard on the 2D mixtures as Markdown (the README's tables), over
``modecollapse bench --suite ring-grid``: bench runs (or reuses) the runs, this script only
turns its leaderboard into Markdown. One runner, not two.

    python benchmarks/leaderboard.py --seeds 5 --workers 2          # everything (restartable)
    python benchmarks/leaderboard.py --seeds 2 --only plain,pack,best
    python benchmarks/leaderboard.py --suite my-suite.toml --results ''   # any suite, print only

Equivalent to ``modecollapse bench --suite ring-grid --seeds 5 --out runs/leaderboard`` followed
by the tables. Writes RESULTS/leaderboard.md and RESULTS/leaderboard.json (bench's leaderboard
plus every run's summary). The suite (src/modecollapse/bench/suites/ring-grid.toml) says what each
row trains: the plain GAN of ``--preset vanilla`` with one technique or loss on top, and
``--preset best`` with its ablation.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse.bench.suite import Suite, expand, load_suite  # noqa: E402
from modecollapse.bench.sweep import BenchOptions, collect, run_suite  # noqa: E402
from modecollapse.errors import ConfigError  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHORT = {"modes": "modes", "hq_fraction": "hq", "reverse_kl": "rkl"}


def option_text(suite: Suite, method: str) -> str:
    """The method's options as typed, without the ``--preset vanilla`` every row shares."""
    words = list(next(m for m in suite.methods if m.name == method).options)
    if words[:2] == ["--preset", "vanilla"]:
        words = words[2:]
    return " ".join(words) or "(none)"


def _cell(row: dict[str, Any], key: str, digits: int) -> str:
    c = row["metrics"].get(key)
    if c is None:
        return "-"
    if c["se"] is None:
        return f"{c['mean']:.{digits}f}"
    mark = {1: "\\*", -1: "†"}.get(row.get("vs_baseline", {}).get(key, 0), "")
    return f"{c['mean']:.{digits}f} ± {c['se']:.{digits}f}{mark}"


def _verdict_text(marks: dict[str, int]) -> str:
    better = [SHORT[k] for k, s in marks.items() if s > 0]
    worse = [SHORT[k] for k, s in marks.items() if s < 0]
    parts = ([f"better {', '.join(better)}"] if better else []) + ([f"worse {', '.join(worse)}"] if worse else [])
    return "; ".join(parts) or "no clear difference"


def markdown(board: dict[str, Any], suite: Suite, command: str) -> str:
    """Per dataset: every row with mean ± s.e. and its marks against the baseline, the
    published anchors, and the rows that did not restore modes; then ring and grid side by side."""
    base = board.get("baseline") or "plain"
    lines = [f"Command: `{command}`", "",
             f"*vs {base}*: a metric counts as better or worse when the means differ by more than two "
             "combined standard errors (a rough screen over a few seeds, not a significance test).", ""]
    datasets = list(dict.fromkeys(r["dataset"] for r in board["rows"]))
    for data in datasets:
        lines += [f"### {data}", "", f"| technique | option | steps | seeds | modes | hq_fraction | reverse_kl | vs {base} | mean run time (s) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        no_help = []
        for row in (r for r in board["rows"] if r["dataset"] == data):
            if row["kind"] == "published":
                lines.append(f"| {row['method']} ({row.get('source', '')}) | published | | | {_cell(row, 'modes', 1)} | "
                             f"{_cell(row, 'hq_fraction', 3)} | {_cell(row, 'reverse_kl', 3)} | | |")
                continue
            marks = row.get("vs_baseline")
            if marks and marks.get("modes", 0) <= 0 and marks.get("reverse_kl", 0) <= 0:
                no_help.append(row["method"])
            note = ", ".join(x for x in (f"{row['failed']} failed" if row["failed"] else "",
                                         f"{row['not_ok']} diverged" if row.get("not_ok") else "") if x)
            steps = row["metrics"].get("steps", {}).get("mean")
            wall = row.get("time", {}).get("wall_seconds", {}).get("mean")
            lines.append(f"| {row['method']}{f' ({note})' if note else ''} | `{option_text(suite, row['method'])}` | "
                         f"{'' if steps is None else f'{steps:.0f}'} | {row['seeds']} | {_cell(row, 'modes', 1)} | "
                         f"{_cell(row, 'hq_fraction', 3)} | {_cell(row, 'reverse_kl', 3)} | "
                         f"{_verdict_text(marks) if marks else ''} | {'' if wall is None else f'{wall:.0f}'} |")
        lines.append("")
        if no_help:
            lines += [f"Did not restore modes on {data} (neither modes nor reverse_kl better than {base}): "
                      + ", ".join(no_help) + ".", ""]
    pair = [d for d in ("ring", "grid") if d in datasets]
    if len(pair) == 2:
        lines += ["### ring and grid side by side", "",
                  "| technique | option | " + " | ".join(f"{d} modes | {d} hq | {d} rkl" for d in pair) + " |",
                  "|" + "---|" * (2 + 3 * len(pair))]
        rows = {(r["dataset"], r["method"], r["kind"]): r for r in board["rows"]}
        names = list(dict.fromkeys((r["method"], r["kind"]) for r in board["rows"] if r["dataset"] in pair))
        for method, kind in names:
            cells = [method, "published" if kind == "published" else f"`{option_text(suite, method)}`"]
            for d in pair:
                row = rows.get((d, method, kind))
                cells += ["-", "", ""] if row is None else [_cell(row, k, n) for k, n in (("modes", 1), ("hq_fraction", 3), ("reverse_kl", 3))]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="ring-grid", help="built-in suite or suite file (default ring-grid)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default: the suite's, 5)")
    ap.add_argument("--only", default="", help="comma-separated method labels (default all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/leaderboard"), help="the bench directory")
    ap.add_argument("--results", default=str(RESULTS), help="where leaderboard.json/.md go ('' to print only)")
    ap.add_argument("--no-report", action="store_true", help="do not write OUT/report.html")
    args = ap.parse_args()
    only = [m.strip() for m in args.only.split(",") if m.strip()] or None
    try:
        suite = load_suite(args.suite)
        if only:
            suite.only(only)
        started = time.time()
        board = run_suite(suite, BenchOptions(out=args.out, workers=args.workers, progress=sys.stderr.isatty()),
                          seeds=args.seeds, only=only, report=not args.no_report)
    except ConfigError as err:
        sys.stderr.write(f"leaderboard.py: error: {err}\n")
        return 2
    command = "python benchmarks/leaderboard.py " + " ".join(sys.argv[1:])
    text = markdown(board, suite, command)
    timing = f"This invocation: {(time.time() - started) / 60:.1f} min of wall time, {args.workers} workers."
    print(text + "\n" + timing)
    if args.results:  # '' skips writing (Path('') would mean the current directory)
        results = Path(args.results)
        results.mkdir(parents=True, exist_ok=True)
        runs = [{**r.summary, "dataset": r.dataset, "entry": r.method}
                for r in collect(expand(suite, args.seeds), args.out) if r.summary is not None]
        suffix = "" if suite.name == "ring-grid" and not only else f"-{suite.name}"
        (results / f"leaderboard{suffix}.json").write_text(json.dumps({"command": command, **board, "runs": runs}, indent=1) + "\n")
        (results / f"leaderboard{suffix}.md").write_text(text + "\n" + timing + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
