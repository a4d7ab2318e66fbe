"""Diversity of a language model's completions, prompt by prompt.

In RL post-training (GRPO, PPO, RLOO, DPO) a policy samples n completions for each prompt,
and mode collapse is that those n stop differing (*answer collapse*), that the completions
stop depending on the prompt (*template collapse*, RAGEN-2: Wang et al. 2026, arXiv
2604.06268, where token entropy stays high), or that they degenerate into repetition. These
are pure functions on the completions of one prompt (a list of strings), or of all prompts:

- :func:`unique_ratio`: distinct completions / completions (1 all differ; 1/n one answer).
- :func:`completion_entropy`: plug-in Shannon entropy (nats) of the completions as strings:
  log(n) all differ, 0 one answer.
- :func:`prompt_dependence`: I(prompt; completion) = H(completion) - H(completion | prompt)
  from plug-in entropies over all completions (nats): 0 when every prompt gets the same
  completions (one shared string), log(P) when each of P equally sampled prompts has its own.
- :func:`same_prompt_neighbours`: with embeddings, the share of completions whose nearest
  other completion answers the same prompt, against its chance level; ties (identical
  embeddings) count at their expected share, so one shared string scores exactly chance.
- :func:`repetition_rate`: share of repeated n-grams within each completion (degeneration;
  Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration").

Exact match is after a normaliser (:data:`NORMALISERS`: whitespace by default) or an answer
extractor (:data:`ANSWER_EXTRACTORS`, e.g. the last number of a chain of thought), both
replaceable by a user's ``module:function``.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

import torch

from ..errors import ConfigError
from ..registry import Registry

TextFn = Callable[[str], str]


def _whitespace(text: str) -> str:
    """Runs of whitespace to one space, ends stripped."""
    return " ".join(text.split())


def _lower(text: str) -> str:
    """Whitespace-normalised and lower-cased."""
    return _whitespace(text).lower()


def _none(text: str) -> str:
    """The text unchanged."""
    return text


#: completion normalisers applied before exact matching (``--normalise NAME``)
NORMALISERS: Registry[TextFn] = Registry("normaliser")
NORMALISERS.add("whitespace", _whitespace)
NORMALISERS.add("lower", _lower)
NORMALISERS.add("none", _none)

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _last_number(text: str) -> str:
    """The last number in the text, commas dropped ("The answer is 1,024." -> "1024"); "" when none (GSM8K style)."""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "").rstrip(".") if found else ""


def _boxed(text: str) -> str:
    r"""The content of the last \boxed{...} (nested braces allowed); "" when none (MATH style)."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return ""
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return _whitespace(text[i:j])
    return ""


def _first_word(text: str) -> str:
    """The first whitespace-separated word; "" for an empty completion."""
    parts = text.split()
    return parts[0] if parts else ""


def _first_line(text: str) -> str:
    """The first non-empty line, whitespace-normalised."""
    for line in text.splitlines():
        if line.strip():
            return _whitespace(line)
    return ""


#: answer extractors (``--answer NAME``): the part of a completion that is its answer
ANSWER_EXTRACTORS: Registry[TextFn] = Registry("answer extractor")
ANSWER_EXTRACTORS.add("last-number", _last_number)
ANSWER_EXTRACTORS.add("boxed", _boxed)
ANSWER_EXTRACTORS.add("first-word", _first_word)
ANSWER_EXTRACTORS.add("first-line", _first_line)


def resolve_text_fn(spec: str | TextFn, registry: Registry[TextFn]) -> TextFn:
    """A registered name, a ``module:function`` taking and returning a string, or a callable."""
    if callable(spec):
        return spec
    if spec in registry:
        return registry.get(spec)
    if ":" in spec:
        from ..features.base import load_callable

        fn = load_callable(spec, what=registry.kind)

        def checked(text: str) -> str:
            out = fn(text)
            if not isinstance(out, str):
                raise ConfigError(f"the {registry.kind} {spec} returned a {type(out).__name__}, not a string; "
                                  "it must map one completion to one string.")
            return out

        return checked
    return registry.get(spec)  # unknown name: one sentence listing the choices


def unique_ratio(texts: Sequence[str]) -> float:
    """Distinct strings / strings, in (0, 1]; 1/n for n copies of one answer."""
    if not texts:
        raise ConfigError("unique_ratio needs at least one completion.")
    return len(set(texts)) / len(texts)


def _entropy(counts: Counter) -> float:
    total = sum(counts.values())
    return 0.0 - math.fsum(c / total * math.log(c / total) for c in counts.values())  # (0.0 - : no -0.0)


def completion_entropy(texts: Sequence[str]) -> float:
    """Plug-in Shannon entropy (nats) of the strings: log(n) when all differ, 0 for one answer."""
    if not texts:
        raise ConfigError("completion_entropy needs at least one completion.")
    return _entropy(Counter(texts))


def prompt_dependence(groups: Sequence[Sequence[str]]) -> float:
    """I(prompt; completion) in nats from plug-in entropies: H(completion) over all completions
    minus H(completion | prompt), the per-prompt entropies weighted by each prompt's share of
    the completions. 0 when every prompt gets the same completions; log(P) when each of P
    equally sampled prompts has a string of its own. Rises with prompts that are answered
    differently, falls when completions become a template that ignores the prompt."""
    groups = [list(g) for g in groups]
    if not groups or any(not g for g in groups):
        raise ConfigError("prompt_dependence needs at least one completion for every prompt.")
    total = sum(len(g) for g in groups)
    pooled = Counter(t for g in groups for t in g)
    conditional = math.fsum(len(g) / total * _entropy(Counter(g)) for g in groups)
    return max(0.0, _entropy(pooled) - conditional)


def same_prompt_neighbours(embeddings: torch.Tensor, groups: Sequence[int]) -> tuple[float, float]:
    """(share, chance): the share of completions whose nearest other completion by cosine
    similarity answers the same prompt, and the share a random other completion would give,
    (n_p - 1) / (N - 1) averaged over completions. Tied nearest neighbours count at their
    expected share, so identical completions for every prompt give exactly the chance level.
    ``embeddings``: (N, d); ``groups``: the prompt index of each row."""
    if embeddings.ndim != 2 or len(embeddings) != len(groups):
        raise ConfigError(f"same_prompt_neighbours needs one embedding row per completion, got "
                          f"{tuple(embeddings.shape)} for {len(groups)} completions.")
    n = len(groups)
    if n < 2:
        raise ConfigError("same_prompt_neighbours needs at least two completions.")
    g = torch.as_tensor(list(groups), dtype=torch.long)
    x = embeddings.double()
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    share = 0.0
    for a in range(0, n, 1024):  # (block, N) similarities at a time
        sim = x[a : a + 1024] @ x.T
        rows = torch.arange(a, min(a + 1024, n))
        sim[rows - a, rows] = -math.inf
        best = sim.max(dim=1, keepdim=True).values
        tied = sim >= best - 1e-9
        same = g[None, :] == g[rows][:, None]
        share += float(((tied & same).sum(dim=1).double() / tied.sum(dim=1).double()).sum())
    sizes = torch.bincount(g).double()
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1)))
    return share / n, chance


def repetition_rate(tokens: Sequence[str], n: int = 2) -> float | None:
    """Share of the completion's n-grams that repeat an earlier n-gram of the same completion
    (0 no repetition, toward 1 for a loop); None when it has fewer than n + 1 tokens."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if len(grams) < 2:
        return None
    return 1.0 - len(set(grams)) / len(grams)
