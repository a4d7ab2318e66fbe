"""Sampling completions from a causal LM, and the ground truth measured on them.

Both the pretraining report and the GRPO recorder sample through ``sample_completions``, so
the base model's numbers and the runs' step-0 numbers are the same measurement. Sampling runs
under a forked RNG seeded by the caller: a probe never moves the training's random stream, and
the same model and seed give the same completions.
"""
from __future__ import annotations

import statistics

import torch
from task import answer_set, correct, parse_answer

from modecollapse.metrics.passk import pass_at_k

PASS_KS = (1, 4, 8, 16, 32)


@torch.no_grad()
def sample_completions(model, tokenizer, prompts: list[str], n: int, *, max_new_tokens: int,
                       seed: int, temperature: float = 1.0) -> list[list[str]]:
    """n completions at ``temperature`` for each prompt: a list (per prompt) of n strings."""
    was_training = model.training
    model.eval()
    flat = [p for p in prompts for _ in range(n)]
    enc = tokenizer(flat, return_tensors="pt", padding=True)
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = model.generate(input_ids=enc["input_ids"].to(device),
                             attention_mask=enc["attention_mask"].to(device),
                             do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                             max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    if was_training:
        model.train()
    return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]


def truth_of(prompts: list[str], completions: list[list[str]]) -> dict:
    """Per-prompt ground truth of sampled completions, and its means over prompts.

    Per prompt: ``possible`` (size of its answer set), ``distinct_correct`` (distinct correct
    answers among the samples), ``distinct`` (distinct completion strings), ``pass@1`` (share
    correct) and the unbiased ``pass@k`` for k in PASS_KS up to the sample count.
    """
    rows = []
    for prompt, comps in zip(prompts, completions):
        ok = [correct(prompt, c) for c in comps]
        n, c = len(comps), sum(ok)
        row = {"prompt": prompt, "n": n, "possible": len(answer_set(prompt)),
               "distinct_correct": len({parse_answer(x) for x, y in zip(comps, ok) if y}),
               "distinct": len(set(comps))}
        row.update({f"pass@{k}": pass_at_k(n, c, k) for k in PASS_KS if k <= n})
        rows.append(row)
    keys = [k for k in rows[0] if k not in ("prompt", "n")]
    mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}
    return {"per_prompt": rows, "mean": mean}
