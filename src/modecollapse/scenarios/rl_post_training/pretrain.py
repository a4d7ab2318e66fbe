"""The pretrained policy: a small GPT-2 (transformers' ``GPT2LMHeadModel`` from a ``GPT2Config``,
Radford et al. 2019) trained by next-token likelihood on the noisy task data of :mod:`.task`,
then saved with ``save_pretrained`` so that TRL can load it, and build its KL reference model,
by path."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from .task import build_tokenizer, pretraining_texts


def build_model(tokenizer, *, width: int, layers: int, heads: int, seed: int):
    """A GPT-2 without dropout (the runs are short and the data unlimited); weights drawn under
    ``seed`` without moving the global random stream."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=width, n_layer=layers, n_head=heads,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config)


def pretrain(folder: Path, *, width: int, layers: int, heads: int, steps: int, batch: int, lr: float, noise: float,
             generator: torch.Generator, tick: Callable[[], None] = lambda: None) -> list[float]:
    """Trains the policy for ``steps`` AdamW steps of ``batch`` texts (peak learning rate
    ``lr``), saves it and its tokenizer to ``folder``; returns the loss of every step."""
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, width=width, layers=layers, heads=heads,
                        seed=int(torch.randint(2**31, (1,), generator=generator)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    # linear warm-up over the first 5% of the steps, then cosine decay to zero
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else
                                              0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    tokenizer.padding_side = "right"  # training pads at the end; generation (saved below) pads on the left
    losses = []
    model.train()
    for _ in range(steps):
        texts = [t + tokenizer.eos_token for t in pretraining_texts(batch, noise=noise, generator=generator)]
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)  # (batch, length)
        loss = model(**enc, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        tick()
    tokenizer.padding_side = "left"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return losses
