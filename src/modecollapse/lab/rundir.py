"""The run directory: ``config.json``, ``metrics.jsonl``, ``summary.json``, ``samples.npy``,
``checkpoint.pt`` and the PNG plots. Files are written atomically (temporary file, then
rename), so an interrupted write never leaves half a file behind; one writer at a time
holds the directory's lock (:func:`lock`); every file is read back against the schema it
must follow (:func:`read_metrics`, :func:`read_summary`, :func:`load_checkpoint`), so a
damaged file is one sentence naming it and the field, never a traceback.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..fileio import (
    DirLock,
    atomic_torch_save,
    atomic_write,
    atomic_write_text,
    check_fields,
    make_dir,
    read_json,
    read_jsonl,
)

IMAGE_SAMPLES_KEPT = 2500
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "samples.npy", "checkpoint.pt", "samples.png", "modes.png")


#: what summary.json's keys hold when present (JSON types; a bool is never a number)
NUMBER = (int, float)
SUMMARY_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,), "message": (str,), "steps": (int,), "wall_seconds": NUMBER, "seed": (int,),
    "data": (str,), "loss": (str,), "techniques": (list,), "modes": (int,), "num_modes": (int,),
    "hq_fraction": NUMBER, "reverse_kl": NUMBER, "collapsed": (bool,), "verdict": (str,), "reason": (str,),
    "collapse_step": (int, type(None)), "rollbacks": (list,), "world_size": (int,),
}
#: what an evaluation record of metrics.jsonl holds when present
RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "step": (int,), "modes": (int,), "num_modes": (int,), "hq_fraction": NUMBER, "reverse_kl": NUMBER,
    "counts": (list,), "d_loss": NUMBER + (type(None),), "g_loss": NUMBER + (type(None),), "wall_seconds": NUMBER,
}


def lock(out: Path) -> DirLock:
    """The one-writer lock of run directory ``out`` (a context manager; :class:`modecollapse.fileio.DirLock`)."""
    return DirLock(Path(out), "run directory")


def make(out: Path) -> Path:
    """Creates the run directory ``out`` (user's umask) after checking it can be one."""
    return make_dir(Path(out), "--out")


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
    make(out)


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    atomic_torch_save(state, out / "checkpoint.pt")


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
    check_fields(state, CHECKPOINT_TYPES, f"checkpoint {path}", required=tuple(CHECKPOINT_TYPES))
    if state["step"] < 0:
        raise ConfigError(f"checkpoint {path}: 'step' must be >= 0, got {state['step']}.")
    return state


#: what a checkpoint must hold (the keys ``train.checkpoint_state`` writes)
CHECKPOINT_TYPES: dict[str, tuple[type, ...]] = {
    "step": (int,), "G": (dict,), "D": (dict,), "opt_g": (dict,), "opt_d": (dict,), "extra_d": (list,),
    "extra_g": (list,), "g_adv_weight": NUMBER, "data_gen": (torch.Tensor,), "noise_gen": (torch.Tensor,),
    "techniques": (dict,),
}


def append_metrics(out: Path, record: dict[str, Any]) -> None:
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(out: Path, *, notice: bool = True) -> list[dict[str, Any]]:
    """The evaluation records of ``out/metrics.jsonl`` (``[]`` when there is none), each
    checked against :data:`RECORD_TYPES`. A torn last line (a kill in the middle of an
    append) is dropped with a one-line notice; anything else wrong is a :class:`ConfigError`
    naming the file, the line and the field."""
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    records, _ = read_jsonl(path, notice=notice)
    for i, rec in enumerate(records, 1):
        check_fields(rec, RECORD_TYPES, f"{path} record {i}", required=("step",))
        counts = rec.get("counts", [])
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise ConfigError(f"{path} record {i}: 'counts' must be a list of integers.")
    return records


def read_summary(out: Path) -> dict[str, Any] | None:
    """``out/summary.json`` checked against :data:`SUMMARY_TYPES` (``None`` when there is
    none); a damaged file is a :class:`ConfigError` naming it and the field."""
    path = out / "summary.json"
    if not path.exists():
        return None
    summary = read_json(path)
    check_fields(summary, SUMMARY_TYPES, str(path), required=("status",))
    if not all(isinstance(t, str) for t in summary.get("techniques", [])):
        raise ConfigError(f"{path}: 'techniques' must be a list of names.")
    return summary


def rewind_metrics(out: Path, upto: int) -> list[dict[str, Any]]:
    """Drops evaluations after step ``upto`` (made after the checkpoint a resume starts from)
    and a torn last line, rewriting the file."""
    records = [r for r in read_metrics(out) if r["step"] <= upto]
    atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    return records


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def finish(out: Path, summary: dict[str, Any], samples: torch.Tensor | None, dataset, records: list[dict]) -> None:
    """Writes the final samples, the plots and ``summary.json`` (last, so its presence means done)."""
    from . import plots  # matplotlib when the plots are drawn, not whenever the trainer is imported

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
    from . import plots  # matplotlib when the plots are drawn, not whenever the trainer is imported

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
