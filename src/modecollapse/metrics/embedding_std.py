"""Per-dimension standard deviation of embeddings: the collapse indicator of VICReg.

Bardes, Ponce & LeCun (2022), "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning" (ICLR), keep the standard deviation of every embedding dimension
over a batch above 1 with a hinge, and report it as the first sign of collapse; Chen & He
(2021), "Exploring Simple Siamese Representation Learning" (SimSiam), monitor the same
number on L2-normalised outputs (``normalize=True``), where a healthy d-dimensional
embedding has std about 1 / sqrt(d) per dimension and a collapsed one 0.

**Both the mean and the minimum over dimensions fall toward 0 under collapse**: the mean
when all embeddings shrink onto one point, the minimum already when a few dimensions die
(dimensional collapse). Higher is better.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_features


@dataclass(frozen=True)
class EmbeddingStdResult:
    """Standard deviation over samples of each dimension, summarised; higher is better."""

    embedding_std: float  # mean over dimensions
    embedding_std_min: float
    embedding_std_max: float
    dead_fraction: float  # share of dimensions with std below ``dead_below``
    dead_below: float
    normalized: bool
    dim: int
    n: int


def embedding_std(*, embeddings: torch.Tensor, normalize: bool = False, dead_below: float = 1e-4) -> EmbeddingStdResult:
    """Per-dimension std (unbiased, float64) of ``embeddings`` (n >= 2, d); with ``normalize``
    each row is scaled to unit L2 norm first (SimSiam's convention)."""
    check_features(embeddings, "embeddings", min_samples=2, why="a standard deviation needs 2 samples")
    x = embeddings.double()
    if normalize:
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    std = x.std(dim=0)  # (d,)
    return EmbeddingStdResult(
        embedding_std=float(std.mean()), embedding_std_min=float(std.min()), embedding_std_max=float(std.max()),
        dead_fraction=float((std < dead_below).double().mean()), dead_below=dead_below, normalized=normalize,
        dim=x.shape[1], n=len(x),
    )
