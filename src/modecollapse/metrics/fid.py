"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update
Rule Converge to a Local Nash Equilibrium", NeurIPS), on any features.

FID = |mu_r - mu_f|^2 + tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^(1/2)), the Frechet distance
between Gaussians fitted to the two feature sets. Statistics are accumulated in float64
(shifted by a first-batch mean, so a large mean does not cancel the covariance away). The
trace of the matrix square root comes from symmetric eigendecompositions,
tr((S_r S_f)^(1/2)) = sum sqrt(eig(A S_f A)) with A = S_r^(1/2), whose eigenvalues are
clamped at 0: the result is real and finite even when a covariance is rank-deficient,
which is exactly the case of a collapsed generator (scipy's ``sqrtm`` then returns complex
noise). On full-rank data it agrees with the ``sqrtm`` route to rounding.

Lower is better. FID rises when modes are dropped only insofar as the mean and covariance
change: two inflated clusters can match the moments of four (the "plus" toy), so a low FID
does not prove that all modes are there; read it together with recall and coverage.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_features, check_pair
from .knn import DEFAULT_CHUNK, blocks


class GaussianMoments:
    """Streaming float64 mean and covariance of feature rows: ``update`` / ``compute`` / ``reset``."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self._shift: torch.Tensor | None = None  # (d,) float64
        self._sum: torch.Tensor | None = None  # (d,) float64, of x - shift
        self._outer: torch.Tensor | None = None  # (d, d) float64, of (x - shift)

    @property
    def dim(self) -> int | None:
        return None if self._shift is None else len(self._shift)

    def update(self, x: torch.Tensor, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        """Adds the rows of ``x`` (n, d); converts to float64 one chunk at a time."""
        check_features(x, "features")
        if self._shift is None:
            self._shift = x[:chunk_size].double().mean(0).cpu()
            d = x.shape[1]
            self._sum = torch.zeros(d, dtype=torch.float64)
            self._outer = torch.zeros(d, d, dtype=torch.float64)
        elif x.shape[1] != self.dim:
            raise ValueError(f"features have {x.shape[1]} dimensions, earlier updates had {self.dim}")
        assert self._sum is not None and self._outer is not None
        for a, b in blocks(len(x), chunk_size):
            c = x[a:b].to(dtype=torch.float64, device="cpu") - self._shift
            self._sum += c.sum(0)
            self._outer.addmm_(c.T, c)
        self.n += len(x)

    def merge(self, other: GaussianMoments) -> GaussianMoments:
        """Adds ``other``'s rows (exactly: its sums are moved to this shift); returns self."""
        if other.n == 0 or other._shift is None:
            return self
        if self._shift is None:
            self._shift, self._sum, self._outer, self.n = other._shift.clone(), other._sum.clone(), \
                other._outer.clone(), other.n
            return self
        if other.dim != self.dim:
            raise ValueError(f"features have {other.dim} dimensions, earlier updates had {self.dim}")
        assert self._sum is not None and self._outer is not None and other._sum is not None
        delta = other._shift - self._shift  # x - s1 = (x - s2) + delta
        self._sum += other._sum + other.n * delta
        self._outer += other._outer + torch.outer(other._sum, delta) + torch.outer(delta, other._sum) \
            + other.n * torch.outer(delta, delta)
        self.n += other.n
        return self

    def state(self) -> dict:
        return {"n": self.n, "shift": self._shift, "sum": self._sum, "outer": self._outer}

    @classmethod
    def from_state(cls, state: dict) -> GaussianMoments:
        m = cls()
        m.n, m._shift, m._sum, m._outer = state["n"], state["shift"], state["sum"], state["outer"]
        return m

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean (d,), covariance (d, d))`` in float64; the covariance uses n - 1."""
        if self.n < 2 or self._sum is None or self._outer is None or self._shift is None:
            raise ValueError("a covariance needs at least 2 samples")
        m = self._sum / self.n
        cov = (self._outer - self.n * torch.outer(m, m)) / (self.n - 1)
        return m + self._shift, (cov + cov.T) / 2


def moments(x: torch.Tensor, *, chunk_size: int = DEFAULT_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 ``(mean (d,), covariance (d, d))`` of ``x`` (n, d)."""
    acc = GaussianMoments()
    acc.update(x, chunk_size=chunk_size)
    return acc.compute()


def trace_sqrt_product(cov_a: torch.Tensor, cov_b: torch.Tensor) -> float:
    """tr((A B)^(1/2)) for symmetric positive semi-definite ``cov_a``, ``cov_b`` (d, d), via eigh.

    (A B)^(1/2) is similar to (A^(1/2) B A^(1/2))^(1/2), whose argument is symmetric PSD, so
    its trace is the sum of square roots of that matrix's (clamped) eigenvalues.
    """
    w, v = torch.linalg.eigh(cov_a.double())
    root_a = (v * w.clamp_min(0).sqrt()) @ v.T
    m = root_a @ cov_b.double() @ root_a
    ev = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0)
    return float(ev.sqrt().sum())


def frechet_distance(mu_a: torch.Tensor, cov_a: torch.Tensor, mu_b: torch.Tensor, cov_b: torch.Tensor) -> float:
    """Frechet distance between N(mu_a, cov_a) and N(mu_b, cov_b); never negative, never NaN."""
    diff = (mu_a.double() - mu_b.double()).pow(2).sum()
    tr = torch.trace(cov_a.double()) + torch.trace(cov_b.double())
    return max(float(diff + tr) - 2.0 * trace_sqrt_product(cov_a, cov_b), 0.0)


@dataclass(frozen=True)
class FIDResult:
    """FID (>= 0; lower is better) and the sample counts behind it."""

    fid: float
    n_real: int
    n_fake: int


def fid(*, real: torch.Tensor, fake: torch.Tensor, chunk_size: int = DEFAULT_CHUNK) -> FIDResult:
    """FID between ``real`` (n_real, d) and ``fake`` (n_fake, d); each needs >= 2 rows."""
    check_pair(real, fake, min_real=2, min_fake=2, why="a covariance needs 2 samples")
    mu_r, cov_r = moments(real, chunk_size=chunk_size)
    mu_f, cov_f = moments(fake, chunk_size=chunk_size)
    return FIDResult(frechet_distance(mu_r, cov_r, mu_f, cov_f), len(real), len(fake))


class StreamingFID:
    """FID over batches: ``update(real=..., fake=...)`` any number of times, then ``compute()``.

    Equal to :func:`fid` on the concatenated batches (up to float64 rounding). ``reset()``
    forgets both sides; ``reset(real=False)`` keeps the real statistics for the next epoch.
    ``merge(other)`` adds another accumulator's batches; with ``torch.distributed``
    initialised, ``compute()`` merges every process's moments in rank order first.
    """

    def __init__(self) -> None:
        self.real = GaussianMoments()
        self.fake = GaussianMoments()

    def update(self, *, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        if real is not None:
            self.real.update(real.detach())
        if fake is not None:
            self.fake.update(fake.detach())

    def merge(self, other: StreamingFID) -> StreamingFID:
        self.real.merge(other.real)
        self.fake.merge(other.fake)
        return self

    def compute(self) -> FIDResult:
        from .distributed import gather_states

        states = gather_states({"real": self.real.state(), "fake": self.fake.state()})
        real, fake = GaussianMoments(), GaussianMoments()
        for s in states:
            real.merge(GaussianMoments.from_state(s["real"]))
            fake.merge(GaussianMoments.from_state(s["fake"]))
        if real.n < 2 or fake.n < 2:
            raise ValueError(f"FID needs >= 2 real and fake samples, have {real.n} and {fake.n}")
        if real.dim != fake.dim:
            raise ValueError(f"real and fake have different dimensions ({real.dim} vs {fake.dim})")
        mu_r, cov_r = real.compute()
        mu_f, cov_f = fake.compute()
        return FIDResult(frechet_distance(mu_r, cov_r, mu_f, cov_f), real.n, fake.n)

    def reset(self, *, real: bool = True) -> None:
        if real:
            self.real.reset()
        self.fake.reset()
