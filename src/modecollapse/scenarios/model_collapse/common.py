"""What the mixture and learned-generator parts share: training-set policies and the
per-generation measurements (modes, within-mode variance, recall) on the ring."""
from __future__ import annotations

import torch

from ...data.base import Benchmark
from ...metrics.modes import mode_stats
from ...metrics.precision_recall import precision_recall

POLICIES = ("replace", "keep-real", "accumulate")


def training_set(policy: str, *, real: torch.Tensor, history: list[torch.Tensor], fresh: torch.Tensor,
                 real_share: float) -> torch.Tensor:
    """The next generation's training data (n, d) under ``policy``.

    ``replace``: only the previous generation's samples ``fresh`` (Shumailov et al. 2024).
    ``keep-real``: the first ``real_share`` of the original real set plus synthetic samples
    for the rest, same size. ``accumulate``: the real set and every synthetic set so far
    (Gerstgrasser et al. 2024); ``history`` holds the earlier synthetic sets.
    """
    if policy == "replace":
        return fresh
    if policy == "keep-real":
        k = int(round(real_share * len(real)))
        return torch.cat([real[:k], fresh[: len(real) - k]])
    if policy == "accumulate":
        return torch.cat([real, *history, fresh])
    raise ValueError(f"unknown policy {policy!r}")


def measure(samples: torch.Tensor, *, benchmark: Benchmark, reference: torch.Tensor) -> dict[str, float]:
    """Modes captured, per-axis variance around the nearest mode centre, and recall against
    ``reference`` (real samples of the benchmark)."""
    stats = mode_stats(samples=samples, benchmark=benchmark)
    a = benchmark.assign(samples)
    variance = float(a.distance.pow(2).mean() / benchmark.dim)
    pr = precision_recall(real=reference, fake=samples, k=3)
    return {"modes": stats.modes, "variance": variance, "recall": pr.recall, "precision": pr.precision}
