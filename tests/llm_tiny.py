"""A tiny causal LM for the language-model tests: the rl-post-training scenario's character tokenizer
(built with `tokenizers`) and a 1-layer GPT-2 from a config, saved to a folder (nothing is downloaded)."""
from __future__ import annotations

from pathlib import Path


def tokenizer():
    """The rl-post-training scenario's character tokenizer (its CHARS cover "k=K:" prompts and digits)."""
    from modecollapse.scenarios.rl_post_training.task import build_tokenizer

    return build_tokenizer()


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A 1-layer, 32-wide GPT-2 and its tokenizer in ``folder`` (loadable by path, as TRL needs
    for a reference model)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = tokenizer()
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=32, n_layer=1, n_head=2,
                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def prompts(n: int = 4) -> list[str]:
    return [f"k={k}:" for k in range(2, 2 + n)]


def verifier(prompt: str, completion: str) -> bool:
    k = int(prompt[2:-1])
    text = completion.strip()
    return text.isdigit() and len(text) == 2 and int(text) % k == 0
