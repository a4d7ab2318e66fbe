"""Gradient penalties on the discriminator.

- ``wgan-gp`` (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"):
  weight * E[(||grad D(x_hat)|| - 1)^2] at random interpolates of real and fake.
- ``r1`` / ``r2`` (Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do
  actually Converge?"): weight / 2 * E[||grad D(x)||^2] on real (R1) or fake (R2) samples.
- ``dragan`` (Kodali et al. 2017, "On Convergence and Stability of GANs"):
  weight * E[(||grad D(x + delta)|| - 1)^2] with delta a perturbation of the real data
  (0.5 * std(x) * U[0,1] per coordinate), penalising sharp gradients around real modes,
  the local equilibria the authors tie to mode collapse.

With packing (PacGAN) D judges packs of m consecutive samples as one input of m * dim
coordinates, so the penalties act on packs: the gradient norm is taken per pack (over all
its m * dim coordinates), wgan-gp interpolates whole packs (one alpha per pack) and R1 / R2 /
DRAGAN average over packs. Without packing a pack is one sample.

``interval`` > 1 applies the penalty lazily (Karras et al. 2020, StyleGAN2): only every
``interval``-th D step, scaled by ``interval`` so the average strength is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError
from .base import Critic, DBatch, Technique, TechniqueContext, register


def _grad_norm(critic: Critic, x: torch.Tensor, group: int = 1) -> torch.Tensor:
    """||grad D(x)|| per verdict, (batch / group,), with a graph so the penalty can be trained.

    ``group`` consecutive samples form one input of D (a pack): the norm runs over all their
    coordinates, the gradient of D's verdict on that pack with respect to the pack.
    """
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(x.shape[0] // group, -1).norm(dim=1)


@dataclass
class PenaltyParams:
    kind: Literal["wgan-gp", "r1", "r2", "dragan"] = "r1"
    weight: float = 10.0
    interval: int = 1

    def validate(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"weight must be >= 0, got {self.weight}.")
        if self.interval < 1:
            raise ConfigError(f"interval must be >= 1, got {self.interval}.")


def penalty(critic: Critic, kind: str, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator,
            group: int = 1) -> torch.Tensor:
    """The unweighted penalty ``kind`` of ``critic`` (D, or any ``x -> verdicts``) for one batch
    (a scalar); ``group``: samples per verdict of D (the pack size m with packing, else 1)."""
    if kind == "wgan-gp":
        n = min(len(real), len(fake)) // group * group
        # one alpha per pack: the interpolate lies between a real pack and a fake pack
        alpha = torch.rand(n // group, *([1] * (real.ndim - 1)), generator=generator).repeat_interleave(group, dim=0)
        alpha = alpha.to(real.device)
        x_hat = alpha * real[:n] + (1 - alpha) * fake[:n]
        return (_grad_norm(critic, x_hat, group) - 1).pow(2).mean()
    if kind == "r1":
        return 0.5 * _grad_norm(critic, real, group).pow(2).mean()
    if kind == "r2":
        return 0.5 * _grad_norm(critic, fake, group).pow(2).mean()
    if kind == "dragan":
        scale = 0.5 * real.std(dim=0, keepdim=True)
        delta = torch.rand(real.shape, generator=generator).to(real.device) * scale
        return (_grad_norm(critic, real + delta, group) - 1).pow(2).mean()
    raise ValueError(kind)


@register
class GradientPenalty(Technique):
    name = "gp"
    Params = PenaltyParams
    summary = "gradient penalty on D: kind=wgan-gp|r1|r2|dragan, weight, lazy interval"
    needs_double_backward = True

    def __init__(self, params: PenaltyParams) -> None:
        super().__init__(params)
        self._calls = 0

    def d_terms(self, ctx: TechniqueContext, batch: DBatch) -> dict[str, torch.Tensor]:
        self._calls += 1
        if (self._calls - 1) % self.params.interval:
            return {}
        # D's verdicts per sample: fewer verdicts than samples means D judges packs
        group = max(1, batch.real.shape[0] // max(1, batch.d_real.shape[0]))
        value = penalty(ctx.D, self.params.kind, batch.real, batch.fake, ctx.noise_gen, group)
        return {f"gp_{self.params.kind}": self.params.weight * self.params.interval * value}

    def state_dict(self) -> dict:
        return {"calls": self._calls}

    def load_state_dict(self, state: dict) -> None:
        self._calls = int(state["calls"])
