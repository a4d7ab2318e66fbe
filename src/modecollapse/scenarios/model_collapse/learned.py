"""Recursive training of a learned generator: the lab's GAN on the ring, each generation
trained only on (a finite set of) the previous generation's samples.

This is the project's one use of the GAN trainer here, through its public entry points only
(:class:`~modecollapse.lab.config.TrainConfig`, :func:`~modecollapse.lab.train.build_run`,
:func:`~modecollapse.lab.train.train_step`, :func:`~modecollapse.lab.train.generate`): the run's
benchmark is swapped for :class:`FiniteSet`, which serves real batches from a fixed tensor
(the generation's training set) while counting modes against the true ring. Generation 0
trains on a finite real sample; each later generation starts from its predecessor's weights
(as Shumailov et al. 2024 fine-tune each OPT generation from the previous one) and trains
``steps`` more steps on the new set.
"""
from __future__ import annotations

import copy

import torch

from ...data.base import Assignment, Benchmark
from ...lab.config import TrainConfig
from ...lab.train import build_run, eval_seed, generate, train_step
from .common import POLICIES, measure, training_set


class FiniteSet(Benchmark):
    """Samples rows of ``data`` uniformly with replacement; modes and assignment from ``base``."""

    def __init__(self, data: torch.Tensor, base: Benchmark) -> None:
        self.data, self.base = data.float(), base
        self.dim, self.num_modes, self.weights, self.name = base.dim, base.num_modes, base.weights, base.name

    def sample(self, n: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.data[torch.randint(len(self.data), (n,), generator=generator)]

    def assign(self, x: torch.Tensor) -> Assignment:
        return self.base.assign(x)

    def anchors(self) -> torch.Tensor:
        return self.base.anchors()


def learned_experiment(*, benchmark: Benchmark, n_samples: int, generations: int, first_steps: int, steps: int,
                       real_share: float, eval_samples: int, seed: int, device: str, generator: torch.Generator,
                       bar=None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Returns the per-generation measurements per policy and each policy's last samples (for plots)."""
    reference = benchmark.sample(eval_samples, generator)
    real = benchmark.sample(n_samples, generator)
    cfg = TrainConfig(data="ring", data_args={"modes": benchmark.num_modes}, g_width=64, d_width=64, batch_size=128, steps=first_steps + generations * steps,
                      seed=seed, device=device)
    run = build_run(cfg)
    run.dataset = FiniteSet(real, benchmark)
    for _ in range(first_steps):
        train_step(run)
        if bar is not None:
            bar.update(1)
    res = {"n_samples": n_samples, "generations": generations, "first_steps": first_steps, "steps": steps,
           "policies": {p: {"modes": [], "variance": [], "recall": []} for p in POLICIES}}
    last: dict[str, torch.Tensor] = {}
    for policy in POLICIES:
        r, history = copy.deepcopy(run), []
        for g in range(generations + 1):
            samples = generate(r, eval_samples, seed=eval_seed(seed, g))
            m = measure(samples, benchmark=benchmark, reference=reference)
            for key in ("modes", "variance", "recall"):
                res["policies"][policy][key].append(m[key])
            if g == generations:
                last[policy] = samples
                break
            fresh = generate(r, n_samples, seed=seed * 104729 + 31 * g + 1)
            r.dataset = FiniteSet(training_set(policy, real=real, history=history, fresh=fresh,
                                               real_share=real_share), benchmark)
            history.append(fresh)
            for _ in range(steps):
                train_step(r)
                if bar is not None:
                    bar.update(1)
    return res, last
