"""``evolution``: a genetic algorithm loses every peak but one; niching keeps them.

On a landscape of several equal peaks (Deb's F1 or Himmelblau's function, :mod:`.landscapes`)
a plain GA converges onto one peak: selection cannot tell the peaks apart, so the sampling
noise of a finite population (genetic drift) and recombination between peaks fix one of
them -- premature convergence, the evolutionary form of mode collapse. Fitness sharing
(Goldberg & Richardson 1987) and deterministic crowding (Mahfoud 1995) are measured against
it (:mod:`.ga`). Per generation: peaks occupied (at least ``min_share`` of the population
within ``peak_radius`` of a peak), population diversity as the mean pairwise distance and as
the Vendi score (Friedman & Dieng 2023; :func:`modecollapse.metrics.vendi`, RBF kernel of
bandwidth ``peak_radius``: about the number of occupied niches), and mean fitness, each the
mean over ``runs`` seeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ...errors import ConfigError  # noqa: E402
from ...experiments import Context, Experiment, register_scenario  # noqa: E402
from ...metrics.vendi import vendi  # noqa: E402
from .ga import METHODS, GAConfig, step  # noqa: E402
from .landscapes import LANDSCAPES, Landscape  # noqa: E402

COLOURS = {"plain": "tab:red", "sharing": "tab:blue", "crowding": "tab:green"}


@dataclass
class EvolutionParams:
    landscape: Literal["deb", "himmelblau"] = field(default="deb", metadata={"help": "fitness landscape"})
    population: int = field(default=100, metadata={"help": "individuals"})
    generations: int = field(default=200, metadata={"help": "generations"})
    crossover: float = field(default=0.9, metadata={"help": "probability a pair is recombined"})
    mutation: float = field(default=0.01, metadata={"help": "mutation std, fraction of the domain width"})
    sigma_share: float = field(default=0.1, metadata={"help": "sharing radius, fraction of the domain width "
                                                               "(0.25 suits himmelblau)"})
    power: float = field(default=1.0, metadata={"help": "selection on fitness ** power (8 suits himmelblau)"})
    peak_radius: float = field(default=0.05, metadata={"help": "distance (fraction of width) that counts as on a peak"})
    min_share: float = field(default=0.02, metadata={"help": "share of the population a peak needs to count"})
    runs: int = field(default=4, metadata={"help": "seeds averaged"})

    def validate(self) -> None:
        for key, least in (("population", 2), ("generations", 1), ("runs", 1)):
            if getattr(self, key) < least:
                raise ConfigError(f"--{key} must be at least {least}, got {getattr(self, key)}.")
        if not 0 <= self.crossover <= 1:
            raise ConfigError(f"--crossover must lie in [0, 1], got {self.crossover}.")
        for key in ("mutation", "sigma_share", "power", "peak_radius"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"--{key.replace('_', '-')} must be positive, got {getattr(self, key)}.")
        if not 0 < self.min_share <= 1:
            raise ConfigError(f"--min-share must lie in (0, 1], got {self.min_share}.")


def peaks_occupied(x: torch.Tensor, land: Landscape, radius: float, min_share: float) -> int:
    """Peaks with at least ``min_share`` of the population within ``radius`` (fraction of width)."""
    d = torch.cdist(x / land.width, land.peaks / land.width)
    near = d.min(1)
    counts = torch.bincount(near.indices[near.values < radius], minlength=len(land.peaks))
    return int((counts >= max(1.0, min_share * len(x))).sum())


def measure(x: torch.Tensor, land: Landscape, p: EvolutionParams) -> dict[str, float]:
    scaled = (x / land.width).float()
    return {
        "peaks": peaks_occupied(x, land, p.peak_radius, p.min_share),
        "mean_distance": float(torch.pdist(scaled).mean()),
        "vendi": vendi(samples=scaled, kernel="rbf", bandwidth=p.peak_radius).vendi,
        "fitness": float(land.fitness(x).mean()),
    }


def evolve(p: EvolutionParams, method: str, generator: torch.Generator) -> tuple[dict[str, list[float]], torch.Tensor]:
    land = LANDSCAPES[p.landscape]
    cfg = GAConfig(p.population, p.generations, p.crossover, p.mutation, p.sigma_share, power=p.power)
    x = land.low + torch.rand(p.population, land.dim, generator=generator, dtype=torch.float64) * land.width
    curves: dict[str, list[float]] = {}
    for g in range(p.generations + 1):
        if g:
            x = step(x, method, land, cfg, generator)
        for k, v in measure(x, land, p).items():
            curves.setdefault(k, []).append(v)
    return curves, x


def figure(path, result: dict, finals: dict[str, torch.Tensor], land: Landscape) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for method, c in result["methods"].items():
        gens = range(len(c["peaks"]))
        axes[0].plot(gens, c["peaks"], color=COLOURS[method], label=method)
        axes[1].plot(gens, c["vendi"], color=COLOURS[method], label=method)
    axes[0].axhline(len(land.peaks), color="k", ls=":", lw=1)
    axes[0].set(xlabel="generation", ylabel="peaks occupied", title=f"peaks ({land.name}, mean of runs)")
    axes[1].set(xlabel="generation", ylabel="Vendi (rbf)", title="population diversity")
    axes[0].legend(fontsize=7)
    ax = axes[2]
    if land.dim == 1:
        grid = torch.linspace(land.low, land.high, 400, dtype=torch.float64)[:, None]
        ax.plot(grid[:, 0], land.fitness(grid), color="0.6", lw=1)
        for i, (method, x) in enumerate(finals.items()):
            ax.scatter(x[:, 0], land.fitness(x) + 0.04 * i, s=6, color=COLOURS[method], label=method)
        ax.set(xlabel="x", ylabel="fitness (methods offset by 0.04)")
        ax.legend(fontsize=7)
    else:
        for method, x in finals.items():
            ax.scatter(x[:, 0], x[:, 1], s=6, color=COLOURS[method], label=method)
        ax.scatter(land.peaks[:, 0], land.peaks[:, 1], marker="x", color="k")
        ax.set(xlim=(land.low, land.high), ylim=(land.low, land.high), aspect="equal")
    ax.set_title("last generation (first run)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@register_scenario
class Evolution(Experiment):
    """A genetic algorithm on a landscape of equal peaks (Deb's F1, Himmelblau): plain
    fitness-proportional selection ends on one peak; fitness sharing (Goldberg & Richardson
    1987) and deterministic crowding (Mahfoud 1995) keep several. Reports peaks occupied,
    diversity (mean distance, Vendi) and mean fitness per generation."""

    name = "evolution"
    summary = "a GA converges onto one of several equal peaks; fitness sharing and crowding keep them"
    Params = EvolutionParams

    def run(self, p: EvolutionParams, ctx: Context) -> dict:
        land = LANDSCAPES[p.landscape]
        per: dict[str, list[dict]] = {m: [] for m in METHODS}
        finals: dict[str, torch.Tensor] = {}
        with ctx.bar(p.runs * len(METHODS), "GA runs") as bar:
            for r in range(p.runs):
                for i, method in enumerate(METHODS):
                    curves, x = evolve(p, method, ctx.generator(100 * r + i))
                    per[method].append(curves)
                    if r == 0:
                        finals[method] = x
                    bar.update(1)
        methods = {m: {k: [sum(c[k][g] for c in runs) / len(runs) for g in range(p.generations + 1)]
                       for k in runs[0]} for m, runs in per.items()}
        for m, runs in per.items():
            methods[m]["final_peaks_per_run"] = [c["peaks"][-1] for c in runs]
        result = {"landscape": p.landscape, "num_peaks": len(land.peaks), "runs": p.runs, "methods": methods}
        figure(ctx.path("evolution.png"), result, finals, land)
        return result

    def describe(self, result: dict) -> str:
        lines = [f"{result['landscape']}: {result['num_peaks']} equal peaks; after the last generation "
                 f"(mean of {result['runs']} runs):"]
        for m, c in result["methods"].items():
            lines.append(f"  {m:<9} peaks {c['peaks'][-1]:.2f} (per run {c['final_peaks_per_run']})  "
                         f"Vendi {c['vendi'][-1]:.2f}  mean distance {c['mean_distance'][-1]:.3f}  "
                         f"fitness {c['fitness'][-1]:.3f}")
        return "\n".join(lines)
