"""Kernel Inception Distance (Binkowski, Sutherland, Arbel, Gretton 2018, "Demystifying MMD
GANs", ICLR), on any features.

The unbiased estimate of the squared maximum mean discrepancy with the cubic polynomial
kernel k(x, y) = (gamma x.y + coef0)^degree (gamma = 1/d, coef0 = 1, degree = 3 by default),
averaged over ``subsets`` random subsets of ``subset_size`` samples from each side; the
mean and the standard deviation over subsets are reported. Unlike FID it is unbiased in the
number of samples, and it can be slightly negative when the sets match. Lower is better;
dropped modes raise it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import ConfigError
from ._checks import as_generator, check_pair, check_positive_int, compute_dtype, resolve_device


@dataclass(frozen=True)
class KIDResult:
    """KID mean and standard deviation over subsets (lower is better), and the values used."""

    kid: float
    kid_std: float
    subsets: int
    subset_size: int
    degree: int
    gamma: float
    coef0: float

    higher_is_better: ClassVar[dict[str, bool]] = {"kid": False}


def _kernel_sums(a: torch.Tensor, b: torch.Tensor, *, degree: int, gamma: float, coef0: float) -> tuple[float, float]:
    """(sum of all entries, sum of the diagonal) of the kernel matrix between rows of ``a`` and ``b``.

    The matrix is built in place in the compute dtype and summed in float64.
    """
    k = a @ b.T  # (m, m)
    k.mul_(gamma).add_(coef0).pow_(degree)
    return float(k.sum(dtype=torch.float64)), float(k.diagonal().sum(dtype=torch.float64))


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, **kernel: float) -> float:
    m = len(x)
    sxx, dxx = _kernel_sums(x, x, **kernel)  # type: ignore[arg-type]
    syy, dyy = _kernel_sums(y, y, **kernel)  # type: ignore[arg-type]
    sxy, _ = _kernel_sums(x, y, **kernel)  # type: ignore[arg-type]
    return (sxx - dxx) / (m * (m - 1)) + (syy - dyy) / (m * (m - 1)) - 2 * sxy / (m * m)


def kid(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int | None = None,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int | torch.Generator = 0,
    device: str | torch.device | None = None,
) -> KIDResult:
    """KID of ``fake`` (n_fake, d) against ``real`` (n_real, d).

    ``subset_size`` defaults to min(1000, n_real, n_fake); an explicit value larger than a
    set is an error. Subsets are drawn without replacement with ``seed`` (an int or a
    ``torch.Generator``), so the same seed gives the same numbers.
    """
    check_pair(real, fake, min_real=2, min_fake=2, why="the unbiased estimate needs 2 samples per subset")
    check_positive_int(subsets, "subsets")
    check_positive_int(degree, "degree")
    n_max = min(len(real), len(fake))
    if subset_size is None:
        subset_size = min(1000, n_max)
    check_positive_int(subset_size, "subset_size", minimum=2)
    if subset_size > n_max:
        raise ConfigError(
            f"KID subset size {subset_size} exceeds the smaller set ({n_max} samples); choose a subset size <= {n_max}."
        )
    g = gamma if gamma is not None else 1.0 / real.shape[1]
    gen = as_generator(seed)
    dev = resolve_device(device, real)
    dtype = compute_dtype(real, fake)
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=gen)[:subset_size]].to(dev, dtype)
        y = fake[torch.randperm(len(fake), generator=gen)[:subset_size]].to(dev, dtype)
        values.append(_mmd2_unbiased(x, y, degree=degree, gamma=g, coef0=coef0))
    v = torch.tensor(values, dtype=torch.float64)
    std = float(v.std(unbiased=False)) if len(v) > 1 else 0.0
    return KIDResult(float(v.mean()), std, subsets, subset_size, degree, float(g), float(coef0))
