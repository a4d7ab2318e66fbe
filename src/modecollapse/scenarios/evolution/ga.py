"""A real-coded genetic algorithm and the two classic ways to keep several peaks.

- ``plain``: fitness-proportional selection (stochastic universal sampling), arithmetic crossover, Gaussian
  mutation, generational replacement. On equal peaks selection cannot prefer one, but the
  finite population's sampling noise (genetic drift) fixes one peak sooner or later.
- ``sharing``: fitness sharing (Goldberg & Richardson 1987, "Genetic algorithms with sharing
  for multimodal function optimization"): the same GA on f_i / m_i with niche count
  m_i = sum_j sh(d_ij), sh(d) = 1 - (d / sigma_share)^alpha for d < sigma_share (0 beyond);
  a crowded peak pays for its crowd, so each peak holds a share of the population
  proportional to its height.
- ``crowding``: deterministic crowding (Mahfoud 1995, "Niching methods for genetic
  algorithms", PhD thesis): random pairs of parents make two children; each child competes
  only with the more similar parent and replaces it when fitter, so individuals compete
  within their own niche.

Distances are Euclidean in the domain scaled to width 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .landscapes import Landscape

METHODS = ("plain", "sharing", "crowding")


@dataclass(frozen=True)
class GAConfig:
    population: int
    generations: int
    crossover: float  # probability a pair is recombined
    mutation: float  # Gaussian mutation std, as a fraction of the domain width
    sigma_share: float  # sharing radius, as a fraction of the domain width
    alpha: float = 1.0
    power: float = 1.0  # selection sees fitness ** power (power-law scaling sharpens broad peaks)


def _distances(x: torch.Tensor, y: torch.Tensor, land: Landscape) -> torch.Tensor:
    return torch.cdist(x / land.width, y / land.width)


def shared_fitness(x: torch.Tensor, land: Landscape, sigma: float, alpha: float, power: float = 1.0) -> torch.Tensor:
    """f(x_i)^power / m_i with the niche count m_i of Goldberg & Richardson (1987)."""
    d = _distances(x, x, land)
    sh = (1 - (d / sigma).pow(alpha)).clamp_min(0)
    return land.fitness(x).pow(power) / sh.sum(1)  # the diagonal contributes 1, so m_i >= 1


def _vary(a: torch.Tensor, b: torch.Tensor, land: Landscape, cfg: GAConfig,
          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Arithmetic crossover (with probability ``crossover``) and Gaussian mutation of pairs."""
    n = len(a)
    u = torch.rand(n, 1, generator=gen, dtype=a.dtype)
    do = (torch.rand(n, 1, generator=gen) < cfg.crossover).to(a.dtype)
    u = do * u + (1 - do)  # u = 1: children are copies
    c1, c2 = u * a + (1 - u) * b, u * b + (1 - u) * a
    c1 = c1 + torch.randn(c1.shape, generator=gen, dtype=a.dtype) * cfg.mutation * land.width
    c2 = c2 + torch.randn(c2.shape, generator=gen, dtype=a.dtype) * cfg.mutation * land.width
    return c1.clamp(land.low, land.high), c2.clamp(land.low, land.high)


def _sus(weights: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """Stochastic universal sampling (Baker 1987): ``k`` indices drawn proportionally to
    ``weights`` with one random offset and equal spacing, then shuffled for pairing; the least
    noisy fitness-proportional selection, so drift comes from the GA and not the sampler."""
    cum = torch.cumsum(weights / weights.sum(), 0)
    points = (torch.rand(1, generator=gen, dtype=cum.dtype) + torch.arange(k, dtype=cum.dtype)) / k
    idx = torch.searchsorted(cum, points).clamp_max(len(weights) - 1)
    return idx[torch.randperm(k, generator=gen)]


def step(x: torch.Tensor, method: str, land: Landscape, cfg: GAConfig, gen: torch.Generator) -> torch.Tensor:
    """One generation of ``method`` on population ``x`` (n, d)."""
    n = len(x)
    if method == "crowding":
        perm = torch.randperm(n, generator=gen)
        half = n // 2
        p1, p2 = x[perm[:half]], x[perm[half:2 * half]]
        c1, c2 = _vary(p1, p2, land, cfg, gen)
        # pair each child with the closer parent (the standard two-way matching)
        d = lambda a, b: ((a - b) / land.width).pow(2).sum(1)  # noqa: E731
        straight = d(c1, p1) + d(c2, p2) <= d(c1, p2) + d(c2, p1)
        m1 = torch.where(straight[:, None], p1, p2)
        m2 = torch.where(straight[:, None], p2, p1)
        f = land.fitness
        w1 = torch.where((f(c1) > f(m1))[:, None], c1, m1)
        w2 = torch.where((f(c2) > f(m2))[:, None], c2, m2)
        out = x.clone()
        out[perm[:half]], out[perm[half:2 * half]] = w1, w2
        return out
    if method == "sharing":
        fit = shared_fitness(x, land, cfg.sigma_share, cfg.alpha, cfg.power)
    else:
        fit = land.fitness(x).pow(cfg.power)
    weights = fit + 1e-12 if fit.sum() > 0 else torch.ones(n, dtype=x.dtype)
    parents = x[_sus(weights, 2 * ((n + 1) // 2), gen)]
    c1, c2 = _vary(parents[0::2], parents[1::2], land, cfg, gen)
    return torch.cat([c1, c2])[:n]
