"""The ``modecollapse`` command line: a thin layer over the Python API.

Each command lives in its own module (:mod:`.train`, :mod:`.measure`, :mod:`.experiment` for
``diagnose`` and ``scenario``, :mod:`.bench` for ``bench`` and ``report``) exposing
``add_parser``; this package only dispatches, imports the one module a command needs (so
``modecollapse --help`` starts about as fast as ``import torch``) and turns user errors into
one line and exit code 2.
"""
from __future__ import annotations

import importlib
import os
import sys

from .. import __version__
from ..errors import ConfigError
from .common import COMMANDS, EXIT_USAGE, Parser


def _module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser(command: str | None = None) -> Parser:
    """The parser; with ``command`` only that command's module is imported and its options
    built, every other command is its one-line entry (enough for ``modecollapse --help``)."""
    parser = Parser(
        prog="modecollapse",
        description="Reproduce, measure, detect and cure mode collapse in generative models.",
    )
    parser.add_argument("--version", action="version", version=f"modecollapse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    full = {m for c, (m, _) in COMMANDS.items() if command is None or c == command} if command != "" else set()
    done: set[str] = set()
    for name, (module, line) in COMMANDS.items():
        if module in full:
            if module not in done:
                _module(module).add_parser(sub)
                done.add(module)
        else:
            sub.add_parser(name, help=line, add_help=False)
    return parser


def _command_of(argv: list[str]) -> str:
    """The command the arguments name ("" when they name none: ``--help``, ``--version``)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else ""
    return ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
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
