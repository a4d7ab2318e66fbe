"""A mixture of K generators sharing one discriminator (Hoang, Nguyen, Le & Phung 2018,
"MGAN: Training Generative Adversarial Nets with Multiple Generators"; also Ghosh et al.
2018, MAD-GAN; Arora et al. 2017, MIX+GAN).

One continuous generator fed a connected latent space must stretch it across separated
modes, leaving samples on the bridges between them or dropping modes; K generators can each
take a few modes. Each sample is made by exactly one generator, chosen uniformly at random:
the choice is read off the first latent coordinate, u = Phi(z_0), generator floor(K u), and
the position of u inside its bin, mapped back through Phi^-1, replaces z_0. So the chosen
index is uniform, the latent each generator receives is again standard normal and
independent of the choice, and G(z) stays a pure function of z (evaluation and
checkpoints need no extra state).

``classifier`` > 0 adds MGAN's term: a K-way classifier sharing D's body (a new head on
``D.features``) learns which generator made each fake, trained with D, and the generators
minimise the same cross-entropy, so they are pushed to produce distinguishable, i.e.
different, modes. The weight is MGAN's beta.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .base import DBatch, GBatch, Technique, TechniqueContext, register


def split_latent(z: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(generator index (n,) in [0, k), latent (n, d) with z_0 re-standardised)."""
    u = 0.5 * (1 + torch.erf(z[:, 0] / math.sqrt(2)))
    scaled = u * k
    index = scaled.floor().clamp(0, k - 1)
    frac = (scaled - index).clamp(1e-6, 1 - 1e-6)
    z0 = math.sqrt(2) * torch.erfinv(2 * frac - 1)
    return index.long(), torch.cat([z0.unsqueeze(1), z[:, 1:]], dim=1)


class MixtureGenerator(nn.Module):
    """z (n, latent) -> x (n, dim), each sample from the generator :func:`split_latent` picks."""

    def __init__(self, generators: list[nn.Module]) -> None:
        super().__init__()
        self.generators = nn.ModuleList(generators)

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        return split_latent(z, len(self.generators))[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        index, z = split_latent(z, len(self.generators))
        order = torch.argsort(index, stable=True)
        counts = torch.bincount(index, minlength=len(self.generators)).tolist()
        parts, start = [], 0
        for gen, c in zip(self.generators, counts):
            if c:
                parts.append(gen(z[order[start : start + c]]))
            start += c
        return torch.cat(parts)[torch.argsort(order)]  # back to the input order


@dataclass
class MixtureParams:
    k: int = 4
    classifier: float = 0.0

    def validate(self) -> None:
        if self.k < 2:
            raise ConfigError(f"k must be >= 2 generators, got {self.k}.")
        if self.classifier < 0:
            raise ConfigError(f"classifier must be >= 0, got {self.classifier}.")


@register
class Mixture(Technique):
    name = "mixture"
    Params = MixtureParams
    # Replaces G before layer reparametrisations (spectral norm on G, order 70) see it.
    order = 40
    summary = "mixture of k generators sharing D; classifier=beta pushes them apart (MGAN, Hoang 2018)"

    def check(self, cfg, loss) -> None:
        names = {t.name for t in cfg.techniques}
        if self.params.classifier > 0 and "pack" in names:
            raise ConfigError("mixture's classifier needs one verdict per sample and cannot be combined with pack; set classifier=0.")

    def setup(self, ctx: TechniqueContext) -> None:
        ctx.replace_generator(MixtureGenerator([ctx.new_generator() for _ in range(self.params.k)]))
        if self.params.classifier > 0:
            if not hasattr(ctx.D, "features"):
                raise ConfigError("mixture's classifier needs a discriminator with a .features(x) method.")
            self.classifier = nn.Linear(ctx.D.feature_dim, self.params.k).to(ctx.device)
            ctx.add_parameters("d", self.classifier.parameters())

    def _classifier_loss(self, ctx: TechniqueContext, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.classifier(ctx.D.features(x)), ctx.G.assign(z))

    def d_terms(self, ctx: TechniqueContext, batch: DBatch) -> dict[str, torch.Tensor]:
        if self.params.classifier == 0:
            return {}
        # A batch of its own: the D step's fakes may have been changed by other techniques
        # (replay, noise) and no longer say which generator made them.
        z = ctx.sample_z(batch.fake.shape[0])
        with torch.no_grad():
            x = ctx.G(z)
        return {"mixture_classifier": self.params.classifier * self._classifier_loss(ctx, x, z)}

    def g_terms(self, ctx: TechniqueContext, batch: GBatch) -> dict[str, torch.Tensor]:
        if self.params.classifier == 0:
            return {}
        return {"mixture_classifier": self.params.classifier * self._classifier_loss(ctx, batch.fake, batch.z)}
