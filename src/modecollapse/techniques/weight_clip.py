"""Weight clipping of the critic (Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN").

Keeps the critic roughly Lipschitz by clamping every discriminator parameter to
[-clip, clip] after each critic step. Implied by ``--loss wgan``; the seed articles note it
makes the critic's capacity hard to tune, which is why gradient penalties replaced it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import Technique, TechniqueContext, register


@dataclass
class WeightClipParams:
    clip: float = 0.01

    def validate(self) -> None:
        if not self.clip > 0:
            raise ConfigError(f"clip must be positive, got {self.clip}.")


@register
class WeightClip(Technique):
    name = "weight-clip"
    Params = WeightClipParams
    summary = "clamp critic weights to [-clip, clip] after each D step (WGAN)"

    @torch.no_grad()
    def after_d_step(self, ctx: TechniqueContext) -> None:
        # D's parameters as they are now: read at every step, never cached in setup, so a D
        # replaced or extended by another technique (packing, a minibatch head) is clipped whole.
        for p in ctx.D.parameters():
            p.clamp_(-self.params.clip, self.params.clip)
