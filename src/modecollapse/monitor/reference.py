"""The real data's own baseline: everything the monitor compares against, computed once.

The monitor never uses a threshold in the data's units. Each signal of a fake batch is
divided by the value the same signal takes on a batch of *held-out real* samples of the
same size, so "coverage 0.4" becomes "40% of what real data of this size covers" on a 2D
ring, a 1200-dimensional mixture or MNIST features alike. That calibration is built here:

- the real set is split (seeded) into a *reference* part, whose k-NN balls and k-means
  clusters define the data manifold and its label-free modes, and a *held-out* part;
- the k-NN radii of the reference are computed once (blockwise, no N x N matrix;
  :func:`modecollapse.metrics.knn.knn_sqdist`), as are the k-means centres
  (:func:`modecollapse.metrics.kmeans.kmeans`, Arthur & Vassilvitskii 2007);
- for a ladder of batch sizes, held-out real batches are scored exactly as fake batches
  will be; the monitor interpolates that curve at the number of fake samples that lie on
  the data, so a batch that is half junk is compared with half a batch of real data.
- the within-batch k-NN distance (how far a sample is from its k-th nearest sample of the
  same batch) is compared with real data holding as many samples *per filled mode*: a batch
  that fills 3 of 10 modes packs its samples 3.3 times denser than real data of its size
  even when every sample differs, so its real counterpart is a batch 3.3 times larger,
  read off the ladder's power law (k-NN distances shrink as n^(-1/d) for intrinsic
  dimension d). Only near-duplicates within the modes push the ratio far below 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..metrics.kmeans import kmeans, nearest_centre
from ..metrics.knn import cross_neighbourhoods, knn_sqdist

#: maps fake samples (raw, as given to ``update``) and their features to mode labels (n,) long
Labeller = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class BatchScores:
    """Raw (uncalibrated) scores of one batch against the reference.

    ``on_data``: (n,) bool, inside at least one reference k-NN ball (the membership behind
    precision, Kynkaanniemi et al. 2019); ``near``: (n,) bool, within the loose *near-data*
    radius of a k-means centre (what is binned; junk far from all data is not);
    ``coverage``: fraction of reference balls holding at least one sample (Naeem et al.
    2020); ``recall``: fraction of reference samples inside at least one k-NN ball of the
    batch (Kynkaanniemi et al. 2019); ``counts``: (bins,) histogram of the near samples over
    the modes (k-means clusters, or known modes); ``spread``: root mean squared pairwise
    distance of the near samples, sqrt(2 tr Cov), O(n d) without pairwise distances.
    """

    on_data: torch.Tensor
    near: torch.Tensor
    coverage: float
    recall: float
    counts: torch.Tensor
    spread: float
    nn_dist: float = 0.0  # median distance of a near sample to its k-th nearest sample of the batch
    centre_dist: float = 0.0  # median distance of a sample to its nearest k-means centre

    @property
    def n_on(self) -> int:
        return int(self.on_data.sum())

    @property
    def n_near(self) -> int:
        return int(self.near.sum())

    @property
    def precision(self) -> float:
        return float(self.on_data.double().mean()) if len(self.on_data) else 0.0

    @property
    def effective_modes(self) -> float:
        return effective_count(self.counts)


def effective_count(counts: torch.Tensor) -> float:
    """exp(Shannon entropy) of a histogram: the number of equally filled bins it amounts to (0 when empty)."""
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts.double() / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def covered(counts: torch.Tensor, real_share: torch.Tensor, share: float = 0.5) -> int:
    """The real data's modes a histogram covers: those holding at least ``share`` of the
    fraction of the real data they hold (a digit at 4% where real MNIST has 10% is not
    covered at 0.5). Modes real data does not fill do not count."""
    total = float(counts.sum())
    if total <= 0:
        return 0
    frac = counts.double() / total
    return int(((frac >= share * real_share) & (real_share > 0)).sum())


def unfilled(counts: torch.Tensor, real_share: torch.Tensor) -> float:
    """The share of the real data's mass a histogram leaves unfilled: sum over modes of
    max(0, real share - histogram share), the total variation distance between the two
    (0: every mode holds at least its real share; 1: the histogram is empty). Unlike a
    count of covered modes it sees three digits thinned from 10% to 4% each (0.18) as well
    as one dropped outright (0.1), without a line that a mode flips across by chance."""
    total = float(counts.sum())
    if total <= 0:
        return 1.0
    frac = counts.double() / total
    return float((real_share - frac).clamp_min(0).sum())


def spread(x: torch.Tensor) -> float:
    """Root mean squared distance between two rows of ``x`` (n, d): sqrt(2 * total variance)."""
    if len(x) < 2:
        return 0.0
    xd = x.double()
    return float(torch.sqrt(2.0 * xd.var(dim=0, unbiased=False).sum()))


@dataclass(frozen=True)
class Curve:
    """A baseline value as a function of the batch size, interpolated linearly in log n."""

    sizes: tuple[int, ...]
    values: tuple[float, ...]

    def power(self, n: float) -> float:
        """Like calling the curve, but beyond its largest size extrapolated with the power law
        ``value ~ n^b`` of its last segment (log-log): the large-n end, where k-NN distances
        stay within the modes, not the small-n start, where they jump between them."""
        if n <= self.sizes[-1] or len(self.sizes) < 2 or min(self.values[-2:]) <= 0:
            return self(n)
        x0, x1 = math.log(self.sizes[-2]), math.log(self.sizes[-1])
        b = (math.log(self.values[-1]) - math.log(self.values[-2])) / (x1 - x0)
        return self.values[-1] * math.exp(min(b, 0.0) * (math.log(n) - x1))

    def __call__(self, n: float) -> float:
        if n <= 0:
            return self.values[0]
        logs = [math.log(s) for s in self.sizes]
        x = min(max(math.log(n), logs[0]), logs[-1])
        for i in range(1, len(logs)):
            if x <= logs[i]:
                t = (x - logs[i - 1]) / (logs[i] - logs[i - 1])
                return self.values[i - 1] + t * (self.values[i] - self.values[i - 1])
        return self.values[-1]


class Reference:
    """The reference manifold, its modes and the held-out baseline curves (see module docstring)."""

    def __init__(
        self,
        feats: torch.Tensor,
        *,
        reference_size: int,
        batch_size: int,
        k: int,
        clusters: int,
        labeller: Labeller | None,
        raw: torch.Tensor | None,
        seed: int,
        repeats: int = 4,
        covered_share: float = 0.5,
    ) -> None:
        n = len(feats)
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=gen)
        n_ref = min(reference_size, n - max(64, n // 4))
        if n_ref < max(2 * k + 2, 64):
            raise ConfigError(
                f"CollapseMonitor needs at least {max(2 * k + 2, 64) + 64} real samples to build its reference and "
                f"held-out baseline, got {n}; pass more real data."
            )
        ref_idx, held_idx = perm[:n_ref], perm[n_ref:]
        self.k = k
        self.ref = feats[ref_idx].float().contiguous()  # (n_ref, d)
        self.radii2 = knn_sqdist(self.ref, k=k)[:, k].float()  # (n_ref,) squared k-NN radius
        self.labeller = labeller
        c = max(2, min(clusters, n_ref // 8))
        self.centres = kmeans(self.ref, k=c, generator=gen)  # (c, d)
        self.bins = c if labeller is None else _labeller_bins(labeller)
        # each mode's share of the reference set: what "covering a mode like real data" means
        ref_raw = raw[ref_idx] if raw is not None else self.ref
        ref_labels = self.labels(ref_raw, self.ref)
        ref_labels = ref_labels[(ref_labels >= 0) & (ref_labels < self.bins)]
        self.real_share = torch.bincount(ref_labels, minlength=self.bins)[: self.bins].double() / max(len(ref_labels), 1)
        self.covered_share = covered_share
        held = feats[held_idx].float()
        held_raw = raw[held_idx] if raw is not None else held
        # The near-data radius: a quarter of the real data's RMS pairwise distance (its
        # overall scale), and at least 3 x the distance within which 99% of held-out real
        # samples lie from their nearest centre. Loose on purpose: an imprecise generator
        # whose samples sit beside the modes is binned; junk far from every mode is not.
        d2 = nearest_centre(held, self.centres)[1]
        tight = 3.0 * float(torch.quantile(d2.double().clamp_min(0).sqrt(), 0.99))
        self.near_radius2 = max(tight, 0.25 * spread(self.ref)) ** 2
        # the ladder of batch sizes at which held-out real batches are scored
        top = min(len(held), batch_size)
        sizes = sorted({max(8, top >> s) for s in range(6)})
        cov, rec, eff, prec, spr, near, nnd, filled, empty = [], [], [], [], [], [], [], [], []
        for s in sizes:
            vals = []
            for _ in range(repeats):
                pick = torch.randperm(len(held), generator=gen)[:s]
                vals.append(self.score(held[pick], held_raw[pick]))
            cov.append(sum(v.coverage for v in vals) / repeats)
            rec.append(sum(v.recall for v in vals) / repeats)
            eff.append(sum(v.effective_modes for v in vals) / repeats)
            prec.append(sum(v.precision for v in vals) / repeats)
            spr.append(sum(v.spread for v in vals) / repeats)
            near.append(sum(v.n_near / max(len(v.near), 1) for v in vals) / repeats)
            nnd.append(sum(v.nn_dist for v in vals) / repeats)
            filled.append(sum(covered(v.counts, self.real_share, covered_share) for v in vals) / repeats)
            empty.append(sum(unfilled(v.counts, self.real_share) for v in vals) / repeats)
        self.coverage_curve = Curve(tuple(sizes), tuple(cov))
        self.recall_curve = Curve(tuple(sizes), tuple(rec))
        self.modes_curve = Curve(tuple(sizes), tuple(eff))
        self.nn_curve = Curve(tuple(sizes), tuple(nnd))
        self.covered_curve = Curve(tuple(sizes), tuple(filled))
        self.unfilled_curve = Curve(tuple(sizes), tuple(empty))
        self.precision_base = prec[-1]
        self.centre_dist_base = float(torch.tensor([self.score(held[p], held_raw[p]).centre_dist for p in
                                                    [torch.randperm(len(held), generator=gen)[:top]]]).mean())
        self.spread_base = spr[-1]
        self.near_base = near[-1]
        self.batch_size = top
        self.n_ref, self.n_held = n_ref, len(held)

    def labels(self, raw: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Mode label (n,) long of each sample: its k-means cluster, or the known mode."""
        if self.labeller is not None:
            return self.labeller(raw, feats).long()
        return nearest_centre(feats, self.centres)[0]  # (n,)

    def score(self, feats: torch.Tensor, raw: torch.Tensor) -> BatchScores:
        """Scores one batch (n, d): one blockwise sweep over reference x batch distances."""
        k = min(self.k, len(feats) - 1)
        fake_r2 = knn_sqdist(feats, k=k)[:, k] if k >= 1 else torch.zeros(len(feats))  # (n,) the batch's own k-NN radii
        cross = cross_neighbourhoods(real=self.ref, fake=feats, real_radii2=self.radii2[:, None],
                                     fake_radii2=fake_r2[:, None], real_nearest=1)
        on = cross.fake_in_real_balls[:, 0] > 0
        coverage = float((cross.real_nearest_fake[:, 0] < self.radii2.to(cross.real_nearest_fake.dtype)).double().mean())
        recall = float((cross.real_in_fake_balls[:, 0] > 0).double().mean())
        d2 = nearest_centre(feats, self.centres)[1]
        near = d2 <= self.near_radius2
        counts = torch.zeros(self.bins, dtype=torch.long)
        if near.any():
            lab = self.labels(raw[near], feats[near])
            lab = lab[(lab >= 0) & (lab < self.bins)]
            counts = torch.bincount(lab, minlength=self.bins)[: self.bins]
        nn_dist = float(fake_r2[near].clamp_min(0).sqrt().median()) if int(near.sum()) > k >= 1 else 0.0
        centre_dist = float(d2.clamp_min(0).sqrt().median()) if len(d2) else 0.0
        return BatchScores(on, near, coverage, recall, counts, spread(feats[near]), nn_dist, centre_dist)


def _labeller_bins(labeller: Labeller) -> int:
    bins = getattr(labeller, "bins", None)
    if not isinstance(bins, int) or bins < 1:
        raise ConfigError("a mode labeller must say how many modes it knows (attribute `bins`).")
    return bins
