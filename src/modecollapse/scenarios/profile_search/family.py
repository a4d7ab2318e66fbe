"""A synthetic protein family: subfamilies from diverged profiles, decoys and background.

20 residues in 5 groups of 4 "similar" residues (a crude stand-in for the substitution
structure BLOSUM encodes). A root consensus of ``length`` residues; core positions
conserved in the whole family, subfamily-specific positions where each subfamily has its own
conserved residue, and variable positions (see :func:`build_database`). Subfamily 0
(the seed's) is the largest, as the best-studied branch of a real family is.

Decoys are not homologous but share a stretch with subfamily 0 (a shared motif or a
low-complexity segment, the classic way PSI-BLAST profiles get corrupted): their first
``decoy_overlap`` share of positions is drawn like subfamily 0, the rest from the background.
The rest of the database is background sequence.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

ALPHABET = 20
GROUPS = 5
GROUP = torch.arange(ALPHABET) // (ALPHABET // GROUPS)  # residue -> group
SIMILAR_SHARE = 0.6  # substitution model: P(a | b) = 0.6 * uniform over b's group + 0.4 * background


def substitution() -> torch.Tensor:
    """(20, 20) row-stochastic P(a | b): a residue's likely replacements (used for pseudocounts
    and to mutate sequences); the background is uniform."""
    same = (GROUP[:, None] == GROUP[None, :]).double()
    return SIMILAR_SHARE * same / same.sum(1, keepdim=True) + (1 - SIMILAR_SHARE) / ALPHABET


def _mutate(residues: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each residue replaced by a draw from P(. | residue)."""
    return torch.multinomial(substitution()[residues].float(), 1, generator=generator).squeeze(1)


@dataclass
class Database:
    sequences: torch.Tensor  # (n, length) long
    label: torch.Tensor  # (n,) subfamily index, -1 decoy, -2 background
    seed_index: int  # a member of subfamily 0
    subfamilies: int


def build_database(*, length: int, subfamilies: int, seed_family_size: int, family_size: int, decoys: int,
                   background: int, core: float, specific: float, decoy_overlap: float,
                   generator: torch.Generator) -> Database:
    """Positions are of three kinds: a share ``core`` conserved (95%) with the root residue in
    every subfamily; a share ``specific`` where each subfamily has its own residue, conserved
    (90%) within it (what tells the subfamilies apart); the rest variable (the root residue
    40% of the time). A residue not kept is replaced through the substitution model."""
    kind = torch.rand(length, generator=generator)
    is_core, is_specific = kind < core, (kind >= core) & (kind < core + specific)
    root = torch.randint(ALPHABET, (length,), generator=generator)
    keep = torch.where(is_core, 0.95, torch.where(is_specific, 0.9, 0.4))
    consensus = []
    for _ in range(subfamilies):
        c = root.clone()
        c[is_specific] = torch.randint(ALPHABET, (int(is_specific.sum()),), generator=generator)
        consensus.append(c)

    def members(c: torch.Tensor, n: int) -> torch.Tensor:
        x = c.expand(n, length).clone()
        change = torch.rand(n, length, generator=generator) >= keep
        x[change] = _mutate(x[change], generator)
        return x

    seqs, labels = [], []
    for k, c in enumerate(consensus):
        n = seed_family_size if k == 0 else family_size
        seqs.append(members(c, n))
        labels.append(torch.full((n,), k))
    cut = int(round(decoy_overlap * length))
    d = torch.randint(ALPHABET, (decoys, length), generator=generator)
    d[:, :cut] = members(consensus[0], decoys)[:, :cut]
    seqs += [d, torch.randint(ALPHABET, (background, length), generator=generator)]
    labels += [torch.full((decoys,), -1), torch.full((background,), -2)]
    return Database(torch.cat(seqs), torch.cat(labels), seed_index=0, subfamilies=subfamilies)
