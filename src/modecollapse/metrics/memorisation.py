"""Memorisation: the share of generated samples that copy one training sample.

A generated sample counts as memorised when its nearest training sample is much closer than
the second nearest: d_1 / d_2 < ``ratio`` (1/3 by default). This is the criterion of Yoon,
Choi, Kwon, Ryu et al. (2023), "Diffusion Probabilistic Models Generalize when They Fail to
Memorize" (ICML workshop), close in spirit to the copy detection of Carlini et al. (2023),
"Extracting Training Data from Diffusion Models": a diffusion model trained on a small set
reproduces its training images, which k-NN fidelity metrics reward rather than punish.

``real`` here is the *training* set. **The fraction rises when the model copies** (lower is
better); collapse onto a few training samples shows up here before it shows in FID.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ._checks import check_pair
from .knn import DEFAULT_CHUNK, knn_sqdist, nearest_sqdist


@dataclass(frozen=True)
class MemorisationResult:
    """Fraction (and count) of fake samples with d_1 / d_2 < ``ratio``; lower is better."""

    memorisation: float
    count: int
    ratio: float
    n_fake: int
    real_baseline: float | None  # the same share for each real sample against the other real ones


def memorisation(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    ratio: float = 1.0 / 3.0,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
    baseline: bool = True,
    real_knn: torch.Tensor | None = None,
) -> MemorisationResult:
    """Share of ``fake`` (n_fake, d) rows whose nearest ``real`` (training, n_real >= 2, d) row
    is closer than ``ratio`` times the second nearest.

    With ``baseline`` the same share is computed for each real sample against the other real
    samples (leave one out; needs n_real >= 3): what a model that copies nothing but draws
    from the training distribution would score. It matters in few dimensions, where the
    ratio of a fresh sample is often small by chance (about ratio^d in d dimensions: 1/9
    in 2-D). ``real_knn``: optional precomputed squared real k-NN distances (n_real, >= 3).
    Distances are the canonical ones of :func:`~modecollapse.metrics.knn.exact_sqdist`, so an
    exact copy has d_1 = 0 and counts whenever d_2 > 0 (strict ``<``: two training samples
    both at the copy's position, d_2 = 0, do not make it a copy of one of them).
    """
    if not 0 < ratio <= 1:
        raise ConfigError(f"the memorisation ratio must lie in (0, 1], got {ratio}.")
    check_pair(real, fake, min_real=2, why="the distance ratio needs a nearest and a second-nearest training sample")
    d = nearest_sqdist(query=fake, ref=real, m=2, chunk_size=chunk_size, device=device).cpu()  # (n_fake, 2) squared
    copied = d[:, 0] < (ratio**2) * d[:, 1]
    base = None
    if baseline and len(real) >= 3:
        knn = real_knn if real_knn is not None and real_knn.shape[1] >= 3 else knn_sqdist(
            real, k=2, chunk_size=chunk_size, device=device)
        kd = knn[:, 1:3].double().cpu()  # column 0 is the sample itself
        base = float((kd[:, 0] < (ratio**2) * kd[:, 1]).double().mean())
    return MemorisationResult(float(copied.double().mean()), int(copied.sum()), ratio, len(fake), base)
