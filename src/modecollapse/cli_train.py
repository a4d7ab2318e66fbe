"""``modecollapse train``: train a GAN on a benchmark and count the modes it keeps."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .cli import check_threads
from .config import TechniqueSpec, TrainConfig
from .data import DATASETS
from .errors import ConfigError
from .losses import LOSSES
from .presets import PRESETS, preset_values
from .registry import describe_params, params_from_strings, parse_pairs
from .techniques import TECHNIQUES

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130

# option name -> (TrainConfig field, type, help); defaults shown come from TrainConfig
_PLAIN_OPTIONS = [
    ("--arch", "arch", str, "model architecture: auto, mlp, dcgan, dcgan-small (auto: dcgan-small for images, else mlp)"),
    ("--latent-dim", "latent_dim", int, "size of the generator's latent vector z"),
    ("--g-width", "g_width", int, "hidden width of the generator"),
    ("--g-depth", "g_depth", int, "hidden layers of the generator"),
    ("--d-width", "d_width", int, "hidden width of the discriminator"),
    ("--d-depth", "d_depth", int, "hidden layers of the discriminator"),
    ("--activation", "activation", str, "hidden activation: relu, leaky_relu, tanh, elu, silu"),
    ("--d-norm", "d_norm", str, "discriminator normalisation: none, batch, layer, instance, spectral "
                                "(batch leaks batch statistics into D's verdict; spectral is --spectral-norm where=d)"),
    ("--steps", "steps", int, "generator steps"),
    ("--batch-size", "batch_size", int, "samples per batch (a large batch is itself a technique)"),
    ("--n-critic", "n_critic", int, "discriminator steps per generator step"),
    ("--lr-g", "lr_g", float, "generator learning rate (Adam)"),
    ("--lr-d", "lr_d", float, "discriminator learning rate; lr-d > lr-g is the two time-scale update rule"),
    ("--beta1", "beta1", float, "Adam beta1"),
    ("--beta2", "beta2", float, "Adam beta2"),
    ("--seed", "seed", int, "random seed: the same seed gives the same run on CPU"),
    ("--eval-every", "eval_every", int, "steps between evaluations appended to metrics.jsonl"),
    ("--eval-samples", "eval_samples", int, "samples per evaluation; 0: the benchmark's protocol (2500 for the mixtures, 26000 for stacked-mnist)"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between checkpoints"),
    ("--device", "device", str, "cpu or cuda[:N]"),
]


def add_parser(sub) -> None:
    defaults = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a GAN on a benchmark and count its modes",
        description="Train a GAN on a benchmark with known modes and report how many it captures "
        "(modes, hq_fraction, reverse_kl; the VEEGAN/PacGAN protocol). Writes config.json, "
        "metrics.jsonl, summary.json, samples.npy, checkpoint.pt and PNG plots to --out.",
        epilog="Precedence: built-in defaults < --preset < --config < explicit options. "
        "Exit codes: 0 done, 1 diverged (NaN/inf loss), 2 bad input, 130 interrupted.",
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

    m = p.add_argument_group("models, optimisation and bookkeeping")
    for flag, field, typ, text in _PLAIN_OPTIONS:
        m.add_argument(flag, dest=field, type=typ, default=None, help=f"{text} (default {getattr(defaults, field)})")

    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, metavar="DIR", help="run directory to create")
    o.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR from its checkpoint (--steps may extend it)")
    o.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    o.add_argument("--json", action="store_true", help="print the run summary as one JSON object on stdout")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: 1 for the MLP benchmarks, which slow down sharply "
                        "with more when other jobs share the cores; torch's default for image models). "
                        "Results do not depend on it")
    o.add_argument("--dry-run", action="store_true", help="print the resolved config.json and exit")
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
    for _, field, _, _ in _PLAIN_OPTIONS:
        if getattr(args, field) is not None:
            values[field] = getattr(args, field)
    techniques = {t["name"]: t for t in values.get("techniques", [])}
    for name, cls in TECHNIQUES.items():
        text = getattr(args, name.replace("-", "_"))
        if text is not None:
            params = params_from_strings(cls.Params, parse_pairs(text, f"--{name}"), f"--{name}")
            techniques[name] = {"name": name, "params": dataclasses.asdict(params)}
    values["techniques"] = list(techniques.values())
    return TrainConfig.from_dict(values)


def _typed_data_args(data: str, pairs: dict[str, str]) -> dict:
    """Converts ``--data-arg`` strings to the dataset's parameter types (validating them)."""
    from .registry import params_from_strings

    parsed = params_from_strings(DATASETS.get(data), pairs, f"dataset {data!r}")
    return {key: getattr(parsed, key) for key in pairs}


def run(args: argparse.Namespace) -> int:
    from .train import resolve, train

    if args.resume:
        if args.out and args.out != args.resume:
            raise ConfigError("give either --out (a new run) or --resume DIR (continue a run), not both.")
        cfg = TrainConfig.load(args.resume / "config.json")
        if args.steps is not None:
            cfg.steps = args.steps
        out = args.resume
    else:
        if args.out is None and not args.dry_run:
            raise ConfigError("--out DIR is required: the directory the run writes to.")
        cfg = config_from_args(args)
        out = args.out
    if args.dry_run:
        resolved = resolve(cfg)[0]
        print(json.dumps(resolved.to_dict(), indent=2))
        return 0
    progress = not args.quiet and sys.stderr.isatty()
    check_threads(args.threads)
    summary = train(cfg, out, resume=bool(args.resume), overwrite=args.overwrite, progress=progress,
                    threads=args.threads or "auto")
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['data']}: {summary['modes']}/{summary['num_modes']} modes, "
            f"hq_fraction {summary['hq_fraction']:.3f}, reverse_kl {summary['reverse_kl']:.3f}, "
            f"{summary['steps']} steps in {summary['wall_seconds']:.1f}s, status {summary['status']} -> {out}"
        )
    if summary["status"] != "ok":
        sys.stderr.write(f"modecollapse train: {summary.get('message', summary['status'])}\n")
        return EXIT_DIVERGED if summary["status"] == "diverged" else EXIT_INTERRUPTED
    return 0
