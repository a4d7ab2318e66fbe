"""Pretrain the small causal LM that every GRPO run of the suite starts from.

A 2-layer GPT-2 (transformers' own ``GPT2LMHeadModel`` from a ``GPT2Config``) learns prompt ->
answer strings of both task families (see ``task.py``) by plain PyTorch next-token training.
A share of the examples (``noise``, half by default) carry a random digit string of one to four
characters instead of a correct answer, so the base model is diverse and imperfect: it spreads
over many correct answers per prompt, is wrong a fair share of the time, and sometimes writes
answers of other lengths (which gives the length-paying reward of the ``repetition`` setting
something to grow from). The model and tokenizer are saved with ``save_pretrained`` so that
``GRPOTrainer`` can load them, and build its KL reference, by path.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/llm/pretrain.py --out /work/rec/grpo/base
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from sampling import sample_completions, truth_of
from task import answer_set, build_tokenizer, multiples_prompts, probe_for, sums_prompts
from transformers import GPT2Config, GPT2LMHeadModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@dataclass(frozen=True)
class PretrainConfig:
    seed: int = 0
    steps: int = 1500
    batch: int = 64
    lr: float = 1e-3
    noise: float = 0.5
    sums_share: float = 0.3
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 32


def noise_answer(rng: random.Random) -> str:
    """A random digit string, mostly two characters long, sometimes one, three or four."""
    length = rng.choices((1, 2, 3, 4), weights=(0.15, 0.55, 0.2, 0.1))[0]
    return "".join(rng.choice("0123456789") for _ in range(length))


def example(rng: random.Random, cfg: PretrainConfig, mult: list[str], sums: list[str]) -> str:
    prompt = rng.choice(sums if rng.random() < cfg.sums_share else mult)
    if rng.random() < cfg.noise:
        return prompt + noise_answer(rng)
    return prompt + rng.choice(sorted(answer_set(prompt)))


def build_model(cfg: PretrainConfig, tokenizer) -> GPT2LMHeadModel:
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg.n_positions, n_embd=cfg.n_embd,
                        n_layer=cfg.n_layer, n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return GPT2LMHeadModel(config)


def pretrain(cfg: PretrainConfig, out: Path) -> dict:
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    tokenizer = build_tokenizer()
    model = build_model(cfg, tokenizer)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps,
                                                pct_start=0.05)
    mult, sums = multiples_prompts(), sums_prompts()
    start = time.perf_counter()
    model.train()
    for step in range(cfg.steps):
        texts = [example(rng, cfg, mult, sums) + tokenizer.eos_token for _ in range(cfg.batch)]
        tokenizer.padding_side = "right"
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        tokenizer.padding_side = "left"
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == cfg.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  {time.perf_counter() - start:.0f}s",
                  flush=True)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {"config": asdict(cfg), "seconds": seconds}
    for task in ("multiples", "sums"):
        prompts = list(probe_for(task).truth)
        comps = sample_completions(model, tokenizer, prompts, 32, max_new_tokens=6, seed=cfg.seed)
        report[task] = truth_of(prompts, comps)["mean"]
        print(task, json.dumps({k: round(v, 3) for k, v in report[task].items()}), flush=True)
    (out / "pretrain.json").write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/work/rec/grpo/base"))
    ap.add_argument("--steps", type=int, default=PretrainConfig.steps)
    ap.add_argument("--noise", type=float, default=PretrainConfig.noise)
    ap.add_argument("--seed", type=int, default=PretrainConfig.seed)
    args = ap.parse_args()
    torch.set_num_threads(1)
    pretrain(PretrainConfig(seed=args.seed, steps=args.steps, noise=args.noise), args.out)


if __name__ == "__main__":
    main()
