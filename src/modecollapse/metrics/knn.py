"""Exact nearest-neighbour distances in blocks: the engine behind the k-NN metrics.

Precision/recall (Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020) and the
memorisation ratio all reduce to "how far is each sample from its k-th neighbour" and "which
balls contain which samples". Both are computed here exactly, block by block, with matrix
products (``|x|^2 + |y|^2 - 2 x.y``) on CPU or GPU: memory stays at a few blocks of
``chunk_size x chunk_size`` whatever N is, and no N x N matrix is ever materialised.

Distances are computed in float64 when an input is float64 and in float32 otherwise; all
comparisons use squared distances (monotone in the distance, no square roots needed). Every
result is independent of ``chunk_size`` because running k-smallest lists are merged exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import compute_dtype, resolve_device

DEFAULT_CHUNK = 2048


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in steps of ``size``."""
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def prepare(
    x: torch.Tensor, *, device: torch.device, dtype: torch.dtype, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` on ``device`` in ``dtype`` (no copy when already so) and its squared row norms (n,)."""
    x = x.to(device=device, dtype=dtype)
    # Row norms block by block: x * x of a 50,000 x 2048 set would double the memory.
    sq = torch.cat([x[a:b].pow(2).sum(1) for a, b in blocks(len(x), chunk_size)])
    return x, sq


def sqdist(
    xa: torch.Tensor, sqa: torch.Tensor, xb: torch.Tensor, sqb: torch.Tensor, *, buffer: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared Euclidean distances (a, b) between the rows of ``xa`` (a, d) and ``xb`` (b, d).

    ``buffer``: optional flat tensor of at least a * b elements to write into, so that a
    sweep over many blocks reuses one allocation instead of fragmenting the heap.
    """
    out = None if buffer is None else buffer[: len(xa) * len(xb)].view(len(xa), len(xb))
    d2 = torch.addmm(sqb[None, :], xa, xb.T, beta=1.0, alpha=-2.0, out=out)  # (a, b)
    return d2.add_(sqa[:, None]).clamp_(min=0.0)


def block_buffer(chunk_size: int, *, like: torch.Tensor) -> torch.Tensor:
    """A flat scratch tensor for one chunk_size x chunk_size block of distances."""
    return torch.empty(chunk_size * chunk_size, dtype=like.dtype, device=like.device)


def _transposed(d2: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """A contiguous copy of ``d2.T`` in ``buffer``: row-wise top-k on it is several times
    faster than top-k along dim 0 of ``d2``."""
    return buffer[: d2.numel()].view(d2.shape[1], d2.shape[0]).copy_(d2.T)


def _merge_smallest(current: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k`` smallest of ``current`` (m, k) and ``candidates`` (m, c), ascending."""
    if k == 1:  # a plain minimum is several times cheaper than topk
        return torch.minimum(current, candidates.amin(dim=1, keepdim=True))
    take = min(k, candidates.shape[1])
    cand = torch.topk(candidates, take, dim=1, largest=False, sorted=False).values
    both = torch.cat([current, cand], dim=1)
    return torch.topk(both, k, dim=1, largest=False, sorted=True).values


def knn_sqdist(
    x: torch.Tensor, *, k: int, chunk_size: int = DEFAULT_CHUNK, device: str | torch.device | None = None
) -> torch.Tensor:
    """Squared distances from each row of ``x`` (n, d) to its ``k + 1`` nearest rows, self included.

    Returns (n, k + 1) ascending, so column 0 is the sample itself (distance 0) and column
    ``j`` is the squared distance to its ``j``-th nearest other sample: the radius of the
    k-NN ball that precision/recall and density/coverage use (the convention of the ``prdc``
    package: the (k+1)-th smallest distance in a row that includes the sample itself).
    Only the upper triangle of blocks is computed; each block updates both its rows and
    its columns, which halves the matrix products of a naive row sweep.
    """
    dev = resolve_device(device, x)
    xs, sq = prepare(x, device=dev, dtype=compute_dtype(x), chunk_size=chunk_size)
    n, kk = len(xs), k + 1
    best = torch.full((n, kk), float("inf"), dtype=xs.dtype, device=dev)
    parts = blocks(n, chunk_size)
    buf, buf_t = block_buffer(chunk_size, like=xs), block_buffer(chunk_size, like=xs)
    for bi, (i0, i1) in enumerate(parts):
        for j0, j1 in parts[bi:]:
            d2 = sqdist(xs[i0:i1], sq[i0:i1], xs[j0:j1], sq[j0:j1], buffer=buf)  # (bi, bj)
            if i0 == j0:
                d2.fill_diagonal_(0.0)  # the sample itself, exactly, despite rounding
            best[i0:i1] = _merge_smallest(best[i0:i1], d2, kk)
            if j0 != i0:
                best[j0:j1] = _merge_smallest(best[j0:j1], _transposed(d2, buf_t), kk)
    return best


@dataclass(frozen=True)
class CrossNeighbourhoods:
    """Which k-NN balls of one set contain the samples of the other.

    ``fake_in_real_balls``: (n_fake, a) long, how many real balls of radius column ``c``
    contain each fake sample; ``real_in_fake_balls``: (n_real, b) long, likewise for real
    samples in fake balls; ``real_nearest_fake``: (n_real, m_r) ascending squared distances
    from each real sample to its nearest fake ones; ``fake_nearest_real``: (n_fake, m_f).
    """

    fake_in_real_balls: torch.Tensor
    real_in_fake_balls: torch.Tensor
    real_nearest_fake: torch.Tensor
    fake_nearest_real: torch.Tensor


def cross_neighbourhoods(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_radii2: torch.Tensor | None = None,
    fake_radii2: torch.Tensor | None = None,
    real_nearest: int = 0,
    fake_nearest: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
) -> CrossNeighbourhoods:
    """One blockwise pass over all real x fake distances.

    ``real_radii2`` (n_real, a) and ``fake_radii2`` (n_fake, b) are squared ball radii
    (several columns for several k); a point lies inside a ball when its squared distance
    to the centre is strictly smaller than the squared radius (as in ``prdc``).
    ``real_nearest`` / ``fake_nearest`` ask for that many smallest cross distances per sample.
    """
    dev = resolve_device(device, real)
    dtype = compute_dtype(real, fake)
    xr, sqr = prepare(real, device=dev, dtype=dtype, chunk_size=chunk_size)
    xf, sqf = prepare(fake, device=dev, dtype=dtype, chunk_size=chunk_size)
    nr, nf = len(xr), len(xf)
    rr = torch.empty(nr, 0, dtype=dtype, device=dev) if real_radii2 is None else real_radii2.to(dev, dtype)
    fr = torch.empty(nf, 0, dtype=dtype, device=dev) if fake_radii2 is None else fake_radii2.to(dev, dtype)
    fake_in = torch.zeros(nf, rr.shape[1], dtype=torch.long, device=dev)
    real_in = torch.zeros(nr, fr.shape[1], dtype=torch.long, device=dev)
    near_r = torch.full((nr, real_nearest), float("inf"), dtype=dtype, device=dev)
    near_f = torch.full((nf, fake_nearest), float("inf"), dtype=dtype, device=dev)
    buf = block_buffer(chunk_size, like=xr)
    buf_t = block_buffer(chunk_size, like=xr) if fake_nearest else buf
    for i0, i1 in blocks(nr, chunk_size):
        for j0, j1 in blocks(nf, chunk_size):
            d2 = sqdist(xr[i0:i1], sqr[i0:i1], xf[j0:j1], sqf[j0:j1], buffer=buf)  # (real block, fake block)
            # int32 sums of a block are exact and ~6x faster than the default int64 ones
            for c in range(rr.shape[1]):
                fake_in[j0:j1, c] += (d2 < rr[i0:i1, c, None]).sum(0, dtype=torch.int32)
            for c in range(fr.shape[1]):
                real_in[i0:i1, c] += (d2 < fr[None, j0:j1, c]).sum(1, dtype=torch.int32)
            if real_nearest:
                near_r[i0:i1] = _merge_smallest(near_r[i0:i1], d2, real_nearest)
            if fake_nearest:
                near_f[j0:j1] = _merge_smallest(near_f[j0:j1], _transposed(d2, buf_t), fake_nearest)
    return CrossNeighbourhoods(fake_in.cpu(), real_in.cpu(), near_r.cpu(), near_f.cpu())
