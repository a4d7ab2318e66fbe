"""The MNIST files in the standard IDX format (LeCun et al. 1998, "Gradient-based learning
applied to document recognition"; the format of yann.lecun.com/exdb/mnist): where they are
and how to read them.

A leaf module (nothing of the package but :mod:`errors`): the Stacked MNIST benchmark
(``data/mnist.py``) and the digit classifier (``classifier.py``) both read MNIST through it,
so neither imports the other for it.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .errors import ConfigError

DATA_ENV = "MODECOLLAPSE_DATA"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def find_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """``data_dir`` if given, else ``$MODECOLLAPSE_DATA``; ``None`` when neither is set."""
    text = str(data_dir) if data_dir else os.environ.get(DATA_ENV, "")
    return Path(text).expanduser() if text else None


def resolve_data_dir(data_dir: str | os.PathLike | None, option: str = "--data-arg data_dir=DIR") -> Path:
    """:func:`find_data_dir`, or a :class:`ConfigError` when neither is set that names
    ``option``, how the caller's user gives the folder."""
    folder = find_data_dir(data_dir)
    if folder is None:
        raise ConfigError(
            f"MNIST needs a data directory: pass {option} or set {DATA_ENV}=DIR, "
            f"where DIR holds {', '.join(f + '.gz' for pair in MNIST_FILES.values() for f in pair)} (gzip or raw)."
        )
    return folder


def check_data_dir(data_dir: str, owner: str) -> None:
    """A given ``data_dir`` (an experiment's ``--data-dir``) must be a folder; empty means
    ``$MODECOLLAPSE_DATA``, checked when the files are read."""
    if data_dir and not Path(data_dir).expanduser().is_dir():
        raise ConfigError(f"{owner}: --data-dir {data_dir} is not a folder; give the folder that holds the MNIST IDX files.")


def _find(data_dir: Path, stem: str) -> Path | None:
    for folder in (data_dir, data_dir / "mnist", data_dir / "MNIST" / "raw"):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzip or raw) -> array: a big-endian magic (0, 0, dtype, ndim), the
    dimensions as big-endian int32, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ConfigError(f"cannot read {path} ({err}); replace it with an intact copy of the MNIST file.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ConfigError(f"{path} is not an IDX file (bad magic number); is it an MNIST file?")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - offset < count * dtype.itemsize:
        raise ConfigError(f"{path} is truncated: it declares shape {dims} but holds fewer bytes.")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def load_mnist(data_dir: str | os.PathLike | None, split: Literal["train", "test"] = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST ``split`` from ``data_dir`` (or ``$MODECOLLAPSE_DATA``): images (n, 28, 28) uint8, labels (n,) long."""
    folder = resolve_data_dir(data_dir)
    stems = MNIST_FILES[split]
    paths = [_find(folder, s) for s in stems]
    if any(p is None for p in paths):
        missing = [s for s, p in zip(stems, paths) if p is None]
        raise ConfigError(
            f"MNIST files {', '.join(missing)} (.gz or raw) were not found in {folder} (nor in its mnist/ subfolder); "
            f"put the four standard files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz there, or point --data-arg data_dir / {DATA_ENV} elsewhere."
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ConfigError(f"MNIST files in {folder} disagree: images {images.shape}, labels {labels.shape}.")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [-1, 1] (the range of a tanh generator)."""
    return images.float().div(127.5).sub(1.0)
