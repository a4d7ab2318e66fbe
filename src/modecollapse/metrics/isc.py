"""Inception Score (Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen 2016, "Improved
techniques for training GANs"), as torch-fidelity computes it.

IS = exp(E_x KL(p(y|x) || p(y))) of a classifier's softmax over the fake samples, computed
on each of ``splits`` (10) consecutive slices of the rows after a seeded shuffle
(``numpy.random.RandomState(seed).permutation``, seed 2020 as torch-fidelity), in float64;
the mean and the (population) standard deviation over slices are reported. For the FID
Inception network the logits are the head without its bias (``logits_unbiased``), as in the
original code and torch-fidelity. Higher is better; it rewards confident and varied class
predictions, so a generator that drops classes scores lower, but it never looks at real
data and cannot see modes lost within a class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError
from ._checks import check_positive_int


@dataclass(frozen=True)
class ISCResult:
    """Inception Score mean and std over splits (higher is better), and the values used."""

    isc: float
    isc_std: float
    splits: int
    seed: int | None


def isc(*, logits: torch.Tensor, splits: int = 10, seed: int | None = 2020) -> ISCResult:
    """Inception Score of the fake samples' ``logits`` (n, classes); ``seed=None`` keeps the
    row order (no shuffle)."""
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ConfigError(f"the Inception Score needs logits (n, classes) with 2 or more classes, got shape {tuple(logits.shape)}.")
    check_positive_int(splits, "isc-splits")
    n = len(logits)
    if n < splits:
        raise ConfigError(f"the Inception Score over {splits} splits needs at least {splits} samples, got {n}; "
                          "lower --isc-splits.")
    if not torch.isfinite(logits).all():
        raise ConfigError("the logits for the Inception Score hold NaN or infinite values.")
    x = logits.detach().cpu()
    if seed is not None:
        x = x[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    x = x.double()
    log_p = x.log_softmax(dim=1)  # (n, classes)
    p = log_p.exp()
    scores = []
    for i in range(splits):
        a, b = i * n // splits, (i + 1) * n // splits
        log_q = p[a:b].mean(0, keepdim=True).log()  # (1, classes), the split's marginal
        kl = (p[a:b] * (log_p[a:b] - log_q)).sum(1).mean()
        scores.append(float(kl.exp()))
    return ISCResult(float(np.mean(scores)), float(np.std(scores)), splits, seed)
