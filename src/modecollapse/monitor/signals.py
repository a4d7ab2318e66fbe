"""The monitor's signals, each a plain function, each calibrated against real data.

Sources:
- *on-data fraction* (precision) and *coverage*: the k-NN manifold of the real set,
  Kynkaanniemi et al. (2019), "Improved Precision and Recall Metric for Assessing
  Generative Models", and Naeem et al. (2020), "Reliable Fidelity and Diversity Metrics
  for Generative Models". Coverage falls when modes are dropped; precision falls when the
  samples leave the data (junk, divergence), not when modes are dropped.
- *effective modes*: exp(entropy) of the histogram of the on-data samples over k-means
  clusters of the real data (label-free modes; the binning of NDB, Richardson & Weiss
  2018), or over the known modes when given. It falls when modes are dropped and is blind
  to junk, which is not binned.
- *mode hopping*: the histogram overlap sum_i min(p_i, q_i) of two consecutive checks. A
  collapsed generator that stays put keeps an overlap near 1; one that cycles from mode to
  mode ("rock-paper-scissors", Goodfellow 2016, NIPS tutorial sec. 5.1.1) has an overlap
  near 0 while each check fills few modes.
- *within-mode closeness*: the median distance of a sample to its k-th nearest sample of
  the same batch over real data's with as many samples per filled mode
  (:class:`.reference.Reference`). Duplicates within the modes (within-mode collapse, the
  duplicates of Arora & Zhang 2017's birthday-paradox test) drive it towards 0 while the
  mode histogram stays full; dropping modes leaves it near 1.
- *spread*: root mean squared pairwise distance of the on-data samples over that of real
  data (a within-batch diversity ratio; Vendi, Friedman & Dieng 2023, measures the same
  thing with a kernel; this one is O(n d)).
- *mutual information* I(z; x) between latent and output (KSG estimator,
  :mod:`modecollapse.metrics.mutual_info`) when the latent is given and small.
- *loss dynamics*: the discriminator winning outright (its loss near zero while the
  generator's grows, Arjovsky & Bottou 2017) and the oscillation of the generator loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..metrics.mutual_info import mutual_information
from .reference import BatchScores, Reference, covered, unfilled


@dataclass(frozen=True)
class CheckSignals:
    """One check's signals; every ``*_rel`` is the fake value over held-out real data's at the same size."""

    n: int
    n_near: int  # samples near the data (binned)
    near_rel: float
    precision: float
    precision_rel: float
    coverage: float
    coverage_rel: float
    recall: float
    recall_rel: float
    effective_modes: float
    modes_rel: float
    modes_filled: int
    bins: int
    spread_rel: float
    score: float  # the collapse score max(modes_rel, sqrt(modes_rel * recall_rel)), 1 = like real data
    histogram: tuple[float, ...]  # on-data share per mode bin
    modes_covered: int = 0  # modes holding at least covered_share of their share of the real data
    modes_covered_real: float = 0.0  # the same for real data of the same size
    covered_rel: float = 1.0  # modes_covered / modes_covered_real
    nn_dist_rel: float = 1.0  # within-batch k-NN distance over real's at the same samples per filled mode
    effective_modes_real: float = 0.0  # real data's effective modes at n_near samples
    unfilled: float = 0.0  # share of the real data's mass the samples leave unfilled (reference.unfilled)
    unfilled_real: float = 0.0  # the same for real data of the same size
    mass_rel: float = 1.0  # (1 - unfilled) / (1 - unfilled_real): the real mass filled, relative to real data's
    reach_rel: float = 1.0  # real's median distance to the nearest cluster centre over the batch's (rises as samples approach the data)

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in (
            "n", "n_near", "near_rel", "precision", "precision_rel", "coverage", "coverage_rel", "recall",
            "recall_rel", "effective_modes", "modes_rel", "modes_covered", "modes_covered_real", "covered_rel",
            "unfilled", "unfilled_real", "mass_rel", "effective_modes_real", "modes_filled", "bins", "spread_rel", "nn_dist_rel", "reach_rel", "score")}


def _ratio(value: float, base: float) -> float:
    return value / base if base > 0 else (1.0 if value <= 0 else float("inf"))


def calibrate(scores: BatchScores, ref: Reference) -> CheckSignals:
    """The calibrated signals of a batch's raw :class:`BatchScores`.

    The effective number of modes is compared with real batches holding as many samples as
    the fake batch has *near the data*, so junk samples lower precision but not the
    collapse score (a noisy generator is not a collapsed one), and recall, which junk can
    only raise, with real batches of the batch's size. Coverage and precision, which fall
    for a generator that is merely imprecise, are reported but do not enter the score.
    """
    n = len(scores.on_data)
    n_near = scores.n_near
    eff = scores.effective_modes
    real_eff = ref.modes_curve(n_near)
    modes_rel = _ratio(eff, real_eff) if n_near else 0.0
    recall_rel = _ratio(scores.recall, ref.recall_curve(n))
    total = float(scores.counts.sum())
    hist = tuple(float(c) / total for c in scores.counts) if total > 0 else tuple(0.0 for _ in scores.counts)
    # real data with as many samples per filled mode as the fake batch has
    n_equiv = n_near * max(real_eff, 1.0) / max(eff, 1.0)
    nn_rel = _ratio(scores.nn_dist, ref.nn_curve.power(n_equiv)) if n_near > ref.k else 0.0
    # The collapse score is the mode ratio, which recall can raise but never lower: k-NN
    # recall is ~0 for every imprecise image generator (MNIST, benchmarks/monitor_accuracy.py
    # --suite images), so it cannot condemn; but a precise generator that fills every mode
    # unevenly (recall ~1, effective modes 0.6 of real on a 25-mode grid) is not dropping any.
    m, r = max(min(modes_rel, 1.5), 0.0), max(min(recall_rel, 1.5), 0.0)
    score = max(m, math.sqrt(m * r))
    n_cov, real_cov = covered(scores.counts, ref.real_share, ref.covered_share), ref.covered_curve(n_near)
    empty, real_empty = unfilled(scores.counts, ref.real_share), ref.unfilled_curve(n_near)
    return CheckSignals(
        n=n,
        n_near=n_near,
        near_rel=_ratio(n_near / max(n, 1), ref.near_base),
        precision=scores.precision,
        precision_rel=_ratio(scores.precision, ref.precision_base),
        coverage=scores.coverage,
        coverage_rel=_ratio(scores.coverage, ref.coverage_curve(n)),
        recall=scores.recall,
        recall_rel=recall_rel,
        effective_modes=eff,
        modes_rel=modes_rel,
        modes_filled=int((scores.counts > 0).sum()),
        bins=ref.bins,
        spread_rel=_ratio(scores.spread, ref.spread_base),
        score=score,
        histogram=hist,
        modes_covered=n_cov,
        modes_covered_real=real_cov,
        covered_rel=_ratio(n_cov, real_cov) if n_near else 0.0,
        nn_dist_rel=nn_rel,
        effective_modes_real=real_eff,
        unfilled=empty,
        unfilled_real=real_empty,
        mass_rel=_ratio(1.0 - empty, 1.0 - real_empty) if n_near else 0.0,
        reach_rel=min(_ratio(ref.centre_dist_base, scores.centre_dist), 1.5),
    )


def overlap(p: tuple[float, ...], q: tuple[float, ...]) -> float:
    """sum_i min(p_i, q_i) of two histograms (1: the same, 0: disjoint)."""
    return float(sum(min(a, b) for a, b in zip(p, q)))


def latent_information(latent: torch.Tensor, feats: torch.Tensor, *, max_rows: int = 512, max_dims: int = 16) -> float | None:
    """KSG estimate of I(z; x) in nats on the first ``max_rows`` pairs, or None when the
    latent and output together have more than ``max_dims`` dimensions (where the estimator
    measures the curse of dimensionality rather than information)."""
    z = latent.reshape(len(latent), -1)
    if len(z) != len(feats) or z.shape[1] + feats.shape[1] > max_dims or len(z) < 8:
        return None
    m = min(max_rows, len(z))
    return mutual_information(latent=z[:m].float(), samples=feats[:m].float(), k=3).mutual_info


@dataclass(frozen=True)
class LossDynamics:
    """What the losses since the first check say. ``d_winning``: D's loss fell below 10% of
    its value at the first check while G's rose by half; ``oscillation``: coefficient of
    variation of the generator loss over the recent window."""

    d_loss: float | None
    g_loss: float | None
    d_winning: bool
    oscillation: float | None


def loss_dynamics(d_first: float | None, g_first: float | None, d_recent: list[float], g_recent: list[float]) -> LossDynamics:
    d = sum(d_recent) / len(d_recent) if d_recent else None
    g = sum(g_recent) / len(g_recent) if g_recent else None
    winning = (d is not None and g is not None and d_first is not None and g_first is not None
               and d_first > 0 and d < 0.1 * d_first and g > 1.5 * abs(g_first))
    osc = None
    if len(g_recent) >= 4 and g is not None and abs(g) > 1e-12:
        mean = g
        var = sum((v - mean) ** 2 for v in g_recent) / len(g_recent)
        osc = math.sqrt(var) / abs(mean)
    return LossDynamics(d, g, winning, osc)
