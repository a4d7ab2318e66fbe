"""What the subcommands of the command line share: the one-line-error parser, exit codes,
``--threads``, the ``--out`` checks (``check_out_dir`` / ``check_out_file``, from
``fileio.py``) and the options generated from a dataclass's fields (from ``registry.py``).

A leaf of the CLI layer: ``cli.py`` (dispatch) and every ``cli_*.py`` import it; it imports
none of them, so the CLI modules form no import cycle.
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from ..errors import ConfigError
from ..fileio import check_out_dir, check_out_file  # noqa: F401 - the --out checks every command shares
from ..registry import add_field_options, field_values, flag_of, plain_fields  # noqa: F401 - options from dataclass fields

EXIT_USAGE = 2

#: every command, its module in this package and its one line in ``modecollapse --help``, in
#: the order shown; ``modecollapse --help`` reads this table alone and a command's module is
#: imported only when that command runs (or prints its own help)
COMMANDS = {
    "train": ("train", "train a GAN on a benchmark and count its modes"),
    "measure": ("measure", "measure samples against real data with collapse-aware metrics"),
    "diagnose": ("experiment", "run one of the seed articles' experiments on why generators collapse"),
    "scenario": ("experiment", "reproduce collapse outside GANs (VAE, diffusion, self-supervised, feedback loops)"),
    "bench": ("bench", "run a suite of methods x datasets x seeds and aggregate a leaderboard"),
    "report": ("bench", "one self-contained HTML page from bench or run directories"),
}


def summary(command: str) -> str:
    """The one line of ``command`` in ``modecollapse --help``."""
    return COMMANDS[command][1]


class Parser(argparse.ArgumentParser):
    """argparse that reports bad options as one line naming the fix, then exits 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def check_threads(threads: int | None) -> None:
    """The ``--threads`` check the subcommands share: absent, or a positive integer."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}.")
