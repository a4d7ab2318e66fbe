"""``modecollapse train``: train a GAN on a benchmark and count the modes it keeps."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import ConfigError
from ..lab.config import TrainConfig
from ..lab.options import PLAIN, RESUMABLE, add_train_options, config_from_args, with_evaluators, with_monitor
from ..registry import field_values
from ..techniques import TECHNIQUES
from .common import check_out_dir, check_threads, summary

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help=summary("train"),
        description="Train a GAN on a benchmark with known modes and report how many it captures "
        "(modes, hq_fraction, reverse_kl; the VEEGAN/PacGAN protocol). Writes config.json, "
        "metrics.jsonl, summary.json, samples.npy, checkpoint.pt and PNG plots to --out.",
        epilog="Precedence: built-in defaults < --preset < --config < explicit options. "
        "Exit codes: 0 done (or stopped by --on-collapse stop, status collapsed), 1 diverged (NaN/inf loss) or "
        "stopped by an evaluator, 2 bad input, 130 interrupted.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_options(p)

    resumable = ", ".join("--" + n.replace("_", "-") for n in RESUMABLE if n in PLAIN) + ", --evaluator"
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, metavar="DIR", help="run directory to create")
    o.add_argument("--resume", type=Path, metavar="DIR",
                   help=f"continue the run in DIR from its checkpoint. Options that may change on resume: {resumable} "
                   "(and --threads, --quiet, --json); any other config option is refused")
    o.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    o.add_argument("--json", action="store_true", help="print the run summary as one JSON object on stdout")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: 1 for the MLP benchmarks, which slow down sharply "
                        "with more when other jobs share the cores; torch's default for image models). "
                        "Results do not depend on it")
    o.add_argument("--dry-run", action="store_true", help="validate every option, print the resolved config.json and exit")
    # for tests and scripts: stop after N steps in total, as Ctrl-C would (checkpoint at step N)
    o.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def _given_config_options(args: argparse.Namespace) -> list[str]:
    """The config options given on the command line, as the user typed them."""
    given = ["--" + n.replace("_", "-") for n in PLAIN if getattr(args, n) is not None]
    given += [f"--{o}" for o, v in (("data", args.data), ("loss", args.loss), ("preset", args.preset),
                                     ("config", args.config)) if v]
    given += ["--data-arg"] if args.data_arg else []
    given += [f"--{n}" for n in TECHNIQUES.names() if getattr(args, n.replace("-", "_")) is not None]
    return given


def resolve_command(args: argparse.Namespace) -> tuple[TrainConfig, Path | None]:
    """(the config to train, the run directory) from the options; on ``--resume`` the run's
    config.json with the options that may change applied, any other refused."""
    if args.resume:
        if args.out and args.out != args.resume:
            raise ConfigError("give either --out (a new run) or --resume DIR (continue a run), not both.")
        cfg = TrainConfig.load(args.resume / "config.json")
        allowed = {"--" + n.replace("_", "-") for n in RESUMABLE}
        refused = [o for o in _given_config_options(args) if o not in allowed]
        if refused:
            raise ConfigError(f"--resume cannot change {', '.join(refused)}: the run in {args.resume} was trained with "
                              f"its config.json; only {', '.join(sorted(allowed | {'--evaluator'}))} may change "
                              "(start a new run with --config to vary the others).")
        values = cfg.to_dict()
        values.update(field_values(args, [n for n in RESUMABLE if n in PLAIN]))
        if args.evaluator:
            values["evaluators"] = with_evaluators(values.get("evaluators", []), args.evaluator)
        values["evaluators"] = with_monitor(values.get("evaluators", []), args)
        return TrainConfig.from_dict(values), args.resume
    if args.out is None and not args.dry_run:
        raise ConfigError("--out DIR is required: the directory the run writes to.")
    return config_from_args(args), args.out


def report(summary: dict, args: argparse.Namespace, out: Path) -> int:
    """Prints the summary (JSON or one line) and returns the exit code its status means."""
    if args.json:
        print(json.dumps(summary))
    else:
        where = f" on {summary['world_size']} processes" if "world_size" in summary else ""
        print(
            f"{summary['data']}: {summary['modes']}/{summary['num_modes']} modes, "
            f"hq_fraction {summary['hq_fraction']:.3f}, reverse_kl {summary['reverse_kl']:.3f}, "
            f"{summary['steps']} steps{where} in {summary['wall_seconds']:.1f}s, status {summary['status']} -> {out}"
        )
    if summary["status"] != "ok":
        sys.stderr.write(f"modecollapse train: {summary.get('message', summary['status'])}\n")
        if summary["status"] == "collapsed":  # --on-collapse stop did what was asked
            return 0
        return EXIT_INTERRUPTED if summary["status"] == "interrupted" else EXIT_DIVERGED
    return 0


def run(args: argparse.Namespace) -> int:
    from ..lab.train import resolve, train

    cfg, out = resolve_command(args)
    if args.dry_run:
        resolved = resolve(cfg)[0]
        print(json.dumps(resolved.to_dict(), indent=2))
        return 0
    progress = not args.quiet and sys.stderr.isatty()
    check_threads(args.threads)
    if not args.resume:
        check_out_dir(out)  # before the dataset is built
    summary = train(cfg, out, resume=bool(args.resume), overwrite=args.overwrite, progress=progress,
                    threads=args.threads or "auto", stop_after=args.stop_after)
    return report(summary, args, out)
