"""A synthetic prompt -> answer task whose set of correct answers is known, and its tokenizer.

Two families of prompts share one vocabulary and one pretrained model:

- ``multiples`` ("k=7,b:" -> "14", "21", ... "98"): the answer is any two-digit multiple of k,
  so each prompt has many correct answers (45 for k=2, 10 for k=9) and a policy that keeps
  only one of them has collapsed although it is always right. The tag letter after the comma
  changes nothing in the answer set; it only makes several distinct prompts per k, so a
  probe can hold several prompts with the same answer set.
- ``sums`` ("s=3+4:" -> "7"): exactly one correct answer, the setting where sharpening onto it
  is learning and token entropy falls for a good reason.

Every prompt is six characters long, so a batch of prompts needs no padding. The tokenizer is
character-level, built locally with ``tokenizers`` (nothing is downloaded) and wrapped as a
``PreTrainedTokenizerFast`` with pad and eos tokens so that transformers' ``generate`` and
TRL's ``GRPOTrainer`` can use it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

KS = tuple(range(2, 10))
TAGS = ("a", "b", "c", "d")
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
CHARS = "0123456789ks=+:, abcd"
TASKS = ("multiples", "sums")


def multiples_prompt(k: int, tag: str) -> str:
    return f"k={k},{tag}:"


def sums_prompt(a: int, b: int) -> str:
    return f"s={a}+{b}:"


def multiples_prompts() -> list[str]:
    """All 32 prompts of the many-answer task, k-major (k=2 a..d, k=3 a..d, ...)."""
    return [multiples_prompt(k, t) for k in KS for t in TAGS]


def sums_prompts() -> list[str]:
    """All 81 prompts of the one-answer task (a, b in 1..9)."""
    return [sums_prompt(a, b) for a in range(1, 10) for b in range(1, 10)]


def answer_set(prompt: str) -> frozenset[str]:
    """The set of correct answers of a prompt, as strings."""
    if prompt.startswith("k="):
        k = int(prompt[2])
        return frozenset(str(n) for n in range(10, 100) if n % k == 0)
    if prompt.startswith("s="):
        a, b = int(prompt[2]), int(prompt[4])
        return frozenset({str(a + b)})
    raise ValueError(f"unknown prompt {prompt!r}: expected 'k=K,T:' or 's=A+B:'")


def parse_answer(completion: str) -> str:
    """The answer of a completion: its first whitespace-separated token ('' when empty)."""
    parts = completion.split()
    return parts[0] if parts else ""


def correct(prompt: str, completion: str) -> bool:
    """Whether the completion's answer is one of the prompt's correct answers."""
    return parse_answer(completion) in answer_set(prompt)


@dataclass(frozen=True)
class Probe:
    """The fixed prompts a run is probed on, and the ones its truth is measured on."""

    probe: tuple[str, ...]
    truth: tuple[str, ...]


def probe_for(task: str) -> Probe:
    """16 probe prompts (two per k, or 16 fixed sums) and the truth prompts for a task.

    The truth of ``multiples`` is every prompt of the task (32); the truth of ``sums`` is 32
    fixed sums that include the 16 probe sums.
    """
    if task == "multiples":
        return Probe(probe=tuple(multiples_prompt(k, t) for k in KS for t in TAGS[:2]),
                     truth=tuple(multiples_prompts()))
    if task == "sums":
        rng = random.Random(1234)
        truth = rng.sample(sums_prompts(), 32)
        return Probe(probe=tuple(truth[:16]), truth=tuple(truth))
    raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")


def build_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer: one token per character of CHARS, plus pad, eos and unk."""
    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *CHARS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK, padding_side="left")
