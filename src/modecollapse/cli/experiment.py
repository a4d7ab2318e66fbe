"""``modecollapse diagnose`` and ``modecollapse scenario``: run one registered experiment.

Each experiment is a sub-command of its own (``modecollapse diagnose NAME --help`` lists its
options, generated from the fields of its ``Params`` dataclass); ``--list`` lists the names.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path

from ..errors import ConfigError
from ..experiments import DIAGNOSTICS, SCENARIOS, Experiment, load_all, run_experiment
from ..registry import Registry, convert_value
from .common import summary

_COMMANDS = {
    "diagnose": (DIAGNOSTICS, summary("diagnose"),
                 "Runs a small, measured experiment behind one classic explanation of mode collapse "
                 "and reports what it actually shows. Writes PNG plots and result.json (every plotted "
                 "number) to --out."),
    "scenario": (SCENARIOS, summary("scenario"),
                 "Trains real models in a setting where collapse happens, measures it with the project's "
                 "metrics, and measures the remedy. Writes PNG plots and result.json (every plotted "
                 "number) to --out."),
}


def add_parser(sub) -> None:
    load_all()
    for command, (registry, short, long) in _COMMANDS.items():
        p = sub.add_parser(command, help=short, description=long,
                           epilog=f"'modecollapse {command} NAME --help' lists that experiment's options. "
                                  "Exit codes: 0 done, 2 bad input, 130 interrupted.")
        p.add_argument("--list", action="store_true", help=f"list the {registry.kind}s with one line each")
        p.set_defaults(handler=_handler(command, registry), experiment=None)
        names = p.add_subparsers(dest="experiment", metavar="NAME", parser_class=type(p))
        for name, cls in registry.items():
            _add_experiment(names, command, name, cls)


def _add_experiment(names, command: str, name: str, cls: type[Experiment]) -> None:
    doc = (cls.__doc__ or cls.summary).strip()
    e = names.add_parser(name, help=cls.summary, description=doc,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help=f"output directory (default runs/{command}-{name})")
    e.add_argument("--json", action="store_true", help="print result.json on stdout instead of the summary")
    e.add_argument("--seed", type=int, default=0, help="random seed (default 0): the same seed gives the same numbers on CPU")
    e.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)" if cls.uses_device else
                   f"cpu only: {name} is too small to gain from a GPU and refuses cuda")
    e.add_argument("--overwrite", action="store_true", help="replace --out if it already holds results")
    e.add_argument("--no-progress", action="store_true", help="hide progress bars")
    params = e.add_argument_group(f"{name} parameters")
    hints = typing.get_type_hints(cls.Params)
    for f in dataclasses.fields(cls.Params):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        params.add_argument(flag, dest=f"param_{f.name}", default=None, metavar=_metavar(hints[f.name]),
                            type=_parser(hints[f.name], f.name, f"{command} {name}"),
                            help=f"{f.metadata.get('help', '')} (default {shown})")


def _metavar(typ) -> str:
    if typing.get_origin(typ) is tuple:
        return "A,B,..."
    if typing.get_origin(typ) is typing.Literal:
        return "{" + ",".join(map(str, typing.get_args(typ))) + "}"
    return "X"


def _parser(typ, key: str, owner: str):
    def parse(text: str):
        try:
            return convert_value(text, typ, key, owner)
        except ConfigError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


def _handler(command: str, registry: Registry[type[Experiment]]):
    def handle(args: argparse.Namespace) -> int:
        if args.list or args.experiment is None:
            if args.experiment is None and not args.list:
                raise ConfigError(f"name a {registry.kind} to run, e.g. 'modecollapse {command} "
                                  f"{registry.names()[0] if registry.names() else 'NAME'}'; '--list' lists them.")
            width = max((len(n) for n in registry), default=0)
            for name, cls in registry.items():
                print(f"{name:<{width}}  {cls.summary}")
            return 0
        name = args.experiment
        params = {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_") and v is not None}
        out = args.out or Path("runs") / f"{command}-{name}"
        try:
            result = run_experiment(registry, name, out, params=params, seed=args.seed, device=args.device,
                                    overwrite=args.overwrite, progress=not args.no_progress)
        except KeyboardInterrupt:
            sys.stderr.write(f"modecollapse {command}: interrupted; nothing was written to {out}.\n")
            return 130
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            cls = registry.get(name)
            print(cls().describe(result["results"]))
            print(f"{len(result['figures'])} figure(s) and result.json in {out} ({result['wall_seconds']:.1f} s)")
        return 0

    return handle
