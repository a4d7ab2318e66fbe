"""A folder of the user's own images (PNG, JPG ... read with Pillow) as a training benchmark.

Modes are the folder's subfolders (one class per subfolder, as in torchvision's
ImageFolder convention); images directly in the folder form one more mode, so a flat folder
is a single mode. A generated image belongs to the mode of its nearest training image in
pixel space (the nearest-neighbour mode assignment of Srivastava et al. 2017, VEEGAN, §5,
for data without a classifier); ``distance`` is that pixel distance (L2 on [-1, 1]
pixels, divided by sqrt(C * H * W)). There is no agreed quality radius for natural images,
so every sample counts as high quality: judge quality with ``modecollapse measure``
(precision, density) on the samples instead.

Images are resized to ``side`` x ``side`` pixels (square; DCGAN models need a side of 8 or more
that halves down to 4..7, e.g. 28, 32, 64) and kept as uint8 in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from ..fileio import IMAGE_SUFFIXES, image_files, read_image
from .base import DATASETS, Assignment, Benchmark


def scan(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """Image files under ``folder`` (sorted), their mode index and the mode names."""
    files, modes, names = [], [], []
    top = image_files(folder, recursive=False)
    if top:
        names.append(".")
        files += top
        modes += [0] * len(top)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = image_files(sub, recursive=True)
        if found:
            modes += [len(names)] * len(found)
            names.append(sub.name)
            files += found
    return files, modes, names


def load_folder(folder: Path, size: int, channels: int, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """-> images (n, C, size, size) uint8, modes (n,) long, mode names."""
    if not folder.is_dir():
        raise ConfigError(f"image folder {folder} does not exist; pass --data-arg path=DIR with your images.")
    files, modes, names = scan(folder)
    if not files:
        raise ConfigError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); put images in it or in its subfolders.")
    if limit:
        files, modes = files[:limit], modes[:limit]
    arrays = []
    for f in files:
        a = read_image(f, mode="RGB" if channels == 3 else "L", side=size)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays)), torch.tensor(modes), names


class ImageFolder(Benchmark):
    """Training images (n, C, H, W) uint8 with a mode per image; samples are flat rows in [-1, 1]."""

    name = "image-folder"

    def __init__(self, images: torch.Tensor, modes: torch.Tensor, mode_names: list[str]) -> None:
        self.images = images
        self.image_shape = tuple(images.shape[1:])
        self.dim = int(np.prod(self.image_shape))
        self.flat = images.reshape(len(images), -1).float().div(127.5).sub(1.0)  # (n, dim) in [-1, 1]
        self.modes, self.mode_names = modes, mode_names
        self.num_modes = len(mode_names)
        counts = torch.bincount(modes, minlength=self.num_modes).double()
        self.weights = counts / counts.sum()
        self.by_mode = [torch.nonzero(modes == k).squeeze(1) for k in range(self.num_modes)]

    def sample(self, n: int, generator: torch.Generator, weights: torch.Tensor | None = None) -> torch.Tensor:
        if weights is not None:
            return super().sample(n, generator, weights)
        return self.flat[torch.randint(len(self.flat), (n,), generator=generator)]

    def sample_modes(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        idx = torch.empty_like(modes)
        for k, pool in enumerate(self.by_mode):
            mask = modes == k
            idx[mask] = pool[torch.randint(len(pool), (int(mask.sum()),), generator=generator)]
        return self.flat[idx]

    def assign(self, x: torch.Tensor) -> Assignment:
        x = x.float()
        ref_sq = self.flat.pow(2).sum(1)
        best_d, best_i = [], []
        step = max(1, 2**24 // max(len(self.flat), 1))  # a (step, n) distance block stays near 64 MB
        for a in range(0, len(x), step):
            chunk = x[a : a + step]
            d2 = (chunk.pow(2).sum(1, keepdim=True) - 2 * chunk @ self.flat.T + ref_sq).clamp_min(0)  # (b, n)
            d, i = d2.min(dim=1)
            best_d.append(d)
            best_i.append(i)
        d = torch.cat(best_d) if best_d else torch.zeros(0)
        i = torch.cat(best_i) if best_i else torch.zeros(0, dtype=torch.long)
        return Assignment(mode=self.modes[i], distance=(d / self.dim).sqrt(), hq=torch.ones(len(x), dtype=torch.bool))

    def anchors(self) -> torch.Tensor:
        return torch.stack([self.flat[pool[0]] for pool in self.by_mode])

    def describe(self) -> dict:
        return {**super().describe(), "image_shape": list(self.image_shape), "modes": self.mode_names}


@DATASETS.register("image-folder")
@dataclass
class ImageFolderParams:
    """The user's images in ``path`` (subfolders = modes), resized to ``side`` x ``side``
    pixels, ``channels`` 3 (RGB) or 1 (greyscale); ``limit`` > 0 keeps the first ``limit`` images."""

    #: old parameter names still read (with a one-line notice) for a release
    RENAMED: ClassVar[dict[str, str]] = {"size": "side"}

    path: str = ""
    side: int = 32
    channels: int = 3
    limit: int = 0

    def validate(self) -> None:
        if not self.path:
            raise ConfigError("image-folder needs --data-arg path=DIR, a folder of images (subfolders are modes).")
        if self.channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {self.channels}.")
        if self.side < 1 or self.limit < 0:
            raise ConfigError(f"side must be positive and limit >= 0, got side={self.side}, limit={self.limit}.")
        self.path = str(Path(self.path).expanduser().resolve())

    def build(self) -> ImageFolder:
        images, modes, names = load_folder(Path(self.path), self.side, self.channels, self.limit)
        return ImageFolder(images, modes, names)
