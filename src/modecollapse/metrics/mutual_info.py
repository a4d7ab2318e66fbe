"""Mutual information I(Z; X) between a generator's latent codes and its outputs, by the
k-nearest-neighbour estimator of Kraskov, Stoegbauer & Grassberger (2004), "Estimating
mutual information", Phys. Rev. E 69, 066138 (algorithm 1, "KSG").

A generator that collapses maps many latent codes to the same output, so its output
carries little information about its input: **I(Z; X) falls when modes are dropped**
(higher is better; in nats). InfoGAN-style and VEEGAN-style techniques raise it on purpose.

For each pair (z_i, x_i), eps_i is the max-norm distance to its k-th neighbour in the joint
space; n_z(i), n_x(i) count the samples strictly closer than eps_i in each marginal, and
I = psi(k) + psi(N) - <psi(n_z + 1) + psi(n_x + 1)>. Each coordinate is standardised first
(the max-norm mixes scales). Distances are computed in row blocks, memory O(chunk x N).

Where it stops being reliable: the estimator's bias grows quickly with the dimension of Z
and X (beyond about 10 dimensions together it mostly measures the curse of
dimensionality), and it underestimates large values, since resolving I nats needs about
exp(I) samples: with N samples, values near log(N) are floors, not measurements. Use it on
low-dimensional latents and outputs (the synthetic benchmarks) or on a few principal
components of features, and compare generators at the same N, k and dimensions only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ._checks import check_features, check_positive_int, resolve_device
from .knn import blocks


@dataclass(frozen=True)
class MutualInfoResult:
    """The KSG estimate of I(Z; X) in nats (higher is better) and the values used."""

    mutual_info: float
    k: int
    n: int


def _standardise(x: torch.Tensor) -> torch.Tensor:
    std = x.std(dim=0, keepdim=True)
    return (x - x.mean(dim=0, keepdim=True)) / torch.where(std > 0, std, torch.ones_like(std))


def mutual_information(
    *,
    latent: torch.Tensor,
    samples: torch.Tensor,
    k: int = 3,
    chunk_size: int = 1024,
    device: str | torch.device | None = None,
) -> MutualInfoResult:
    """KSG estimate of I(Z; X) from paired rows: ``latent`` (n, d_z) and ``samples`` (n, d_x)."""
    check_positive_int(k, "k (nearest neighbours)")
    check_features(latent, "latent", min_samples=k + 1, why=f"k = {k} neighbours need k + 1 samples")
    check_features(samples, "samples", min_samples=k + 1, why=f"k = {k} neighbours need k + 1 samples")
    if len(latent) != len(samples):
        raise ConfigError(
            f"latent has {len(latent)} rows but samples has {len(samples)}; row i of each must be the same draw."
        )
    dev = resolve_device(device, samples)
    z = _standardise(latent.to(dev, torch.float64))
    x = _standardise(samples.to(dev, torch.float64))
    n = len(z)
    nz = torch.empty(n, dtype=torch.float64, device=dev)
    nx = torch.empty(n, dtype=torch.float64, device=dev)
    for a, b in blocks(n, chunk_size):
        dz = torch.cdist(z[a:b], z, p=float("inf"))  # (block, n)
        dx = torch.cdist(x[a:b], x, p=float("inf"))
        joint = torch.maximum(dz, dx)
        rows = torch.arange(b - a, device=dev)
        joint[rows, rows + a] = float("inf")  # not its own neighbour
        eps = torch.topk(joint, k, dim=1, largest=False).values[:, -1:]  # (block, 1)
        # strictly closer than eps, minus the sample itself (distance 0)
        nz[a:b] = (dz < eps).sum(1) - 1
        nx[a:b] = (dx < eps).sum(1) - 1
    psi = torch.special.digamma
    k_t, n_t = torch.tensor(float(k), dtype=torch.float64), torch.tensor(float(n), dtype=torch.float64)
    value = psi(k_t) + psi(n_t) - (psi(nz + 1) + psi(nx + 1)).mean()
    return MutualInfoResult(float(value), k, n)
