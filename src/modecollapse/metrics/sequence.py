"""Diversity metrics for token sequences (generated text, protein sequences, token ids).

Pure functions on a list of sequences, each a sequence of hashable tokens (whitespace words
of a line of text, or integer token ids). None needs a reference set; two compare with one.

- **distinct-n** (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
  Conversation Models", NAACL): unique n-grams / total n-grams over the whole set. 1 when no
  n-gram repeats; m identical lines whose n-grams are distinct within the line score 1/m.
  **It falls when the generator repeats itself (collapse).**
- **n-gram entropy** (Zhang et al. 2018, "Generating Informative and Diverse Conversational
  Responses via Adversarial Information Maximization", NeurIPS, "Ent-n"): Shannon entropy in
  nats of the empirical distribution of n-grams over the set. Falls under collapse.
- **self-BLEU** (Zhu et al. 2018, "Texygen", SIGIR): the mean BLEU (Papineni et al. 2002)
  of each sequence against all the *other* sequences as references. 1 for identical lines;
  **rises under collapse** (lower is more diverse).
- **BLEU against a real set** (Texygen's "BLEU"/test-BLEU): each fake sequence scored with
  the real set as references; a fidelity number (falls when samples leave the real language).
- **n-gram coverage**: the share of the real set's distinct n-grams that occur in the fake
  set; a recall-like number that falls when modes of the real set are dropped.

BLEU as implemented here (our own code), in two definitions chosen by ``definition``:

- ``"texygen"`` (the default): Texygen's, i.e. NLTK's ``sentence_bleu`` with uniform weights
  1/N over all N = ``max_n`` orders (default 4) and ``SmoothingFunction().method1``, the one
  the diversity papers report. Modified n-gram precisions p_1..p_N with counts clipped by the
  largest count of that n-gram in any single reference; a precision with no match is
  replaced by epsilon / max(1, hypothesis n-grams) (Chen & Cherry 2014 method 1, epsilon =
  0.1), so an order longer than the line still counts, as 0.1; a line with no unigram in
  common with the references scores exactly 0. Geometric mean times the brevity penalty
  exp(1 - r/c) when the line length c is not above r, the length of the reference closest
  in length (ties to the shorter).
- ``"observed-orders"`` (this project's definition before issue 20): the same, except that
  orders longer than the line (no n-grams at all) are left out and the weights spread over
  the remaining orders, and a line without any matching unigram gets the smoothed value
  instead of 0. It scores short lines higher: on a corpus of short lines it reads less
  diverse than Texygen's number, so only compare numbers of the same definition.

Sentence-level scores are averaged (not corpus BLEU), as Texygen does.

Self-BLEU is computed exactly in O(total n-grams): for every n-gram the largest and
second-largest count in any sequence are kept, so "the largest count among the other
sequences" is known for each hypothesis without the O(m^2) pairwise loop.
"""
from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError

Tokens = Sequence[Hashable]
SMOOTHING_EPSILON = 0.1
BleuDefinition = Literal["texygen", "observed-orders"]
#: the BLEU definitions (see the module docstring); the first is the default
BLEU_DEFINITIONS: dict[str, str] = {
    "texygen": "NLTK sentence_bleu, uniform 4-gram weights, smoothing method 1 (Texygen, Zhu et al. 2018)",
    "observed-orders": "orders longer than the line left out and their weight spread over the rest",
}


def _check(sequences: Sequence[Tokens], name: str, min_count: int = 1) -> None:
    if isinstance(sequences, (str, bytes)):
        raise ConfigError(f"{name} must be a list of token sequences, not one string; split each line into tokens.")
    if len(sequences) < min_count:
        raise ConfigError(f"{name} has {len(sequences)} sequences but at least {min_count} are needed.")


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"the n-gram order must be a positive integer, got {n!r}.")


def ngrams(tokens: Tokens, n: int) -> list[tuple]:
    """The n-grams of one sequence, in order (len(tokens) - n + 1 of them, or none)."""
    t = tuple(tokens)
    return [t[i : i + n] for i in range(len(t) - n + 1)]


def ngram_counts(sequences: Sequence[Tokens], n: int) -> Counter:
    """Counts of every n-gram over the whole set."""
    _check_n(n)
    counts: Counter = Counter()
    for s in sequences:
        counts.update(ngrams(s, n))
    return counts


def distinct_n(sequences: Sequence[Tokens], n: int) -> float:
    """Unique n-grams / total n-grams over ``sequences`` (Li et al. 2016), in [0, 1]; higher is
    more diverse. Raises when the set has no n-gram of order ``n`` at all."""
    _check(sequences, "sequences")
    counts = ngram_counts(sequences, n)
    total = sum(counts.values())
    if total == 0:
        raise ConfigError(f"no sequence has {n} or more tokens, so distinct-{n} is undefined; use a smaller n.")
    return len(counts) / total


def ngram_entropy(sequences: Sequence[Tokens], n: int) -> float:
    """Shannon entropy (nats) of the n-gram distribution over ``sequences``; higher is more
    diverse; log(number of n-grams) when all differ, 0 when one n-gram is repeated."""
    _check(sequences, "sequences")
    counts = ngram_counts(sequences, n)
    total = sum(counts.values())
    if total == 0:
        raise ConfigError(f"no sequence has {n} or more tokens, so the {n}-gram entropy is undefined; use a smaller n.")
    return float(-sum(c / total * math.log(c / total) for c in counts.values()))


def _check_definition(definition: str) -> None:
    if definition not in BLEU_DEFINITIONS:
        raise ConfigError(f"unknown BLEU definition {definition!r}; choose one of: {', '.join(BLEU_DEFINITIONS)}.")


def _bleu_from_counts(
    matched: list[int], totals: list[int], hyp_len: int, ref_len: int, definition: str = "texygen"
) -> float:
    """Sentence BLEU from matched (clipped) and total n-gram counts per order (see module docstring)."""
    if definition == "texygen":
        if hyp_len == 0 or matched[0] == 0:
            return 0.0  # NLTK: no unigram match (or an empty line) is 0, smoothing or not
        logs = [math.log(m / max(t, 1)) if m > 0 else math.log(SMOOTHING_EPSILON / max(t, 1))
                for m, t in zip(matched, totals)]
        bp = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
        w = 1.0 / len(logs)  # NLTK sums w_i * log p_i with math.fsum
        return bp * math.exp(math.fsum(w * v for v in logs))
    logs = []
    for m, t in zip(matched, totals):
        if t == 0:
            continue  # order longer than the hypothesis: left out
        logs.append(math.log(m / t) if m > 0 else math.log(SMOOTHING_EPSILON / t))
    if not logs or hyp_len == 0:
        return 0.0
    bp = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return bp * math.exp(sum(logs) / len(logs))


def _closest_length(sorted_lengths: list[int], c: int) -> int:
    """The length in ``sorted_lengths`` closest to ``c``, the shorter on a tie."""
    i = bisect.bisect_left(sorted_lengths, c)
    options = [sorted_lengths[j] for j in (i - 1, i) if 0 <= j < len(sorted_lengths)]
    return min(options, key=lambda r: (abs(r - c), r))


def bleu(
    *, hypothesis: Tokens, references: Sequence[Tokens], max_n: int = 4, definition: BleuDefinition = "texygen"
) -> float:
    """Smoothed sentence BLEU of one ``hypothesis`` against ``references`` (see the module docstring)."""
    _check_n(max_n)
    _check_definition(definition)
    _check(references, "references")
    hyp = tuple(hypothesis)
    matched, totals = [], []
    for n in range(1, max_n + 1):
        h = Counter(ngrams(hyp, n))
        best: Counter = Counter()
        for r in references:
            for g, c in Counter(ngrams(r, n)).items():
                if c > best[g]:
                    best[g] = c
        matched.append(sum(min(c, best[g]) for g, c in h.items()))
        totals.append(sum(h.values()))
    lengths = sorted(len(r) for r in references)
    return _bleu_from_counts(matched, totals, len(hyp), _closest_length(lengths, len(hyp)), definition)


def self_bleu(sequences: Sequence[Tokens], *, max_n: int = 4, definition: BleuDefinition = "texygen") -> float:
    """Mean BLEU of each sequence against all the others (Zhu et al. 2018); in [0, 1], **higher
    means less diverse** (1 for identical lines). Exact, in O(total n-grams). ``definition``:
    ``"texygen"`` (NLTK ``sentence_bleu``, uniform weights, smoothing method 1; a line sharing
    no word with the others scores 0) or ``"observed-orders"`` (see the module docstring)."""
    _check(sequences, "sequences", min_count=2)
    _check_n(max_n)
    _check_definition(definition)
    seqs = [tuple(s) for s in sequences]
    per_seq = [[Counter(ngrams(s, n)) for n in range(1, max_n + 1)] for s in seqs]
    # per order: n-gram -> (largest count in one sequence, its index, second-largest count)
    top: list[dict] = []
    for k in range(max_n):
        best: dict = defaultdict(lambda: [0, -1, 0])
        for i, counts in enumerate(per_seq):
            for g, c in counts[k].items():
                b = best[g]
                if c > b[0]:
                    b[2], b[0], b[1] = b[0], c, i
                elif c > b[2]:
                    b[2] = c
        top.append(best)
    lengths = sorted(len(s) for s in seqs)
    scores = []
    for i, s in enumerate(seqs):
        matched, totals = [], []
        for k in range(max_n):
            m = 0
            for g, c in per_seq[i][k].items():
                b = top[k][g]
                other = b[2] if b[1] == i else b[0]
                m += min(c, other)
            matched.append(m)
            totals.append(sum(per_seq[i][k].values()))
        others = lengths.copy()
        del others[bisect.bisect_left(others, len(s))]
        scores.append(_bleu_from_counts(matched, totals, len(s), _closest_length(others, len(s)), definition))
    return sum(scores) / len(scores)


def bleu_against(
    *, real: Sequence[Tokens], fake: Sequence[Tokens], max_n: int = 4, definition: BleuDefinition = "texygen"
) -> float:
    """Mean BLEU of each ``fake`` sequence with the whole ``real`` set as references (fidelity;
    higher is better). Swapping the arguments changes the number. ``definition`` as in
    :func:`self_bleu`."""
    _check(real, "real")
    _check(fake, "fake")
    _check_n(max_n)
    _check_definition(definition)
    best: list[Counter] = []
    for n in range(1, max_n + 1):
        b: Counter = Counter()
        for r in real:
            for g, c in Counter(ngrams(r, n)).items():
                if c > b[g]:
                    b[g] = c
        best.append(b)
    lengths = sorted(len(r) for r in real)
    scores = []
    for h in fake:
        matched, totals = [], []
        for k in range(max_n):
            counts = Counter(ngrams(h, k + 1))
            matched.append(sum(min(c, best[k][g]) for g, c in counts.items()))
            totals.append(sum(counts.values()))
        scores.append(_bleu_from_counts(matched, totals, len(h), _closest_length(lengths, len(h)), definition))
    return sum(scores) / len(scores)


def ngram_coverage(*, real: Sequence[Tokens], fake: Sequence[Tokens], n: int) -> float:
    """Share of the distinct n-grams of ``real`` that occur anywhere in ``fake``; in [0, 1],
    higher is better; falls when the fake set drops what the real set says."""
    _check(real, "real")
    _check(fake, "fake")
    r = set(ngram_counts(real, n))
    if not r:
        raise ConfigError(f"no real sequence has {n} or more tokens, so {n}-gram coverage is undefined.")
    return len(r & set(ngram_counts(fake, n))) / len(r)


@dataclass(frozen=True)
class SequenceDiversity:
    """distinct-n and n-gram entropy for n = 1..max_n (keys ``distinct_1``, ``entropy_1``, ...)
    and self-BLEU; with a real set also ``bleu`` and ``ngram_coverage_n``."""

    values: dict[str, float]


def sequence_diversity(
    *, fake: Sequence[Tokens], real: Sequence[Tokens] | None = None, max_n: int = 4, bleu_n: int = 4,
    bleu_definition: BleuDefinition = "texygen",
) -> SequenceDiversity:
    """Every sequence metric of ``fake`` (and those comparing it with ``real`` when given).
    Orders n with no n-gram in the set are left out of the result rather than raising."""
    _check(fake, "fake", min_count=2)
    _check_n(max_n)
    out: dict[str, float] = {}
    for n in range(1, max_n + 1):
        if sum(ngram_counts(fake, n).values()) == 0:
            break
        out[f"distinct_{n}"] = distinct_n(fake, n)
        out[f"entropy_{n}"] = ngram_entropy(fake, n)
    out["self_bleu"] = self_bleu(fake, max_n=bleu_n, definition=bleu_definition)
    if real is not None:
        out["bleu"] = bleu_against(real=real, fake=fake, max_n=bleu_n, definition=bleu_definition)
        for n in range(1, max_n + 1):
            if sum(ngram_counts(real, n).values()) == 0:
                break
            out[f"ngram_coverage_{n}"] = ngram_coverage(real=real, fake=fake, n=n)
    return SequenceDiversity(out)
