"""The synthetic language, its reward, and a small GRU language model over it.

The language: sequences of ``length`` tokens over ``vocab`` symbols 0..V-1 where each token
differs from the previous one by at most ``step`` (a random walk on a line): V * (2 step + 1)^(L-1)
valid sequences, roughly, so the pretraining distribution has many modes. The reward, a fixed
function standing in for a reward model: the mean token value / (V - 1) of a valid sequence,
0 for an invalid one. Its maximiser is a single sequence (every token V - 1), so a policy
that only maximises reward must collapse onto it.
"""
from __future__ import annotations

import torch
from torch import nn


def sample_language(n: int, *, vocab: int, length: int, step: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` valid sequences (n, length) long: uniform first token, uniform allowed moves."""
    x = torch.empty(n, length, dtype=torch.long)
    x[:, 0] = torch.randint(vocab, (n,), generator=generator)
    for t in range(1, length):
        lo = (x[:, t - 1] - step).clamp_min(0)
        hi = (x[:, t - 1] + step).clamp_max(vocab - 1)
        x[:, t] = lo + (torch.rand(n, generator=generator) * (hi - lo + 1)).long().clamp_max(hi - lo)
    return x


def is_valid(x: torch.Tensor, step: int) -> torch.Tensor:
    """(n,) bool: every move of the sequence stays within ``step``."""
    return (x[:, 1:] - x[:, :-1]).abs().le(step).all(dim=1)


def reward(x: torch.Tensor, *, vocab: int, step: int) -> torch.Tensor:
    """(n,) float in [0, 1]: mean token value / (V - 1) for valid sequences, 0 otherwise."""
    return torch.where(is_valid(x, step), x.float().mean(1) / (vocab - 1), torch.zeros(len(x)))


class GRULM(nn.Module):
    """A one-layer GRU language model; token ``vocab`` is the start symbol."""

    def __init__(self, vocab: int, hidden: int = 64) -> None:
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(vocab + 1, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Next-token logits (n, L, V) for sequences ``x`` (n, L), each position given the prefix."""
        start = torch.full((len(x), 1), self.vocab, dtype=torch.long, device=x.device)
        h, _ = self.gru(self.embed(torch.cat([start, x[:, :-1]], dim=1)))
        return self.head(h)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) log-probability of each whole sequence."""
        return torch.log_softmax(self.logits(x), -1).gather(2, x[:, :, None]).squeeze(2).sum(1)

    @torch.no_grad()
    def sample(self, n: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` sequences (n, length) drawn ancestrally with ``generator`` (CPU)."""
        tok = torch.full((n, 1), self.vocab, dtype=torch.long)
        h, out = None, []
        for _ in range(length):
            o, h = self.gru(self.embed(tok), h)
            p = torch.softmax(self.head(o[:, -1]), -1)
            tok = torch.multinomial(p, 1, generator=generator)
            out.append(tok)
        return torch.cat(out, dim=1)
