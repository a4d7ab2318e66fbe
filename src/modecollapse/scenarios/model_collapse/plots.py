"""The model-collapse figures."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"replace": "tab:red", "replace-unbiased": "tab:orange", "keep-real": "tab:blue", "accumulate": "tab:green"}


def gaussian_figure(path: Path, g: dict) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    gens = range(g["generations"] + 1)
    ax = axes[0]
    ax.plot(gens, g["theory_ml_replace_variance"], "k--", lw=1, label="theory ((N-1)/N)^n")
    for name, v in g["policies"].items():
        ax.plot(gens, v["variance_mean"], color=COLOURS[name], label=f"{name} (mean)")
        ax.plot(gens, v["variance_median"], color=COLOURS[name], ls=":", lw=1)
    ax.set(yscale="log", xlabel="generation", ylabel="fitted variance / true",
           title=f"single Gaussian, N={g['n_samples']} (dotted: median)")
    ax.legend(fontsize=7)
    ax = axes[1]
    for name, v in g["policies"].items():
        ax.plot(gens, v["tail_mass"], color=COLOURS[name], label=name)
        ax.plot(gens, v["tail_mass_median"], color=COLOURS[name], ls=":", lw=1)
    ax.axhline(g["true_tail_mass"], color="k", ls="--", lw=1, label="real")
    ax.set(xlabel="generation", ylabel="mass beyond 3 sigma_0", title="tail mass (dotted: median)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def ring_figure(path: Path, part: dict, title: str, samples: dict | None = None, anchors=None) -> None:
    cols = 3 + (1 if samples else 0)
    fig, axes = plt.subplots(1, cols, figsize=(3.1 * cols, 3.1))
    gens = range(part["generations"] + 1)
    for ax, key, label in zip(axes, ("modes", "variance", "recall"), ("modes captured", "within-mode variance", "recall")):
        for name, v in part["policies"].items():
            ax.plot(gens, v[key], color=COLOURS[name], label=name)
        ax.set(xlabel="generation", title=label)
        if key == "variance":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    if samples:
        ax = axes[-1]
        for name, s in samples.items():
            ax.scatter(s[:, 0], s[:, 1], s=2, color=COLOURS[name], alpha=0.4, label=name)
        if anchors is not None:
            ax.scatter(anchors[:, 0], anchors[:, 1], marker="x", color="k", s=20)
        ax.set(title="last generation", aspect="equal")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
