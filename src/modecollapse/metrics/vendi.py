"""The Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric
for Machine Learning", TMLR), with order q (Pasarkar & Dieng 2024, "Cousins of the Vendi
Score").

VS_q = exp(H_q(lambda)), where lambda are the eigenvalues of K / n for a kernel with
k(x, x) = 1 and H_q is the Renyi entropy of order q (q = 1: Shannon; q = inf: -log max
lambda; q = 0: log of the number of non-zero eigenvalues). It is the effective number of
distinct samples: k equally weighted, well-separated clusters score about k. **It falls
when modes are dropped.** It needs no real data; compare with the real set's own score.

Kernels: ``cosine`` (default; rows scaled to unit length), ``linear`` (eigenvalues
normalised by the trace) and ``rbf`` (exp(-|x - y|^2 / (2 bandwidth^2))). For cosine and
linear the non-zero eigenvalues of K / n = X X^T / n equal those of the d x d matrix
X^T X / n, so the score is computed exactly through that matrix when n > d, in seconds
even for n = 50,000 (and as a streaming sum, :class:`StreamingVendi`). The RBF kernel has
no such dual: its n x n eigenvalues are exact up to ``max_exact`` samples, beyond which a
seeded random subset of ``max_exact`` samples is scored (recorded in the result).

The cosine kernel's rank is at most d: on 2-D toy data its score cannot exceed 2; use
``rbf`` with a bandwidth below the spacing of the modes there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError
from ._checks import as_generator, check_features, compute_dtype, resolve_device
from .knn import DEFAULT_CHUNK, blocks, prepare, sqdist

Kernel = Literal["cosine", "linear", "rbf"]
KERNELS: tuple[str, ...] = ("cosine", "linear", "rbf")


@dataclass(frozen=True)
class VendiResult:
    """The Vendi score (>= 1, effective number of modes; higher is better) and how it was computed."""

    vendi: float
    order: float
    kernel: str
    n: int
    n_used: int
    method: str  # "primal" (n x n), "dual" (d x d) or "subset" (rbf on a random subset)
    bandwidth: float | None


def score_from_eigenvalues(eigenvalues: torch.Tensor, order: float) -> float:
    """exp of the Renyi entropy of order ``order`` of the (clamped, normalised) eigenvalues."""
    lam = eigenvalues.double().clamp_min(0)
    total = lam.sum()
    if not total > 0:
        raise ConfigError("the kernel matrix is zero, so the Vendi score is undefined; check the features.")
    lam = lam / total
    if order == 0:
        return float((lam > 1e-12).sum())  # eigenvalues below rounding count as zero
    if math.isinf(order):
        return float(1.0 / lam.max())
    pos = lam[lam > 0]
    if order == 1:
        return float(torch.exp(-(pos * pos.log()).sum()))
    return float(torch.exp(torch.log(pos.pow(order).sum()) / (1.0 - order)))


def _check_order(order: float) -> None:
    if not (order >= 0):
        raise ConfigError(f"the Vendi order q must be >= 0 (0, 0.5, 1, 2 or inf), got {order}.")


def _unit_rows(x: torch.Tensor, name: str) -> torch.Tensor:
    norms = x.norm(dim=1, keepdim=True)
    zero = int((norms == 0).sum())
    if zero:
        raise ConfigError(
            f"{name} has {zero} all-zero rows, for which the cosine kernel is undefined; "
            "use the linear or rbf kernel, or drop them."
        )
    return x / norms


class StreamingVendi:
    """Vendi score of the cosine or linear kernel over batches, exactly, in O(d^2) memory.

    ``update(samples)`` accumulates X^T X (d, d) in float64, block products in the input's
    precision; ``compute()`` takes its eigenvalues.
    """

    def __init__(self, *, kernel: Literal["cosine", "linear"] = "cosine", order: float = 1.0) -> None:
        if kernel not in ("cosine", "linear"):
            raise ConfigError(f"StreamingVendi supports the cosine and linear kernels, not {kernel!r}.")
        _check_order(order)
        self.kernel = kernel
        self.order = order
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self._gram: torch.Tensor | None = None  # (d, d) float64

    def update(self, samples: torch.Tensor, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        check_features(samples, "samples")
        if self._gram is None:
            self._gram = torch.zeros(samples.shape[1], samples.shape[1], dtype=torch.float64)
        elif samples.shape[1] != self._gram.shape[0]:
            raise ValueError(f"samples have {samples.shape[1]} dimensions, earlier updates had {self._gram.shape[0]}")
        dtype = compute_dtype(samples)
        for a, b in blocks(len(samples), chunk_size):
            # each block's product in the input precision (float32 is twice as fast), summed in float64
            c = samples[a:b].detach().to("cpu", dtype)
            if self.kernel == "cosine":
                c = _unit_rows(c, "samples")
            self._gram += (c.T @ c).double()
        self.n += len(samples)

    def compute(self) -> VendiResult:
        if self._gram is None or self.n == 0:
            raise ValueError("StreamingVendi.compute() needs at least one update")
        lam = torch.linalg.eigvalsh(self._gram)
        return VendiResult(score_from_eigenvalues(lam, self.order), self.order, self.kernel, self.n, self.n, "dual", None)


def vendi(
    *,
    samples: torch.Tensor,
    order: float = 1.0,
    kernel: Kernel = "cosine",
    bandwidth: float | None = None,
    max_exact: int = 5000,
    seed: int | torch.Generator = 0,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
) -> VendiResult:
    """Vendi score of ``samples`` (n, d): the effective number of distinct modes among them.

    ``bandwidth`` is required for ``kernel="rbf"`` (the distance below which two samples
    count as alike); ``seed`` only matters for the rbf subset when n > ``max_exact``.
    """
    check_features(samples, "samples")
    _check_order(order)
    if kernel not in KERNELS:
        raise ConfigError(f"unknown Vendi kernel {kernel!r}; choose one of: {', '.join(KERNELS)}.")
    n, d = samples.shape
    if kernel in ("cosine", "linear"):
        if n > d:
            acc = StreamingVendi(kernel=kernel, order=order)  # type: ignore[arg-type]
            acc.update(samples, chunk_size=chunk_size)
            return acc.compute()
        x = samples.detach().to("cpu", torch.float64)
        if kernel == "cosine":
            x = _unit_rows(x, "samples")
        lam = torch.linalg.eigvalsh(x @ x.T)
        return VendiResult(score_from_eigenvalues(lam, order), order, kernel, n, n, "primal", None)
    if bandwidth is None or not bandwidth > 0:
        raise ConfigError(
            "the rbf kernel needs a positive bandwidth (the distance below which two samples count as alike), "
            "e.g. --vendi-bandwidth 0.1."
        )
    method, x = "primal", samples
    if n > max_exact:
        gen = as_generator(seed)
        x = samples[torch.randperm(n, generator=gen)[:max_exact]]
        method = "subset"
    dev = resolve_device(device, x)
    xs, sq = prepare(x, device=dev, dtype=torch.float64, chunk_size=chunk_size)
    m = len(xs)
    kmat = torch.empty(m, m, dtype=torch.float64, device=dev)
    for a, b in blocks(m, chunk_size):
        kmat[a:b] = torch.exp(-sqdist(xs[a:b], sq[a:b], xs, sq) / (2.0 * bandwidth**2))
    lam = torch.linalg.eigvalsh((kmat + kmat.T) / 2)
    return VendiResult(score_from_eigenvalues(lam, order), order, kernel, n, m, method, float(bandwidth))
