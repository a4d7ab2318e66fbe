"""Improved precision and recall (Kynkaanniemi et al. 2019, NeurIPS).

Each set's manifold is the union of balls around its samples reaching to the k-th nearest
neighbour (k = 3 by default, as in the paper). **Precision** is the fraction of fake samples
inside the real manifold (fidelity); **recall** the fraction of real samples inside the fake
manifold (diversity). When modes are dropped, **recall falls** and precision stays high.
Computed exactly in blocks; see :mod:`modecollapse.metrics.prdc` for the shared pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .knn import DEFAULT_CHUNK
from .prdc import prdc


@dataclass(frozen=True)
class PrecisionRecall:
    """Precision (fidelity) and recall (diversity), both in [0, 1], higher is better."""

    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int


def precision_recall(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = 3,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
    real_knn: torch.Tensor | None = None,
) -> PrecisionRecall:
    """Improved precision and recall of ``fake`` (n_fake, d) against ``real`` (n_real, d).

    Both sets need at least ``k + 1`` samples. ``real_knn``: optional precomputed squared
    real k-NN distances (n_real, >= k + 1). Swapping ``real`` and ``fake`` swaps the two
    numbers, so the argument names matter.
    """
    r = prdc(real=real, fake=fake, pr_k=k, dc_k=None, chunk_size=chunk_size, device=device, real_knn=real_knn)
    assert r.precision is not None and r.recall is not None
    return PrecisionRecall(r.precision, r.recall, k, r.n_real, r.n_fake)
