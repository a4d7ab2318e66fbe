"""MNIST classifier features: the penultimate layer (128 values per channel) of the digit
classifier that counts Stacked MNIST modes (:mod:`modecollapse.models.classifier`).

For digit-like images this is the feature space in which FID-style and precision/recall
metrics are usually computed on MNIST (a domain network rather than Inception). Registered
as extractors ``mnist`` (pixels in [-1, 1], as a tanh generator emits them and as a
training run's ``samples.npy`` holds them, or in [0, 1], as image folders and
``ToTensor``-style loaders give them: read off each batch, and said once per range on
stderr) and ``mnist-signed`` (always [-1, 1]). The classifier comes from the cache
(``$MODECOLLAPSE_CACHE``), and is trained first, from ``$MODECOLLAPSE_DATA``, when the
cache has none.
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import EXTRACTORS, Extractor

PixelRange = tuple[float, float] | str


def guess_pixel_range(x: torch.Tensor) -> tuple[float, float]:
    """[-1, 1] when the batch holds a value below -0.01 (a tanh generator's background is
    -1), else [0, 1]. Values beyond 2 are refused: those are 0..255 pixels, not either."""
    if x.numel() and float(x.max()) > 2.0:
        raise ConfigError(f"MNIST features need pixels in [-1, 1] or [0, 1], got values up to {float(x.max()):.4g}; "
                          "divide 0..255 pixels by 255 first.")
    return (-1.0, 1.0) if x.numel() and float(x.min()) < -0.01 else (0.0, 1.0)


def to_28(x: torch.Tensor) -> torch.Tensor:
    """Square images (n, C, H, H) of another size -> (n, C, 28, 28), bilinear with antialiasing
    (MNIST GANs often train at 32 or 64 pixels: PyTorch-GAN's DCGAN resizes MNIST to 32). The
    classifier then reads them nearly as it reads MNIST: 99.08% test accuracy at 28, 98.84% on
    the test set resized to 32 (bilinear) and back, 98.89% via 64, 98.44% for digits padded to
    32 with 2 blank pixels a side (tests/test_mnist.py checks the agreement at 32). Anything
    else is returned as it is."""
    if x.dim() == 4 and x.shape[2] == x.shape[3] != 28 and x.shape[2] >= 8:
        return F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
    return x


@torch.no_grad()
def mnist_features(images: torch.Tensor, *, model=None, pixel_range: PixelRange = (0.0, 1.0)) -> torch.Tensor:
    """Images (n, C, 28, 28) or flat rows (n, C * 784), pixels in ``pixel_range`` -> (n, 128 * C);
    square images (n, C, H, H) of another size are first resized to 28 (:func:`to_28`).

    ``pixel_range``: (lo, hi), or ``"auto"`` (:func:`guess_pixel_range`). Each channel is
    classified as one digit; for Stacked MNIST (C = 3) the three channels' features are
    concatenated. ``model`` defaults to the cached default classifier.
    """
    if model is None:
        from ..models.classifier import load_or_train

        model = load_or_train()
    n = len(images)
    x = to_28(images.float()).reshape(n, -1)
    if x.shape[1] % 784:
        raise ConfigError(f"MNIST features need 28 x 28 images (rows of C * 784 values, or square images "
                          f"(n, C, H, H) of any size), got rows of {x.shape[1]}.")
    lo, hi = guess_pixel_range(x) if pixel_range == "auto" else pixel_range
    x = (x - lo) / (hi - lo) * 2 - 1  # -> [-1, 1], the classifier's input range
    c = x.shape[1] // 784
    feats = model.features(x.reshape(n * c, 1, 28, 28))  # (n * c, 128)
    return feats.reshape(n, c * feats.shape[1])


class MNISTFeatures:
    """The ``mnist`` extractor: the classifier's features with the pixel range read off each
    batch; ``assumed`` is the last range used, and each range is announced once on stderr
    (real and fake data in different ranges show up as two notes)."""

    def __init__(self, model, pixel_range: PixelRange = "auto") -> None:
        self.model, self.pixel_range = model, pixel_range
        self.assumed: tuple[float, float] | None = None
        self._said: set[tuple[float, float]] = set()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rng = guess_pixel_range(x.float()) if self.pixel_range == "auto" else self.pixel_range
        self.assumed = rng
        if self.pixel_range == "auto" and rng not in self._said:
            self._said.add(rng)
            why = "it has values below 0" if rng[0] < 0 else "it has no value below 0"
            sys.stderr.write(f"modecollapse: note: mnist features: read a batch's pixels as [{rng[0]:g}, {rng[1]:g}] "
                             f"({why}).\n")
        return mnist_features(x, model=self.model, pixel_range=rng)


def _extractor(pixel_range: PixelRange) -> Extractor:
    from ..models.classifier import load_or_train

    return MNISTFeatures(load_or_train(), pixel_range)


@EXTRACTORS.register("mnist")
def _mnist() -> Extractor:
    """This project's digit classifier's 128 penultimate features per channel, pixels in [-1, 1] or [0, 1] (read off each batch)."""
    return _extractor("auto")


@EXTRACTORS.register("mnist-signed")
def _mnist_signed() -> Extractor:
    """This project's digit classifier's 128 penultimate features per channel, pixels always in [-1, 1]."""
    return _extractor((-1.0, 1.0))
