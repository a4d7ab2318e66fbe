"""Posterior-collapse measures of a VAE with a diagonal Gaussian encoder q(z|x) = N(mean, exp(logvar)).

- **Active units** (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders",
  ICLR, §5.2): latent dimension j is active when Cov_x(E_q[z_j | x]) > 0.01, i.e. when the
  encoder's mean moves with the input. A collapsed posterior equals the prior for every x,
  so its means do not move: **active units fall to 0 under posterior collapse**.
- **Per-dimension KL** KL(q(z_j|x) || N(0, 1)) averaged over x, in nats: 0 for a collapsed
  dimension; it grows without bound as the encoder's variance is forced to 0 (the
  deterministic limit of an autoencoder), since it contains -log sigma_j.
- **Mutual information** I_q(x; z) under the encoder's joint q(x) q(z|x) (Hoffman & Johnson
  2016, "ELBO surgery"; estimated as in He, Spokoyny, Neubig & Berg-Kirkpatrick 2019,
  "Lagging Inference Networks and Posterior Collapse in VAEs", ICLR): with z_i ~ q(z|x_i),
  I = mean_i [log q(z_i|x_i) - log (1/N sum_j q(z_i|x_j))]. It is 0 when z ignores x and
  at most log N with N samples. **It falls to 0 under posterior collapse.**

All take the encoder's outputs on a set of inputs, (n, d_z) tensors, so they apply to any
VAE; higher is better for all three in the sense of "the latent is used".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ._checks import check_features


def _check_posterior(mean: torch.Tensor, logvar: torch.Tensor | None, min_samples: int = 1) -> None:
    check_features(mean, "mean", min_samples=min_samples)
    if logvar is not None:
        check_features(logvar, "logvar", min_samples=min_samples)
        if logvar.shape != mean.shape:
            raise ConfigError(f"mean {tuple(mean.shape)} and logvar {tuple(logvar.shape)} must have the same shape.")


@dataclass(frozen=True)
class ActiveUnits:
    """How many latent dimensions the encoder uses; higher is better (collapse: 0)."""

    active_units: int
    dim: int
    threshold: float
    activity: tuple[float, ...]  # Cov_x(E[z_j | x]) per dimension


def active_units(*, mean: torch.Tensor, threshold: float = 0.01) -> ActiveUnits:
    """Active units of an encoder whose posterior means on n >= 2 inputs are ``mean`` (n, d_z)."""
    _check_posterior(mean, None, min_samples=2)
    activity = mean.double().var(dim=0)  # (d_z,)
    return ActiveUnits(int((activity > threshold).sum()), mean.shape[1], threshold, tuple(float(a) for a in activity))


def gaussian_kl_per_dim(*, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) per dimension, averaged over rows: (d_z,) float64, nats."""
    _check_posterior(mean, logvar)
    m, lv = mean.double(), logvar.double()
    return (0.5 * (m.pow(2) + lv.exp() - 1.0 - lv)).mean(dim=0)


@dataclass(frozen=True)
class PosteriorMI:
    """I_q(x; z) in nats (0 when z ignores x; at most log n); higher means the latent is used."""

    mutual_info: float
    upper_bound: float  # log n
    n: int


def posterior_mutual_info(*, mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator,
                          chunk_size: int = 512) -> PosteriorMI:
    """Monte-Carlo I_q(x; z) from the encoder's ``mean`` and ``logvar`` (n >= 2, d_z) on n inputs;
    one z per input is drawn with ``generator``; memory O(chunk_size x n x d_z)."""
    _check_posterior(mean, logvar, min_samples=2)
    m, lv = mean.double(), logvar.double()
    n, d = m.shape
    z = m + (0.5 * lv).exp() * torch.randn(n, d, generator=generator, dtype=torch.float64).to(m.device)
    inv_var = (-lv).exp()
    log_norm = -0.5 * (lv.sum(dim=1) + d * math.log(2 * math.pi))  # (n,)
    own = log_norm - 0.5 * ((z - m).pow(2) * inv_var).sum(dim=1)  # log q(z_i | x_i)
    mixture = torch.empty(n, dtype=torch.float64, device=m.device)
    for a in range(0, n, chunk_size):
        diff = z[a : a + chunk_size, None, :] - m[None]  # (b, n, d)
        logq = log_norm[None] - 0.5 * (diff.pow(2) * inv_var[None]).sum(dim=2)  # (b, n): log q(z_i | x_j)
        mixture[a : a + chunk_size] = torch.logsumexp(logq, dim=1) - math.log(n)
    return PosteriorMI(float((own - mixture).mean()), math.log(n), n)
