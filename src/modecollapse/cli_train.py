"""``modecollapse train``: train a GAN on a benchmark and count the modes it keeps."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .cli_common import add_field_options, check_out_dir, check_threads, field_values, plain_fields
from .config import TechniqueSpec, TrainConfig
from .data import DATASETS
from .errors import ConfigError
from .losses import LOSSES
from .presets import PRESETS, preset_values
from .registry import describe_params, params_from_dict, params_from_strings, parse_pairs
from .techniques import TECHNIQUES

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130

# The plain options (--arch ... --device) are generated from TrainConfig's fields, help text
# included (config.py); the options below set the fields that are not one value each.
PLAIN = [f.name for f in plain_fields(TrainConfig)]
#: options that --resume applies; every other config option is refused there (naming it)
RESUMABLE = [f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("resume")]


def add_parser(sub) -> None:
    defaults = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a GAN on a benchmark and count its modes",
        description="Train a GAN on a benchmark with known modes and report how many it captures "
        "(modes, hq_fraction, reverse_kl; the VEEGAN/PacGAN protocol). Writes config.json, "
        "metrics.jsonl, summary.json, samples.npy, checkpoint.pt and PNG plots to --out.",
        epilog="Precedence: built-in defaults < --preset < --config < explicit options. "
        "Exit codes: 0 done (or stopped by --on-collapse stop, status collapsed), 1 diverged (NaN/inf loss) or "
        "stopped by an evaluator, 2 bad input, 130 interrupted.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("benchmark and objective")
    g.add_argument("--data", choices=DATASETS.names(), metavar="NAME",
                   help=f"benchmark: {', '.join(DATASETS.names())} (default {defaults.data})")
    data_help = "; ".join(f"{n}: {describe_params(c)}" for n, c in DATASETS.items())
    g.add_argument("--data-arg", action="append", default=[], metavar="KEY=VALUE",
                   help=f"benchmark parameter, repeatable. Parameters and defaults - {data_help}")
    g.add_argument("--loss", metavar="NAME", help=f"adversarial loss: {', '.join(LOSSES.names())} (default {defaults.loss})")
    g.add_argument("--preset", choices=sorted(PRESETS), metavar="NAME",
                   help="; ".join(f"{k}: {v.description}" for k, v in sorted(PRESETS.items())))
    g.add_argument("--config", type=Path, metavar="FILE", help="start from a run's config.json (to rerun or vary it)")

    t = p.add_argument_group("anti-collapse techniques (each optional KEY=VALUE,... sets its parameters)")
    for name, cls in TECHNIQUES.items():
        t.add_argument(f"--{name}", nargs="?", const="", default=None, metavar="K=V,...",
                       help=f"{cls.summary} [{describe_params(cls.Params) or 'no parameters'}]")

    from .evaluators import EVALUATORS

    t.add_argument("--evaluator", action="append", default=[], metavar="NAME[:K=V,...]",
                   help="add a training-time evaluator, repeatable: " + "; ".join(
                       f"{n}: {c.summary}" for n, c in EVALUATORS.items()))
    w = p.add_argument_group("collapse monitor (CollapseMonitor, from real data only)")
    w.add_argument("--monitor", action="store_true",
                   help="judge every evaluation: monitor_verdict and monitor_reason in metrics.jsonl, the final "
                        "verdict, reason and collapse_step in summary.json, the verdict in the progress bar")
    w.add_argument("--on-collapse", choices=["none", "stop", "rollback"], default=None,
                   help="stop: end a collapsed run (status collapsed, exit 0); rollback: at the first alarm go back "
                        "to the last checkpoint (taken while healthy) and switch --cure on (implies --monitor)")
    w.add_argument("--cure", metavar="TECHNIQUE[:K=V,...]", default=None,
                   help="the technique --on-collapse rollback switches on, e.g. gp:kind=r1,weight=1")

    m = p.add_argument_group("models, optimisation and bookkeeping")
    add_field_options(m, TrainConfig)

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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """defaults < preset < --config < explicit options, validated."""
    values: dict = {}
    if args.preset:
        values.update(preset_values(args.preset, args.data or "ring"))
    if args.config:
        values.update(TrainConfig.load(args.config).to_dict())
        values["techniques"] = [dataclasses.asdict(t) if isinstance(t, TechniqueSpec) else t for t in values["techniques"]]
    if args.data:
        if values.get("data") not in (None, args.data):
            values["data_args"] = {}
        values["data"] = args.data
    if args.data_arg:
        pairs: dict[str, str] = {}
        for item in args.data_arg:
            parsed = parse_pairs(item, "--data-arg")
            if not parsed:
                raise ConfigError("--data-arg needs key=value, e.g. --data-arg modes=8.")
            pairs.update(parsed)
        data = values.get("data", TrainConfig.data)
        values["data_args"] = {**values.get("data_args", {}), **_typed_data_args(data, pairs)}
    if args.loss:
        values["loss"] = args.loss
    values.update(field_values(args, PLAIN))
    techniques = {t["name"]: t for t in values.get("techniques", [])}
    for name, cls in TECHNIQUES.items():
        text = getattr(args, name.replace("-", "_"))
        if text is not None:
            params = params_from_strings(cls.Params, parse_pairs(text, f"--{name}"), f"--{name}")
            techniques[name] = {"name": name, "params": dataclasses.asdict(params)}
    values["techniques"] = list(techniques.values())
    if args.evaluator:
        values["evaluators"] = _evaluators(values.get("evaluators", []), args.evaluator)
    values["evaluators"] = _monitor(values.get("evaluators", []), args)
    return TrainConfig.from_dict(values)


def _monitor(current: list, args: argparse.Namespace) -> list:
    """``--monitor``, ``--on-collapse`` and ``--cure``: the ``monitor`` evaluator's entry (its
    cure holds ':' and ',', which ``--evaluator NAME:K=V,...`` cannot carry)."""
    if not (args.monitor or args.on_collapse or args.cure):
        return list(current)
    from .monitor.lab import MonitorParams

    out = {(e["name"] if isinstance(e, dict) else e.name): (e if isinstance(e, dict) else dataclasses.asdict(e))
           for e in current}
    params = dict(out.get("monitor", {}).get("params", {}))
    if args.on_collapse:
        params["on_collapse"] = args.on_collapse
    if args.cure:
        params["cure"] = args.cure
    params_from_dict(MonitorParams, params, "the monitor evaluator")  # typed and validated: one sentence if not
    out["monitor"] = {"name": "monitor", "params": params}
    return list(out.values())


def _evaluators(current: list, given: list[str]) -> list[dict]:
    """``--evaluator NAME[:K=V,...]`` added to (or replacing the parameters of) ``current``."""
    from .evaluators import EVALUATORS

    out = {(e["name"] if isinstance(e, dict) else e.name): (e if isinstance(e, dict) else dataclasses.asdict(e))
           for e in current}
    for text in given:
        name, _, rest = text.partition(":")
        cls = EVALUATORS.get(name.strip())
        params = params_from_strings(cls.Params, parse_pairs(rest, f"--evaluator {name}"), f"--evaluator {name}")
        out[cls.name] = {"name": cls.name, "params": dataclasses.asdict(params)}
    return list(out.values())


def _typed_data_args(data: str, pairs: dict[str, str]) -> dict:
    """Converts ``--data-arg`` strings to the dataset's parameter types (validating them)."""
    from .registry import params_from_strings

    cls = DATASETS.get(data)
    parsed = params_from_strings(cls, pairs, f"dataset {data!r}")
    new_names = getattr(cls, "RENAMED", {})  # an old name given: the value under its new name
    return {new_names.get(key, key): getattr(parsed, new_names.get(key, key)) for key in pairs}


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
            values["evaluators"] = _evaluators(values.get("evaluators", []), args.evaluator)
        values["evaluators"] = _monitor(values.get("evaluators", []), args)
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
    from .train import resolve, train

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
