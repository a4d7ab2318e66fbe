"""MNIST from the standard IDX files, and Stacked MNIST: 1,000 modes for image GANs.

Stacked MNIST (Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled Generative Adversarial
Networks", §3.3; Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN, Table 3): three
independently drawn MNIST digits stacked as the colour channels of one 28 x 28 x 3 image.
The digit triple (d1, d2, d3) is the image's mode, so there are 1,000 of them; a pretrained
digit classifier (:mod:`modecollapse.classifier`) tells which mode a generated image is in.
The published protocol draws 26,000 samples, counts the modes that receive at least one
(``modes``, out of 1,000) and gives KL(p || uniform) of the mode histogram (``reverse_kl``).

Images live in the trainer as flat rows (n, 3 * 28 * 28) with pixels in [-1, 1], so every
technique that works on vectors (packing, replay, noise) works on them unchanged; image
models reshape them (``image_shape``).

The data directory is never hard-coded: ``data_dir`` (``--data-arg data_dir=...``), else
the ``MODECOLLAPSE_DATA`` environment variable. It is resolved when the config is
validated, so ``config.json`` records the directory actually used.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch

from ..errors import ConfigError
from .base import Assignment, Benchmark
from .synthetic import DATASETS

DATA_ENV = "MODECOLLAPSE_DATA"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir`` if given, else ``$MODECOLLAPSE_DATA``; raises :class:`ConfigError` when neither is set."""
    text = str(data_dir) if data_dir else os.environ.get(DATA_ENV, "")
    if not text:
        raise ConfigError(
            f"MNIST needs a data directory: pass --data-arg data_dir=DIR or set {DATA_ENV}=DIR, "
            f"where DIR holds {', '.join(f + '.gz' for pair in MNIST_FILES.values() for f in pair)} (gzip or raw)."
        )
    return Path(text).expanduser()


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


class StackedMNIST(Benchmark):
    """A fixed set of ``size`` stacked images, (size, 3) digit indices drawn with ``seed``."""

    name = "stacked-mnist"
    eval_samples: ClassVar[int] = 26_000  # the VEEGAN / PacGAN protocol

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, size: int, seed: int, classifier_loader, confidence: float) -> None:
        self.images, self.labels = images, labels  # (N, 28, 28) uint8, (N,)
        self.image_shape = (3, images.shape[1], images.shape[2])
        self.dim = 3 * images.shape[1] * images.shape[2]
        self.num_modes = 1000
        self.weights = torch.full((1000,), 1e-3, dtype=torch.float64)
        gen = torch.Generator().manual_seed(seed)
        self.index = torch.randint(len(images), (size, 3), generator=gen)  # (size, 3): the training set
        self.by_digit = [torch.nonzero(labels == d).squeeze(1) for d in range(10)]
        self._classifier_loader = classifier_loader
        self._classifier = None
        self.confidence = confidence

    # -- sampling ------------------------------------------------------------------------
    def _stack(self, idx: torch.Tensor) -> torch.Tensor:
        """(n, 3) image indices -> (n, 3 * 28 * 28) float32 in [-1, 1]."""
        return to_signed(self.images[idx].reshape(len(idx), -1))

    def sample(self, n: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is not None:  # a technique reweights the modes (curriculum)
            return super().sample(n, generator, weights)
        rows = torch.randint(len(self.index), (n,), generator=generator)
        return self._stack(self.index[rows])

    def sample_modes(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        digits = torch.stack([modes // 100, modes // 10 % 10, modes % 10], dim=1)  # (n, 3)
        idx = torch.empty_like(digits)
        for d in range(10):
            mask = digits == d
            pool = self.by_digit[d]
            idx[mask] = pool[torch.randint(len(pool), (int(mask.sum()),), generator=generator)]
        return self._stack(idx)

    # -- modes ------------------------------------------------------------------------------
    @property
    def classifier(self):
        """The digit classifier, trained and cached on first use (see :mod:`modecollapse.classifier`)."""
        if self._classifier is None:
            self._classifier = self._classifier_loader()
        return self._classifier

    @torch.no_grad()
    def assign(self, x: torch.Tensor) -> Assignment:
        """Mode = 100 d1 + 10 d2 + d3 from the classifier's per-channel predictions.

        ``distance`` is 1 - the smallest of the three channel confidences; ``hq`` holds when
        that confidence reaches ``confidence`` (0 by default: every sample counts, as in the
        published protocol, so ``hq_fraction`` is 1).
        """
        n = len(x)
        h, w = self.image_shape[1:]
        probs = []
        for a in range(0, n, 2048):
            chunk = x[a : a + 2048].float().reshape(-1, 1, h, w).clamp(-1, 1)  # (3b, 1, h, w)
            probs.append(self.classifier(chunk).softmax(1).reshape(-1, 3, 10))
        p = torch.cat(probs) if probs else torch.zeros(0, 3, 10)
        conf, digit = p.max(dim=2)  # (n, 3)
        mode = digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]
        low = conf.min(dim=1).values
        return Assignment(mode=mode, distance=1.0 - low, hq=low >= self.confidence)

    def anchors(self) -> torch.Tensor:
        """One real image per digit triple (d, d, d), for plots."""
        idx = torch.stack([self.by_digit[d][0].repeat(3) for d in range(10)])
        return self._stack(idx)

    def describe(self) -> dict:
        return {**super().describe(), "image_shape": list(self.image_shape)}


@DATASETS.register("stacked-mnist")
@dataclass
class StackedMNISTParams:
    """Three MNIST digits as colour channels: 1,000 modes, counted by a digit classifier.

    ``data_dir`` holds the MNIST IDX files (default ``$MODECOLLAPSE_DATA``); ``size`` stacked
    training images are drawn once with ``seed``; ``cache_dir`` keeps the trained classifier
    (default ``$MODECOLLAPSE_CACHE`` or ~/.cache/modecollapse); ``classifier_epochs`` and
    ``classifier_limit`` (0 = all 60,000 images) set how it is trained; ``confidence`` is the
    smallest channel confidence of a high-quality sample.
    """

    data_dir: str = ""
    size: int = 128_000
    seed: int = 0
    cache_dir: str = ""
    classifier_epochs: int = 4
    classifier_limit: int = 0
    confidence: float = 0.0

    def validate(self) -> None:
        from ..classifier import resolve_cache_dir

        if self.size < 1:
            raise ConfigError(f"size must be positive, got {self.size}.")
        if self.classifier_epochs < 1 or self.classifier_limit < 0:
            raise ConfigError("classifier_epochs must be >= 1 and classifier_limit >= 0 (0 = all training images).")
        if not 0 <= self.confidence <= 1:
            raise ConfigError(f"confidence must lie in [0, 1], got {self.confidence}.")
        # Resolved here so that config.json records the directories actually used.
        self.data_dir = str(resolve_data_dir(self.data_dir).resolve())
        self.cache_dir = str(resolve_cache_dir(self.cache_dir))

    def build(self) -> StackedMNIST:
        from ..classifier import ClassifierSettings, load_or_train

        images, labels = load_mnist(self.data_dir, "train")
        settings = ClassifierSettings(epochs=self.classifier_epochs, limit=self.classifier_limit)
        loader = lambda: load_or_train(settings, data_dir=self.data_dir, cache_dir=self.cache_dir)  # noqa: E731
        return StackedMNIST(images, labels, size=self.size, seed=self.seed, classifier_loader=loader, confidence=self.confidence)
