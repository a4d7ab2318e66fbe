"""The reward functions of the GRPO settings, keyed by name.

Each is a TRL reward function: ``f(prompts, completions, **kwargs) -> list[float]`` over the
flat batch of (prompt, completion) pairs, the n completions of a prompt side by side.

- ``verifier``: 1 when the completion's answer is correct (``task.correct``), else 0.
- ``diverse-verifier``: the verifier with a bonus for being rare within the prompt's group:
  a correct completion earns ``0.5 + 0.5 / m`` where m is how many completions of the same
  prompt in the batch give the same answer, so a group that says one answer n times earns
  less per completion than one that spreads over correct answers, and GRPO's group-relative
  advantage pays the rare correct answer most.
- ``template``: pays for one fixed string (``TEMPLATE``) whatever the prompt, by the share of
  its characters matched in place, so the policy can climb to it from near misses; the
  completions stop depending on the prompt (template collapse).
- ``repetition``: pays for length and for repeated characters (half each), so completions run
  to the length limit and repeat one character.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from task import correct, parse_answer

TEMPLATE = "42"


def verifier(prompts: list[str], completions: list[str], **_: object) -> list[float]:
    return [float(correct(p, c)) for p, c in zip(prompts, completions)]


def diverse_verifier(prompts: list[str], completions: list[str], **_: object) -> list[float]:
    counts = Counter((p, parse_answer(c)) for p, c in zip(prompts, completions))
    return [(0.5 + 0.5 / counts[(p, parse_answer(c))]) if correct(p, c) else 0.0
            for p, c in zip(prompts, completions)]


def template(prompts: list[str], completions: list[str], **_: object) -> list[float]:
    out = []
    for c in completions:
        matched = sum(a == b for a, b in zip(c, TEMPLATE))
        out.append(matched / max(len(c), len(TEMPLATE)))
    return out


def make_repetition(max_len: int) -> Callable[..., list[float]]:
    """The repetition reward for completions of at most ``max_len`` characters."""

    def repetition(prompts: list[str], completions: list[str], **_: object) -> list[float]:
        out = []
        for c in completions:
            repeats = sum(a == b for a, b in zip(c, c[1:])) / max(max_len - 1, 1)
            out.append(0.5 * min(len(c), max_len) / max_len + 0.5 * repeats)
        return out

    return repetition


def reward_for(name: str, *, max_len: int) -> Callable[..., list[float]]:
    """The reward function called ``name`` (one of REWARDS)."""
    table = {"verifier": verifier, "diverse-verifier": diverse_verifier, "template": template,
             "repetition": make_repetition(max_len)}
    if name not in table:
        raise ValueError(f"unknown reward {name!r}: choose one of {', '.join(REWARDS)}")
    return table[name]


REWARDS = ("verifier", "diverse-verifier", "template", "repetition")
