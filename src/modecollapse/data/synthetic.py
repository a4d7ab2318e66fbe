"""The synthetic benchmarks of the mode-collapse literature, each with countable modes.

- ``ring``: k Gaussians on a circle (Metz et al. 2017, Unrolled GANs; Srivastava et al.
  2017, VEEGAN; Lin et al. 2018, PacGAN use 8 modes, radius 2, std 0.02).
- ``grid``: an n x n grid of Gaussians (VEEGAN / PacGAN: 5 x 5 at {-4,-2,0,2,4}^2, std 0.05).
- ``lines``: parallel line segments, the toy on which a generator covers one line and
  ignores the rest.
- ``plus``: four clusters in a plus shape, the toy behind FID's blind spot (two inflated
  clusters can match its mean and covariance while missing half the modes).
- ``core-outliers``: a dense core with sparse far clusters, the curriculum toy: rare modes
  are the first a generator drops.
- ``highdim``: 10 Gaussians in 1200 dimensions (the VEEGAN high-dimensional mixture).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import DATASETS, Assignment, Benchmark, GaussianMixture, hq_radius


def _positive(**values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise ConfigError(f"{key} must be positive, got {value}.")


@DATASETS.register("ring")
@dataclass
class RingParams:
    """k Gaussian modes evenly spaced on a circle."""

    modes: int = 8
    radius: float = 2.0
    std: float = 0.02

    def validate(self) -> None:
        _positive(modes=self.modes, radius=self.radius, std=self.std)

    def build(self) -> Benchmark:
        angle = torch.arange(self.modes, dtype=torch.float64) * (2 * math.pi / self.modes)
        centers = self.radius * torch.stack([angle.cos(), angle.sin()], dim=1)
        ds = GaussianMixture(centers, torch.full((self.modes,), self.std))
        ds.name = "ring"
        return ds


@DATASETS.register("grid")
@dataclass
class GridParams:
    """side x side Gaussian modes on a square grid centred at the origin."""

    side: int = 5
    spacing: float = 2.0
    std: float = 0.05

    def validate(self) -> None:
        _positive(side=self.side, spacing=self.spacing, std=self.std)

    def build(self) -> Benchmark:
        axis = (torch.arange(self.side, dtype=torch.float64) - (self.side - 1) / 2) * self.spacing
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        centers = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
        ds = GaussianMixture(centers, torch.full((self.side**2,), self.std))
        ds.name = "grid"
        return ds


@DATASETS.register("plus")
@dataclass
class PlusParams:
    """Four Gaussian clusters at (+-r, 0) and (0, +-r)."""

    radius: float = 2.0
    std: float = 0.1

    def validate(self) -> None:
        _positive(radius=self.radius, std=self.std)

    def build(self) -> Benchmark:
        r = self.radius
        centers = torch.tensor([[r, 0.0], [0.0, r], [-r, 0.0], [0.0, -r]])
        ds = GaussianMixture(centers, torch.full((4,), self.std))
        ds.name = "plus"
        return ds


@DATASETS.register("core-outliers")
@dataclass
class CoreOutliersParams:
    """A dense core at the origin holding ``core_weight`` of the mass, plus ``outliers``
    small clusters on a circle of ``radius`` sharing the rest."""

    outliers: int = 4
    radius: float = 4.0
    core_weight: float = 0.9
    core_std: float = 0.2
    std: float = 0.05

    def validate(self) -> None:
        _positive(outliers=self.outliers, radius=self.radius, core_std=self.core_std, std=self.std)
        if not 0 < self.core_weight < 1:
            raise ConfigError(f"core_weight must lie strictly between 0 and 1, got {self.core_weight}.")

    def build(self) -> Benchmark:
        angle = torch.arange(self.outliers, dtype=torch.float64) * (2 * math.pi / self.outliers)
        far = self.radius * torch.stack([angle.cos(), angle.sin()], dim=1)
        centers = torch.cat([torch.zeros(1, 2, dtype=torch.float64), far])
        stds = torch.tensor([self.core_std] + [self.std] * self.outliers)
        rest = (1 - self.core_weight) / self.outliers
        weights = torch.tensor([self.core_weight] + [rest] * self.outliers)
        ds = GaussianMixture(centers, stds, weights)
        ds.name = "core-outliers"
        return ds


@DATASETS.register("highdim")
@dataclass
class HighDimParams:
    """``modes`` Gaussians in ``dim`` dimensions with centres drawn once from ``center_seed``.

    Centres are i.i.d. N(0, ``scale``^2) per coordinate, so two centres lie about
    ``scale * sqrt(2 * dim)`` apart, far beyond a mode's radius ``std * sqrt(dim)``.
    """

    modes: int = 10
    dim: int = 1200
    std: float = 0.05
    scale: float = 1.0
    center_seed: int = 0

    def validate(self) -> None:
        _positive(modes=self.modes, dim=self.dim, std=self.std, scale=self.scale)

    def build(self) -> Benchmark:
        gen = torch.Generator().manual_seed(self.center_seed)
        centers = torch.randn(self.modes, self.dim, generator=gen, dtype=torch.float64) * self.scale
        ds = GaussianMixture(centers, torch.full((self.modes,), self.std))
        ds.name = "highdim"
        return ds


class ParallelLines(Benchmark):
    """``count`` horizontal segments y = y_i, x in [-length/2, length/2], blurred by ``std``."""

    name = "lines"

    def __init__(self, count: int, spacing: float, length: float, std: float) -> None:
        self.dim = 2
        self.num_modes = count
        self.ys = (torch.arange(count, dtype=torch.float32) - (count - 1) / 2) * spacing
        self.half = length / 2
        self.std = std
        self.weights = torch.full((count,), 1.0 / count, dtype=torch.float64)
        self.radius = hq_radius(std, 2)

    def sample_modes(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = len(modes)
        x = (torch.rand(n, generator=generator) * 2 - 1) * self.half
        pts = torch.stack([x, self.ys[modes]], dim=1)
        return pts + torch.randn(n, 2, generator=generator) * self.std

    def assign(self, x: torch.Tensor) -> Assignment:
        x = x.float()
        # Distance to each segment: horizontal overshoot beyond the ends, vertical offset.
        dx = (x[:, :1].abs() - self.half).clamp_min(0)  # (n, 1)
        dy = x[:, 1:2] - self.ys  # (n, count)
        dist_all = (dx.pow(2) + dy.pow(2)).sqrt()
        dist, mode = dist_all.min(dim=1)
        return Assignment(mode=mode, distance=dist, hq=dist <= self.radius)

    def anchors(self) -> torch.Tensor:
        xs = torch.linspace(-self.half, self.half, 9)
        return torch.stack([torch.stack([xs, torch.full_like(xs, float(y))], 1) for y in self.ys]).reshape(-1, 2)


@DATASETS.register("lines")
@dataclass
class LinesParams:
    """``count`` parallel horizontal line segments of ``length``, ``spacing`` apart."""

    count: int = 4
    spacing: float = 1.0
    length: float = 4.0
    std: float = 0.02

    def validate(self) -> None:
        _positive(count=self.count, spacing=self.spacing, length=self.length, std=self.std)

    def build(self) -> Benchmark:
        return ParallelLines(self.count, self.spacing, self.length, self.std)
