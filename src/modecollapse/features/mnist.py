"""MNIST classifier features: the penultimate layer (128 values per channel) of the digit
classifier that counts Stacked MNIST modes (:mod:`modecollapse.classifier`).

For digit-like images this is the feature space in which FID-style and precision/recall
metrics are usually computed on MNIST (a domain network rather than Inception). Registered
as extractors ``mnist`` (pixels in [0, 1], the convention for image folders) and
``mnist-signed`` (pixels in [-1, 1], as in a training run's ``samples.npy``). The classifier
comes from the cache (``$MODECOLLAPSE_CACHE``), and is trained first, from
``$MODECOLLAPSE_DATA``, when the cache has none.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError
from .base import EXTRACTORS, Extractor


@torch.no_grad()
def mnist_features(images: torch.Tensor, *, model=None, pixel_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Images (n, C, 28, 28) or flat rows (n, C * 784), pixels in ``pixel_range`` -> (n, 128 * C).

    Each channel is classified as one digit; for Stacked MNIST (C = 3) the three channels'
    features are concatenated. ``model`` defaults to the cached default classifier.
    """
    if model is None:
        from ..classifier import load_or_train

        model = load_or_train()
    n = len(images)
    x = images.float().reshape(n, -1)
    if x.shape[1] % 784:
        raise ConfigError(f"MNIST features need 28 x 28 images (rows of C * 784 values), got rows of {x.shape[1]}.")
    lo, hi = pixel_range
    x = (x - lo) / (hi - lo) * 2 - 1  # -> [-1, 1], the classifier's input range
    c = x.shape[1] // 784
    feats = model.features(x.reshape(n * c, 1, 28, 28))  # (n * c, 128)
    return feats.reshape(n, c * feats.shape[1])


def _extractor(pixel_range: tuple[float, float]) -> Extractor:
    from ..classifier import load_or_train

    model = load_or_train()
    return lambda x: mnist_features(x, model=model, pixel_range=pixel_range)


EXTRACTORS.add("mnist", lambda: _extractor((0.0, 1.0)))
EXTRACTORS.add("mnist-signed", lambda: _extractor((-1.0, 1.0)))
