"""A minimal DDPM (Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models"): the
epsilon-prediction loss and ancestral sampling, with the cosine noise schedule of Nichol &
Dhariwal (2021, "Improved Denoising Diffusion Probabilistic Models"), which behaves well with
the few steps (T = 100) a CPU budget allows.

The network is any module ``net(x_t, t)`` with x_t of the data's shape and t (b,) long in
[0, T); the trainer and sampler know nothing else about it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CosineSchedule:
    """alpha_bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), betas clipped at ``max_beta``."""

    def __init__(self, steps: int, s: float = 0.008, max_beta: float = 0.999) -> None:
        f = lambda t: math.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        betas = [min(1 - f(i + 1) / f(i), max_beta) for i in range(steps)]
        self.steps = steps
        self.betas = torch.tensor(betas, dtype=torch.float32)  # (T,)
        self.alphas = 1 - self.betas
        self.alpha_bar = torch.cumprod(self.alphas, dim=0)  # (T,)

    def _at(self, values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return values.to(like.device)[t].reshape(-1, *([1] * (like.ndim - 1)))


def ddpm_loss(net: nn.Module, schedule: CosineSchedule, x0: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """E_t,eps |eps - net(sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, t)|^2 (Ho et al. 2020, eq. 14)."""
    b = len(x0)
    t = torch.randint(schedule.steps, (b,), generator=generator).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator).to(x0.device)
    ab = schedule._at(schedule.alpha_bar, t, x0)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    return F.mse_loss(net(x_t, t), eps)


@torch.no_grad()
def ddpm_sample(net: nn.Module, schedule: CosineSchedule, shape: tuple[int, ...], generator: torch.Generator,
                device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Ancestral sampling with sigma_t^2 = beta_t (Ho et al. 2020, algorithm 2); returns (n, ...) on the CPU."""
    net.eval()
    out = []
    for a in range(0, shape[0], batch_size):
        b = min(batch_size, shape[0] - a)
        x = torch.randn((b, *shape[1:]), generator=generator).to(device)
        for i in reversed(range(schedule.steps)):
            t = torch.full((b,), i, dtype=torch.long, device=device)
            beta, alpha, ab = (schedule._at(v, t, x) for v in (schedule.betas, schedule.alphas, schedule.alpha_bar))
            mean = (x - beta / (1 - ab).sqrt() * net(x, t)) / alpha.sqrt()
            noise = torch.randn(x.shape, generator=generator).to(device) if i > 0 else torch.zeros_like(x)
            x = mean + beta.sqrt() * noise
        out.append(x.cpu())
    net.train()
    return torch.cat(out)
