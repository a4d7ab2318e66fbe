"""Density and coverage (Naeem et al. 2020, ICML), the outlier-robust k-NN metrics.

Only the real set's k-NN balls are used (k = 5 by default, as in the paper), so a few fake
outliers cannot inflate the fake manifold. **Density** counts how many real balls hold each
fake sample, divided by k (about 1 for matching sets; it can exceed 1). **Coverage** is the
fraction of real balls that hold at least one fake sample. When modes are dropped,
**coverage falls** (the balls of the dropped modes stay empty); density need not.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .knn import DEFAULT_CHUNK
from .prdc import prdc


@dataclass(frozen=True)
class DensityCoverage:
    """Density (fidelity, >= 0, ~1 for a match) and coverage (diversity, in [0, 1]); higher is better."""

    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int


def density_coverage(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int = 5,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
    real_knn: torch.Tensor | None = None,
) -> DensityCoverage:
    """Density and coverage of ``fake`` (n_fake, d) against ``real`` (n_real, d >= k + 1 rows)."""
    r = prdc(real=real, fake=fake, pr_k=None, dc_k=k, chunk_size=chunk_size, device=device, real_knn=real_knn)
    assert r.density is not None and r.coverage is not None
    return DensityCoverage(r.density, r.coverage, k, r.n_real, r.n_fake)
