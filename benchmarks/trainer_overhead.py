"""Trainer overhead: modecollapse's training loop against a minimal hand-written PyTorch loop.

Both train the same MLP generator and discriminator (the `vanilla` preset's sizes) on the
same ring batches with the same non-saturating loss and Adam settings. They run
interleaved (hand, trainer, hand, trainer, ...) in one process so machine noise hits both
alike, and the script prints steps per second and the ratio.

    .venv/bin/python benchmarks/trainer_overhead.py [--steps 2000] [--repeats 5] [--threads 1]

Two trainer timings are reported: ``train_step`` called in a bare loop (the step itself),
and the whole ``train()`` a user runs (argument checks, run directory, NaN check every
step, one evaluation, checkpoint and plots at the end).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse import TrainConfig, build_run
from modecollapse.lab.presets import preset_values  # noqa: E402
from modecollapse.lab.train import (
    train,  # noqa: E402
    train_step,  # noqa: E402
)


def config(steps: int) -> TrainConfig:
    values = preset_values("vanilla", "ring")
    values.update(steps=steps, eval_every=steps, checkpoint_every=steps)
    return TrainConfig.from_dict(values)


def hand_loop(cfg: TrainConfig) -> float:
    """The loop a researcher writes by hand: no hooks, no checks, no bookkeeping."""
    run = build_run(cfg)  # same models, data and optimisers, built the same way
    G, D, opt_g, opt_d, data = run.G, run.D, run.opt_g, run.opt_d, run.dataset
    dgen, ngen, n, zdim = run.data_gen, run.noise_gen, cfg.batch_size, cfg.latent_dim
    start = time.perf_counter()
    for _ in range(cfg.steps):
        real = data.sample(n, dgen)
        with torch.no_grad():
            fake = G(torch.randn(n, zdim, generator=ngen))
        d_real, d_fake = D(real), D(fake)
        d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(n, zdim, generator=ngen)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return cfg.steps / (time.perf_counter() - start)


def trainer_steps(cfg: TrainConfig) -> float:
    run = build_run(cfg)
    start = time.perf_counter()
    for _ in range(cfg.steps):
        train_step(run)
    return cfg.steps / (time.perf_counter() - start)


def trainer_full(cfg: TrainConfig) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train(cfg, Path(tmp) / "run", progress=False)
        return cfg.steps / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = config(args.steps)
    trainer_full(config(50))  # warm-up: imports, matplotlib, allocator
    rates: dict[str, list[float]] = {"hand loop": [], "train_step loop": [], "train() end to end": []}
    for _ in range(args.repeats):
        rates["hand loop"].append(hand_loop(cfg))
        rates["train_step loop"].append(trainer_steps(cfg))
        rates["train() end to end"].append(trainer_full(cfg))
    hand = statistics.median(rates["hand loop"])
    print(f"ring, vanilla preset sizes, batch {cfg.batch_size}, {args.steps} steps x {args.repeats} repeats, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    print("| loop | steps/s (median) | time relative to hand loop |")
    print("|---|---|---|")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"| {name} | {med:,.0f} | {hand / med:.3f} |")


if __name__ == "__main__":
    main()
