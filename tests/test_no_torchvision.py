"""The set-up promise that nothing imports torchvision (it does not import beside the CPU
torch these machines use): importing the package, every command's module and the optional
integrations (lightning and torchmetrics, which import torch-fidelity when it is installed
where they can find it, and torch-fidelity imports torchvision) never tries to."""
import re
import subprocess
import sys

import pytest

from reference_impls import REFS

# import statements and import_module calls are watched; an availability probe
# (importlib.util.find_spec, as lightning_utilities does) imports nothing and is allowed
PROBE = """
import builtins, importlib
tried = []
real_import, real_import_module = builtins.__import__, importlib.import_module
def watch(name, *args, **kwargs):
    if name.split(".")[0] == "torchvision":
        tried.append(name)
    return real_import(name, *args, **kwargs)
def watch_module(name, package=None):
    if name.split(".")[0] == "torchvision":
        tried.append(name)
    return real_import_module(name, package)
builtins.__import__, importlib.import_module = watch, watch_module
import modecollapse, modecollapse.cli.train, modecollapse.cli.measure, modecollapse.cli.bench
import modecollapse.cli.experiment, modecollapse.monitor.adapters, modecollapse.features.inception
import modecollapse.features.dinov2
import lightning.pytorch, torchmetrics
print(tried)
"""


def test_nothing_tries_to_import_torchvision():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_no_reference_module_set_up_here_imports_torchvision():
    """make test removes the reference packages' modules that load torchvision (the tests
    load none of them), so no file under .venv/refs can try."""
    if not REFS.is_dir():
        pytest.skip(f"no reference packages in {REFS} (make test installs them)")
    pattern = re.compile(r"^\s*(import|from) torchvision", re.M)
    found = [str(p.relative_to(REFS)) for p in REFS.rglob("*.py") if pattern.search(p.read_text(errors="replace"))]
    assert found == [], found
