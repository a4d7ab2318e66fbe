"""Multimodal fitness landscapes with several equal peaks, standard in the niching literature.

- ``deb``: Deb's function F1 (Goldberg & Richardson 1987; Deb & Goldberg 1989),
  f(x) = sin^6(5 pi x) on [0, 1]: five equal peaks at x = 0.1, 0.3, 0.5, 0.7, 0.9.
- ``himmelblau``: Himmelblau's function h(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2 on
  [-6, 6]^2, four equal minima (h = 0); fitness max(0, 200 - h), as in Beasley, Bull &
  Martin (1993, "A sequential niche technique for multimodal function optimization").
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Landscape:
    name: str
    low: float
    high: float
    peaks: torch.Tensor  # (k, d)
    fitness: Callable[[torch.Tensor], torch.Tensor]  # (n, d) -> (n,) >= 0, maximised at the peaks

    @property
    def dim(self) -> int:
        return self.peaks.shape[1]

    @property
    def width(self) -> float:
        return self.high - self.low


def _deb(x: torch.Tensor) -> torch.Tensor:
    return torch.sin(5 * math.pi * x[:, 0]).pow(6)


def _himmelblau(x: torch.Tensor) -> torch.Tensor:
    h = (x[:, 0] ** 2 + x[:, 1] - 11) ** 2 + (x[:, 0] + x[:, 1] ** 2 - 7) ** 2
    return (200 - h).clamp_min(0)


LANDSCAPES = {
    "deb": Landscape("deb", 0.0, 1.0, torch.tensor([[0.1], [0.3], [0.5], [0.7], [0.9]], dtype=torch.float64), _deb),
    "himmelblau": Landscape("himmelblau", -6.0, 6.0, torch.tensor(
        [[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]], dtype=torch.float64),
        _himmelblau),
}
