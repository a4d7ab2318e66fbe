"""The command line imports only what a command uses (issue 22): ``modecollapse --help``
imports neither torch's trainer nor scipy.stats, ``measure --help`` not the trainer, and the
one-line entries ``--help`` shows without importing a command's module are that module's own."""
import json
import subprocess
import sys

import pytest

from modecollapse.cli import build_parser
from modecollapse.cli.common import COMMANDS

PROBE = """
import json, sys
from modecollapse.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("modecollapse", "scipy", "torch")))))
"""


def modules_after(argv: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_top_level_help_imports_no_command_module_nor_torch():
    loaded = modules_after(["--help"])
    assert "modecollapse.cli" in loaded
    assert not loaded & {"modecollapse.cli.train", "modecollapse.cli.measure", "modecollapse.lab.train", "torch",
                         "scipy.stats"}, sorted(loaded)


@pytest.mark.parametrize("command", ["measure", "bench", "report"])
def test_a_commands_help_imports_neither_the_trainer_nor_scipy_stats(command):
    loaded = modules_after([command, "--help"])
    assert f"modecollapse.cli.{COMMANDS[command][0]}" in loaded
    assert "modecollapse.lab.train" not in loaded and "scipy.stats" not in loaded, command


def _entries(parser) -> dict[str, str]:
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {c.dest: c.help for c in sub._choices_actions}


def test_the_short_entries_equal_the_full_parsers():
    full = build_parser(None)  # every command's module imported and its parser built
    assert _entries(full) == _entries(build_parser("")) == {c: line for c, (_, line) in COMMANDS.items()}
    assert list(_entries(full)) == list(COMMANDS)  # the order --help shows
