"""What the subcommands of the command line share: the one-line-error parser, exit codes,
``--threads``, the ``--out`` checks (``check_out_dir`` / ``check_out_file``, from
``fileio.py``) and options generated from a dataclass's fields.

A leaf of the CLI layer: ``cli.py`` (dispatch) and every ``cli_*.py`` import it; it imports
none of them, so the CLI modules form no import cycle.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any, Iterable, NoReturn

from .errors import ConfigError
from .fileio import check_out_dir, check_out_file  # noqa: F401 - the --out checks every command shares

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports bad options as one line naming the fix, then exits 2."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def check_threads(threads: int | None) -> None:
    """The ``--threads`` check the subcommands share: absent, or a positive integer."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}.")


def flag_of(field: dataclasses.Field) -> str:
    """The option of a dataclass field: its ``flag`` metadata, else ``--field-name``."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _scalar_type(typ: Any) -> type | None:
    """int / float / str for a field annotated with one of them (or an Optional of one)."""
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if typ in (int, float, str):
        return typ
    if len(args) == 1 and args[0] in (int, float, str):
        return args[0]
    return None


def plain_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are one ``--option VALUE`` each (no ``flag`` metadata)."""
    hints = typing.get_type_hints(cls)
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("flag") and _scalar_type(hints[f.name])]


def add_field_options(group: Any, cls: type, *, exclude: Iterable[str] = (), shown: Any = None,
                      prefix: str = "") -> list[str]:
    """Adds ``--[prefix-]field-name VALUE`` (destination ``[prefix_]field_name``) for every
    plain field of ``cls``, help from the field's ``help`` metadata and the default from
    ``shown`` or the class; returns the destinations added."""
    hints = typing.get_type_hints(cls)
    defaults = shown if shown is not None else cls()
    added = []
    for f in plain_fields(cls):
        if f.name in exclude:
            continue
        dest = f"{prefix}_{f.name}" if prefix else f.name
        flag = "--" + dest.replace("_", "-") if prefix else flag_of(f)
        default = getattr(defaults, f.name)
        text = default if not isinstance(default, float) else round(default, 6)
        text = "auto" if default is None else text
        typ = _scalar_type(hints[f.name])
        group.add_argument(flag, dest=dest, type=typ, default=None, metavar="N" if typ in (int, float) else "VALUE",
                           help=f"{f.metadata.get('help', '')} (default {text})")
        added.append(dest)
    return added


def field_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The values given on the command line for ``names`` (options left out are absent)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
