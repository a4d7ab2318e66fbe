"""A joint-embedding encoder for MNIST, its augmentations and three objectives.

- ``invariance``: only pull the two views' embeddings together: negative cosine similarity,
  no predictor, no stop-gradient (SimSiam stripped of both, or VICReg without its variance
  and covariance terms on normalised embeddings). The map of every input to one direction
  is a global minimum, and training finds it: complete collapse. (On unnormalised
  embeddings a mean-squared invariance loss first just shrinks their scale, which std
  flags but a scale-free probe does not.)
- ``simsiam-no-stopgrad``: SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation
  Learning", CVPR) with the predictor but without its stop-gradient: negative cosine
  similarity of p1 = h(z1) to z2 and of p2 to z1, gradients through both; the paper shows it
  collapses (its Fig. 2). ``simsiam`` is the method itself, with the stop-gradient.
- ``vicreg``: Bardes, Ponce & LeCun (2022), "VICReg" (ICLR): 25 * invariance + 25 * variance
  (hinge keeping each dimension's std over the batch above 1) + 1 * covariance (squared
  off-diagonal covariances / d): the variance term forbids collapse, the covariance term
  dimensional collapse.

Views: random affine maps (rotation, scale, translation; :func:`augment`) plus pixel noise,
drawn from a generator.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Method = Literal["invariance", "simsiam-no-stopgrad", "simsiam", "vicreg"]
METHODS: tuple[str, ...] = ("invariance", "simsiam-no-stopgrad", "simsiam", "vicreg")


def augment(x: torch.Tensor, generator: torch.Generator, *, max_rotation: float = 20.0, max_shift: float = 0.15,
            scale: tuple[float, float] = (0.85, 1.15), noise: float = 0.1) -> torch.Tensor:
    """A random view of each image of ``x`` (b, 1, 28, 28) in [0, 1]: rotation (degrees),
    isotropic scale, shift (fraction of the image half-width) and Gaussian pixel noise."""
    b = len(x)
    u = torch.rand(b, 4, generator=generator)
    angle = (u[:, 0] * 2 - 1) * math.radians(max_rotation)
    s = scale[0] + u[:, 1] * (scale[1] - scale[0])
    shift = (u[:, 2:] * 2 - 1) * max_shift
    cos, sin = angle.cos() / s, angle.sin() / s
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    view = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    return view + noise * torch.randn(x.shape, generator=generator).to(x.device)


class Encoder(nn.Module):
    """x (b, 1, 28, 28) -> representation (b, rep_dim) -> embedding (b, emb_dim) through a projector;
    ``predictor`` (SimSiam's h) maps embeddings to embeddings."""

    def __init__(self, rep_dim: int = 128, emb_dim: int = 64, hidden: int = 512) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                      nn.Linear(hidden, rep_dim))
        self.projector = nn.Sequential(nn.ReLU(), nn.Linear(rep_dim, 2 * emb_dim), nn.BatchNorm1d(2 * emb_dim), nn.ReLU(),
                                       nn.Linear(2 * emb_dim, emb_dim))
        self.predictor = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.BatchNorm1d(emb_dim), nn.ReLU(),
                                       nn.Linear(emb_dim, emb_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rep = self.backbone(x)
        return rep, self.projector(rep)


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(invariance, variance, covariance) of Bardes et al. (2022) for embeddings (b, d)."""
    inv = F.mse_loss(z1, z2)
    var = sum(F.relu(1.0 - (z.var(dim=0) + 1e-4).sqrt()).mean() for z in (z1, z2))
    cov = 0.0
    for z in (z1, z2):
        zc = z - z.mean(dim=0)
        c = zc.T @ zc / (len(z) - 1)  # (d, d)
        cov = cov + (c.pow(2).sum() - c.diagonal().pow(2).sum()) / z.shape[1]
    return inv, var, cov


def ssl_loss(model: Encoder, method: str, x1: torch.Tensor, x2: torch.Tensor,
             weights: tuple[float, float, float] = (25.0, 25.0, 1.0)) -> torch.Tensor:
    _, z1 = model(x1)
    _, z2 = model(x2)
    if method == "invariance":
        return -F.cosine_similarity(z1, z2).mean()
    if method == "vicreg":
        inv, var, cov = vicreg_terms(z1, z2)
        return weights[0] * inv + weights[1] * var + weights[2] * cov
    p1, p2 = model.predictor(z1), model.predictor(z2)
    if method == "simsiam":
        z1, z2 = z1.detach(), z2.detach()
    elif method != "simsiam-no-stopgrad":
        raise ValueError(f"unknown method {method!r}")
    return -0.5 * (F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean())


@torch.no_grad()
def embed(model: Encoder, x: torch.Tensor, device: torch.device, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(representations, embeddings) of images ``x`` (n, 1, 28, 28), in eval mode, on the CPU."""
    model.eval()
    reps, embs = [], []
    for a in range(0, len(x), batch_size):
        r, e = model(x[a : a + batch_size].to(device))
        reps.append(r.cpu())
        embs.append(e.cpu())
    return torch.cat(reps), torch.cat(embs)
