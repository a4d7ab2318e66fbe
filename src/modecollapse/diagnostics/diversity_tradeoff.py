"""diversity-tradeoff: an entropy bonus -lambda H(G) buys recall (and modes) with precision,
the fidelity-diversity trade-off the seed articles compare to bias and variance.

Entropy-regularised generators: Dieng, Ruiz, Blei & Titsias (2019), "Prescribed Generative
Adversarial Networks"; Kumar, Ozair, Goyal, Courville & Bengio (2019), "Maximum Entropy
Generators for Energy-Based Models"; the entropy is the Kozachenko-Leonenko k-NN estimate of
the project's ``entropy`` technique. The trade-off as measured by Kynkäänniemi et al. (2019)
precision and recall (their truncation sweeps) and Naeem et al. (2020) density / coverage.

For each lambda a ring GAN is trained with the project's trainer (lambda = 0: no bonus) and
its final samples are scored against an independent real set.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..data import DATASETS
from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ._common import TechniqueSpec, TrainConfig, generate, plt, save, scores, train_gan

COLUMNS = ("precision", "recall", "density", "coverage", "modes", "hq_fraction", "fid")


@dataclass
class Params:
    lambdas: tuple[float, ...] = field(default=(0.0, 0.01, 0.03, 0.1, 0.3, 1.0),
                                       metadata={"help": "entropy-bonus weights lambda (0 = plain GAN)"})
    steps: int = field(default=2000, metadata={"help": "training steps per lambda"})
    data: str = field(default="ring", metadata={"help": "synthetic benchmark"})
    samples: int = field(default=2000, metadata={"help": "samples scored per generator"})

    def validate(self) -> None:
        DATASETS.get(self.data)  # an unknown benchmark: one sentence naming the known ones
        if not self.lambdas or any(v < 0 for v in self.lambdas):
            raise ConfigError("lambdas must be >= 0, e.g. --lambdas 0,0.1,1.")
        if self.steps < 1 or self.samples < 10:
            raise ConfigError("steps must be >= 1 and samples >= 10.")


@register_diagnostic
class DiversityTradeoff(Experiment):
    name = "diversity-tradeoff"
    summary = "entropy bonus -lambda H(G) swept over lambda: precision vs recall and modes"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        base = TrainConfig(data=p.data, loss="nonsaturating", latent_dim=2, g_width=128, d_width=128, lr_g=2e-4,
                           lr_d=8e-4, beta2=0.9, batch_size=256, steps=p.steps, seed=ctx.seed)
        bar = ctx.bar(len(p.lambdas) * p.steps, "entropy sweep")
        rows = []
        for lam in p.lambdas:
            techniques = [TechniqueSpec("entropy", {"weight": float(lam), "k": 3})] if lam > 0 else []
            run, _ = train_gan(dataclasses.replace(base, techniques=techniques), bar=bar)
            fake = generate(run, p.samples, seed=ctx.seed + 101)
            real = run.dataset.sample(p.samples, ctx.generator(5))
            spread = float((fake - fake.mean(0)).norm(dim=1).mean())  # mean distance to the samples' centre
            rows.append({"lambda": float(lam), **scores(real=real, fake=fake, benchmark=run.dataset), "spread": spread})
        bar.close()
        result = {"sweep": rows, **{c: [r[c] for r in rows] for c in ("lambda",) + COLUMNS},
                  "num_modes": rows[0]["num_modes"]}
        self._plot(result, ctx)
        return result

    def _plot(self, r: dict, ctx) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        lam = np.asarray(r["lambda"])
        x = np.where(lam > 0, lam, lam[lam > 0].min() / 3 if (lam > 0).any() else 1e-3)
        ax = axes[0]
        for c, color in (("precision", "tab:orange"), ("recall", "tab:green"), ("coverage", "tab:purple"),
                         ("hq_fraction", "tab:brown")):
            ax.plot(x, r[c], "o-", ms=3, color=color, label=c)
        ax.plot(x, np.asarray(r["modes"]) / r["num_modes"], "s--", ms=3, color="grey", label="modes / k")
        ax.set_xscale("log")
        ax.set_xlabel("entropy weight lambda (leftmost point: lambda = 0)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7)
        ax.set_title("fidelity and diversity along the sweep", fontsize=9)
        ax = axes[1]
        ax.plot(r["recall"], r["precision"], "k-", lw=0.5)
        sc = ax.scatter(r["recall"], r["precision"], c=np.log10(x), cmap="viridis", s=40)
        for xi, yi, l in zip(r["recall"], r["precision"], lam):
            ax.annotate(f"{l:g}", (xi, yi), fontsize=7, xytext=(4, 4), textcoords="offset points")
        fig.colorbar(sc, ax=ax, label="log10 lambda")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title("precision-recall path", fontsize=9)
        save(fig, ctx.path("diversity_tradeoff.png"))

    def describe(self, r: dict) -> str:
        lines = [f"{'lambda':>8}" + "".join(f"{c:>12}" for c in COLUMNS)]
        for row in r["sweep"]:
            lines.append(f"{row['lambda']:>8g}" + "".join(f"{row[c]:>12.3g}" for c in COLUMNS))
        return "\n".join(lines)
