"""The run directory: ``config.json``, ``metrics.jsonl``, ``summary.json``, ``samples.npy``,
``checkpoint.pt`` and the PNG plots. Files are written atomically (temporary file, then
rename), so an interrupted write never leaves half a file behind.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError
from .fileio import atomic_write

IMAGE_SAMPLES_KEPT = 2500
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "samples.npy", "checkpoint.pt", "samples.png", "modes.png")


def prepare(out: Path, *, overwrite: bool) -> None:
    """Creates ``out`` and checks it is writable; refuses to mix two runs in one directory."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory; choose another --out.")
    if out.is_dir() and any((out / f).exists() for f in ("config.json", "checkpoint.pt")):
        if not overwrite:
            raise ConfigError(f"{out} already holds a run; continue it with --resume {out}, or pass --overwrite to replace it.")
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "grids", ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ConfigError(f"cannot write to output directory {out} ({err.strerror}); choose a writable --out.") from None


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    atomic_write(out / "checkpoint.pt", lambda tmp: torch.save(state, tmp))


def load_checkpoint(out: Path) -> dict[str, Any]:
    """Loads ``out/checkpoint.pt`` without running pickled code (``weights_only=True``)."""
    path = out / "checkpoint.pt"
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}; --resume needs a run directory written by 'modecollapse train'.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise ConfigError(f"checkpoint {path} is corrupt or unreadable ({reason}); delete the run directory to start afresh.") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ConfigError(f"checkpoint {path} is not a modecollapse checkpoint; delete the run directory to start afresh.")
    return state


def append_metrics(out: Path, record: dict[str, Any]) -> None:
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rewind_metrics(out: Path, upto: int) -> list[dict[str, Any]]:
    """Drops evaluations after step ``upto`` (made after the checkpoint a resume starts from)."""
    records = [r for r in read_metrics(out) if r["step"] <= upto]
    atomic_write(out / "metrics.jsonl", lambda tmp: Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in records)))
    return records


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def finish(out: Path, summary: dict[str, Any], samples: torch.Tensor | None, dataset, records: list[dict]) -> None:
    """Writes the final samples, the plots and ``summary.json`` (last, so its presence means done)."""
    from . import plots

    if samples is not None:
        shape = getattr(dataset, "image_shape", None)
        # Image runs keep the first IMAGE_SAMPLES_KEPT rows (26,000 stacked MNIST images would be 245 MB).
        arr = samples[:IMAGE_SAMPLES_KEPT].numpy() if shape else samples.numpy()
        atomic_write(out / "samples.npy", lambda tmp: np.save(open(tmp, "wb"), arr))
        if shape:
            plots.image_grid(out / "samples.png", arr[:64], shape)
        else:
            plots.scatter_samples(out / "samples.png", arr, dataset, title=_title(summary))
    if records:
        plots.modes_over_training(out / "modes.png", records)
    write_json(out / "summary.json", summary)


def save_eval_samples(out: Path, step: int, samples: torch.Tensor, dataset) -> None:
    """A grid of the first 64 samples at each evaluation, ``grids/step_NNNNNNN.png``, for image benchmarks."""
    from . import plots

    shape = getattr(dataset, "image_shape", None)
    if shape is None:
        return
    (out / "grids").mkdir(exist_ok=True)
    plots.image_grid(out / "grids" / f"step_{step:07d}.png", samples[:64].numpy(), shape)


def _title(summary: dict[str, Any]) -> str:
    techs = "+".join(summary.get("techniques", [])) or "plain"
    return (f"{summary['data']} / {summary['loss']} / {techs} - seed {summary['seed']}, step {summary['steps']}: "
            f"{summary['modes']}/{summary['num_modes']} modes, hq {summary['hq_fraction']:.2f}, "
            f"rKL {summary['reverse_kl']:.3f}")
