"""Mode counting: modes captured, high-quality fraction and reverse KL.

The protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018, Table 1):
draw 2,500 samples; a sample is *high quality* when it lies within 3 standard deviations of
its nearest mode (see :func:`modecollapse.data.hq_radius` for the rule outside 2D); a mode
is *captured* when it is the nearest mode of at least one high-quality sample; the reverse
KL is KL(p || q) between the histogram p of high-quality samples over the modes and the
true mode weights q (uniform for ring and grid, so KL(p || uniform)).

When the generator drops modes, ``modes`` falls and ``reverse_kl`` rises towards log(k)
(every high-quality sample on one of k equal modes). ``hq_fraction`` falls when samples
land between modes instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.base import Benchmark


@dataclass(frozen=True)
class ModeStats:
    """Mode coverage of a sample set. Higher is better for ``modes`` and ``hq_fraction``;
    lower is better for ``reverse_kl``."""

    modes: int
    num_modes: int
    hq_fraction: float
    reverse_kl: float
    counts: tuple[int, ...]  # high-quality samples per mode

    def as_dict(self) -> dict:
        return {
            "modes": self.modes,
            "num_modes": self.num_modes,
            "hq_fraction": self.hq_fraction,
            "reverse_kl": self.reverse_kl,
            "counts": list(self.counts),
        }


def reverse_kl_from_counts(counts: torch.Tensor, weights: torch.Tensor) -> float:
    """KL(p || q) with p = counts / sum(counts) and q = ``weights``; 0 log 0 = 0.

    With no high-quality sample at all p is undefined; the value returned is then
    log(1 / min q), the KL of a point mass on the rarest mode, the worst case, so that a
    run that produces nothing useful never looks better than a collapsed one (never NaN).
    """
    total = counts.sum()
    q = weights.double()
    if total == 0:
        return float(-torch.log(q.min()))
    p = counts.double() / total
    mask = p > 0
    return float((p[mask] * (p[mask].log() - q[mask].log())).sum().clamp_min(0.0))


def mode_stats(*, samples: torch.Tensor, benchmark: Benchmark) -> ModeStats:
    """Counts the modes of ``benchmark`` that ``samples`` (n, dim) capture.

    Non-finite samples count as low quality (a diverging generator scores as such rather
    than raising or returning NaN).
    """
    if samples.ndim != 2 or samples.shape[1] != benchmark.dim:
        raise ValueError(f"samples must have shape (n, {benchmark.dim}), got {tuple(samples.shape)}")
    finite = torch.isfinite(samples).all(dim=1)
    safe = torch.where(finite[:, None], samples, torch.zeros_like(samples))
    a = benchmark.assign(safe)
    hq = a.hq & finite
    counts = torch.bincount(a.mode[hq], minlength=benchmark.num_modes)
    n = max(len(samples), 1)
    return ModeStats(
        modes=int((counts > 0).sum()),
        num_modes=benchmark.num_modes,
        hq_fraction=float(hq.sum()) / n,
        reverse_kl=reverse_kl_from_counts(counts, benchmark.weights),
        counts=tuple(int(c) for c in counts),
    )
