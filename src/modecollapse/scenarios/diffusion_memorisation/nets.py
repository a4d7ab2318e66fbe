"""The two denoisers: an MLP for 2D points and a small U-shaped conv net for MNIST digits.
Both take (x_t, t) and return the predicted noise, shaped like x_t."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def time_embedding(t: torch.Tensor, dim: int, steps: int) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of t / steps: (b,) -> (b, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / max(half - 1, 1))
    angle = (t.float() / steps * 1000.0)[:, None] * freqs[None]
    return torch.cat([angle.sin(), angle.cos()], dim=1)


class MLPDenoiser(nn.Module):
    """x_t (b, d), t (b,) -> eps (b, d)."""

    def __init__(self, dim: int, steps: int, hidden: int = 128, temb: int = 32) -> None:
        super().__init__()
        self.steps, self.temb = steps, temb
        self.net = nn.Sequential(nn.Linear(dim + temb, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, self.temb, self.steps)], dim=1))


class ConvDenoiser(nn.Module):
    """x_t (b, 1, s, s) with s even, t (b,) -> eps (b, 1, s, s): one down- and one up-sampling
    level with a skip connection, the time embedding added to every block's channels."""

    def __init__(self, steps: int, width: int = 32, temb: int = 32) -> None:
        super().__init__()
        self.steps, self.temb = steps, temb
        self.t1, self.t2 = nn.Linear(temb, width), nn.Linear(temb, 2 * width)
        self.inp = nn.Conv2d(1, width, 3, padding=1)  # (b, w, s, s)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)  # (b, 2w, s/2, s/2)
        self.mid = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.up = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)  # (b, w, s, s)
        self.merge = nn.Conv2d(2 * width, width, 3, padding=1)
        self.out = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = time_embedding(t, self.temb, self.steps)
        h1 = F.silu(self.inp(x) + self.t1(e)[:, :, None, None])
        h2 = F.silu(self.down(h1) + self.t2(e)[:, :, None, None])
        h2 = F.silu(self.mid(h2)) + h2
        h = F.silu(self.merge(torch.cat([F.silu(self.up(h2)), h1], dim=1)))
        return self.out(h)
