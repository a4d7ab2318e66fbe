"""Support-size estimate by the birthday paradox (Arora & Zhang 2017, "Do GANs actually learn
the distribution? An empirical study"; Arora, Risteski & Zhang 2018, ICLR).

A distribution spread uniformly over N distinct outputs puts two random draws within a
"duplicate" distance with probability 1/N, so a batch of s samples holds a duplicate pair
with probability about 1 - exp(-s(s-1) / 2N): batches of s ~ sqrt(N) already show
duplicates. Here the samples are shuffled (seeded) into batches of ``batch_size``; every
within-batch pair closer than ``threshold`` counts as a duplicate, and the support size is
estimated as (pairs examined) / (duplicate pairs), the maximum-likelihood N of that uniform
model. The batch duplicate rate (share of batches with at least one duplicate) is reported
too: above 0.5 at batch size s means a support of at most about s^2.

``threshold`` defaults to the ``quantile`` of the real data's own within-batch pair
distances, so that the real set's estimate is about 1 / ``quantile`` *by construction*:
read the fake estimate relative to it (a generator keeping half the modes scores about
half). **The support estimate falls when modes are dropped** (higher is better).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ._checks import as_generator, check_features, check_pair, check_positive_int
from .knn import prepare, sqdist


@dataclass(frozen=True)
class SupportEstimate:
    """Duplicate counts of one set: ``support`` is None when no duplicate pair was seen
    (the support is then larger than about ``pairs``)."""

    support: float | None
    duplicate_rate: float  # share of batches with at least one duplicate pair
    duplicate_pairs: int
    pairs: int


@dataclass(frozen=True)
class BirthdayResult:
    """Estimated support sizes of fake and real (higher is better) and the values used."""

    support: float | None
    support_real: float | None
    duplicate_rate: float
    duplicate_rate_real: float
    threshold: float
    batch_size: int


def _batch_pair_sqdists(x: torch.Tensor, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Squared distances of the within-batch pairs i < j, one (s(s-1)/2,) tensor per batch."""
    order = torch.randperm(len(x), generator=gen)
    s = min(batch_size, len(x))
    out = []
    for start in range(0, len(x) - s + 1, s):  # full batches only
        xb, sq = prepare(x[order[start : start + s]], device=torch.device("cpu"), dtype=torch.float64, chunk_size=s)
        d2 = sqdist(xb, sq, xb, sq)
        iu = torch.triu_indices(s, s, offset=1)
        out.append(d2[iu[0], iu[1]])
    return out


def support_estimate(
    *, samples: torch.Tensor, threshold: float, batch_size: int = 256, seed: int | torch.Generator = 0
) -> SupportEstimate:
    """Birthday-paradox support size of ``samples`` (n >= 2, d) at duplicate distance ``threshold``."""
    check_features(samples, "samples", min_samples=2, why="a duplicate needs a pair")
    check_positive_int(batch_size, "batch_size", minimum=2)
    gen = as_generator(seed)
    per_batch = [(d2 <= threshold**2) for d2 in _batch_pair_sqdists(samples, batch_size, gen)]
    dup = sum(int(b.sum()) for b in per_batch)
    pairs = sum(len(b) for b in per_batch)
    rate = sum(bool(b.any()) for b in per_batch) / len(per_batch)
    return SupportEstimate(pairs / dup if dup else None, rate, dup, pairs)


def birthday(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    threshold: float | None = None,
    quantile: float = 0.001,
    batch_size: int = 256,
    seed: int = 0,
) -> BirthdayResult:
    """Support-size estimates of ``fake`` (n_fake, d) and, for reference, ``real`` (n_real, d)."""
    check_pair(real, fake, min_real=2, min_fake=2, why="a duplicate needs a pair")
    check_positive_int(batch_size, "batch_size", minimum=2)
    if threshold is None:
        if not 0 < quantile < 1:
            raise ConfigError(f"the birthday quantile must lie strictly between 0 and 1, got {quantile}.")
        d2 = torch.cat(_batch_pair_sqdists(real, batch_size, torch.Generator().manual_seed(seed)))
        threshold = float(d2.kthvalue(max(1, math.ceil(quantile * len(d2)))).values.sqrt())
    elif not threshold >= 0:
        raise ConfigError(f"the birthday duplicate threshold must be >= 0, got {threshold}.")
    f = support_estimate(samples=fake, threshold=threshold, batch_size=batch_size, seed=seed)
    r = support_estimate(samples=real, threshold=threshold, batch_size=batch_size, seed=seed)
    return BirthdayResult(f.support, r.support, f.duplicate_rate, r.duplicate_rate, threshold, batch_size)
