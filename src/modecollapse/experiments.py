"""Runnable experiments: the seed articles' diagnostics (``modecollapse diagnose``) and the
scenarios of collapse beyond GANs (``modecollapse scenario``).

An experiment is a class with a parameter dataclass ``Params`` (each field's
``metadata["help"]`` becomes its ``--option`` help), a :meth:`Experiment.run` that trains or
computes, saves its PNGs through the :class:`Context` and returns every number the plots
show as a JSON-ready dict, and a :meth:`Experiment.describe` that turns that dict into a few
lines for a person. :func:`run_experiment` does the rest the same way for all of them: it
validates the output directory, seeds, times, writes ``result.json`` and moves the finished
directory into place only at the end, so a failed or interrupted experiment leaves nothing
half-written behind.

Modules under ``modecollapse/diagnostics/`` and ``modecollapse/scenarios/`` register
themselves with ``@register_diagnostic`` / ``@register_scenario``; :func:`load_all` imports
every one of them, so adding an experiment is adding one file (or package).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import pkgutil
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .errors import ConfigError
from .fileio import check_out_dir, dir_mode, make_dir
from .registry import NoParams, Registry, params_from_dict


@dataclass(frozen=True)
class Context:
    """What an experiment's :meth:`~Experiment.run` gets besides its parameters."""

    out: Path  # the (temporary) output directory: save PNGs here, by name
    seed: int
    device: torch.device
    progress: bool = True

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the run's seed; distinct ``offset`` s give independent streams."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)

    def path(self, name: str) -> Path:
        """Where to save the file ``name`` (e.g. ``"gradients.png"``)."""
        return self.out / name

    def bar(self, total: int, desc: str):
        """A tqdm progress bar for long loops (hidden with ``progress=False`` or ``TQDM_DISABLE``)."""
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False, dynamic_ncols=True)


class Experiment:
    """Base class. Subclasses set ``name``, ``summary``, ``Params`` and implement :meth:`run`."""

    name: ClassVar[str] = ""
    #: one line for ``--list``
    summary: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    #: whether :meth:`run` puts its work on ``ctx.device``; the others run on the CPU and
    #: refuse ``--device cuda`` rather than ignore it
    uses_device: ClassVar[bool] = False

    def run(self, p: Any, ctx: Context) -> dict[str, Any]:
        """Runs the experiment with parameters ``p``, saves PNGs under ``ctx.out`` and returns
        every number the plots show (JSON-ready: numbers, strings, lists, dicts)."""
        raise NotImplementedError

    def describe(self, result: dict[str, Any]) -> str:
        """A few lines for a person: what was measured and what it shows."""
        return json.dumps(result, indent=2)


DIAGNOSTICS: Registry[type[Experiment]] = Registry("diagnostic")
SCENARIOS: Registry[type[Experiment]] = Registry("scenario")


def register_diagnostic(cls: type[Experiment]) -> type[Experiment]:
    DIAGNOSTICS.add(cls.name, cls)
    return cls


def register_scenario(cls: type[Experiment]) -> type[Experiment]:
    SCENARIOS.add(cls.name, cls)
    return cls


def load_all() -> None:
    """Imports every module of ``modecollapse.diagnostics`` and ``modecollapse.scenarios``
    (each registers itself); cheap after the first call."""
    for package in ("modecollapse.diagnostics", "modecollapse.scenarios"):
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")


def jsonable(obj: Any) -> Any:
    """``obj`` with tensors, numpy values and tuples turned into JSON types; non-finite floats
    become ``None`` (JSON has no NaN), so ``result.json`` is always valid JSON."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run_experiment(
    registry: Registry[type[Experiment]],
    name: str,
    out: Path | str,
    *,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Runs experiment ``name`` of ``registry`` into directory ``out``; returns what
    ``result.json`` holds: ``name``, ``params`` (every value used), ``seed``,
    ``wall_seconds``, ``figures`` (the PNG names) and ``results`` (the experiment's numbers).
    """
    load_all()
    cls = registry.get(name)
    p = params_from_dict(cls.Params, dict(params or {}), f"{registry.kind} {name!r}")
    out = Path(out)
    _check_out(out, overwrite)
    if device != "cpu" and not cls.uses_device:
        raise ConfigError(f"{registry.kind} {name} runs on the CPU only (its problems are too small to gain from a GPU); "
                          f"drop --device {device}.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} was asked for but no CUDA device is available; use --device cpu.")
    make_dir(out.parent, "--out", shown=out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    os.chmod(tmp, dir_mode())  # mkdtemp makes it 0700; the result folder gets the user's umask
    try:
        torch.manual_seed(seed)
        started = time.perf_counter()
        results = cls().run(p, Context(out=tmp, seed=seed, device=torch.device(device), progress=progress))
        result = {
            "name": name,
            "kind": registry.kind,
            "params": dataclasses.asdict(p),
            "seed": seed,
            "device": device,
            "wall_seconds": time.perf_counter() - started,
            "figures": sorted(f.name for f in tmp.glob("*.png")),
            "results": results,
        }
        result = jsonable(result)
        (tmp / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _check_out(out: Path, overwrite: bool) -> None:
    check_out_dir(out, "--out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} already exists and is not empty; pass --overwrite to replace it, or choose another --out.")
