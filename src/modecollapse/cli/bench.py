"""``modecollapse bench`` (a suite's sweep) and ``modecollapse report`` (its HTML page).

The sweep and the report (torch, matplotlib) are imported when a command runs, so that
``bench --help`` and ``report --help`` read only the suites' names."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..bench.suite import builtin_suites, expand, load_suite
from ..errors import ConfigError
from ..fileio import check_out_file
from .common import summary


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help=summary("bench"),
        description="Run every (dataset, method, seed) of a suite as one 'modecollapse train' run in "
        "OUT/<dataset>/<method>/seed-<seed>/, then write leaderboard.json, leaderboard.csv (mean and "
        "standard error over seeds of every summary number, failures counted, published anchors marked) "
        "and report.html. Re-running the same command skips finished runs, resumes interrupted ones "
        "from their checkpoint and retries failed ones; a run whose files are damaged is reported as failed "
        "and left alone unless --retrain-failed.",
        epilog="A suite is a TOML (or YAML) file; see src/modecollapse/bench/suites/quick.toml. "
        "Exit codes: 0 every run finished, 1 some run failed, 2 bad input (an invalid suite, before any "
        "training; or, after the sweep, runs with damaged files left alone).",
    )
    p.add_argument("--suite", required=True, metavar="NAME|FILE",
                   help=f"a built-in suite ({', '.join(builtin_suites())}) or a suite file")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds 0..N-1 (default: the suite's)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="bench directory (created; reused on re-runs)")
    p.add_argument("--only", default="", metavar="A,B", help="run only these methods (comma-separated labels)")
    p.add_argument("--datasets", default="", metavar="A,B",
                   help="run only these datasets (labels); datasets a suite marks gpu = true run only when named here")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray tasks")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local: worker processes (default: the CPU count); ray: CPUs of the local Ray instance")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="ray: join this cluster (e.g. ray://head:10001 or auto) instead of starting a local instance")
    p.add_argument("--cpus-per-run", type=float, default=1.0, metavar="C", help="ray: CPUs each run asks for (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0.0, metavar="G",
                   help="ray: GPUs each run asks for; a fraction (0.25) lets several small runs share one GPU. "
                        "Give the suite '--device cuda' too")
    p.add_argument("--retrain-failed", action="store_true",
                   help="train afresh the runs whose files are damaged (by default they are reported as failed and left alone)")
    p.add_argument("--no-report", action="store_true", help="do not write report.html")
    p.add_argument("--json", action="store_true", help="print the leaderboard as JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="print every run's train command and exit")
    p.set_defaults(handler=run_bench)

    r = sub.add_parser(
        "report",
        help=summary("report"),
        description="Write one HTML file (no network needed; images embedded) from a bench directory or any "
        "run directories: the sortable leaderboard, each method's final samples across seeds, modes and hq "
        "over training, a modes/hq scatter of every run and each run's collapse verdict when the monitor ran.",
    )
    r.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="bench directories, run directories, or folders of runs")
    r.add_argument("--out", type=Path, default=Path("report.html"), metavar="FILE", help="the HTML file (default report.html)")
    r.add_argument("--title", default=None, help="page title")
    r.set_defaults(handler=run_report)


def run_bench(args: argparse.Namespace) -> int:
    from ..bench.leaderboard import run_problem
    from ..bench.sweep import BenchOptions, print_leaderboard, run_suite

    suite = load_suite(args.suite)
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}.")
    only = [m.strip() for m in args.only.split(",") if m.strip()] or None
    if only:
        suite.only(only)
    suite = suite.only_datasets([d.strip() for d in args.datasets.split(",") if d.strip()] or None)
    if args.list:
        for spec in expand(suite, args.seeds):
            if not only or spec.method in only:
                print(spec.command().replace("--out ", f"--out {args.out}/", 1))
        return 0
    opts = BenchOptions(out=args.out, backend=args.backend, workers=args.workers, address=args.address,
                        cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                        progress=not args.quiet and sys.stderr.isatty(), retrain_failed=args.retrain_failed)
    board = run_suite(suite, opts, seeds=args.seeds, only=only, report=not args.no_report)
    damaged = board.pop("damaged", [])
    if args.json:
        print(json.dumps(board))
    else:
        print_leaderboard(board, args.out)
        if not args.no_report:
            print(f"report: {(args.out / 'report.html').resolve()}")
    if damaged:
        first = args.out / damaged[0]
        runs = f"{len(damaged)} runs have damaged files" if len(damaged) > 1 else "a run has a damaged file"
        raise ConfigError(f"{runs}, left alone and listed as failed in the leaderboard (first: "
                          f"{run_problem(first).rstrip('.')}); pass --retrain-failed to train them afresh.")
    failed = sum(r.get("failed", 0) for r in board["rows"] if r["kind"] == "measured")
    return 1 if failed else 0


def run_report(args: argparse.Namespace) -> int:
    from ..bench.report import write_report

    check_out_file(args.out)
    n = write_report(args.dirs, args.out, title=args.title)
    print(f"report: {args.out.resolve()} ({n} runs)")
    return 0
