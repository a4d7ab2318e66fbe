"""Effective rank of a set of embeddings: how many directions they really use.

Roy & Vetterli (2007), "The effective rank: a measure of effective dimensionality" (EUSIPCO):
with the singular values s_1..s_r of the (n, d) matrix and p_k = s_k / sum(s), the effective
rank is exp(H(p)), H the Shannon entropy. Garrido, Balestriero, Najman & LeCun (2023),
"RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised Representations
by Their Rank" (ICML), use it on the *uncentred* embedding matrix as a label-free predictor
of downstream accuracy; that is the default here (``center=False``), which also makes a set
collapsed onto one point score 1 rather than the rank of its round-off noise.

It lies in [1, min(n, d)]: about d for isotropic Gaussian embeddings with n >> d, exactly 1
for rank-1 embeddings. **It falls toward 1 under representation collapse** (complete
collapse onto a point or a line) and toward the dimension of the subspace under
dimensional collapse (Jing et al. 2022); higher is better.

The singular values come from the d x d Gram matrix X^T X (accumulated in float64 in row
blocks, eigenvalues = s^2), so n = 1,000,000 embeddings cost one pass and d^2 memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ._checks import check_features, check_positive_int

DEFAULT_CHUNK = 65536


@dataclass(frozen=True)
class EffectiveRankResult:
    """exp(entropy of the normalised singular values); in [1, min(n, d)], higher is better."""

    effective_rank: float
    dim: int
    n: int
    centered: bool
    singular_values: tuple[float, ...]  # descending, from the (n, d) matrix


def singular_values(x: torch.Tensor, *, center: bool = False, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Singular values (min(n, d) of them, descending, float64) of ``x`` (n, d), optionally
    with the column means removed, through the Gram matrix accumulated in row blocks."""
    check_features(x, "embeddings")
    check_positive_int(chunk_size, "chunk_size")
    n, d = x.shape
    mean = x.double().mean(dim=0) if center else torch.zeros(d, dtype=torch.float64, device=x.device)
    gram = torch.zeros(d, d, dtype=torch.float64, device=x.device)
    for a in range(0, n, chunk_size):
        block = x[a : a + chunk_size].double() - mean  # (b, d)
        gram += block.T @ block
    eig = torch.linalg.eigvalsh(gram).flip(0)[: min(n, d)]  # descending
    return eig.clamp_min(0).sqrt().cpu()


def effective_rank(*, embeddings: torch.Tensor, center: bool = False, chunk_size: int = DEFAULT_CHUNK) -> EffectiveRankResult:
    """Effective rank (Roy & Vetterli 2007; RankMe) of ``embeddings`` (n, d).

    Singular values below 1e-6 of the largest are treated as 0: through the float64 Gram
    matrix, round-off leaves about sqrt(1e-16) = 1e-8 of the largest in the null space. A zero matrix
    has no effective rank and raises :class:`ConfigError`.
    """
    s = singular_values(embeddings, center=center, chunk_size=chunk_size)
    top = float(s[0]) if len(s) else 0.0
    if not top > 0:
        what = "constant" if center else "all zero"
        raise ConfigError(f"the embeddings are {what}, so their effective rank is undefined; check the features.")
    kept = s[s > 1e-6 * top]
    p = kept / kept.sum()
    entropy = float(-(p * p.log()).sum())
    return EffectiveRankResult(effective_rank=math.exp(entropy), dim=embeddings.shape[1], n=len(embeddings),
                               centered=center, singular_values=tuple(float(v) for v in s))
