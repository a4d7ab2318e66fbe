"""MNIST from the standard IDX files: plain MNIST (10 modes) and Stacked MNIST (1,000 modes) for image GANs.

Plain MNIST (``mnist``): the 60,000 training digits as 1 x 28 x 28 images; the digit is the
image's mode (10 of them, weighted by the training set's class frequencies), told by the
same digit classifier. It is the benchmark on which an image GAN's dropped digits and
within-digit duplicates are easiest to see (``benchmarks/monitor_accuracy.py --suite images``).

Stacked MNIST (Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled Generative Adversarial
Networks", §3.3; Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN, Table 3): three
independently drawn MNIST digits stacked as the colour channels of one 28 x 28 x 3 image.
The digit triple (d1, d2, d3) is the image's mode, so there are 1,000 of them; a pretrained
digit classifier (:mod:`modecollapse.models.classifier`) tells which mode a generated image is in.
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

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import ConfigError
from ..idx import load_mnist, resolve_data_dir, to_signed
from ..models.classifier import ClassifierSettings, load_or_train, resolve_cache_dir
from .base import DATASETS, Assignment, Benchmark


class _Digits(Benchmark):
    """What MNIST and Stacked MNIST share: the training digits (N, 28, 28) uint8 with their
    labels, each digit's pool of rows, and the digit classifier loaded on first use."""

    def _init_digits(self, images: torch.Tensor, labels: torch.Tensor, classifier_loader, confidence: float) -> None:
        self.images, self.labels = images, labels
        self.by_digit = [torch.nonzero(labels == d).squeeze(1) for d in range(10)]
        self._classifier_loader = classifier_loader
        self._classifier = None
        self.confidence = confidence

    def _rows_of(self, digits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random training row of each entry's digit (any shape of digits 0-9)."""
        idx = torch.empty_like(digits)
        for d in range(10):
            mask = digits == d
            pool = self.by_digit[d]
            idx[mask] = pool[torch.randint(len(pool), (int(mask.sum()),), generator=generator)]
        return idx

    @property
    def classifier(self):
        """The digit classifier, trained and cached on first use (see :mod:`modecollapse.models.classifier`)."""
        if self._classifier is None:
            self._classifier = self._classifier_loader()
        return self._classifier


class MNIST(_Digits):
    """The MNIST training digits (N, 28, 28) uint8 with their labels; mode = digit."""

    name = "mnist"
    eval_samples: ClassVar[int] = 10_000

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, classifier_loader, confidence: float) -> None:
        self._init_digits(images, labels, classifier_loader, confidence)
        self.image_shape = (1, images.shape[1], images.shape[2])
        self.dim = images.shape[1] * images.shape[2]
        self.num_modes = 10
        self.weights = torch.bincount(labels.long(), minlength=10).double() / len(labels)

    def sample(self, n: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is not None:
            return super().sample(n, generator, weights)
        idx = torch.randint(len(self.images), (n,), generator=generator)
        return to_signed(self.images[idx].reshape(n, -1))  # (n, 784) in [-1, 1]

    def sample_modes(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        idx = self._rows_of(modes, generator)
        return to_signed(self.images[idx].reshape(len(idx), -1))

    @torch.no_grad()
    def assign(self, x: torch.Tensor) -> Assignment:
        """Mode = the classifier's digit; ``distance`` = 1 - its confidence; ``hq`` when the
        confidence reaches ``confidence`` (0 by default: every sample counts)."""
        probs = [self.classifier(x[a:a + 2048].float().reshape(-1, 1, 28, 28).clamp(-1, 1)).softmax(1)
                 for a in range(0, len(x), 2048)]
        p = torch.cat(probs) if probs else torch.zeros(0, 10)
        conf, digit = p.max(dim=1)
        return Assignment(mode=digit, distance=1.0 - conf, hq=conf >= self.confidence)

    def anchors(self) -> torch.Tensor:
        return to_signed(self.images[torch.stack([p[0] for p in self.by_digit])].reshape(10, -1))

    def describe(self) -> dict:
        return {**super().describe(), "image_shape": list(self.image_shape)}


class StackedMNIST(_Digits):
    """A fixed set of ``size`` stacked images, (size, 3) digit indices drawn with ``seed``."""

    name = "stacked-mnist"
    eval_samples: ClassVar[int] = 26_000  # the VEEGAN / PacGAN protocol

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, size: int, seed: int, classifier_loader, confidence: float) -> None:
        self._init_digits(images, labels, classifier_loader, confidence)  # (N, 28, 28) uint8, (N,)
        self.image_shape = (3, images.shape[1], images.shape[2])
        self.dim = 3 * images.shape[1] * images.shape[2]
        self.num_modes = 1000
        self.weights = torch.full((1000,), 1e-3, dtype=torch.float64)
        gen = torch.Generator().manual_seed(seed)
        self.index = torch.randint(len(images), (size, 3), generator=gen)  # (size, 3): the training set

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
        return self._stack(self._rows_of(digits, generator))

    # -- modes ------------------------------------------------------------------------------
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


@DATASETS.register("mnist")
@dataclass
class MNISTParams:
    """Plain MNIST: 10 modes (the digits), counted by the digit classifier.

    ``data_dir`` holds the MNIST IDX files (default ``$MODECOLLAPSE_DATA``); ``cache_dir``
    keeps the trained classifier; ``classifier_epochs`` / ``classifier_limit`` set how it is
    trained; ``confidence`` is the classifier confidence of a high-quality sample.
    """

    data_dir: str = ""
    cache_dir: str = ""
    classifier_epochs: int = 4
    classifier_limit: int = 0
    confidence: float = 0.0

    def validate(self) -> None:
        _validate_classifier_params(self)

    def build(self) -> MNIST:
        images, labels = load_mnist(self.data_dir, "train")
        return MNIST(images, labels, classifier_loader=_classifier_loader(self), confidence=self.confidence)


def _validate_classifier_params(p) -> None:
    if p.classifier_epochs < 1 or p.classifier_limit < 0:
        raise ConfigError("classifier_epochs must be >= 1 and classifier_limit >= 0 (0 = all training images).")
    if not 0 <= p.confidence <= 1:
        raise ConfigError(f"confidence must lie in [0, 1], got {p.confidence}.")
    # Resolved here so that config.json records the directories actually used.
    p.data_dir = str(resolve_data_dir(p.data_dir).resolve())
    p.cache_dir = str(resolve_cache_dir(p.cache_dir))


def _classifier_loader(p):
    settings = ClassifierSettings(epochs=p.classifier_epochs, limit=p.classifier_limit)
    return lambda: load_or_train(settings, data_dir=p.data_dir, cache_dir=p.cache_dir)


@DATASETS.register("stacked-mnist")
@dataclass
class StackedMNISTParams:
    """Three MNIST digits as colour channels: 1,000 modes, counted by a digit classifier.

    ``data_dir`` holds the MNIST IDX files (default ``$MODECOLLAPSE_DATA``); ``images`` stacked
    training images are drawn once with ``seed``; ``cache_dir`` keeps the trained classifier
    (default ``$MODECOLLAPSE_CACHE`` or ~/.cache/modecollapse); ``classifier_epochs`` and
    ``classifier_limit`` (0 = all 60,000 images) set how it is trained; ``confidence`` is the
    smallest channel confidence of a high-quality sample.
    """

    #: old parameter names still read (with a one-line notice) for a release
    RENAMED: ClassVar[dict[str, str]] = {"size": "images"}

    data_dir: str = ""
    images: int = 128_000
    seed: int = 0
    cache_dir: str = ""
    classifier_epochs: int = 4
    classifier_limit: int = 0
    confidence: float = 0.0

    def validate(self) -> None:
        if self.images < 1:
            raise ConfigError(f"images must be positive, got {self.images}.")
        _validate_classifier_params(self)

    def build(self) -> StackedMNIST:
        images, labels = load_mnist(self.data_dir, "train")
        loader = _classifier_loader(self)
        return StackedMNIST(images, labels, size=self.images, seed=self.seed, classifier_loader=loader, confidence=self.confidence)
