"""The ``modecollapse`` command line: a thin layer over the Python API.

Each subcommand lives in its own module (``cli_train.py`` ...) exposing ``add_parser`` and
``run``; this file only dispatches and turns user errors into one line and exit code 2.
"""
from __future__ import annotations

import os
import sys

from . import cli_bench, cli_experiment, cli_measure, cli_train
from .cli_common import EXIT_USAGE, Parser, check_threads  # noqa: F401  (check_threads: older imports)
from .errors import ConfigError


def _subcommands():
    return [cli_train, cli_measure, cli_experiment, cli_bench]


def build_parser() -> Parser:
    from . import __version__

    parser = Parser(
        prog="modecollapse",
        description="Reproduce, measure, detect and cure mode collapse in generative models.",
    )
    parser.add_argument("--version", action="version", version=f"modecollapse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in _subcommands():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as err:
        sys.stderr.write(f"modecollapse {args.command}: error: {err}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
