"""Generator objectives that reward covering the data rather than fooling D on one mode.

- ``feature-matching`` (Salimans et al. 2016, "Improved Techniques for Training GANs",
  §3.1): G matches the mean of D's penultimate features on real and fake batches,
  ||E f(x) - E f(G(z))||^2, instead of maximising D's verdict. A statistic of the whole
  batch cannot be matched by sending every sample to the mode D currently likes best.
  ``adversarial`` keeps that fraction of the usual G loss (0 = the paper's replacement).
- ``mode-seeking`` (Mao et al. 2019, "Mode Seeking GANs", MSGAN; Yang et al. 2019,
  "Diversity-Sensitive Conditional GANs", DSGAN): for pairs of latents, the ratio
  r = mean|G(z1) - G(z2)| / mean|z1 - z2|. A collapsed G maps distinct z to the same point
  (r -> 0). ``kind=msgan`` adds weight / (r + eps); ``kind=dsgan`` adds
  -weight * min(r, tau), which stops pushing once outputs are diverse enough.
- ``entropy``: a bonus -weight * H(G(z)) on the batch's differential entropy, estimated with
  the Kozachenko-Leonenko k-nearest-neighbour estimator (Kozachenko & Leonenko 1987):
  H ~= psi(n) - psi(k) + log V_d + (d / n) sum_i log eps_i, where eps_i is the distance from
  sample i to its k-th nearest neighbour in the batch and V_d the volume of the unit d-ball.
  Only the last term depends on G; its gradient pushes samples that crowd together apart.
  (Entropy-regularised GANs: Dieng et al. 2019, "Prescribed GANs"; Kumar et al. 2019.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError
from .base import GBatch, Technique, TechniqueContext, register


def _needs_features(ctx: TechniqueContext, name: str) -> None:
    if not hasattr(ctx.D, "features"):
        raise ConfigError(f"{name} needs a discriminator with a .features(x) method.")


@dataclass
class FeatureMatchingParams:
    weight: float = 1.0
    adversarial: float = 0.0

    def validate(self) -> None:
        if self.weight <= 0:
            raise ConfigError(f"weight must be positive, got {self.weight}.")
        if self.adversarial < 0:
            raise ConfigError(f"adversarial must be >= 0, got {self.adversarial}.")


@register
class FeatureMatching(Technique):
    name = "feature-matching"
    Params = FeatureMatchingParams
    summary = "G matches the mean of D's features on real data; adversarial=0 replaces the G loss (Salimans 2016)"

    def setup(self, ctx: TechniqueContext) -> None:
        _needs_features(ctx, "feature-matching")
        ctx.set_adversarial_weight(self.params.adversarial)

    def g_terms(self, ctx: TechniqueContext, batch: GBatch) -> dict[str, torch.Tensor]:
        real = ctx.sample_real(batch.fake.shape[0])
        with torch.no_grad():
            target = ctx.D.features(real).mean(dim=0)  # (A,)
        fake_mean = ctx.D.features(batch.judged).mean(dim=0)
        return {"feature_matching": self.params.weight * (fake_mean - target).pow(2).sum()}


def latent_output_ratio(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per pair (first half of the batch against the second): mean |dx| / mean |dz|, (n // 2,)."""
    h = z.shape[0] // 2
    dx = (x[:h] - x[h : 2 * h]).abs().flatten(1).mean(dim=1)
    dz = (z[:h] - z[h : 2 * h]).abs().flatten(1).mean(dim=1)
    return dx / dz


@dataclass
class ModeSeekingParams:
    kind: Literal["msgan", "dsgan"] = "msgan"
    weight: float = 1.0
    eps: float = 1e-5
    tau: float = 1.0

    def validate(self) -> None:
        if self.weight <= 0:
            raise ConfigError(f"weight must be positive, got {self.weight}.")
        if self.eps <= 0 or self.tau <= 0:
            raise ConfigError(f"eps and tau must be positive, got {self.eps} and {self.tau}.")


@register
class ModeSeeking(Technique):
    name = "mode-seeking"
    Params = ModeSeekingParams
    summary = "reward distinct outputs for distinct latents, |dG|/|dz|: kind=msgan|dsgan (Mao 2019, Yang 2019)"

    def check(self, cfg, loss) -> None:
        if cfg.batch_size < 2:
            raise ConfigError("mode-seeking compares pairs of samples; --batch-size must be >= 2.")

    def g_terms(self, ctx: TechniqueContext, batch: GBatch) -> dict[str, torch.Tensor]:
        if self.params.kind == "msgan":
            r = latent_output_ratio(batch.z, batch.fake).mean()
            return {"mode_seeking": self.params.weight / (r + self.params.eps)}
        r = latent_output_ratio(batch.z, batch.fake).clamp(max=self.params.tau)
        return {"mode_seeking": -self.params.weight * r.mean()}


def kl_entropy(x: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Kozachenko-Leonenko estimate of the differential entropy (nats) of samples x (n, d).

    Differentiable in x (through the k-th neighbour distances). Needs n > k.
    """
    n, d = x.shape
    dist = torch.cdist(x, x)  # (n, n)
    dist = dist + torch.diag(torch.full((n,), float("inf"), device=x.device, dtype=x.dtype))
    eps = dist.topk(k, dim=1, largest=False).values[:, -1]  # (n,) k-th neighbour distance
    log_unit_ball = (d / 2) * math.log(math.pi) - math.lgamma(d / 2 + 1)
    const = torch.special.digamma(torch.tensor(float(n))) - torch.special.digamma(torch.tensor(float(k)))
    return const.to(x) + log_unit_ball + d * torch.log(eps + 1e-12).mean()


@dataclass
class EntropyParams:
    weight: float = 0.1
    k: int = 3

    def validate(self) -> None:
        if self.weight <= 0:
            raise ConfigError(f"weight must be positive, got {self.weight}.")
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}.")


@register
class EntropyBonus(Technique):
    name = "entropy"
    Params = EntropyParams
    summary = "entropy bonus -weight*H(G(z)), Kozachenko-Leonenko k-NN estimate on the batch"

    def check(self, cfg, loss) -> None:
        if cfg.batch_size <= self.params.k:
            k = self.params.k
            raise ConfigError(f"entropy with k={k} needs --batch-size > {k}, got {cfg.batch_size}.")

    def g_terms(self, ctx: TechniqueContext, batch: GBatch) -> dict[str, torch.Tensor]:
        return {"entropy": -self.params.weight * kl_entropy(batch.fake.flatten(1), self.params.k)}
