"""Image folders decoded in worker processes, batch by batch, while the feature network runs.

:func:`image_batches` yields the images of a folder (sorted, recursive, as
:func:`~modecollapse.fileio.image_files` lists them) as uint8 tensors (b, C, H, W) in file order:
a ``torch.utils.data.DataLoader`` whose ``workers`` processes each decode (and, with
``image_size``, resize) whole batches with Pillow exactly as the one-process reader
(:func:`~modecollapse.fileio.read_image`) does, so the network gets the same bytes either way.
With ``workers=0`` the main process decodes.

Given a ``network`` (a function uint8 batch -> name -> (b, d) outputs), each worker also runs
it on the batch it decoded and hands back the outputs: on CPU every worker is one more network
running on one thread (the DataLoader sets each worker to one), which keeps all cores busy
without the threads of one process waiting on each other, the way intra-op threads do at every
layer, and badly so when other jobs hold some of the cores.

A file that cannot be read, an image whose size differs from the first one's, or a network
that fails is one :class:`ConfigError` naming it, raised in the main process (a worker hands
the sentence back rather than a traceback).

:class:`StreamingFingerprint` hashes the batches as they pass, so a folder's fingerprint
(:func:`modecollapse.metrics.reference.fingerprint` of the whole (n, C, H, W) tensor) is known
without holding every image at once.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..fileio import read_image

#: how many batches each worker prepares ahead of the main process
PREFETCH = 2

Network = Callable[[torch.Tensor], dict[str, torch.Tensor]]


class _Batches(torch.utils.data.Dataset):
    """Item b: batch b of the files as (pixels (b, C, H, W) uint8 or None, the shape (C, H, W) of
    an image, outputs or None), or the sentence saying what went wrong (``"shape:<file index>"``
    for an image of another size than the batch's first)."""

    def __init__(self, files: list[Path], *, batch_size: int, mode: str, side: int | None,
                 network: Network | None, keep_pixels: bool) -> None:
        self.files, self.batch_size, self.mode, self.side = files, batch_size, mode, side
        self.network, self.keep_pixels = network, keep_pixels

    def __len__(self) -> int:
        return -(-len(self.files) // self.batch_size)

    def __getitem__(self, b: int) -> tuple[torch.Tensor | None, tuple[int, ...], dict[str, torch.Tensor] | None] | str:
        start = b * self.batch_size
        arrays = []
        try:
            for f in self.files[start : start + self.batch_size]:
                arrays.append(read_image(f, mode=self.mode, side=self.side))
        except ConfigError as err:
            return str(err)
        for i, a in enumerate(arrays):
            if a.shape != arrays[0].shape:
                return f"shape:{start + i}"
        x = torch.from_numpy(np.stack(arrays))
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()  # (b, C, H, W)
        if self.network is None:
            return x, tuple(x.shape[1:]), None
        try:
            out = self.network(x)
        except ConfigError as err:
            return str(err)
        return (x if self.keep_pixels else None), tuple(x.shape[1:]), out


def _as_is(item):
    return item


def decoded_batches(files: list[Path], *, folder: Path, batch_size: int, image_size: int | None = None,
                    mode: str = "RGB", workers: int = 0, network: Network | None = None, keep_pixels: bool = True,
                    ) -> Iterator[tuple[torch.Tensor | None, dict[str, torch.Tensor] | None]]:
    """(pixels, outputs) of each batch of ``files``, in order: the uint8 images (b, C, H, W) (None
    when ``network`` is given and not ``keep_pixels``) and ``network``'s outputs on them (None
    without a network), decoded (and run) by ``workers`` processes; see the module docstring."""
    data = _Batches(files, batch_size=batch_size, mode=mode, side=image_size, network=network, keep_pixels=keep_pixels)
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=workers,
                                         collate_fn=_as_is, prefetch_factor=PREFETCH if workers else None)
    first: tuple[int, ...] | None = None
    for b, item in enumerate(loader):
        if isinstance(item, str) and item.startswith("shape:"):
            item = _size_error(folder, files[int(item.split(":")[1])], files[0], image_size, mode)
        if isinstance(item, str):
            raise ConfigError(item)
        pixels, shape, out = item
        if first is None:
            first = shape
        elif shape != first:
            raise ConfigError(_size_error(folder, files[b * batch_size], files[0], image_size, mode))
        yield pixels, out


def image_batches(files: list[Path], *, folder: Path, batch_size: int, image_size: int | None = None,
                  mode: str = "RGB", workers: int = 0) -> Iterator[torch.Tensor]:
    """The images in ``files`` (of ``folder``) as uint8 (b, C, H, W) batches, in order, decoded by ``workers`` processes."""
    for pixels, _ in decoded_batches(files, folder=folder, batch_size=batch_size, image_size=image_size, mode=mode,
                                     workers=workers):
        yield pixels  # type: ignore[misc]


def _size_error(folder: Path, bad: Path, first: Path, image_size: int | None, mode: str) -> str:
    a = read_image(bad, mode=mode, side=image_size)
    f = read_image(first, mode=mode, side=image_size)
    return (f"images in {folder} differ in size ({bad.name} is {a.shape[1]}x{a.shape[0]}, the first is "
            f"{f.shape[1]}x{f.shape[0]}); pass --image-size N to resize them all.")


class StreamingFingerprint:
    """The fingerprint of the tensor (n, *shape) of ``dtype`` that the batches passed to
    :meth:`update` make when stacked, in order (``n`` known beforehand: a folder's file count)."""

    def __init__(self, n: int) -> None:
        self.n, self.h, self.seen = n, None, 0

    def update(self, batch: torch.Tensor) -> None:
        if self.h is None:
            self.h = hashlib.blake2b(digest_size=16)
            self.h.update(repr(((self.n, *batch.shape[1:]), str(batch.dtype))).encode())
        self.h.update(memoryview(batch.detach().cpu().contiguous().numpy()).cast("B"))
        self.seen += len(batch)

    def hexdigest(self) -> str:
        if self.h is None or self.seen != self.n:
            raise ValueError(f"the fingerprint has seen {self.seen} of {self.n} rows")
        return self.h.hexdigest()
