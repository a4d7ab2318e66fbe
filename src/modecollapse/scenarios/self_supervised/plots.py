"""The self-supervised figure: embedding std and effective rank over training, probe accuracy."""
from __future__ import annotations

from pathlib import Path


def ssl_figure(path: Path, methods: dict[str, dict], untrained: dict, emb_dim: int, rep_dim: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for name, v in methods.items():
        rec = v["over_training"]
        steps = [r["step"] for r in rec]
        axes[0].semilogy(steps, [max(r["embedding_std_normalized"], 1e-8) for r in rec], marker=".", label=name)
        axes[1].plot(steps, [r["effective_rank_embedding"] for r in rec], marker=".", label=name)
        axes[2].plot(steps, [r["effective_rank_representation"] for r in rec], marker=".", label=name)
    axes[0].set_title(f"std of L2-normalised embeddings (healthy ~ {emb_dim ** -0.5:.2f})", fontsize=9)
    axes[1].set_title(f"effective rank of embeddings (d = {emb_dim})", fontsize=9)
    axes[1].axhline(emb_dim, color="grey", lw=0.5)
    axes[2].set_title(f"effective rank of representations (d = {rep_dim})", fontsize=9)
    for ax in axes[:3]:
        ax.set_xlabel("step")
    axes[0].legend(fontsize=7)
    names = list(methods) + ["untrained"]
    rows = [methods[n] for n in methods] + [untrained]
    y = list(range(len(names)))
    for off, key, label in ((-0.2, "probe_accuracy", "representation"), (0.2, "probe_accuracy_embedding", "embedding")):
        acc = [r[key] for r in rows]
        axes[3].barh([i + off for i in y], acc, 0.4, label=label)
        for i, a in enumerate(acc):
            axes[3].text(a, i + off, f" {a:.3f}", va="center", fontsize=6)
    axes[3].set_yticks(y, names, fontsize=8)
    axes[3].invert_yaxis()
    axes[3].set_xlim(0, 1.15)
    axes[3].legend(fontsize=6, loc="lower right")
    axes[3].set_title("linear probe, MNIST test accuracy", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
