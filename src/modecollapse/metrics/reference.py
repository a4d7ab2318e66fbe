"""Reusable statistics of the real set: its k-NN distances and its float64 moments.

The real side of precision/recall, density/coverage and FID does not depend on the
generator, so it can be computed once, saved with ``--real-stats FILE`` and reused for
every checkpoint. The file holds only tensors, ints and strings (loaded with
``torch.load(..., weights_only=True)``), plus a fingerprint of the real features so that
stats are never silently applied to different data.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import ConfigError

FORMAT = "modecollapse-real-stats-1"


def fingerprint(x: torch.Tensor) -> str:
    """A hash of the values and shape of ``x`` (n, d), to recognise the same real set later."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(x.shape), str(x.dtype))).encode())
    h.update(memoryview(x.detach().cpu().contiguous().numpy()).cast("B"))
    return h.hexdigest()


@dataclass
class ReferenceStats:
    """``knn``: (n, K + 1) squared k-NN distances (see :func:`~modecollapse.metrics.knn.knn_sqdist`)
    computed in ``knn_dtype``; ``mean`` (d,), ``cov`` (d, d): float64 moments."""

    n: int
    dim: int
    fingerprint: str
    knn: torch.Tensor | None = None
    knn_dtype: str = ""
    mean: torch.Tensor | None = None
    cov: torch.Tensor | None = None
    changed: bool = field(default=False, compare=False)

    def knn_for(self, k: int, dtype: torch.dtype) -> torch.Tensor | None:
        """The stored k-NN distances when they reach k neighbours in ``dtype``, else None."""
        if self.knn is not None and self.knn.shape[1] >= k + 1 and self.knn_dtype == str(dtype):
            return self.knn
        return None

    def to_state(self) -> dict:
        state: dict = {"format": FORMAT, "n": self.n, "dim": self.dim, "fingerprint": self.fingerprint}
        if self.knn is not None:
            state["knn"], state["knn_dtype"] = self.knn.cpu(), self.knn_dtype
        if self.mean is not None and self.cov is not None:
            state["mean"], state["cov"] = self.mean.cpu(), self.cov.cpu()
        return state

    def save(self, path: Path) -> None:
        """Writes atomically: an interrupted save leaves the previous file (or none)."""
        from ..fileio import atomic_write

        atomic_write(Path(path), lambda tmp: torch.save(self.to_state(), tmp))

    @classmethod
    def load(cls, path: Path) -> ReferenceStats:
        try:
            with warnings.catch_warnings():  # the error below is the one line the user sees
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
            raise ConfigError(f"cannot read real stats {path} ({type(err).__name__}); delete it to recompute it.") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ConfigError(f"{path} is not a real-stats file written by 'modecollapse measure --real-stats'.")
        return cls(
            n=int(state["n"]), dim=int(state["dim"]), fingerprint=str(state["fingerprint"]),
            knn=state.get("knn"), knn_dtype=str(state.get("knn_dtype", "")),
            mean=state.get("mean"), cov=state.get("cov"),
        )

    def check_matches(self, real: torch.Tensor, path: Path) -> None:
        if (self.n, self.dim) != tuple(real.shape) or self.fingerprint != fingerprint(real):
            raise ConfigError(
                f"{path} was computed from other real data ({self.n} x {self.dim}, not the {len(real)} x "
                f"{real.shape[1]} given); delete it or choose another --real-stats file."
            )
