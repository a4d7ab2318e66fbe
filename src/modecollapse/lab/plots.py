"""PNG plots of a run: final samples over the modes, and modes captured over training."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ..fileio import atomic_write  # noqa: E402


def _project(points: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """2D data as is; higher dimensions on the two principal axes of the mode anchors."""
    if points.shape[1] == 2:
        return points, anchors, ""
    mean = anchors.mean(0)
    _, _, vt = np.linalg.svd(anchors - mean, full_matrices=False)
    basis = vt[:2].T
    return (points - mean) @ basis, (anchors - mean) @ basis, " (projected on the modes' first two principal axes)"


def scatter_samples(path: Path, samples: np.ndarray, dataset, title: str = "") -> None:
    anchors = dataset.anchors().numpy()
    pts, anc, note = _project(np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0), anchors)
    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=110)
    ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.35, color="tab:blue", label="generated", rasterized=True)
    ax.scatter(anc[:, 0], anc[:, 1], s=40, marker="x", color="tab:red", label="true modes")
    span = np.abs(anc).max() * 1.4 + 1e-6
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title + note, fontsize=7, wrap=True)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))  # a kill never leaves half a PNG
    plt.close(fig)


def image_grid(path: Path, rows: np.ndarray, shape: tuple[int, int, int], ncol: int = 8) -> None:
    """Flat images (n, C * H * W) in [-1, 1] -> one PNG grid, ``ncol`` per row, 2-pixel gaps."""
    c, h, w = shape
    imgs = np.clip((np.nan_to_num(rows.reshape(-1, c, h, w)) + 1) * 127.5, 0, 255).astype(np.uint8)
    n = len(imgs)
    nrow = max(1, -(-n // ncol))
    grid = np.zeros((nrow * (h + 2), ncol * (w + 2), c), dtype=np.uint8)
    for i, img in enumerate(imgs):
        r, k = divmod(i, ncol)
        grid[r * (h + 2) : r * (h + 2) + h, k * (w + 2) : k * (w + 2) + w] = img.transpose(1, 2, 0)
    image = Image.fromarray(grid if c == 3 else grid[:, :, 0])  # RGB, or greyscale (first channel)
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def modes_over_training(path: Path, records: list[dict]) -> None:
    steps = [r["step"] for r in records]
    fig, ax1 = plt.subplots(figsize=(6.5, 3.5), dpi=110)
    ax1.plot(steps, [r["modes"] for r in records], marker="o", ms=3, color="tab:blue", label="modes captured")
    ax1.axhline(records[-1]["num_modes"], color="tab:blue", ls=":", lw=1)
    ax1.set_xlabel("step")
    ax1.set_ylabel("modes captured", color="tab:blue")
    ax1.set_ylim(0, records[-1]["num_modes"] * 1.08)
    ax2 = ax1.twinx()
    ax2.plot(steps, [r["hq_fraction"] for r in records], color="tab:orange", lw=1, label="hq fraction")
    ax2.set_ylabel("high-quality fraction", color="tab:orange")
    ax2.set_ylim(0, 1.05)
    ax1.set_title("modes captured over training", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))  # a kill never leaves half a PNG
    plt.close(fig)
