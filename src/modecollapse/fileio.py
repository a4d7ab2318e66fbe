"""Files written and read the same way everywhere: atomic writes and image files.

A leaf module (it imports nothing of the package but :mod:`errors`), shared by the run
directory, the digit classifier's cache, the image-folder benchmark and ``measure``'s input
reader, so each concern has one implementation.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import ConfigError

#: the image files Pillow reads that the toolkit looks for in a folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """Calls ``write(tmp)`` on a temporary file beside ``path``, then renames it to ``path``:
    an interrupted write never leaves half a file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def image_files(folder: Path, *, recursive: bool = True) -> list[Path]:
    """The image files in ``folder`` (and its subfolders when ``recursive``), sorted."""
    pattern = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path, *, mode: str = "RGB", side: int | None = None) -> np.ndarray:
    """One image as uint8 (H, W) for mode "L" or (H, W, C), resized to ``side`` x ``side``
    (bilinear) when given; an unreadable file is a :class:`ConfigError` naming it."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency
        raise ConfigError("reading images needs Pillow; pip install pillow.") from None
    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            if side:
                im = im.resize((side, side), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise ConfigError(f"cannot read image {path} ({type(err).__name__}); remove it or replace it.") from None


def json_text(result: Any) -> str:
    """``result`` as one line of JSON text: NaN becomes null and infinities the strings
    "inf" / "-inf" (JSON has neither), so every reader can parse it."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(result))
