"""``modecollapse scenario vae``: posterior collapse of a VAE on purpose, its remedies, and the
deterministic limit, measured with the project's metrics.

Six VAEs with the same architecture, data and budget (see :mod:`.model` for the papers):

- ``reference``: the plain ELBO (beta = 1).
- ``collapse``: the KL term weighted by ``--beta-collapse``: the encoder returns the prior for
  every input, so active units and I_q(x; z) drop toward 0 and prior samples lose their modes.
- ``kl-annealing``: the same target weight reached by a linear ramp from 0 (Bowman et al. 2016).
- ``free-bits``: the same weight with ``--free-bits`` nats per dimension free (Kingma et al. 2016).
- ``fixed-std-S`` for each S in ``--fixed-stds``: the encoder's std forced to S with beta = 1;
  as S -> 0 the KL term grows like -d log S and the aggregate posterior becomes a set of
  points that prior samples miss.

Data: MNIST from ``--data-dir`` (or ``$MODECOLLAPSE_DATA``), judged through the project's digit
classifier (cached; trained once when the cache lacks it, its cost in docs/results/scenarios.md);
without MNIST (``--data auto`` and no directory), a 2D mixture, judged by its own modes.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ...data import DATASETS
from ...errors import ConfigError
from ...experiments import Context, Experiment, register_scenario
from ...features.mnist import mnist_features
from ...idx import DATA_ENV, check_data_dir, find_data_dir, load_mnist
from ...metrics.classifier_modes import ClassifierModes
from ...models.classifier import ClassifierSettings, load_or_train_info
from .evaluate import SampleSpace, evaluate
from .model import VAE, Objective, train_vae
from .plots import samples_figure, summary_figure


@dataclass
class VAEParams:
    data: Literal["auto", "mnist", "ring", "grid"] = field(default="auto", metadata={
        "help": "training data: mnist, a 2D mixture (ring, grid), or auto = mnist when a data directory is known, else ring"})
    data_dir: str = field(default="", metadata={"help": f"directory of the MNIST IDX files (default ${DATA_ENV})"})
    train_size: int = field(default=20000, metadata={"help": "training images (MNIST, 0 = all 60,000) or points (2D)"})
    steps: int = field(default=1000, metadata={"help": "Adam steps per VAE (six VAEs are trained)"})
    batch_size: int = field(default=128, metadata={"help": "minibatch size"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    z_dim: int = field(default=16, metadata={"help": "latent dimensions"})
    hidden: int = field(default=256, metadata={"help": "width of the two hidden layers of encoder and decoder"})
    beta_collapse: float = field(default=30.0, metadata={"help": "KL weight of the collapse, annealing and free-bits VAEs"})
    anneal_fraction: float = field(default=0.5, metadata={"help": "share of the steps over which KL annealing ramps beta from 0"})
    free_bits: float = field(default=0.5, metadata={"help": "free bits lambda, nats per latent dimension"})
    fixed_stds: tuple[float, ...] = field(default=(0.1, 0.001), metadata={
        "help": "encoder standard deviations forced on the deterministic-limit VAEs (beta = 1)"})
    x_std: float = field(default=0.5, metadata={"help": "decoder std of the Gaussian likelihood (2D data only)"})
    eval_size: int = field(default=2000, metadata={"help": "held-out inputs for the posterior measures and reference set"})
    samples: int = field(default=2000, metadata={"help": "prior samples decoded per VAE for the sample metrics"})
    cache_dir: str = field(default="", metadata={"help": "classifier cache (default $MODECOLLAPSE_CACHE or ~/.cache/modecollapse)"})
    classifier_epochs: int = field(default=2, metadata={
        "help": "epochs of the digit classifier (4 with --classifier-limit 0 is the project's standard one, ~6 min to train once)"})
    classifier_limit: int = field(default=20000, metadata={"help": "training images of the digit classifier (0 = all)"})

    def validate(self) -> None:
        for name in ("steps", "batch_size", "z_dim", "hidden", "eval_size", "samples", "classifier_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"vae: --{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        if self.train_size < 0 or self.classifier_limit < 0:
            raise ConfigError("vae: --train-size and --classifier-limit must be >= 0 (0 = all).")
        if self.lr <= 0 or self.beta_collapse <= 0 or self.x_std <= 0 or self.free_bits < 0:
            raise ConfigError("vae: --lr, --beta-collapse and --x-std must be positive and --free-bits >= 0.")
        if not 0 <= self.anneal_fraction <= 1:
            raise ConfigError(f"vae: --anneal-fraction must lie in [0, 1], got {self.anneal_fraction}.")
        if any(not s > 0 for s in self.fixed_stds):
            raise ConfigError(f"vae: every --fixed-stds value must be positive, got {self.fixed_stds}.")
        check_data_dir(self.data_dir, "vae")
        if self.cache_dir and os.path.exists(self.cache_dir) and not os.path.isdir(self.cache_dir):
            raise ConfigError(f"vae: --cache-dir {self.cache_dir} is a file; give a folder (made when missing).")


def _variants(p: VAEParams) -> dict[str, tuple[Objective, float | None]]:
    out: dict[str, tuple[Objective, float | None]] = {
        "reference": (Objective(1.0), None),
        "collapse": (Objective(p.beta_collapse), None),
        "kl-annealing": (Objective(p.beta_collapse, anneal_steps=round(p.anneal_fraction * p.steps)), None),
        "free-bits": (Objective(p.beta_collapse, free_bits=p.free_bits), None),
    }
    for s in p.fixed_stds:
        out[f"fixed-std-{s:g}"] = (Objective(1.0), s)
    return out


def _mnist_setup(p: VAEParams, data_dir: Path, gen: torch.Generator, device: torch.device):
    images, _ = load_mnist(data_dir, "train")
    test, _ = load_mnist(data_dir, "test")
    if p.train_size:
        images = images[torch.randperm(len(images), generator=gen)[: p.train_size]]
    train = images.reshape(len(images), -1).float() / 255.0  # (n, 784) in [0, 1]
    held = test[torch.randperm(len(test), generator=gen)[: p.eval_size]].reshape(-1, 784).float() / 255.0
    info = load_or_train_info(ClassifierSettings(epochs=p.classifier_epochs, limit=p.classifier_limit),
                              data_dir=data_dir, cache_dir=p.cache_dir or None)
    net = info.model

    def classify(x: torch.Tensor) -> torch.Tensor:
        return net(x.reshape(-1, 1, 28, 28) * 2 - 1)

    space = SampleSpace(features=lambda x: mnist_features(x, model=net, pixel_range=(0.0, 1.0)),
                        modes=ClassifierModes(classify, dim=784, num_modes=10), reference=held)
    classifier = {"path": str(info.path), "test_accuracy": info.test_accuracy, "epochs": p.classifier_epochs,
                  "limit": p.classifier_limit}
    return train, held, space, "bernoulli", classifier


def _mixture_setup(p: VAEParams, name: str, gen: torch.Generator):
    bench = DATASETS.get(name)().build()
    n = p.train_size if p.train_size else 20000
    train = bench.sample(n, gen)
    held = bench.sample(p.eval_size, gen)
    space = SampleSpace(features=lambda x: x, modes=bench, reference=held)
    return train, held, space, "gaussian", None


@register_scenario
class VAEScenario(Experiment):
    __doc__ = __doc__
    uses_device = True
    name = "vae"
    summary = "VAE posterior collapse (large KL weight), KL annealing, free bits, and the zero-variance limit"
    Params = VAEParams

    def run(self, p: VAEParams, ctx: Context) -> dict[str, Any]:
        data_dir = find_data_dir(p.data_dir)
        data = p.data
        if data == "auto":
            data = "mnist" if data_dir else "ring"
            if not data_dir:
                sys.stderr.write(f"vae: no MNIST directory (--data-dir or ${DATA_ENV}); using the 2D ring mixture.\n")
        if data == "mnist" and not data_dir:
            raise ConfigError(f"vae --data mnist needs the MNIST files: pass --data-dir DIR or set ${DATA_ENV}=DIR "
                              "(or use --data ring / grid, which need no files).")
        gen = ctx.generator(0)
        if data == "mnist":
            train, held, space, likelihood, classifier = _mnist_setup(p, data_dir, gen, ctx.device)
        else:
            train, held, space, likelihood, classifier = _mixture_setup(p, data, gen)
        variants = _variants(p)
        results: dict[str, dict] = {}
        samples: dict[str, torch.Tensor] = {}
        with ctx.bar(total=p.steps * len(variants), desc="vae") as bar:
            for i, (vname, (objective, fixed_std)) in enumerate(variants.items()):
                torch.manual_seed(ctx.seed * 1000 + 1)  # the same initial weights for every variant
                model = VAE(train.shape[1], p.z_dim, p.hidden, likelihood, x_std=p.x_std, fixed_std=fixed_std)
                history = train_vae(model, train, objective, steps=p.steps, batch_size=p.batch_size, lr=p.lr,
                                    generator=ctx.generator(100 + i), device=ctx.device, bar=bar)
                numbers, s = evaluate(model, held, space, n_samples=p.samples, generator=ctx.generator(200 + i),
                                      device=ctx.device)
                results[vname] = {"beta": objective.beta, "anneal_steps": objective.anneal_steps,
                                  "free_bits": objective.free_bits, "fixed_std": fixed_std, **numbers,
                                  "history": history}
                samples[vname] = s
        summary_figure(ctx.path("vae_summary.png"), results, data)
        ref = held.numpy() if data != "mnist" else None
        samples_figure(ctx.path("vae_samples.png"), {k: v[:2000].numpy() for k, v in samples.items()}, data, ref)
        return {"data": data, "likelihood": likelihood, "classifier": classifier,
                "train_size": len(train), "variants": results}

    def describe(self, result: dict[str, Any]) -> str:
        lines = [f"VAE on {result['data']} ({result['train_size']} training rows):",
                 f"  {'variant':<16} {'AU':>3} {'I(x;z)':>7} {'KL':>8} {'recon':>8} {'modes':>5} {'entropy':>7} "
                 f"{'recall':>6} {'cover':>6}"]
        for name, v in result["variants"].items():
            lines.append(f"  {name:<16} {v['active_units']:>3} {v['mutual_info']:>7.2f} {v['kl_total']:>8.1f} "
                         f"{v['recon_nll']:>8.1f} {v['modes']:>5} {v['mode_entropy']:>7.2f} {v['recall']:>6.3f} "
                         f"{v['coverage']:>6.3f}")
        lines.append("AU: active units (Cov_x E[z|x] > 0.01); I(x;z), KL, recon in nats; modes/entropy/recall/coverage "
                     "of decoded prior samples against held-out data.")
        return "\n".join(lines)
