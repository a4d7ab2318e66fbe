"""Adversarial losses as small callables with one signature, in a registry.

``d_loss(d_real, d_fake, real_target, fake_target)`` and ``g_loss(d_fake)`` take raw
discriminator outputs (logits / critic values) of shape (batch,) and return a scalar.
Targets are used by the classification losses only (label smoothing and flipping change
them); losses without targets declare ``uses_targets = False``.

- ``minimax``: Goodfellow et al. 2014, the saturating generator loss log(1 - D(G(z))),
  whose gradient vanishes when D wins (the seed articles' vanishing-gradient problem).
- ``nonsaturating``: the same paper's practical fix, -log D(G(z)).
- ``wgan``: Arjovsky et al. 2017, Wasserstein critic with weight clipping.
- ``wgan-gp``: Gulrajani et al. 2017, Wasserstein critic with a gradient penalty (lambda 10).
- ``lsgan``: Mao et al. 2017, least squares with targets 0 / 1.
- ``hinge``: Lim & Ye 2017 / Miyato et al. 2018, the hinge loss of SNGAN and BigGAN.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..registry import Registry

Target = float | torch.Tensor


@dataclass(frozen=True)
class AdversarialLoss:
    name: str
    d_loss: Callable[[torch.Tensor, torch.Tensor, Target, Target], torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]
    uses_targets: bool
    # Techniques that the loss needs (name, params): wgan clips weights, wgan-gp penalises.
    implies: tuple[tuple[str, dict], ...] = field(default_factory=tuple)


LOSSES: Registry[AdversarialLoss] = Registry("loss")


def _bce(logits: torch.Tensor, target: Target) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits, target)


def _bce_d(d_real: torch.Tensor, d_fake: torch.Tensor, real_target: Target = 1.0, fake_target: Target = 0.0) -> torch.Tensor:
    return _bce(d_real, real_target) + _bce(d_fake, fake_target)


def _minimax_g(d_fake: torch.Tensor) -> torch.Tensor:
    # log(1 - sigmoid(x)) = -softplus(x): minimised by the generator, saturates when D wins.
    return -F.softplus(d_fake).mean()


def _nonsaturating_g(d_fake: torch.Tensor) -> torch.Tensor:
    # -log(sigmoid(x)) = softplus(-x)
    return F.softplus(-d_fake).mean()


def _wasserstein_d(d_real: torch.Tensor, d_fake: torch.Tensor, real_target: Target = 1.0, fake_target: Target = 0.0) -> torch.Tensor:
    return d_fake.mean() - d_real.mean()


def _wasserstein_g(d_fake: torch.Tensor) -> torch.Tensor:
    return -d_fake.mean()


def _ls_d(d_real: torch.Tensor, d_fake: torch.Tensor, real_target: Target = 1.0, fake_target: Target = 0.0) -> torch.Tensor:
    return 0.5 * ((d_real - real_target).pow(2).mean() + (d_fake - fake_target).pow(2).mean())


def _ls_g(d_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (d_fake - 1.0).pow(2).mean()


def _hinge_d(d_real: torch.Tensor, d_fake: torch.Tensor, real_target: Target = 1.0, fake_target: Target = 0.0) -> torch.Tensor:
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


for _loss in (
    AdversarialLoss("minimax", _bce_d, _minimax_g, uses_targets=True),
    AdversarialLoss("nonsaturating", _bce_d, _nonsaturating_g, uses_targets=True),
    AdversarialLoss("wgan", _wasserstein_d, _wasserstein_g, uses_targets=False, implies=(("weight-clip", {"clip": 0.01}),)),
    AdversarialLoss("wgan-gp", _wasserstein_d, _wasserstein_g, uses_targets=False, implies=(("gp", {"kind": "wgan-gp", "weight": 10.0}),)),
    AdversarialLoss("lsgan", _ls_d, _ls_g, uses_targets=True),
    AdversarialLoss("hinge", _hinge_d, _wasserstein_g, uses_targets=False),
):
    LOSSES.add(_loss.name, _loss)
