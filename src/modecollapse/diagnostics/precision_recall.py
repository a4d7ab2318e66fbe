"""precision-recall: collapse is high precision with low recall; junk is the reverse.

Sajjadi, Bachem, Lucic, Bousquet & Gelly (2018), "Assessing Generative Models via Precision
and Recall"; Kynkäänniemi, Karras, Laine, Lehtinen & Aila (2019), "Improved Precision and
Recall Metric for Assessing Generative Models" (the k-NN version used here); Naeem, Oh, Uh,
Choi & Yoo (2020), "Reliable Fidelity and Diversity Metrics for Generative Models" (density
and coverage); Heusel et al. (2017) (FID, one number for both failures).

Five clusters (``ring`` with 5 modes). Three generators built directly, so the answer is
known: *collapsed* draws from one cluster only, *noisy* draws from all clusters but a
fraction of its samples is junk spread uniformly over the plane around them, *good* is the
real sampler. Each is scored with the project's metrics against an independent real set.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import build_dataset
from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ._common import plt, save, scores

COLUMNS = ("precision", "recall", "density", "coverage", "fid", "modes")


@dataclass
class Params:
    modes: int = field(default=5, metadata={"help": "clusters on the ring"})
    std: float = field(default=0.05, metadata={"help": "std of each cluster"})
    samples: int = field(default=2000, metadata={"help": "real and generated samples each"})
    junk: float = field(default=0.5, metadata={"help": "fraction of the noisy generator's samples that are junk"})

    def validate(self) -> None:
        if self.modes < 2 or self.std <= 0 or self.samples < 10:
            raise ConfigError("modes must be >= 2, std positive and samples >= 10.")
        if not 0 < self.junk < 1:
            raise ConfigError(f"junk must lie strictly between 0 and 1, got {self.junk}.")


def generators(p: Params, ds, gen: torch.Generator) -> dict[str, torch.Tensor]:
    n = p.samples
    n_junk = int(round(p.junk * n))
    span = float(ds.anchors().abs().max()) * 1.5
    junk = (torch.rand(n_junk, 2, generator=gen) * 2 - 1) * span
    return {
        "collapsed": ds.sample_modes(torch.zeros(n, dtype=torch.long), gen),
        "noisy": torch.cat([ds.sample(n - n_junk, gen), junk]),
        "good": ds.sample(n, gen),
    }


@register_diagnostic
class PrecisionRecall(Experiment):
    name = "precision-recall"
    summary = "collapsed (high precision, low recall), noisy (the reverse) and good generators in the P-R plane"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        gen = ctx.generator(0)
        ds = build_dataset("ring", {"modes": p.modes, "std": p.std})
        real = ds.sample(p.samples, gen)
        fakes = generators(p, ds, gen)
        table = {name: scores(real=real, fake=f, benchmark=ds) for name, f in fakes.items()}
        result = {"generators": table, "samples": {k: v[:500].tolist() for k, v in fakes.items()}}
        self._plot(result, ctx)
        return result

    def _plot(self, r: dict, ctx) -> None:
        fig, axes = plt.subplots(1, 3, figsize=(12.5, 4), gridspec_kw={"width_ratios": [1, 1, 1.2]})
        colors = {"collapsed": "tab:red", "noisy": "tab:orange", "good": "tab:green"}
        ax = axes[0]
        for name, s in r["samples"].items():
            s = np.asarray(s)
            ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.5, color=colors[name], label=name)
        ax.set_aspect("equal")
        ax.legend(fontsize=7, markerscale=4)
        ax.set_title("generated samples", fontsize=9)
        ax = axes[1]
        for name, c in r["generators"].items():
            ax.scatter([c["recall"]], [c["precision"]], s=60, color=colors[name], label=name)
            ax.annotate(name, (c["recall"], c["precision"]), fontsize=8, xytext=(5, -12), textcoords="offset points")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("recall (diversity)")
        ax.set_ylabel("precision (fidelity)")
        ax.set_title("precision-recall plane (k = 3)", fontsize=9)
        ax = axes[2]
        ax.axis("off")
        rows = [[f"{r['generators'][n][c]:.3g}" for c in COLUMNS] for n in r["generators"]]
        t = ax.table(cellText=rows, rowLabels=list(r["generators"]), colLabels=list(COLUMNS), loc="center")
        t.auto_set_font_size(False)
        t.set_fontsize(8)
        t.scale(1, 1.6)
        save(fig, ctx.path("precision_recall.png"))

    def describe(self, r: dict) -> str:
        lines = [f"{'generator':<11}" + "".join(f"{c:>11}" for c in COLUMNS)]
        for name, c in r["generators"].items():
            lines.append(f"{name:<11}" + "".join(f"{c[k]:>11.3g}" for k in COLUMNS))
        g = r["generators"]
        lines.append(f"FID ranks noisy ({g['noisy']['fid']:.3g}) against collapsed ({g['collapsed']['fid']:.3g}) on one axis; "
                     "precision and recall separate the two failures.")
        return "\n".join(lines)
