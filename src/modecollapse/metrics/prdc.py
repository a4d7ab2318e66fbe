"""Precision, recall, density and coverage in one pass over the distances.

The four k-NN manifold metrics share their expensive parts: the k-NN radii of the real set
(precision, density, coverage), of the fake set (recall), and one sweep over all real x fake
distances. :func:`prdc` computes them once for all four, exactly, in blocks (see
:mod:`modecollapse.metrics.knn`); :func:`~modecollapse.metrics.precision_recall` and
:func:`~modecollapse.metrics.density_coverage` are the single-pair entry points.

Definitions follow the ``prdc`` package of Naeem et al. (2020) to the letter: the radius of
a sample's ball is the distance to its k-th nearest *other* sample of the same set (a
duplicate counts, at distance 0), and a point is inside a ball when **strictly** closer than
the radius: one at exactly the radius is outside, and a ball of radius 0 holds nothing.
Every distance compared is the canonical one of :func:`~modecollapse.metrics.knn.exact_sqdist`
(exactly 0 between identical rows, the same bits in every block), so a generator that copies
real samples is scored by these rules, not by rounding, and the result does not depend on
``chunk_size``; coverage and density count the same comparisons.

- Kynkaanniemi, Karras, Laine, Lehtinen, Aila (2019), "Improved Precision and Recall Metric
  for Assessing Generative Models", NeurIPS.
- Naeem, Oh, Uh, Choi, Yoo (2020), "Reliable Fidelity and Diversity Metrics for Generative
  Models", ICML.

When the generator drops modes, **recall** and **coverage** fall (real samples of the dropped
modes have no fake sample near them); precision and density stay high as long as what it
does produce is realistic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import check_features, check_pair, check_positive_int
from .knn import DEFAULT_CHUNK, cross_neighbourhoods, knn_sqdist


@dataclass(frozen=True)
class PRDC:
    """The four k-NN metrics; each is None when it was not asked for. All higher is better."""

    precision: float | None
    recall: float | None
    density: float | None
    coverage: float | None
    pr_k: int | None
    dc_k: int | None
    n_real: int
    n_fake: int


def radii2_from_knn(knn: torch.Tensor, k: int) -> torch.Tensor:
    """Squared k-NN radius (n,) from :func:`knn_sqdist` output (n, >= k + 1)."""
    return knn[:, k]


def prdc(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    pr_k: int | None = 3,
    dc_k: int | None = 5,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
    real_knn: torch.Tensor | None = None,
) -> PRDC:
    """Precision and recall with ``pr_k`` neighbours, density and coverage with ``dc_k``.

    ``real`` (n_real, d) and ``fake`` (n_fake, d) are features; pass ``pr_k=None`` or
    ``dc_k=None`` to skip a pair. ``real_knn`` (n_real, >= k + 1) are squared real k-NN
    distances from :func:`~modecollapse.metrics.knn.knn_sqdist` computed earlier (for
    instance loaded with ``--real-stats``); they save one of the three distance sweeps.
    Ties: inside a ball means strictly closer than its radius (see the module docstring).
    Precision is the fraction of fake samples inside at least one real ball; recall the
    fraction of real samples inside at least one fake ball; density the mean number of real
    balls holding a fake sample divided by k (about 1 when the two sets match, above 1 for
    fakes crowding dense real regions); coverage the fraction of real balls holding at
    least one fake sample.
    """
    if pr_k is None and dc_k is None:
        raise ValueError("prdc needs pr_k or dc_k (or both)")
    ks = [k for k in (pr_k, dc_k) if k is not None]
    for k in ks:
        check_positive_int(k, "k (nearest neighbours)")
    kmax = max(ks)
    need = kmax + 1
    why = f"k = {kmax} neighbours need k + 1 samples per set"
    check_pair(real, fake, min_real=need, min_fake=(pr_k + 1) if pr_k else 1, why=why)
    check_positive_int(chunk_size, "chunk_size")

    if real.dtype != fake.dtype:  # one compute dtype for every distance (see knn.exact_sqdist)
        real, fake = real.to(torch.float64), fake.to(torch.float64)
    if real_knn is None or real_knn.shape[1] < need or len(real_knn) != len(real):
        real_knn = knn_sqdist(real, k=kmax, chunk_size=chunk_size, device=device)
    radii_ks = sorted(set(ks))  # pr_k == dc_k (prdc's single nearest_k): one set of balls, counted once
    real_cols = [radii2_from_knn(real_knn, k) for k in radii_ks]
    fake_r2 = None
    if pr_k is not None:
        fake_r2 = radii2_from_knn(knn_sqdist(fake, k=pr_k, chunk_size=chunk_size, device=device), pr_k)[:, None]
    cross = cross_neighbourhoods(
        real=real, fake=fake, real_radii2=torch.stack(real_cols, dim=1), fake_radii2=fake_r2,
        chunk_size=chunk_size, device=device,
    )
    precision = recall = density = coverage = None
    if pr_k is not None:
        col = radii_ks.index(pr_k)
        precision = float((cross.fake_in_real_balls[:, col] > 0).double().mean())
        recall = float((cross.real_in_fake_balls[:, 0] > 0).double().mean())
    if dc_k is not None:
        col = radii_ks.index(dc_k)
        density = float(cross.fake_in_real_balls[:, col].double().sum() / (dc_k * len(fake)))
        coverage = float((cross.real_ball_counts[:, col] > 0).double().mean())
    return PRDC(precision, recall, density, coverage, pr_k, dc_k, len(real), len(fake))


class StreamingPRDC:
    """Precision, recall, density and coverage over batches: ``update(real=..., fake=...)``,
    ``compute()``, ``reset()``, ``merge(other)``.

    The k-NN metrics need every row (a ball is set by a sample's nearest neighbours among
    all the others), so the rows are kept, on CPU, and ``compute()`` equals :func:`prdc` on
    the concatenated batches. The real k-NN radii are computed once and reused until the real
    side changes, so ``reset(real=False)`` between epochs costs one fake sweep per compute.
    With ``torch.distributed`` initialised, ``compute()`` gathers every process's rows in rank
    order first (see :mod:`~modecollapse.metrics.distributed`).
    """

    def __init__(
        self, *, pr_k: int | None = 3, dc_k: int | None = 5, chunk_size: int = DEFAULT_CHUNK,
        device: str | torch.device | None = None,
    ) -> None:
        self.pr_k, self.dc_k, self.chunk_size, self.device = pr_k, dc_k, chunk_size, device
        self.reset()

    def reset(self, *, real: bool = True) -> None:
        if real:
            self._real: list[torch.Tensor] = []
            self._real_knn: torch.Tensor | None = None  # radii of the gathered real rows
        self._fake: list[torch.Tensor] = []

    def update(self, *, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        if real is not None:
            check_features(real, "real")
            self._real.append(real.detach().cpu())
            self._real_knn = None
        if fake is not None:
            check_features(fake, "fake")
            self._fake.append(fake.detach().cpu())

    def merge(self, other: StreamingPRDC) -> StreamingPRDC:
        """Adds ``other``'s rows after this one's; returns self."""
        if other._real:
            self._real += other._real
            self._real_knn = None
        self._fake += other._fake
        return self

    def compute(self) -> PRDC:
        from .distributed import gather_states

        states = gather_states({"real": self._real, "fake": self._fake})
        real = [t for s in states for t in s["real"]]
        fake = [t for s in states for t in s["fake"]]
        if not real or not fake:
            raise ValueError("StreamingPRDC.compute() needs real and fake rows; call update() with both first")
        real_x, fake_x = torch.cat(real), torch.cat(fake)
        kmax = max(k for k in (self.pr_k, self.dc_k) if k is not None)
        if self._real_knn is None or len(self._real_knn) != len(real_x):
            if len(real_x) > kmax:
                common = torch.float64 if torch.float64 in (real_x.dtype, fake_x.dtype) else real_x.dtype
                self._real_knn = knn_sqdist(real_x.to(common), k=kmax, chunk_size=self.chunk_size, device=self.device)
        return prdc(real=real_x, fake=fake_x, pr_k=self.pr_k, dc_k=self.dc_k, chunk_size=self.chunk_size,
                    device=self.device, real_knn=self._real_knn)
