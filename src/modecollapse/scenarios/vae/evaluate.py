"""What the VAE scenario measures on a trained model, through the project's metrics layer.

Posterior side (:mod:`modecollapse.metrics.posterior`): active units, per-dimension KL and
I_q(x; z) on held-out inputs, plus the reconstruction error. Sample side: decoded prior
samples z ~ N(0, I) (the decoder's mean, the usual way to show VAE samples) against
held-out data: for MNIST through the project's digit classifier (digit histogram and its
entropy, mode statistics, precision/recall/density/coverage in its 128-d feature space);
for the 2D mixtures in data space with the benchmark's own modes.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ...data.base import Benchmark
from ...metrics.modes import mode_stats
from ...metrics.posterior import active_units, gaussian_kl_per_dim, posterior_mutual_info
from ...metrics.prdc import prdc
from .model import VAE


@dataclass(frozen=True)
class SampleSpace:
    """How samples are judged: ``features`` maps rows to metric features; ``modes`` counts modes."""

    features: Callable[[torch.Tensor], torch.Tensor]
    modes: Benchmark
    reference: torch.Tensor  # held-out real rows, in data space


def entropy_of_counts(counts: list[int]) -> float:
    """Shannon entropy (nats) of a histogram; log K for K equally filled bins."""
    total = sum(counts)
    return -sum(c / total * math.log(c / total) for c in counts if c > 0) if total else 0.0


@torch.no_grad()
def evaluate(model: VAE, held_out: torch.Tensor, space: SampleSpace, *, n_samples: int, generator: torch.Generator,
             device: torch.device) -> tuple[dict, torch.Tensor]:
    """Every number of one trained VAE; returns (numbers, decoded prior samples (n_samples, x_dim))."""
    x = held_out.to(device)
    mean, logvar = model.encode(x)
    eps = torch.randn(mean.shape, generator=generator).to(device)
    recon = model.recon_nll(x, mean + (0.5 * logvar).exp() * eps)
    mean, logvar = mean.cpu(), logvar.cpu()
    kl = gaussian_kl_per_dim(mean=mean, logvar=logvar)
    au = active_units(mean=mean)
    mi = posterior_mutual_info(mean=mean, logvar=logvar, generator=generator)
    z = torch.randn(n_samples, model.z_dim, generator=generator).to(device)
    samples = model.decode_mean(z).cpu()
    stats = mode_stats(samples=samples, benchmark=space.modes)
    fake_f, real_f = space.features(samples), space.features(space.reference)
    q = prdc(real=real_f, fake=fake_f, pr_k=3, dc_k=5)
    return {
        "active_units": au.active_units, "z_dim": au.dim, "activity": list(au.activity),
        "kl_total": float(kl.sum()), "kl_per_dim": kl.tolist(),
        "mutual_info": mi.mutual_info, "mutual_info_bound": mi.upper_bound,
        "recon_nll": float(recon.mean()),
        "encoder_std_mean": float((0.5 * logvar).exp().mean()),
        "modes": stats.modes, "num_modes": stats.num_modes, "mode_counts": list(stats.counts),
        "mode_entropy": entropy_of_counts(list(stats.counts)), "max_entropy": math.log(stats.num_modes),
        "reverse_kl": stats.reverse_kl, "hq_fraction": stats.hq_fraction,
        "precision": q.precision, "recall": q.recall, "density": q.density, "coverage": q.coverage,
    }, samples
