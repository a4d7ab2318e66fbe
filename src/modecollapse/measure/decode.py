"""Image folders decoded in worker processes, batch by batch, while the feature network runs.

:func:`image_batches` yields the images of a folder (sorted, recursive, as
:func:`~modecollapse.fileio.image_files` lists them) as uint8 tensors (b, C, H, W) in file order:
a ``torch.utils.data.DataLoader`` over the files whose ``workers`` processes each decode and,
with ``image_size``, resize whole batches with Pillow exactly as the one-process reader
(:func:`~modecollapse.fileio.read_image`) does, so the network gets the same bytes either way.
With ``workers=0`` the main process decodes. A file that cannot be read, or an image whose size
differs from the first one's, is one :class:`ConfigError` naming it, raised in the main process
(a worker hands the sentence back rather than a traceback).

:class:`StreamingFingerprint` hashes the batches as they pass, so a folder's fingerprint
(:func:`modecollapse.metrics.reference.fingerprint` of the whole (n, C, H, W) tensor) is known
without holding every image at once.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..fileio import read_image

#: how many batches each worker decodes ahead of the network
PREFETCH = 2


class _Files(torch.utils.data.Dataset):
    """Item i: the decoded image i (H, W[, C]) uint8, or the sentence saying why it cannot be read."""

    def __init__(self, files: list[Path], *, mode: str, side: int | None) -> None:
        self.files, self.mode, self.side = files, mode, side

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> np.ndarray | str:
        try:
            return read_image(self.files[i], mode=self.mode, side=self.side)
        except ConfigError as err:
            return str(err)


def _stack(items: list[np.ndarray | str]) -> np.ndarray | str:
    """A batch of decoded images -> (b, H, W[, C]) uint8, or the first error's sentence, or a
    marker of the first image whose shape differs from the batch's first (``"shape:<index>"``)."""
    for it in items:
        if isinstance(it, str):
            return it
    first = items[0].shape
    for i, it in enumerate(items):
        if it.shape != first:
            return f"shape:{i}"
    return np.stack(items)


def image_batches(files: list[Path], *, folder: Path, batch_size: int, image_size: int | None = None,
                  mode: str = "RGB", workers: int = 0) -> Iterator[torch.Tensor]:
    """The images in ``files`` (of ``folder``) as uint8 (b, C, H, W) batches, in order; see the module docstring."""
    loader = torch.utils.data.DataLoader(
        _Files(files, mode=mode, side=image_size), batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=_stack, prefetch_factor=PREFETCH if workers else None, persistent_workers=False)
    first: tuple[int, ...] | None = None
    for b, batch in enumerate(loader):
        start = b * batch_size
        if isinstance(batch, str) and batch.startswith("shape:"):
            bad = start + int(batch.split(":")[1])
            batch = _size_error(folder, files[bad], files[0], image_size, mode)
        if isinstance(batch, str):
            raise ConfigError(batch)
        if first is None:
            first = batch.shape[1:]
        elif batch.shape[1:] != first:
            raise ConfigError(_size_error(folder, files[start], files[0], image_size, mode))
        x = torch.from_numpy(batch)
        yield x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()  # (b, C, H, W)


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
