"""Precision aids over time: the generator's late-training jitter blurs every mode.

- ``ema``: the generator used for evaluation is an exponential moving average of the
  trained generator's weights (Yazıcı et al. 2019, "The Unusual Effectiveness of Averaging
  in GAN Training"; Karras et al. 2018 use it for every reported result). The trained weights
  circle around an equilibrium; their average sits closer to it, so samples land nearer
  their modes. The effective decay is min(decay, (1 + t) / (10 + t)) at step t, so early
  averages forget the random initialisation quickly.
- ``lr-decay``: both learning rates fall from their configured values to ``final`` x those
  values between fractions ``start`` and 1 of training (linearly or along a half cosine), a
  final phase in which the game settles instead of oscillating around a mixed equilibrium
  (as in stochastic approximation, where step sizes must shrink for the iterates to converge).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call

from ..errors import ConfigError
from .base import Technique, TechniqueContext, register


class EMAGenerator(nn.Module):
    """Trains ``live``; in eval mode (evaluation, sampling) runs ``live`` with averaged weights.

    The averages are buffers of this module (``ema.<name>`` with dots as ``__``), so they are
    saved and restored with the generator's state dict.
    """

    def __init__(self, live: nn.Module) -> None:
        super().__init__()
        self.live = live
        self.names = [n for n, _ in live.named_parameters()]
        for name, p in live.named_parameters():
            self.register_buffer(self._key(name), p.detach().clone())

    @staticmethod
    def _key(name: str) -> str:
        return "ema__" + name.replace(".", "__")

    def averaged(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, self._key(n)) for n in self.names}

    @torch.no_grad()
    def update(self, decay: float) -> None:
        for name, p in self.live.named_parameters():
            getattr(self, self._key(name)).lerp_(p, 1.0 - decay)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.live(z)
        return functional_call(self.live, self.averaged(), (z,))

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            # methods of the wrapped generator (a mixture's ``assign``) stay reachable
            return getattr(super().__getattr__("live"), name)


@dataclass
class EMAParams:
    decay: float = 0.999

    def validate(self) -> None:
        if not 0 < self.decay < 1:
            raise ConfigError(f"decay must lie in (0, 1), got {self.decay}.")


@register
class EMA(Technique):
    name = "ema"
    Params = EMAParams
    # Wraps the finished generator: after a mixture replaced it (40) and spectral norm (70).
    order = 90
    summary = "evaluate an exponential moving average of G's weights (Yazıcı et al. 2019)"

    def setup(self, ctx: TechniqueContext) -> None:
        ctx.replace_generator(EMAGenerator(ctx.G))

    def after_g_step(self, ctx: TechniqueContext) -> None:
        t = ctx.step  # the step just taken is counted once the hook returns
        ctx.G.update(min(self.params.decay, (1 + t) / (10 + t)))


@dataclass
class LRDecayParams:
    final: float = 0.1
    start: float = 0.5
    shape: Literal["linear", "cosine"] = "cosine"

    def validate(self) -> None:
        if not 0 < self.final <= 1:
            raise ConfigError(f"final must lie in (0, 1], got {self.final}.")
        if not 0 <= self.start < 1:
            raise ConfigError(f"start must lie in [0, 1), got {self.start}.")


@register
class LRDecay(Technique):
    name = "lr-decay"
    Params = LRDecayParams
    summary = "learning rates fall to final x their value from fraction start of training on (linear|cosine)"

    def factor(self, progress: float) -> float:
        x = min(1.0, max(0.0, (progress - self.params.start) / (1 - self.params.start)))
        if self.params.shape == "cosine":
            x = 0.5 * (1 - math.cos(math.pi * x))
        return 1.0 + (self.params.final - 1.0) * x

    def after_g_step(self, ctx: TechniqueContext) -> None:
        # The rates for the next step; the optimisers' state dicts carry them through a resume.
        f = self.factor((ctx.step + 1) / max(ctx.cfg.steps, 1))
        lr_g, lr_d = ctx.base_learning_rates
        ctx.set_learning_rates(lr_g * f, lr_d * f)
