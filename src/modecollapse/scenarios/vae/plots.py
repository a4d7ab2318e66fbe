"""The VAE scenario's two figures: the measured numbers per variant, and samples per variant."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def summary_figure(path: Path, variants: dict[str, dict], data: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(variants)
    r = [variants[n] for n in names]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.6))
    y = np.arange(len(names))
    panels = [
        ("active units (Burda 2016)", [v["active_units"] for v in r], f"of {r[0]['z_dim']} dims"),
        ("I_q(x; z), nats", [v["mutual_info"] for v in r], f"bound log N = {r[0]['mutual_info_bound']:.1f}"),
        ("KL(q(z|x) || p(z)), nats", [v["kl_total"] for v in r], "grows as encoder std -> 0"),
        ("reconstruction NLL, nats", [v["recon_nll"] for v in r], "lower is better"),
        ("mode entropy of samples, nats" if data != "mnist" else "digit entropy of samples, nats",
         [v["mode_entropy"] for v in r], f"max log K = {r[0]['max_entropy']:.2f}"),
    ]
    for ax, (title, vals, note) in zip(axes.flat, panels):
        ax.barh(y, vals, color=["#4c72b0" if "collapse" not in n else "#c44e52" for n in names])
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(note, fontsize=8)
        for i, v in enumerate(vals):
            ax.text(v, i, f" {v:.3g}", va="center", fontsize=7)
    ax = axes.flat[5]
    w = 0.8 / 2
    ax.barh(y - w / 2, [v["recall"] for v in r], w, label="recall")
    ax.barh(y + w / 2, [v["coverage"] for v in r], w, label="coverage")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title("samples vs held-out " + ("(classifier features)" if data == "mnist" else "(data space)"), fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"VAE on {data}: posterior collapse, its remedies and the deterministic limit", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def samples_figure(path: Path, samples: dict[str, np.ndarray], data: str, reference: np.ndarray | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(samples)
    fig, axes = plt.subplots(1, len(names), figsize=(2.2 * len(names), 2.5))
    for ax, name in zip(np.atleast_1d(axes), names):
        s = samples[name]
        if data == "mnist":
            grid = s[:36].reshape(6, 6, 28, 28).transpose(0, 2, 1, 3).reshape(6 * 28, 6 * 28)
            ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        else:
            if reference is not None:
                ax.scatter(reference[:, 0], reference[:, 1], s=1, c="#bbbbbb")
            ax.scatter(s[:, 0], s[:, 1], s=1, c="#c44e52" if "collapse" in name else "#4c72b0")
            ax.set_aspect("equal")
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("decoded prior samples z ~ N(0, I)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
