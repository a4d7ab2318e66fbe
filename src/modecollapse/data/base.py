"""The benchmark interface: a sampler with known modes, so collapse can be counted.

Every benchmark knows its modes, how to sample from them with a ``torch.Generator``, which
mode a sample belongs to and how far it lies from it, and the distance under which a sample
counts as high quality (the VEEGAN / PacGAN protocol: within 3 standard deviations of a
mode in 2D; see :func:`hq_radius` for other dimensions).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..registry import Registry

#: name -> parameter dataclass with a ``build()`` method returning a :class:`Benchmark`; the
#: registry of every benchmark, beside the interface they implement.
DATASETS: Registry[type] = Registry("dataset")

# Probability mass of a 2D isotropic Gaussian within 3 std of its centre: 1 - exp(-9/2).
_MASS_WITHIN_3_STD_2D = 1.0 - math.exp(-4.5)


def hq_radius(std: float, dim: int) -> float:
    """The high-quality radius for an isotropic Gaussian mode of per-axis ``std`` in ``dim`` dims.

    In 2D this is exactly ``3 * std`` (the published protocol). In other dimensions the same
    rule is kept in its own scale: the radius holding the same share of a true mode's mass as
    3 std holds in 2D (98.9%), i.e. ``std * sqrt(chi2.ppf(0.989, dim))``. A plain 3 std would
    call every true sample of a 1200-dimensional mode low quality, since their distances
    concentrate at ``std * sqrt(dim)``.
    """
    return float(std * math.sqrt(chi2_quantile(_MASS_WITHIN_3_STD_2D, dim)))


def chi2_quantile(p: float, dim: int) -> float:
    """The ``p`` quantile of the chi-square distribution with ``dim`` degrees of freedom: the
    root of P(dim / 2, x / 2) = p (P the regularised lower incomplete gamma function, torch's
    ``special.gammainc``) by bisection in float64 to the last bit; it equals
    ``scipy.stats.chi2.ppf`` to 1e-9 relative (``tests/test_modes.py``; docs/results/metrics.md)
    without importing scipy.stats, which would slow every command's start-up
    (docs/results/performance.md)."""
    if not 0.0 < p < 1.0 or dim < 1:
        raise ValueError(f"chi2_quantile needs 0 < p < 1 and dim >= 1, got p={p}, dim={dim}.")
    a = torch.tensor(dim / 2.0, dtype=torch.float64)
    lo, hi = 0.0, dim + 40.0 * math.sqrt(2.0 * dim) + 40.0  # the mean plus 40 standard deviations
    while True:
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            return mid
        if float(torch.special.gammainc(a, torch.tensor(mid / 2.0, dtype=torch.float64))) < p:
            lo = mid
        else:
            hi = mid


@dataclass(frozen=True)
class Assignment:
    """Nearest mode of each sample. ``mode``: (n,) long; ``distance``: (n,) float; ``hq``: (n,) bool."""

    mode: torch.Tensor
    distance: torch.Tensor
    hq: torch.Tensor


class Benchmark:
    """A distribution with ``num_modes`` known modes and mixture ``weights`` (sum to 1)."""

    name: ClassVar[str] = "benchmark"
    dim: int
    num_modes: int
    weights: torch.Tensor  # (num_modes,) float64
    #: samples per evaluation when the config leaves ``eval_samples`` at 0 (its protocol's number)
    eval_samples: ClassVar[int] = 2500
    #: (channels, height, width) when each sample row is a flattened image, else None
    image_shape: tuple[int, int, int] | None = None

    def sample(self, n: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Draws ``n`` samples, (n, dim) float32. ``weights`` overrides the mode weights (curricula)."""
        w = self.weights if weights is None else weights
        modes = torch.multinomial(w, n, replacement=True, generator=generator)
        return self.sample_modes(modes, generator)

    def sample_modes(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def assign(self, x: torch.Tensor) -> Assignment:
        """Nearest mode, distance to it and whether the sample is high quality."""
        raise NotImplementedError

    def anchors(self) -> torch.Tensor:
        """Points that show where the modes are, (m, dim), for plots."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"name": self.name, "dim": self.dim, "num_modes": self.num_modes}


class GaussianMixture(Benchmark):
    """Isotropic Gaussian modes at ``centers`` (k, d) with per-mode ``stds`` (k,) and ``weights`` (k,)."""

    def __init__(self, centers: torch.Tensor, stds: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        self.centers = centers.float()
        self.stds = stds.float()
        k, self.dim = self.centers.shape
        self.num_modes = k
        w = torch.ones(k, dtype=torch.float64) if weights is None else weights.double()
        self.weights = w / w.sum()
        self.radii = torch.tensor([hq_radius(float(s), self.dim) for s in self.stds])

    def sample_modes(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(len(modes), self.dim, generator=generator)
        return self.centers[modes] + noise * self.stds[modes, None]

    def assign(self, x: torch.Tensor) -> Assignment:
        x = x.float()
        # Squared distances through the matrix product: (n, k) without an (n, k, d) tensor.
        d2 = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.centers.T + self.centers.pow(2).sum(1)).clamp_min(0)
        best, mode = d2.min(dim=1)
        dist = best.sqrt()
        return Assignment(mode=mode, distance=dist, hq=dist <= self.radii[mode])

    def anchors(self) -> torch.Tensor:
        return self.centers
