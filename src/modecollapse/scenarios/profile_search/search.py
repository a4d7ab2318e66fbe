"""An iterative position-specific scoring matrix search, as PSI-BLAST does it (Altschul et al.
1997, "Gapped BLAST and PSI-BLAST", Nucleic Acids Res.), ungapped on equal-length sequences.

Iteration 1 scores the database with a profile made from the seed alone (its residues mixed
with their substitution probabilities, the role BLOSUM62 plays in the first BLAST pass).
Every later iteration re-estimates the profile from the hits the previous one included and
searches again, so whatever enters the profile shapes the next search: a profile fitted to
its own hits drifts toward the best-represented subfamily, and a decoy that slips in pulls
the profile toward more decoys (profile drift / corruption).

Scores are log-odds sum_i log(P_i(s_i) / q(s_i)) against the uniform background; a hit
enters the next profile when its score per position reaches ``inclusion`` (nats), a fixed
bit-score cutoff in the manner of Pfam's gathering thresholds rather than PSI-BLAST's
E-value (whose Karlin-Altschul statistics apply to local alignments, not to these ungapped
full-length scores). Safeguards, each switchable:

- a stricter inclusion threshold (PSI-BLAST's -h inclusion E-value), against decoys;
- sequence weighting (Henikoff & Henikoff 1994, "Position-based sequence weights", J. Mol.
  Biol.): w_s = (1/L) sum_i 1 / (r_i n_{i, s_i}), so a hundred near-identical hits of one
  subfamily count for little more than one, and the other subfamilies keep a say;
- pseudocounts (Altschul et al. 1997; Henikoff & Henikoff 1996): P_i = (N_eff f_i + B g_i) /
  (N_eff + B) with g_i(a) = sum_b f_i(b) P(a | b) from the substitution model and B the
  pseudocount weight, so a residue unseen in the hits is unlikely rather than impossible.
  Without them the profile keeps only a floor of 1e-4.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .family import ALPHABET, substitution

NO_PSEUDOCOUNT_FLOOR = 1e-4


@dataclass(frozen=True)
class SearchPolicy:
    inclusion: float  # mean log-odds per position (nats) a hit needs to enter the next profile
    weighting: bool
    pseudocounts: float  # B; 0 = none


def henikoff_weights(hits: torch.Tensor) -> torch.Tensor:
    """Position-based weights (n,) summing to 1 for aligned sequences ``hits`` (n, L)."""
    n, length = hits.shape
    onehot = torch.nn.functional.one_hot(hits, ALPHABET).double()  # (n, L, A)
    counts = onehot.sum(0)  # (L, A)
    distinct = (counts > 0).sum(1).double()  # (L,)
    per = 1.0 / (distinct[None, :] * counts.gather(1, hits.T).T)  # (n, L)
    w = per.sum(1) / length
    return w / w.sum()


def profile(hits: torch.Tensor, policy: SearchPolicy) -> torch.Tensor:
    """(L, A) residue probabilities per position estimated from ``hits`` (n, L)."""
    n = len(hits)
    w = henikoff_weights(hits) if policy.weighting else torch.full((n,), 1.0 / n, dtype=torch.float64)
    f = (torch.nn.functional.one_hot(hits, ALPHABET).double() * w[:, None, None]).sum(0)  # (L, A)
    if policy.pseudocounts > 0:
        # effective number of sequences: 1 / sum w^2 (n for equal weights)
        n_eff = float(1.0 / w.pow(2).sum())
        g = f @ substitution()
        return (n_eff * f + policy.pseudocounts * g) / (n_eff + policy.pseudocounts)
    return (f + NO_PSEUDOCOUNT_FLOOR) / (1 + ALPHABET * NO_PSEUDOCOUNT_FLOOR)


def seed_profile(seed: torch.Tensor) -> torch.Tensor:
    """(L, A) the first iteration's profile: each seed residue's substitution probabilities."""
    return substitution()[seed]


def scores(db: torch.Tensor, pssm: torch.Tensor) -> torch.Tensor:
    """(n,) log-odds of every sequence of ``db`` (n, L) under ``pssm`` (L, A) vs a uniform background."""
    logodds = torch.log(pssm * ALPHABET)  # (L, A)
    return logodds.gather(1, db.T).sum(0)


def iterate(db: torch.Tensor, seed: torch.Tensor, policy: SearchPolicy, iterations: int) -> list[torch.Tensor]:
    """The included-hit masks (n,) bool of each iteration, the first from the seed profile.
    A search that includes nothing stays empty (there is nothing to build a profile from)."""
    pssm = seed_profile(seed)
    included = []
    for _ in range(iterations):
        hit = scores(db, pssm) / db.shape[1] >= policy.inclusion
        included.append(hit)
        if hit.any():
            pssm = profile(db[hit], policy)
    return included
