"""Mode statistics from a mode classifier, for data whose modes are classes (stacked MNIST...).

Wraps a classifier as a :class:`~modecollapse.data.base.Benchmark`, so the mode counting of
:func:`~modecollapse.metrics.modes.mode_stats` (VEEGAN / PacGAN protocol: modes captured,
high-quality fraction, reverse KL to uniform mode weights) applies unchanged: a sample's
mode is the class the classifier picks; it counts as high quality when the classifier's
probability for that class is at least ``confidence``. **When modes are dropped, ``modes``
falls and ``reverse_kl`` rises.**
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..data.base import Assignment, Benchmark
from ..errors import ConfigError


class ClassifierModes(Benchmark):
    """``classify`` maps (b, dim) rows to class scores (b, K) (logits or probabilities) or to
    integer labels (b,), in which case ``num_modes`` must be given."""

    name = "classifier"

    def __init__(
        self,
        classify: Callable[[torch.Tensor], torch.Tensor],
        *,
        dim: int,
        num_modes: int | None = None,
        confidence: float = 0.0,
        batch_size: int = 1024,
    ) -> None:
        if not 0 <= confidence <= 1:
            raise ConfigError(f"the mode classifier confidence must lie in [0, 1], got {confidence}.")
        self.classify = classify
        self.dim = dim
        self.confidence = confidence
        self.batch_size = batch_size
        self._given_modes = num_modes
        self.num_modes = num_modes or 0
        self.weights = torch.full((max(self.num_modes, 1),), 1.0 / max(self.num_modes, 1))

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            outs = [self.classify(x[a : a + self.batch_size]) for a in range(0, len(x), self.batch_size)]
        bad = [o for o in outs if not isinstance(o, torch.Tensor)]
        if bad:
            raise ConfigError(f"the mode classifier returned {type(bad[0]).__name__}, not a tensor of scores or labels.")
        return torch.cat([o.detach().cpu() for o in outs])

    def assign(self, x: torch.Tensor) -> Assignment:
        out = self._scores(x)
        if out.ndim == 2 and out.is_floating_point():
            k = out.shape[1]
            probs = out if bool(((out >= 0) & (out <= 1)).all()) and torch.allclose(out.sum(1), torch.ones(len(out)), atol=1e-4) else out.softmax(1)
            conf, mode = probs.max(dim=1)
        elif out.ndim == 1 and not out.is_floating_point():
            if self._given_modes is None:
                raise ConfigError("the mode classifier returns labels; give the number of classes with --num-modes.")
            k, mode, conf = self._given_modes, out.long(), torch.ones(len(out))
            if len(mode) and (mode.min() < 0 or mode.max() >= k):
                raise ConfigError(f"the mode classifier returned labels outside 0..{k - 1}; check --num-modes.")
        else:
            raise ConfigError(
                f"the mode classifier must return scores (n, K) or integer labels (n,), got {tuple(out.shape)} {out.dtype}."
            )
        if self._given_modes is not None and k != self._given_modes:
            raise ConfigError(f"the mode classifier scores {k} classes but --num-modes is {self._given_modes}.")
        self.num_modes = k
        self.weights = torch.full((k,), 1.0 / k)
        return Assignment(mode=mode, distance=1.0 - conf.float(), hq=conf >= self.confidence)

    def anchors(self) -> torch.Tensor:
        return torch.zeros(0, self.dim)
