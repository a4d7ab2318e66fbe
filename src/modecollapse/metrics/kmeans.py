"""Seeded k-means (k-means++ initialisation, Lloyd iterations) in blocks, for NDB's bins.

Arthur & Vassilvitskii (2007), "k-means++: The Advantages of Careful Seeding". Distances
come from :mod:`modecollapse.metrics.knn`, so memory stays at one block of
``chunk_size x bins`` whatever the number of samples.
"""
from __future__ import annotations

import torch

from ._checks import compute_dtype
from .knn import DEFAULT_CHUNK, blocks, prepare, sqdist


def nearest_centre(
    x: torch.Tensor, centres: torch.Tensor, *, chunk_size: int = DEFAULT_CHUNK
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index (n,) long, squared distance (n,))`` of the nearest of ``centres`` (k, d) to each row of ``x`` (n, d)."""
    xs, sq = prepare(x, device=centres.device, dtype=centres.dtype, chunk_size=chunk_size)
    csq = centres.pow(2).sum(1)
    idx, dist = [], []
    for a, b in blocks(len(xs), chunk_size):
        best, arg = sqdist(xs[a:b], sq[a:b], centres, csq).min(dim=1)
        idx.append(arg)
        dist.append(best)
    return torch.cat(idx), torch.cat(dist)


def kmeans(
    x: torch.Tensor,
    *,
    k: int,
    generator: torch.Generator,
    max_iter: int = 50,
    chunk_size: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Centres (k, d) of k-means on ``x`` (n, d), n >= k, seeded by ``generator``.

    Centres have the dtype of :func:`~modecollapse.metrics._checks.compute_dtype` (float32
    unless ``x`` is float64); means are summed in float64. Stops when no assignment changes
    or after ``max_iter`` Lloyd steps. An emptied cluster keeps its previous centre.
    """
    xd = x.detach().to("cpu", compute_dtype(x))
    n = len(xd)
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [xd[first]]
    _, d2 = nearest_centre(xd, xd[first : first + 1], chunk_size=chunk_size)
    for _ in range(1, k):
        probs = d2.clamp_min(0)
        if not probs.sum() > 0:  # fewer distinct points than k: pick uniformly
            probs = torch.ones(n)
        pick = int(torch.multinomial(probs.double(), 1, generator=generator))
        centres.append(xd[pick])
        d2 = torch.minimum(d2, nearest_centre(xd, xd[pick : pick + 1], chunk_size=chunk_size)[1])
    c = torch.stack(centres)
    assign = None
    for _ in range(max_iter):
        new, _ = nearest_centre(xd, c, chunk_size=chunk_size)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        counts = torch.bincount(assign, minlength=k).double()
        sums = torch.zeros(c.shape, dtype=torch.float64)
        for a, b in blocks(n, chunk_size):
            sums.index_add_(0, assign[a:b], xd[a:b].double())
        filled = counts > 0
        c[filled] = (sums[filled] / counts[filled, None]).to(c.dtype)
    return c
