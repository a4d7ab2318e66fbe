"""Spectral normalisation (Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization
for Generative Adversarial Networks"; on the generator too: Zhang et al. 2019, SAGAN).

Every linear (and convolutional) layer's weight W is divided by an estimate of its largest
singular value, kept by one power iteration per training forward pass, so each layer is
1-Lipschitz and the discriminator as a whole is at most as steep as its activations allow. The seed articles'
problem: an unconstrained D grows sharp gradients around the modes G already covers and
pushes G from mode to mode; a Lipschitz D gives smoother, more informative gradients.

``where=d`` (the paper), ``g`` (SAGAN's conditioning argument) or ``both``. As a
discriminator normalisation it is the alternative to ``--d-norm batch|layer|instance`` that
leaks nothing between samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..errors import ConfigError
from .base import Technique, TechniqueContext, register


@dataclass
class SpectralNormParams:
    where: Literal["d", "g", "both"] = "d"
    power_iterations: int = 1

    def validate(self) -> None:
        if self.where not in ("d", "g", "both"):
            raise ConfigError(f"where must be d, g or both, got {self.where!r}.")
        if self.power_iterations < 1:
            raise ConfigError(f"power_iterations must be >= 1, got {self.power_iterations}.")


_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def apply_spectral_norm(module: nn.Module, power_iterations: int = 1) -> int:
    """Reparametrises every linear and convolutional layer inside ``module`` in place
    (a convolution's kernel as a matrix, as in the paper); returns how many."""
    layers = [m for m in module.modules() if isinstance(m, _LAYERS)]
    for m in layers:
        spectral_norm(m, n_power_iterations=power_iterations)
    return len(layers)


@register
class SpectralNorm(Technique):
    name = "spectral-norm"
    Params = SpectralNormParams
    # A reparametrisation of layers: after heads are changed (30) and D is wrapped (50), so
    # the layers those add are normalised too.
    order = 70
    summary = "spectral normalisation of every linear/conv layer: where=d|g|both (the Lipschitz D normalisation)"

    def setup(self, ctx: TechniqueContext) -> None:
        # The power iteration's start vectors are drawn from the global RNG, seeded by the
        # trainer just before set-up, and live in the modules' buffers (checkpointed with them).
        if self.params.where in ("d", "both"):
            apply_spectral_norm(ctx.D, self.params.power_iterations)
        if self.params.where in ("g", "both"):
            apply_spectral_norm(ctx.G, self.params.power_iterations)
