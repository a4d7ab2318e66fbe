"""The diffusion-memorisation figure: memorisation over training and against training-set
size, samples of the smallest and largest 2D sets, and MNIST samples per size."""
from __future__ import annotations

from pathlib import Path

import torch


def curves_figure(path: Path, two_d: dict, mnist: dict, pool: torch.Tensor, held: torch.Tensor,
                  last_2d: dict[int, torch.Tensor], mnist_last: dict[int, torch.Tensor], memorised_above: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = 4 + len(mnist_last)
    fig, axes = plt.subplots(1, ncols, figsize=(3.3 * ncols, 3.4))
    ax = axes[0]
    for n, v in two_d.items():
        rec = v["over_training"]
        ax.plot([r["step"] for r in rec], [r["memorisation"] for r in rec], marker=".", label=f"n={n}")
    ax.set_xlabel("step")
    ax.set_ylabel("memorisation fraction")
    ax.set_title("2D: over training", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[1]
    sizes = [v["size"] for v in two_d.values()]
    ax.semilogx(sizes, [v["memorisation"] for v in two_d.values()], "o-", label="memorisation")
    ax.semilogx(sizes, [v["memorisation_real"] or 0 for v in two_d.values()], "k:", label="chance (train vs train)")
    ax.semilogx(sizes, [v["recall"] for v in two_d.values()], "s--", label="recall (held-out)")
    ax.semilogx(sizes, [v["coverage"] for v in two_d.values()], "^--", label="coverage (held-out)")
    for v in mnist.values():
        ax.semilogx([v["size"]], [v["memorisation"]], "r*", ms=10)
    ax.axhline(memorised_above, color="grey", lw=0.5)
    ax.set_xlabel("training-set size (red *: MNIST)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("at the end, fixed budget", fontsize=9)
    ax.legend(fontsize=6)
    small, large = min(last_2d), max(last_2d)
    for ax, n in zip(axes[2:4], (small, large)):
        s = last_2d[n].numpy()
        ax.scatter(held[:, 0], held[:, 1], s=1, c="#cccccc", label="held-out")
        ax.scatter(s[:, 0], s[:, 1], s=2, c="#4c72b0", alpha=0.5, label="generated")
        if n <= 256:
            ax.scatter(pool[:n, 0], pool[:n, 1], s=25, marker="x", c="#c44e52", label="training")
        ax.set_title(f"2D, n={n}: memorisation {two_d[str(n)]['memorisation']:.2f}", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[2].legend(fontsize=6, loc="center")
    for ax, (n, s) in zip(axes[4:], mnist_last.items()):
        k = max(1, min(5, int(len(s) ** 0.5)))  # a k x k grid of the first samples
        imgs = ((s[: k * k, 0].clamp(-1, 1) + 1) / 2).numpy()
        side = imgs.shape[-1]
        grid = imgs.reshape(k, k, side, side).transpose(0, 2, 1, 3).reshape(k * side, k * side)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"MNIST, n={n}: memorisation {mnist[str(n)]['memorisation']:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
