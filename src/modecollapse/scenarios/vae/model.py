"""A small VAE (Kingma & Welling 2014) with the knobs that make its posterior collapse or not.

The objective is recon + beta_t * KL with three switches, each from a paper:

- ``beta`` > 1 weights the KL term up (Higgins et al. 2017, beta-VAE): past some value the
  cheapest optimum is q(z|x) = p(z) for every x, the decoder ignores z (posterior collapse).
- ``anneal_steps`` ramps beta_t linearly from 0 to ``beta`` (Bowman et al. 2016, "Generating
  Sentences from a Continuous Space", KL cost annealing), so that the encoder starts to carry
  information before the KL price is paid in full.
- ``free_bits`` lambda (Kingma et al. 2016, "Improved Variational Inference with Inverse
  Autoregressive Flow", §C.8): each latent dimension's batch-averaged KL is charged as
  max(lambda, KL_j), so a dimension carrying less than lambda nats costs nothing more and
  the optimiser has no reason to shut it down.
- ``fixed_std`` forces the encoder's standard deviation to a constant: as it goes to 0 the
  VAE becomes a deterministic autoencoder and its KL term (which contains -log sigma) grows
  without bound, while the codes the decoder sees shrink to points.

``likelihood`` is ``bernoulli`` for images in [0, 1] (binary cross-entropy, per image, in
nats) or ``gaussian`` with a fixed ``x_std`` for vectors (the 2D mixtures).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


class VAE(nn.Module):
    """x (b, x_dim) -> (mean, logvar) (b, z_dim); z (b, z_dim) -> decoder output (b, x_dim)."""

    def __init__(self, x_dim: int, z_dim: int, hidden: int, likelihood: Literal["bernoulli", "gaussian"],
                 x_std: float = 0.1, fixed_std: float | None = None) -> None:
        super().__init__()
        self.z_dim, self.likelihood, self.x_std, self.fixed_std = z_dim, likelihood, x_std, fixed_std
        self.encoder = nn.Sequential(nn.Linear(x_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 2 * z_dim))
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, x_dim))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        if self.fixed_std is not None:
            logvar = torch.full_like(logvar, 2 * math.log(self.fixed_std))
        return mean, logvar.clamp(-30, 20)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean: pixel probabilities (bernoulli) or the point (gaussian)."""
        out = self.decoder(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def recon_nll(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) per row (b,), nats."""
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        d = x.shape[1]
        return 0.5 * ((x - out) / self.x_std).pow(2).sum(1) + d * (math.log(self.x_std) + 0.5 * math.log(2 * math.pi))


@dataclass(frozen=True)
class Objective:
    """How the KL term is charged (see the module docstring)."""

    beta: float = 1.0
    anneal_steps: int = 0
    free_bits: float = 0.0

    def beta_at(self, step: int) -> float:
        if self.anneal_steps <= 0:
            return self.beta
        return self.beta * min(1.0, step / self.anneal_steps)


def kl_dims(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per row and dimension, (b, z_dim)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def train_vae(model: VAE, data: torch.Tensor, objective: Objective, *, steps: int, batch_size: int, lr: float,
              generator: torch.Generator, device: torch.device, bar=None, log_every: int = 50) -> list[dict]:
    """Adam on minibatches of ``data`` (n, x_dim) drawn with ``generator``; returns the logged
    history: step, beta, recon (nats), kl (nats, uncharged), loss."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(1, steps + 1):
        idx = torch.randint(len(data), (batch_size,), generator=generator)
        x = data[idx].to(device)
        eps = torch.randn(batch_size, model.z_dim, generator=generator).to(device)
        mean, logvar = model.encode(x)
        z = mean + (0.5 * logvar).exp() * eps
        recon = model.recon_nll(x, z).mean()
        kl_j = kl_dims(mean, logvar).mean(0)  # (z_dim,) batch-averaged, per dimension
        charged = kl_j.clamp_min(objective.free_bits).sum() if objective.free_bits > 0 else kl_j.sum()
        beta = objective.beta_at(step)
        loss = recon + beta * charged
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % log_every == 0 or step == steps:
            history.append({"step": step, "beta": beta, "recon": float(recon.detach()), "kl": float(kl_j.detach().sum()), "loss": float(loss.detach())})
        if bar is not None:
            bar.update(1)
    model.eval()
    return history
