"""``modecollapse scenario diffusion-memorisation``: a small DDPM trained on a tiny training set
replays it; trained on a larger one at the same budget, it generalises.

Two settings, each measured over training and at the end with the project's metrics:

- **2D mixture** (an MLP denoiser): one model per training-set size in ``--sizes``, the same
  number of steps for each. Over training: the training loss, the **memorisation fraction**
  (:func:`modecollapse.metrics.memorisation`: generated samples whose nearest training sample
  is closer than 1/3 of the second nearest; Yoon et al. 2023) and recall/coverage
  (:func:`modecollapse.metrics.prdc`) against fresh held-out samples of the mixture. The
  result names the training-set size below which the model memorises at this budget: the
  largest size whose final memorisation fraction exceeds ``--memorised-above``.
- **MNIST** (a small conv net on digits average-pooled to 14 x 14 to fit the CPU budget), one
  model per size in ``--mnist-sizes`` (a few dozen digits versus a larger set), measured in
  pixel space. Skipped, with a note, when no MNIST directory is given.

Memorisation is judged against each model's own training set, so the chance level differs
by setting: ``memorisation_real`` (each training sample against the others) is reported
beside it. Carlini et al. (2023), "Extracting Training Data from Diffusion Models", and
Somepalli et al. (2023) found the same copying in large diffusion models.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ...data.synthetic import RingParams
from ...errors import ConfigError
from ...experiments import Context, Experiment, register_scenario
from ...idx import DATA_ENV, check_data_dir, find_data_dir, load_mnist
from ...metrics.knn import cross_neighbourhoods
from ...metrics.memorisation import memorisation
from ...metrics.prdc import prdc
from .ddpm import CosineSchedule, ddpm_loss, ddpm_sample
from .nets import ConvDenoiser, MLPDenoiser
from .plots import curves_figure


@dataclass
class DiffusionParams:
    sizes: tuple[int, ...] = field(default=(4, 8, 16, 64, 1024), metadata={
        "help": "2D training-set sizes, one model each"})
    steps: int = field(default=2000, metadata={"help": "Adam steps per 2D model (the fixed budget)"})
    eval_every: int = field(default=500, metadata={"help": "steps between measurements over training (2D)"})
    ring_modes: int = field(default=8, metadata={"help": "modes of the 2D ring mixture"})
    ring_std: float = field(default=0.15, metadata={"help": "std of each ring mode (wide enough that fresh samples are new points)"})
    samples: int = field(default=1000, metadata={"help": "samples drawn per 2D measurement"})
    held_out: int = field(default=2000, metadata={"help": "held-out points for recall/coverage (2D)"})
    mnist_sizes: tuple[int, ...] = field(default=(32, 2048), metadata={
        "help": "MNIST training-set sizes (empty: skip MNIST)"})
    mnist_steps: int = field(default=1500, metadata={"help": "Adam steps per MNIST model"})
    mnist_evals: int = field(default=2, metadata={"help": "measurements over training per MNIST model (the last at the end)"})
    mnist_samples: int = field(default=128, metadata={"help": "samples drawn per MNIST measurement"})
    mnist_width: int = field(default=32, metadata={"help": "channels of the conv denoiser"})
    data_dir: str = field(default="", metadata={"help": f"directory of the MNIST IDX files (default ${DATA_ENV}; none: 2D only)"})
    timesteps: int = field(default=100, metadata={"help": "diffusion steps T"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size (drawn with replacement; MNIST uses at most 64)"})
    lr: float = field(default=2e-3, metadata={"help": "peak Adam learning rate (cosine decay to 0)"})
    ratio: float = field(default=1.0 / 3.0, metadata={"help": "memorisation criterion d1/d2 < ratio"})
    memorised_above: float = field(default=0.5, metadata={"help": "final memorisation fraction above which a model counts as memorising"})

    def validate(self) -> None:
        for name in ("steps", "eval_every", "ring_modes", "samples", "held_out", "mnist_steps", "mnist_evals",
                     "mnist_samples", "mnist_width", "timesteps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"diffusion-memorisation: --{name.replace('_', '-')} must be at least 1.")
        if not self.sizes or any(s < 2 for s in self.sizes) or any(s < 2 for s in self.mnist_sizes):
            raise ConfigError("diffusion-memorisation: every training-set size must be at least 2 (the memorisation "
                              "criterion needs a nearest and a second-nearest training sample).")
        if not 0 < self.ratio <= 1 or not 0 <= self.memorised_above <= 1 or self.lr <= 0 or self.ring_std <= 0:
            raise ConfigError("diffusion-memorisation: --ratio must lie in (0, 1], --memorised-above in [0, 1], "
                              "--lr and --ring-std must be positive.")
        check_data_dir(self.data_dir, "diffusion-memorisation")


def _measure(samples: torch.Tensor, train: torch.Tensor, held: torch.Tensor, ratio: float) -> dict[str, float]:
    m = memorisation(real=train, fake=samples, ratio=ratio)
    q = prdc(real=held, fake=samples, pr_k=3, dc_k=5)
    # the whole distribution behind the 1/3 cut: how close to a copy the typical sample is
    d = cross_neighbourhoods(real=train, fake=samples, fake_nearest=2).fake_nearest_real.double()
    median_ratio = float((d[:, 0] / d[:, 1].clamp_min(1e-30)).sqrt().median())
    return {"memorisation": m.memorisation, "memorisation_real": m.real_baseline, "median_ratio": median_ratio,
            "precision": q.precision,
            "recall": q.recall, "density": q.density, "coverage": q.coverage}


def train_and_track(net, train: torch.Tensor, held: torch.Tensor, *, steps: int, eval_at: list[int], batch_size: int,
                    lr: float, schedule: CosineSchedule, n_samples: int, ratio: float, gen: torch.Generator,
                    device: torch.device, bar=None) -> tuple[list[dict], torch.Tensor]:
    """Trains ``net`` on ``train`` (n, ...) and measures it at the steps ``eval_at``; returns the
    records (step, loss = mean training loss since the last record, metrics) and the last samples."""
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    records, losses, samples = [], [], train[:0]
    # cosine decay to 0: the sharp, late-training denoiser is the one that copies
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    for step in range(1, steps + 1):
        idx = torch.randint(len(train), (batch_size,), generator=gen)  # with replacement: a tiny set fills the batch
        loss = ddpm_loss(net, schedule, train[idx].to(device), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step in eval_at:
            samples = ddpm_sample(net, schedule, (n_samples, *train.shape[1:]), gen, device)
            flat = samples.reshape(n_samples, -1)
            records.append({"step": step, "loss": sum(losses) / len(losses),
                            **_measure(flat, train.reshape(len(train), -1), held.reshape(len(held), -1), ratio)})
            losses = []
        if bar is not None:
            bar.update(1)
    return records, samples


def _schedule_points(steps: int, every: int) -> list[int]:
    return sorted({*range(every, steps + 1, every), steps})


@register_scenario
class DiffusionMemorisation(Experiment):
    __doc__ = __doc__
    uses_device = True
    name = "diffusion-memorisation"
    summary = "a small DDPM replays a tiny training set (memorisation fraction) and generalises from a larger one"
    Params = DiffusionParams

    def run(self, p: DiffusionParams, ctx: Context) -> dict[str, Any]:
        schedule = CosineSchedule(p.timesteps)
        data_dir = find_data_dir(p.data_dir)
        mnist_sizes = p.mnist_sizes if data_dir else ()
        bench = RingParams(modes=p.ring_modes, std=p.ring_std).build()
        held = bench.sample(p.held_out, ctx.generator(1))
        pool = bench.sample(max(p.sizes), ctx.generator(2))  # nested subsets: the small sets lie inside the large
        eval_2d = _schedule_points(p.steps, p.eval_every)
        eval_mnist = sorted({round(p.mnist_steps * (i + 1) / p.mnist_evals) for i in range(p.mnist_evals)})
        total = p.steps * len(p.sizes) + p.mnist_steps * len(mnist_sizes)
        two_d: dict[str, dict] = {}
        last_2d: dict[int, torch.Tensor] = {}
        with ctx.bar(total=total, desc="diffusion") as bar:
            for i, n in enumerate(p.sizes):
                torch.manual_seed(ctx.seed * 1000 + 7)  # the same initial weights for every size
                net = MLPDenoiser(2, p.timesteps)
                records, last_2d[n] = train_and_track(
                    net, pool[:n], held, steps=p.steps, eval_at=eval_2d, batch_size=p.batch_size, lr=p.lr,
                    schedule=schedule, n_samples=p.samples, ratio=p.ratio, gen=ctx.generator(10 + i),
                    device=ctx.device, bar=bar)
                two_d[str(n)] = {"size": n, "over_training": records, **{k: v for k, v in records[-1].items() if k != "step"}}
            mnist: dict[str, dict] = {}
            mnist_last: dict[int, torch.Tensor] = {}
            if mnist_sizes:
                images, _ = load_mnist(data_dir, "train")
                test, _ = load_mnist(data_dir, "test")
                order = torch.randperm(len(images), generator=ctx.generator(3))
                small = F.avg_pool2d(images[order[: max(mnist_sizes)]].float().unsqueeze(1) / 127.5 - 1, 2)
                held_m = F.avg_pool2d(test[: 1000].float().unsqueeze(1) / 127.5 - 1, 2)
                for i, n in enumerate(mnist_sizes):
                    torch.manual_seed(ctx.seed * 1000 + 11)
                    net = ConvDenoiser(p.timesteps, width=p.mnist_width)
                    records, mnist_last[n] = train_and_track(
                        net, small[:n], held_m, steps=p.mnist_steps, eval_at=eval_mnist, batch_size=min(p.batch_size, 64),
                        lr=p.lr, schedule=schedule, n_samples=p.mnist_samples, ratio=p.ratio,
                        gen=ctx.generator(20 + i), device=ctx.device, bar=bar)
                    mnist[str(n)] = {"size": n, "over_training": records, **{k: v for k, v in records[-1].items() if k != "step"}}
        memorising = [n for n in p.sizes if two_d[str(n)]["memorisation"] > p.memorised_above]
        threshold = max(memorising) if memorising else None
        curves_figure(ctx.path("diffusion_memorisation.png"), two_d, mnist, pool, held, last_2d,
                      mnist_last, p.memorised_above)
        return {
            "ring": {"modes": p.ring_modes, "std": p.ring_std}, "budget_steps": p.steps, "mnist_steps": p.mnist_steps,
            "two_d": two_d, "mnist": mnist,
            "mnist_note": "" if mnist_sizes else f"skipped: no MNIST directory (--data-dir or ${DATA_ENV})",
            "largest_memorising_size": threshold,
            "memorised_above": p.memorised_above,
        }

    def describe(self, result: dict[str, Any]) -> str:
        lines = [f"2D ring, {result['budget_steps']} steps per model: final memorisation fraction (d1/d2 < 1/3), "
                 "recall and coverage against held-out points"]
        for part in ("two_d", "mnist"):
            if part == "mnist":
                if not result["mnist"]:
                    lines.append(f"MNIST: {result['mnist_note']}")
                    continue
                lines.append(f"MNIST 14x14, {result['mnist_steps']} steps per model:")
            for n, v in result[part].items():
                base = v["memorisation_real"]
                lines.append(f"  n = {int(n):>5}: memorisation {v['memorisation']:.3f} (chance "
                             f"{'-' if base is None else f'{base:.3f}'}), median d1/d2 {v['median_ratio']:.2f}, recall {v['recall']:.3f}, "
                             f"coverage {v['coverage']:.3f}, final loss {v['loss']:.4f}")
        t = result["largest_memorising_size"]
        lines.append("2D: no size memorises at this budget" if t is None else
                     f"2D: the largest training set that is memorised (fraction > {result['memorised_above']}) "
                     f"at this budget has {t} points")
        return "\n".join(lines)
