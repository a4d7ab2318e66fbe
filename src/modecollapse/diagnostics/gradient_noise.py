"""gradient-noise: how much two mini-batches agree on the generator's gradient, and the
gradient noise scale, as the batch grows.

McCandlish, Kaplan, Amodei & OpenAI Dota Team (2018), "An Empirical Model of Large-Batch
Training" (appendix A: the unbiased estimators of |G|^2 and tr(Sigma) from two batch sizes;
the simple noise scale B_simple = tr(Sigma) / |G|^2). Brock, Donahue & Simonyan (2019),
"Large Scale GAN Training" (BigGAN), on why larger batches help GANs cover modes.

For a ring GAN built and trained with the project's trainer, at initialisation and after
``mid_steps`` steps: for each batch size B from 8 to 4096, ``repeats`` independent
mini-batches give generator gradients g_1..g_R (D held fixed); the mean pairwise cosine
similarity, and B_simple from |g_B|^2 at the smallest and largest B. If the per-sample
gradients have mean G and covariance Sigma, E cos(g_i, g_j) ~ 1 / (1 + B_simple / B): the
similarity passes 0.5 near B = B_simple.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..data import DATASETS
from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ._common import TrainConfig, g_loss_on, plt, save, train_gan


@dataclass
class Params:
    batch_sizes: tuple[float, ...] = field(default=(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
                                           metadata={"help": "batch sizes B"})
    repeats: int = field(default=8, metadata={"help": "independent mini-batches per batch size"})
    mid_steps: int = field(default=1000, metadata={"help": "training steps before the mid-training measurement"})
    data: str = field(default="ring", metadata={"help": "synthetic benchmark to train on"})

    def validate(self) -> None:
        DATASETS.get(self.data)  # an unknown benchmark: one sentence naming the known ones
        if len(self.batch_sizes) < 2 or any(b < 1 or b != int(b) for b in self.batch_sizes):
            raise ConfigError("batch-sizes needs at least two positive integers, e.g. 8,64,512,4096.")
        if self.repeats < 2:
            raise ConfigError(f"repeats must be >= 2 (similarity needs pairs), got {self.repeats}.")
        if self.mid_steps < 1:
            raise ConfigError(f"mid-steps must be >= 1, got {self.mid_steps}.")


def flat_gradient(run, z: torch.Tensor) -> torch.Tensor:
    """The generator's gradient (all parameters, flattened) of its loss on latents ``z``."""
    params = list(run.G.parameters())
    grads = torch.autograd.grad(g_loss_on(run, z), params)
    return torch.cat([g.reshape(-1) for g in grads])


def mean_pairwise_cosine(grads: torch.Tensor) -> float:
    """Mean cosine similarity over all pairs of rows of ``grads`` (R, P)."""
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-30)
    sim = unit @ unit.T
    r = len(grads)
    return float((sim.sum() - sim.diagonal().sum()) / (r * (r - 1)))


def noise_scale(*, sq_small: float, sq_big: float, b_small: float, b_big: float) -> dict:
    """McCandlish et al. (2018), appendix A: from E|g_B|^2 = |G|^2 + tr(Sigma) / B measured at
    two batch sizes, the unbiased |G|^2, tr(Sigma) and B_simple = tr(Sigma) / |G|^2."""
    g2 = (b_big * sq_big - b_small * sq_small) / (b_big - b_small)
    trace = (sq_small - sq_big) / (1.0 / b_small - 1.0 / b_big)
    return {"grad_sq": g2, "trace_sigma": trace, "b_simple": trace / g2 if g2 > 0 else math.inf}


def crossing(xs: list[float], ys: list[float], level: float = 0.5) -> float | None:
    """The first x (log-interpolated) at which ys rises through ``level``; None if it never does."""
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if y0 < level <= y1:
            f = (level - y0) / (y1 - y0)
            return float(math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0))))
    return float(xs[0]) if ys and ys[0] >= level else None


def measure(run, p: Params, gen: torch.Generator, bar) -> dict:
    sizes = [int(b) for b in p.batch_sizes]
    cos, sq = [], []
    for b in sizes:
        grads = torch.stack([flat_gradient(run, torch.randn(b, run.cfg.latent_dim, generator=gen)) for _ in range(p.repeats)])
        cos.append(mean_pairwise_cosine(grads))
        sq.append(float(grads.pow(2).sum(1).mean()))
        bar.update(1)
    ns = noise_scale(sq_small=sq[0], sq_big=sq[-1], b_small=sizes[0], b_big=sizes[-1])
    predicted = [1.0 / (1.0 + ns["b_simple"] / b) if math.isfinite(ns["b_simple"]) and ns["b_simple"] > 0 else None for b in sizes]
    return {"batch_sizes": sizes, "cosine": cos, "mean_sq_norm": sq, **ns, "predicted_cosine": predicted,
            "batch_at_cosine_0_5": crossing(sizes, cos)}


@register_diagnostic
class GradientNoise(Experiment):
    name = "gradient-noise"
    summary = "cosine similarity of generator gradients across mini-batches and the gradient noise scale, B = 8..4096"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        cfg = TrainConfig(data=p.data, loss="nonsaturating", latent_dim=2, g_width=128, d_width=128,
                          lr_g=1e-3, lr_d=1e-3, batch_size=256, steps=p.mid_steps, seed=ctx.seed)
        bar = ctx.bar(2 * len(p.batch_sizes) + p.mid_steps, "gradient noise")
        init_run, _ = train_gan(cfg, steps=0)
        result = {"init": measure(init_run, p, ctx.generator(1), bar)}
        mid_run, _ = train_gan(cfg, bar=bar)
        result["mid"] = measure(mid_run, p, ctx.generator(2), bar)
        result["mid"]["step"] = p.mid_steps
        bar.close()
        self._plot(result, ctx)
        return result

    def _plot(self, r: dict, ctx) -> None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for key, color in (("init", "tab:blue"), ("mid", "tab:red")):
            m = r[key]
            label = "initialisation" if key == "init" else f"after {m['step']} steps"
            ax.plot(m["batch_sizes"], m["cosine"], "o-", color=color, ms=3, label=f"{label}: measured")
            if m["predicted_cosine"][0] is not None:
                ax.plot(m["batch_sizes"], m["predicted_cosine"], ":", color=color,
                        label=f"1/(1+B_simple/B), B_simple={m['b_simple']:.3g}")
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size B")
        ax.set_ylabel("mean cosine(g_i, g_j), independent batches")
        ax.set_title("generator gradient agreement between mini-batches (ring GAN)", fontsize=9)
        ax.legend(fontsize=7)
        save(fig, ctx.path("gradient_noise.png"))

    def describe(self, r: dict) -> str:
        lines = []
        for key in ("init", "mid"):
            m = r[key]
            cross = m["batch_at_cosine_0_5"]
            where = "initialisation" if key == "init" else f"after {m['step']} steps"
            if cross is None:
                passes = f"never reaches 0.5 (max {max(m['cosine']):.2f})"
            elif m["cosine"][0] >= 0.5:
                passes = f"already above 0.5 at the smallest batch, B={m['batch_sizes'][0]}"
            else:
                passes = f"passes 0.5 at B ~ {cross:.0f}"
            lines.append(f"{where}: cosine {m['cosine'][0]:.2f} at B={m['batch_sizes'][0]} -> {m['cosine'][-1]:.2f} at "
                         f"B={m['batch_sizes'][-1]}; {passes}")
            lines.append(f"  noise scale B_simple = tr(Sigma)/|G|^2 = {m['b_simple']:.3g} (|G|^2 {m['grad_sq']:.3g}, "
                         f"tr Sigma {m['trace_sigma']:.3g})")
        return "\n".join(lines)

