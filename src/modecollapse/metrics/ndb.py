"""Number of statistically Different Bins (Richardson & Weiss 2018, "On GANs and GMMs",
NeurIPS), with the Jensen-Shannon divergence of the bin histograms.

The real samples are clustered into K bins by k-means; every real and fake sample falls in
the bin of its nearest centre. For each bin a two-proportion z-test (pooled proportion,
two-sided) compares the share of real and of fake samples; ``ndb`` is the number of bins
that differ at level ``alpha`` divided by K. **When modes are dropped, their bins empty
and NDB/K and the JS divergence rise** (lower is better for both). The JS divergence is in
nats, between 0 and log 2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ._checks import as_generator, check_pair, check_positive_int
from .kmeans import kmeans, nearest_centre
from .knn import DEFAULT_CHUNK


@dataclass(frozen=True)
class NDBResult:
    """NDB/K and the histograms' JS divergence (both lower is better) and the values used."""

    ndb: float  # different bins / bins
    different_bins: int
    bins: int
    js: float
    alpha: float
    real_hist: tuple[float, ...]
    fake_hist: tuple[float, ...]


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """Jensen-Shannon divergence (nats) between histograms ``p`` and ``q`` (k,), each summing to 1."""
    m = (p + q) / 2

    def kl(a: torch.Tensor) -> torch.Tensor:
        mask = a > 0
        return (a[mask] * (a[mask] / m[mask]).log()).sum()

    return float(((kl(p) + kl(q)) / 2).clamp_min(0))


def different_bins(real_counts: torch.Tensor, fake_counts: torch.Tensor, *, alpha: float) -> torch.Tensor:
    """Per-bin two-sided two-proportion z-test; (k,) bool, True where the shares differ at ``alpha``."""
    nr, nf = real_counts.sum().double(), fake_counts.sum().double()
    pr, pf = real_counts.double() / nr, fake_counts.double() / nf
    pooled = (real_counts + fake_counts).double() / (nr + nf)
    se = (pooled * (1 - pooled) * (1 / nr + 1 / nf)).sqrt()
    z = torch.where(se > 0, (pr - pf).abs() / se.clamp_min(1e-300), torch.zeros_like(se))
    p_value = torch.special.erfc(z / math.sqrt(2.0))
    return p_value < alpha


def ndb(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    bins: int = 50,
    alpha: float = 0.05,
    max_iter: int = 50,
    seed: int | torch.Generator = 0,
    chunk_size: int = DEFAULT_CHUNK,
) -> NDBResult:
    """NDB/K and JS divergence of ``fake`` (n_fake, d) against ``real`` (n_real >= bins, d)."""
    check_positive_int(bins, "bins", minimum=2)
    check_pair(real, fake, min_real=bins, why=f"k-means needs at least one real sample per bin ({bins} bins)")
    if not 0 < alpha < 1:
        raise ConfigError(f"the NDB significance level alpha must lie strictly between 0 and 1, got {alpha}.")
    gen = as_generator(seed)
    centres = kmeans(real, k=bins, generator=gen, max_iter=max_iter, chunk_size=chunk_size)
    rc = torch.bincount(nearest_centre(real, centres, chunk_size=chunk_size)[0], minlength=bins)
    fc = torch.bincount(nearest_centre(fake, centres, chunk_size=chunk_size)[0], minlength=bins)
    diff = different_bins(rc, fc, alpha=alpha)
    p, q = rc.double() / rc.sum(), fc.double() / fc.sum()
    return NDBResult(
        ndb=float(diff.sum()) / bins, different_bins=int(diff.sum()), bins=bins, js=js_divergence(p, q),
        alpha=alpha, real_hist=tuple(float(v) for v in p), fake_hist=tuple(float(v) for v in q),
    )
