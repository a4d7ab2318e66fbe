"""The synthetic task: "k=K:" -> any two-digit multiple of K, with its verifier and tokenizer.

Each prompt has many correct answers and the set is known (45 for K = 2, 10 for K = 9), so a
policy that keeps one of them is always right and has still collapsed. The pretraining data
replaces a share of the answers by random digit strings, so the pretrained model is diverse
and often wrong: the room a verifiable reward (Lambert et al. 2024, "Tulu 3": RL with
verifiable rewards) climbs through. The tokenizer is character-level, built locally with
``tokenizers``; this module imports neither it nor transformers at import time (the ``llm``
extra may be missing: :func:`.llm.require_llm` says so in one sentence).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...metrics.completions import ANSWER_EXTRACTORS

KS = tuple(range(2, 10))
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
CHARS = "0123456789k=:"
#: the part of a completion that is its answer (the first word; "" for an empty completion)
answer_of = ANSWER_EXTRACTORS.get("first-word")


def prompt(k: int) -> str:
    return f"k={k}:"


def prompts() -> list[str]:
    """The eight prompts, K = 2..9."""
    return [prompt(k) for k in KS]


def divisor(text: str) -> int:
    """K of the prompt "k=K:"."""
    return int(text[2:-1])


def answer_set(text: str) -> list[str]:
    """The correct answers of a prompt, ascending."""
    k = divisor(text)
    return [str(n) for n in range(10, 100) if n % k == 0]


def is_correct(prompt_text: str, completion: str) -> bool:
    """Whether the completion's answer is a two-digit multiple of the prompt's K ("08" is not)."""
    answer = answer_of(completion)
    return answer.isdigit() and len(answer) == 2 and answer[0] != "0" and int(answer) % divisor(prompt_text) == 0


def verifier_reward(prompts: list[str], completions: list[str], **_: Any) -> list[float]:
    """TRL's reward-function signature over the flat batch: 1.0 for a correct answer, else 0.0."""
    return [float(is_correct(p, c)) for p, c in zip(prompts, completions)]


def pretraining_texts(n: int, *, noise: float, generator: torch.Generator) -> list[str]:
    """``n`` prompt + answer strings: a uniform prompt, then with probability ``noise`` a random
    digit string of 1 to 4 characters (2 most often), else a uniform correct answer."""
    ks = torch.randint(len(KS), (n,), generator=generator).tolist()
    noisy = (torch.rand(n, generator=generator) < noise).tolist()
    lengths = torch.multinomial(torch.tensor([0.15, 0.55, 0.2, 0.1]), n, replacement=True, generator=generator)
    digits = torch.randint(10, (n, 4), generator=generator).tolist()
    picks = torch.rand(n, generator=generator).tolist()
    out = []
    for i in range(n):
        p = prompt(KS[ks[i]])
        if noisy[i]:
            answer = "".join(map(str, digits[i][: int(lengths[i]) + 1]))
        else:
            answers = answer_set(p)
            answer = answers[min(int(picks[i] * len(answers)), len(answers) - 1)]
        out.append(p + answer)
    return out


def build_tokenizer():
    """A character-level ``PreTrainedTokenizerFast``: one token per character of CHARS, plus pad,
    eos and unk; left padding, as generation wants."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK, *CHARS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   padding_side="left")


def correctness(prompt_texts: Sequence[str], groups: Sequence[Sequence[str]]) -> list[list[bool]]:
    """The verifier on each completion of each prompt's group."""
    return [[is_correct(p, c) for c in g] for p, g in zip(prompt_texts, groups)]
