"""Techniques on the data and the labels D is trained on.

- ``instance-noise`` (Sønderby et al. 2017, "Amortised MAP Inference for Image
  Super-resolution", §"instance noise"; Arjovsky & Bottou 2017, "Towards Principled Methods
  for Training GANs"): Gaussian noise of std sigma(t) on every real and fake sample D sees.
  The noise makes the real and fake distributions overlap, so D cannot become perfect and
  its gradient stays informative; sigma is annealed linearly to 0 at ``until`` (fraction of
  training) so the final samples are judged sharp. ``schedule=constant`` keeps it.
- ``label-smoothing`` (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.4):
  one-sided, targets 1 -> 1 - ``smoothing``; targets 0 stay 0 (smoothing them would reward
  D for letting fakes in where the data has no mass). Limits D's over-confidence. Every
  target is scaled, real and fake, so a target that label flipping turned into 1 is smoothed
  too and the two techniques give the same targets in either order.
- ``label-flip``: label noise, each sample's target swapped with probability p (Salimans et
  al. 2016 and the "GAN hacks" of Chintala et al. 2016): D is kept from becoming certain.
- ``curriculum`` (Bengio et al. 2009, "Curriculum Learning"): the real data start as the
  easy core of the distribution, the modes holding at least ``core`` x the largest mode
  weight, and the remaining modes are blended in linearly between ``start`` and ``end``
  (fractions of training). On ``core-outliers`` the core is the dense centre and the far
  clusters arrive later; on mixtures with equal weights (ring, grid) every mode is core and
  the technique changes nothing.
- Large batches are a trainer option, ``--batch-size``: more samples per step give D a
  better view of how the fakes spread over the modes (Brock et al. 2019, BigGAN, §3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from ..errors import ConfigError
from .base import Technique, TechniqueContext, register


@dataclass
class InstanceNoiseParams:
    std: float = 0.1
    schedule: Literal["linear", "constant"] = "linear"
    until: float = 1.0

    def validate(self) -> None:
        if self.std < 0:
            raise ConfigError(f"std must be >= 0, got {self.std}.")
        if not 0 < self.until <= 1:
            raise ConfigError(f"until must lie in (0, 1], got {self.until}.")


@register
class InstanceNoise(Technique):
    name = "instance-noise"
    Params = InstanceNoiseParams
    summary = "Gaussian noise on D's inputs, std annealed linearly to 0 at until (Sønderby 2017)"

    def sigma(self, progress: float) -> float:
        if self.params.schedule == "constant":
            return self.params.std
        return self.params.std * max(0.0, 1.0 - progress / self.params.until)

    def _noisy(self, ctx: TechniqueContext, x: torch.Tensor) -> torch.Tensor:
        s = self.sigma(ctx.progress)
        if s == 0:
            return x
        return x + s * torch.randn(x.shape, generator=ctx.noise_gen).to(x.device)

    def d_inputs(self, ctx: TechniqueContext, real: torch.Tensor,
                 fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._noisy(ctx, real), self._noisy(ctx, fake)

    def g_input(self, ctx: TechniqueContext, fake: torch.Tensor) -> torch.Tensor:
        return self._noisy(ctx, fake)


def _check_targets(name: str, loss) -> None:
    if not loss.uses_targets:
        raise ConfigError(f"{name} changes D's targets, which --loss {loss.name} does not use; "
                          "choose a loss with targets (nonsaturating, minimax, lsgan).")


@dataclass
class LabelSmoothingParams:
    smoothing: float = 0.1

    def validate(self) -> None:
        if not 0 < self.smoothing < 1:
            raise ConfigError(f"smoothing must lie in (0, 1), got {self.smoothing}.")


@register
class LabelSmoothing(Technique):
    name = "label-smoothing"
    Params = LabelSmoothingParams
    summary = "one-sided label smoothing: real targets 1 -> 1-smoothing (Salimans 2016)"

    def check(self, cfg, loss) -> None:
        _check_targets(self.name, loss)

    def d_targets(self, ctx: TechniqueContext, real_target: Any, fake_target: Any, batch: int) -> tuple[Any, Any]:
        # Scales both, rather than overwriting the real ones: a 0 stays 0 and a 1 becomes
        # 1 - smoothing wherever flipping put it, so flip-then-smooth = smooth-then-flip.
        keep = 1 - self.params.smoothing
        return real_target * keep, fake_target * keep


@dataclass
class LabelFlipParams:
    p: float = 0.05

    def validate(self) -> None:
        if not 0 < self.p < 0.5:
            raise ConfigError(f"p must lie in (0, 0.5), got {self.p}.")


def _per_sample(target: Any, batch: int) -> torch.Tensor:
    return target if isinstance(target, torch.Tensor) else torch.full((batch,), float(target))


@register
class LabelFlip(Technique):
    name = "label-flip"
    Params = LabelFlipParams
    summary = "label noise: each real/fake target swapped with probability p"

    def check(self, cfg, loss) -> None:
        _check_targets(self.name, loss)

    def d_targets(self, ctx: TechniqueContext, real_target: Any, fake_target: Any, batch: int) -> tuple[Any, Any]:
        real_t, fake_t = _per_sample(real_target, batch), _per_sample(fake_target, batch)
        flip_real = torch.rand(batch, generator=ctx.noise_gen) < self.params.p
        flip_fake = torch.rand(batch, generator=ctx.noise_gen) < self.params.p
        new_real = torch.where(flip_real, fake_t, real_t)
        new_fake = torch.where(flip_fake, real_t, fake_t)
        return new_real.to(ctx.device), new_fake.to(ctx.device)


@dataclass
class CurriculumParams:
    core: float = 0.5
    start: float = 0.0
    end: float = 0.5

    def validate(self) -> None:
        if not 0 < self.core <= 1:
            raise ConfigError(f"core must lie in (0, 1], got {self.core}.")
        if not 0 <= self.start < self.end <= 1:
            raise ConfigError(f"need 0 <= start < end <= 1, got start={self.start}, end={self.end}.")


@register
class Curriculum(Technique):
    name = "curriculum"
    Params = CurriculumParams
    summary = "start on the heaviest modes (the easy core), blend in the rest between start and end"

    def setup(self, ctx: TechniqueContext) -> None:
        w = ctx.dataset.weights.double()
        core = torch.where(w >= self.params.core * w.max(), w, torch.zeros_like(w))
        self.core_weights = core / core.sum()
        self.weights = w / w.sum()

    def mix(self, progress: float) -> float:
        """Share of the full distribution in the real data at ``progress`` (0 = core only)."""
        return min(1.0, max(0.0, (progress - self.params.start) / (self.params.end - self.params.start)))

    def sample_real(self, ctx: TechniqueContext, n: int) -> torch.Tensor | None:
        lam = self.mix(ctx.progress)
        if lam >= 1.0:
            return None  # the data's own weights: the trainer's default sampling
        w = (1 - lam) * self.core_weights + lam * self.weights
        return ctx.dataset.sample(n, ctx.data_gen, weights=w.float())
