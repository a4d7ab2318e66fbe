"""``profile-search``: an iterative profile search drifts onto the seed's subfamily.

PSI-BLAST (Altschul et al. 1997, "Gapped BLAST and PSI-BLAST: a new generation of protein
database search programs", Nucleic Acids Res.) re-estimates its position-specific scoring
matrix from its own hits at every iteration. When one subfamily dominates the hits, the
profile becomes that subfamily's profile and scores the others out (profile drift); when a
decoy gets in, the profile learns it and admits more (profile corruption) -- collapse of a
search onto one mode of a protein family. The safeguards measured here are the field's own:
an inclusion threshold, position-based sequence weighting (Henikoff & Henikoff 1994) and
pseudocounts (see :mod:`.search`). The family is synthetic (:mod:`.family`) so that every
sequence's subfamily is known: recall of the family and of each subfamily per iteration, and
decoys admitted, averaged over ``replicates`` independently drawn databases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ...errors import ConfigError  # noqa: E402
from ...experiments import Context, Experiment, register_scenario  # noqa: E402
from .family import build_database  # noqa: E402
from .search import SearchPolicy, iterate  # noqa: E402


@dataclass
class ProfileSearchParams:
    length: int = field(default=80, metadata={"help": "residues per sequence"})
    subfamilies: int = field(default=6, metadata={"help": "subfamilies of the family (the seed is in the first)"})
    seed_family_size: int = field(default=1000, metadata={"help": "members of the seed's subfamily"})
    family_size: int = field(default=6, metadata={"help": "members of every other subfamily"})
    decoys: int = field(default=40, metadata={"help": "non-homologous decoys sharing a stretch with the seed"})
    background: int = field(default=3000, metadata={"help": "unrelated background sequences"})
    core: float = field(default=0.1, metadata={"help": "share of positions conserved family-wide"})
    specific: float = field(default=0.5, metadata={"help": "share of positions that tell subfamilies apart"})
    decoy_overlap: float = field(default=0.25, metadata={"help": "share of a decoy drawn like the seed subfamily"})
    iterations: int = field(default=8, metadata={"help": "search iterations"})
    loose: float = field(default=-0.1, metadata={"help": "inclusion threshold without the threshold safeguard "
                                                          "(nats per position)"})
    strict: float = field(default=-0.05, metadata={"help": "the stricter inclusion threshold (nats per position)"})
    pseudocounts: float = field(default=5.0, metadata={"help": "pseudocount weight B of the safeguard"})
    replicates: int = field(default=4, metadata={"help": "independently drawn databases averaged"})

    def validate(self) -> None:
        for key in ("length", "seed_family_size", "family_size", "iterations", "replicates"):
            if getattr(self, key) < 1:
                raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {getattr(self, key)}.")
        if self.subfamilies < 2:
            raise ConfigError("--subfamilies must be at least 2 (the seed's and another).")
        if self.decoys < 0 or self.background < 0:
            raise ConfigError("--decoys and --background must be >= 0.")
        if not (0 <= self.core and 0 <= self.specific and self.core + self.specific <= 1):
            raise ConfigError("--core and --specific must be >= 0 and sum to at most 1.")
        if not 0 <= self.decoy_overlap <= 1:
            raise ConfigError(f"--decoy-overlap must lie in [0, 1], got {self.decoy_overlap}.")
        if self.pseudocounts <= 0:
            raise ConfigError(f"--pseudocounts must be positive, got {self.pseudocounts}.")


def policies(p: ProfileSearchParams) -> dict[str, SearchPolicy]:
    """No safeguard, each safeguard alone, and all three."""
    return {
        "none": SearchPolicy(p.loose, False, 0.0),
        "threshold": SearchPolicy(p.strict, False, 0.0),
        "weighting": SearchPolicy(p.loose, True, 0.0),
        "pseudocounts": SearchPolicy(p.loose, False, p.pseudocounts),
        "all three": SearchPolicy(p.strict, True, p.pseudocounts),
    }


def run_search(p: ProfileSearchParams, generator: torch.Generator) -> dict:
    """Per policy, per iteration: family recall, recall of each subfamily, decoys and background
    sequences admitted, and subfamilies kept (recall > 0.5), each averaged over the replicates."""
    pols = policies(p)
    acc = {name: {"family_recall": [], "subfamily_recall": [], "decoys": [], "background": [], "kept": []}
           for name in pols}
    for _ in range(p.replicates):
        db = build_database(length=p.length, subfamilies=p.subfamilies, seed_family_size=p.seed_family_size,
                            family_size=p.family_size, decoys=p.decoys, background=p.background, core=p.core,
                            specific=p.specific, decoy_overlap=p.decoy_overlap, generator=generator)
        for name, pol in pols.items():
            for it, hit in enumerate(iterate(db.sequences, db.sequences[db.seed_index], pol, p.iterations)):
                sub = [float(hit[db.label == k].float().mean()) for k in range(p.subfamilies)]
                row = {"family_recall": float(hit[db.label >= 0].float().mean()), "subfamily_recall": sub,
                       "decoys": int(hit[db.label == -1].sum()), "background": int(hit[db.label == -2].sum()),
                       "kept": sum(r > 0.5 for r in sub[1:])}
                for key, value in row.items():
                    if len(acc[name][key]) <= it:
                        acc[name][key].append([])
                    acc[name][key][it].append(value)
    out = {}
    for name, series in acc.items():
        out[name] = {"inclusion": pols[name].inclusion, "weighting": pols[name].weighting,
                     "pseudocounts": pols[name].pseudocounts}
        for key, per_it in series.items():
            if key == "subfamily_recall":
                out[name][key] = [[sum(r[k] for r in vals) / len(vals) for k in range(p.subfamilies)]
                                  for vals in per_it]
            else:
                out[name][key] = [sum(vals) / len(vals) for vals in per_it]
    return out


def figure(path, result: dict, p: ProfileSearchParams) -> None:
    names = list(result["policies"])
    fig, axes = plt.subplots(1, len(names), figsize=(2.9 * len(names), 3.2), sharey=True)
    its = range(1, p.iterations + 1)
    for ax, name in zip(axes, names):
        r = result["policies"][name]
        for k in range(p.subfamilies):
            ax.plot(its, [s[k] for s in r["subfamily_recall"]], lw=1.5 if k else 2.5,
                    label=f"subfamily {k}" + (" (seed)" if k == 0 else ""))
        ax.plot(its, [d / max(p.decoys, 1) for d in r["decoys"]], "k:", label="decoys admitted / all")
        ax.set(title=name, xlabel="iteration", ylim=(-0.03, 1.03))
    axes[0].set_ylabel("recall (mean of replicates)")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@register_scenario
class ProfileSearch(Experiment):
    """An iterative PSSM search (PSI-BLAST style, Altschul et al. 1997) from a seed in one
    subfamily of a synthetic protein family with decoys: without safeguards the profile drifts
    onto the seed's subfamily; an inclusion threshold, Henikoff sequence weighting and
    pseudocounts are measured alone and together. Reports recall per subfamily per iteration
    and decoys admitted."""

    name = "profile-search"
    summary = "PSI-BLAST-like iterative profile search drifts onto the seed subfamily; weighting/thresholds/pseudocounts"
    Params = ProfileSearchParams

    def run(self, p: ProfileSearchParams, ctx: Context) -> dict:
        result = {"policies": run_search(p, ctx.generator(1)), "subfamilies": p.subfamilies, "decoys": p.decoys,
                  "replicates": p.replicates}
        figure(ctx.path("profile_search.png"), result, p)
        return result

    def describe(self, result: dict) -> str:
        lines = [f"after the last iteration (mean of {result['replicates']} databases): other subfamilies kept "
                 f"(recall > 0.5) out of {result['subfamilies'] - 1}, recall per subfamily, decoys admitted "
                 f"out of {result['decoys']}:"]
        for name, r in result["policies"].items():
            sub = " ".join(f"{x:.2f}" for x in r["subfamily_recall"][-1])
            lines.append(f"  {name:<12} kept {r['kept'][-1]:.2f}  recall [{sub}]  family {r['family_recall'][-1]:.2f}"
                         f"  decoys {r['decoys'][-1]:.1f}  background {r['background'][-1]:.1f}")
        return "\n".join(lines)
