"""The options of ``modecollapse train`` as the lab's vocabulary: the argument groups and the
:class:`~modecollapse.lab.config.TrainConfig` they give (defaults < ``--preset`` <
``--config`` < explicit options). The command line (:mod:`modecollapse.cli.train`) and bench
suites (:func:`modecollapse.bench.suite.train_config`, whose methods are lists of these
words) both read them here, so the library never imports its command line.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..data import DATASETS
from ..errors import ConfigError
from ..registry import (
    add_field_options,
    describe_params,
    field_values,
    params_from_dict,
    params_from_strings,
    parse_pairs,
    plain_fields,
)
from ..techniques import TECHNIQUES
from .config import TechniqueSpec, TrainConfig
from .evaluators import EVALUATORS
from .losses import LOSSES
from .presets import PRESETS, preset_values

# The plain options (--arch ... --device) are generated from TrainConfig's fields, help text
# included (config.py); the options below set the fields that are not one value each.
PLAIN = [f.name for f in plain_fields(TrainConfig)]
#: options that --resume applies; every other config option is refused there (naming it)
RESUMABLE = [f.name for f in dataclasses.fields(TrainConfig) if f.metadata.get("resume")]


def add_train_options(p: argparse.ArgumentParser) -> None:
    """The option groups of ``modecollapse train`` (benchmark, techniques, monitor, models)
    added to ``p``; the output options (``--out``, ``--resume`` ...) are the command's own."""
    defaults = TrainConfig()
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
        values["evaluators"] = with_evaluators(values.get("evaluators", []), args.evaluator)
    values["evaluators"] = with_monitor(values.get("evaluators", []), args)
    return TrainConfig.from_dict(values, where="the options")


def with_monitor(current: list, args: argparse.Namespace) -> list:
    """``--monitor``, ``--on-collapse`` and ``--cure``: the ``monitor`` evaluator's entry (its
    cure holds ':' and ',', which ``--evaluator NAME:K=V,...`` cannot carry)."""
    if not (args.monitor or args.on_collapse or args.cure):
        return list(current)
    monitor_params = EVALUATORS.get("monitor").Params  # the monitor part provides it (see evaluators.py)
    out = {(e["name"] if isinstance(e, dict) else e.name): (e if isinstance(e, dict) else dataclasses.asdict(e))
           for e in current}
    params = dict(out.get("monitor", {}).get("params", {}))
    if args.on_collapse:
        params["on_collapse"] = args.on_collapse
    if args.cure:
        params["cure"] = args.cure
    params_from_dict(monitor_params, params, "the monitor evaluator")  # typed and validated: one sentence if not
    out["monitor"] = {"name": "monitor", "params": params}
    return list(out.values())


def with_evaluators(current: list, given: list[str]) -> list[dict]:
    """``--evaluator NAME[:K=V,...]`` added to (or replacing the parameters of) ``current``."""
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
    cls = DATASETS.get(data)
    parsed = params_from_strings(cls, pairs, f"dataset {data!r}")
    new_names = getattr(cls, "RENAMED", {})  # an old name given: the value under its new name
    return {new_names.get(key, key): getattr(parsed, new_names.get(key, key)) for key in pairs}
