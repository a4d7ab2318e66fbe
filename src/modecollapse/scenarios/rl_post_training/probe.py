"""What a measurement sees: ``n`` sampled completions for every prompt, and the numbers of
them, all from the project's metrics layer.

Per prompt: pass@k for k = 1, 2, 4 ... n (the unbiased estimator of Chen et al. 2021,
:func:`modecollapse.metrics.passk.pass_at_k`), distinct correct answers, the entropy of the
answers and the unique-completion ratio (:mod:`modecollapse.metrics.completions`); over the
prompts, the prompt dependence I(prompt; completion). Each number is the mean over prompts.
Sampling runs under a forked random state seeded by the caller, so a measurement never moves
the training's random stream and the same model and seed give the same completions.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch

from ...metrics.completions import completion_entropy, prompt_dependence, unique_ratio
from ...metrics.passk import default_ks, pass_at_k
from .task import answer_of, answer_set, correctness


@torch.no_grad()
def sample(model, tokenizer, prompt_texts: Sequence[str], n: int, *, max_new_tokens: int, temperature: float,
           seed: int) -> list[list[str]]:
    """``n`` completions of each prompt at ``temperature`` (plain sampling, no top-k or top-p):
    a list per prompt of ``n`` strings, special tokens dropped."""
    was_training = model.training
    model.eval()
    flat = [p for p in prompt_texts for _ in range(n)]
    enc = tokenizer(flat, return_tensors="pt", padding=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = model.generate(**enc, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                             max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
    if was_training:
        model.train()
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [texts[i * n:(i + 1) * n] for i in range(len(prompt_texts))]


def measure(prompt_texts: Sequence[str], groups: Sequence[Sequence[str]]) -> dict[str, float]:
    """The numbers of one measurement (module docstring); ``groups[i]`` holds the completions
    of ``prompt_texts[i]``, the same count for each. ``reward`` is the verifier's mean, which
    for a 0/1 verifier is pass@1."""
    n = len(groups[0])
    correct = correctness(prompt_texts, groups)
    ks = default_ks(n)
    passk = {k: statistics.fmean(pass_at_k(n, sum(c), k) for c in correct) for k in ks}
    answers = [[answer_of(x) for x in g] for g in groups]
    right = [[a for a, ok in zip(g, c) if ok] for g, c in zip(answers, correct)]
    out = {
        "reward": statistics.fmean(sum(c) / n for c in correct),
        # distinct = unique ratio x count; a prompt with no correct answer holds none
        "distinct_correct": statistics.fmean(round(unique_ratio(r) * len(r)) if r else 0 for r in right),
        "answer_entropy": statistics.fmean(completion_entropy(a) for a in answers),
        "unique_ratio": statistics.fmean(unique_ratio(g) for g in groups),
        "prompt_dependence": prompt_dependence(groups),
        "possible": statistics.fmean(len(answer_set(p)) for p in prompt_texts),
    }
    out.update({f"pass@{k}": v for k, v in passk.items()})
    return out
