"""Reading the sample sets that ``modecollapse measure`` compares.

A FILE is ``.npy``, ``.npz`` (one array, or ``FILE.npz:KEY``), a tensor file written by
``torch.save`` (loaded with ``weights_only=True``, so no pickled code runs), or a folder of
images (read with Pillow: pixels in [0, 1]; all images must share a size unless
``image_size`` resizes them). Rows with more than one dimension are flattened, unless a
feature extractor (see :mod:`modecollapse.features`) maps them to features first.

For the pretrained networks (``inception-v3``, ``dinov2-*``) images stay 8-bit: a folder is
read as uint8 (decoded in worker processes while the network runs, :mod:`.decode`), an array of images (n, H, W, C) with C = 1 or 3, as in the ADM /
guided-diffusion reference batches (``arr_0``, uint8 NHWC), is turned to (n, C, H, W), and
floats must lie in [0, 1]. The real set's outputs of such a network are cached
(:func:`extract_cached`) in a file keyed by the fingerprint of the real samples and the
network (its name, weight file and preprocessing), so a second run on the same real set
does not recompute them.
Every failure is a :class:`ConfigError` that names the file.
"""
from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..features import Extractor, extract, extract_batches, extract_outputs
from ..features.base import progress_bar
from ..fileio import IMAGE_SUFFIXES, atomic_torch_save, image_files
from .decode import StreamingFingerprint, decoded_batches, image_batches

CACHE_FORMAT = "modecollapse-features-1"
TENSOR_KEYS = ("features", "samples", "x", "arr_0")


def _split_key(spec: str) -> tuple[Path, str | None]:
    """``"a.npz:key"`` -> (a.npz, "key") when ``spec`` itself is not an existing path."""
    if Path(spec).exists() or ":" not in spec:
        return Path(spec), None
    path, _, key = spec.rpartition(":")
    return Path(path), key or None


def _pick(named: dict, path: Path, key: str | None) -> object:
    if key is not None:
        if key not in named:
            raise ConfigError(f"{path} has no array {key!r}; it holds: {', '.join(map(str, named)) or 'nothing'}.")
        return named[key]
    if len(named) == 1:
        return next(iter(named.values()))
    for k in TENSOR_KEYS:
        if k in named:
            return named[k]
    raise ConfigError(
        f"{path} holds several arrays ({', '.join(map(str, named))}); name one as {path}:KEY."
    )


def _to_tensor(value: object, path: Path) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype == object or not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise ConfigError(f"{path} holds {value.dtype} values, not numbers.")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise ConfigError(f"{path} holds a {type(value).__name__}, not an array or tensor of samples.")
    if value.ndim == 0:
        raise ConfigError(f"{path} holds a single number, not an array of samples (n, d).")
    return value


def default_workers(device: str | torch.device = "cpu") -> int:
    """Worker processes for an image folder when none are asked for: on CPU one per thread torch
    would use (each runs the network on one thread, :mod:`.decode`); with a GPU, decoders for it."""
    if torch.device(device).type == "cpu":
        return torch.get_num_threads()
    return min(4, os.cpu_count() or 1)


def folder_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (sorted, recursive); none is a :class:`ConfigError`."""
    files = image_files(folder)
    if not files:
        raise ConfigError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); give a folder of images or an array file.")
    return files


def load_images(folder: Path, *, image_size: int | None = None, mode: str = "RGB", uint8: bool = False,
                workers: int | None = 0) -> torch.Tensor:
    """All images under ``folder`` (sorted, recursive) -> (n, C, H, W) float32 in [0, 1], or
    the uint8 pixel values when ``uint8``; decoded by ``workers`` processes (0: this one; None:
    :func:`default_workers`)."""
    files = folder_files(folder)
    workers = default_workers() if workers is None else workers
    x = torch.cat(list(image_batches(files, folder=folder, batch_size=256, image_size=image_size, mode=mode,
                                     workers=workers)))
    return x if uint8 else x.float().div_(255.0)


def load_raw(spec: str, *, image_size: int | None = None, image_mode: str = "RGB", uint8: bool = False,
             workers: int | None = 0) -> torch.Tensor:
    """The samples in ``spec`` as a tensor (n, ...), before feature extraction (a folder's
    images as uint8 when ``uint8``, decoded by ``workers`` processes)."""
    path, key = _split_key(spec)
    if path.is_dir():
        return load_images(path, image_size=image_size, mode=image_mode, uint8=uint8, workers=workers)
    if not path.is_file():
        raise ConfigError(f"no such file or folder: {path}.")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path} is empty.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            value: object = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                value = _pick({k: z[k] for k in z.files}, path, key)
        else:
            with warnings.catch_warnings():  # the error below is the one line the user sees
                warnings.simplefilter("ignore")
                value = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(value, dict):
                value = _pick(value, path, key)
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, KeyError) as err:
        kind = {".npy": "a .npy array", ".npz": "a .npz archive"}.get(suffix, "a tensor file (torch.save)")
        raise ConfigError(f"cannot read {path} as {kind} ({type(err).__name__}).") from None
    except Exception as err:  # noqa: BLE001 - e.g. pickled objects refused by weights_only
        raise ConfigError(f"cannot read {path} safely ({type(err).__name__}); save plain arrays or tensors.") from None
    return _to_tensor(value, path)


def load_features(
    spec: str,
    *,
    extractor: Extractor | None = None,
    image_size: int | None = None,
    image_mode: str = "RGB",
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    name: str = "samples",
    workers: int | None = 0,
) -> torch.Tensor:
    """Features (n, d) from ``spec``: float32 (float64 kept), one row per sample (a folder's images
    decoded by ``workers`` processes)."""
    x = load_raw(spec, image_size=image_size, image_mode=image_mode, workers=workers)
    if len(x) == 0:
        raise ConfigError(f"{name} file {spec} holds no samples.")
    if not x.is_floating_point():
        x = x.float()
    if extractor is not None:
        x = extract(x.float() if x.dtype not in (torch.float32, torch.float64) else x, extractor,
                    batch_size=batch_size, device=device)
    x = x.reshape(len(x), -1)
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    return x


def as_images(x: torch.Tensor, spec: str) -> torch.Tensor:
    """An array of images for a pretrained network: (n, H, W, C) with C = 1 or 3 (the ADM
    batch layout) -> (n, C, H, W); (n, C, H, W) and uint8 / float kept as they are."""
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ConfigError(f"{spec} holds an array of shape {tuple(x.shape)}, not images (n, H, W, 3) or (n, 3, H, W) "
                          "that a pretrained feature network takes.")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        x = x.float()  # integer pixels 0..255 of another dtype: checked against [0, 1] by the network
    return x.contiguous()


def cache_file(cache_dir: Path, x: torch.Tensor, extractor: Extractor) -> Path | None:
    """Where the outputs of ``extractor`` on ``x`` are cached, or None when the extractor has no
    ``cache_key`` (a user's network, whose identity cannot be told)."""
    key = getattr(extractor, "cache_key", None)
    if key is None:
        return None
    from ..metrics.reference import fingerprint

    return Path(cache_dir) / f"{key}-{fingerprint(x)}.pt"


def _read_cache(path: Path | None, n: int, outputs: tuple[str, ...]) -> dict[str, torch.Tensor] | None:
    """The cached outputs in ``path`` when it holds all of ``outputs`` for ``n`` samples; else None."""
    if path is None or not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") == CACHE_FORMAT and state.get("n") == n and all(o in state["outputs"] for o in outputs):
            return {o: state["outputs"][o] for o in outputs}
    except Exception:  # noqa: BLE001 - an unreadable cache is recomputed, never trusted
        pass
    return None


def _write_cache(path: Path | None, n: int, got: dict[str, torch.Tensor]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_torch_save({"format": CACHE_FORMAT, "n": n, "outputs": got}, path)
    except OSError as err:
        raise ConfigError(f"cannot write the feature cache {path} ({err.strerror or type(err).__name__}); "
                          "choose another --feature-cache folder or pass --no-feature-cache.") from None


def extract_cached(x: torch.Tensor, extractor: Extractor, *, outputs: tuple[str, ...], cache_dir: Path | None,
                   batch_size: int = 256, device: str | torch.device = "cpu", progress: bool | str = False) -> dict[str, torch.Tensor]:
    """:func:`~modecollapse.features.extract_outputs`, read from / written to a cache file in
    ``cache_dir`` (None: no cache) keyed by the samples and the extractor. A cache file that
    cannot be read, or lacks an output, is recomputed and rewritten (atomically)."""
    path = cache_file(cache_dir, x, extractor) if cache_dir is not None else None
    got = _read_cache(path, len(x), outputs)
    if got is None:
        got = extract_outputs(x, extractor, outputs=outputs, batch_size=batch_size, device=device, progress=progress)
        _write_cache(path, len(x), got)
    return got


def _stream_folder(folder: Path, files: list[Path], extractor: Extractor, *, outputs: tuple[str, ...],
                   cache_dir: Path | None, image_size: int | None, image_mode: str, batch_size: int,
                   device: str | torch.device, workers: int, progress: bool | str) -> dict[str, torch.Tensor]:
    """The outputs on a folder's images, decoded by workers while the network runs (on CPU, in
    those workers: see :mod:`.decode`), fingerprinted on the way and written to the cache (when
    there is one) under the name :func:`cache_file` gives."""
    fp = StreamingFingerprint(len(files))
    kw = dict(folder=folder, batch_size=batch_size, image_size=image_size, mode=image_mode, workers=workers)
    if torch.device(device).type == "cpu" and workers > 0:

        def network(x: torch.Tensor) -> dict[str, torch.Tensor]:
            return extract_outputs(x, extractor, outputs=outputs, batch_size=len(x))

        parts: dict[str, list[torch.Tensor]] = {o: [] for o in outputs}
        bar = progress_bar(len(files), progress)
        try:
            for pixels, out in decoded_batches(files, network=network, keep_pixels=cache_dir is not None, **kw):
                if pixels is not None:
                    fp.update(pixels)
                for o in outputs:
                    parts[o].append(out[o])  # type: ignore[index]
                if bar is not None:
                    bar.update(len(out[outputs[0]]))  # type: ignore[index]
        finally:
            if bar is not None:
                bar.close()
        got = {o: torch.cat(p) for o, p in parts.items()}
    else:

        def batches() -> Iterator[torch.Tensor]:
            for b in image_batches(files, **kw):
                if cache_dir is not None:
                    fp.update(b)
                yield b

        got = extract_batches(batches(), extractor, outputs=outputs, device=device, total=len(files), progress=progress)
    if cache_dir is not None:
        _write_cache(Path(cache_dir) / f"{extractor.cache_key}-{fp.hexdigest()}.pt", len(files), got)  # type: ignore[attr-defined]
    return got


def load_network_outputs(spec: str, extractor: Extractor, *, outputs: tuple[str, ...], name: str = "samples",
                         image_size: int | None = None, image_mode: str = "RGB", batch_size: int = 256,
                         device: str | torch.device = "cpu", cache_dir: Path | None = None,
                         progress: bool = False, workers: int | None = 0) -> dict[str, torch.Tensor]:
    """The ``outputs`` (name -> (n, d)) of a pretrained network on the images in ``spec`` (a folder,
    an array or tensor file of images); cached in ``cache_dir`` when given.

    A folder's images are decoded by ``workers`` processes (0: this one; None:
    :func:`default_workers`), which on CPU also run
    the network, one thread each (:mod:`.decode`). They stream into the network as they are decoded unless the cache may hold the result: then they are all decoded
    first, to fingerprint them and look the cache up (only when ``cache_dir`` already holds a file
    of this network; otherwise a miss is certain, and the fingerprint is taken as they stream).
    """
    label = f"{name} features" if progress else False
    workers = default_workers(device) if workers is None else workers
    path, _ = _split_key(spec)
    if path.is_dir():
        files = folder_files(path)
        key = getattr(extractor, "cache_key", None)
        cache = Path(cache_dir) if cache_dir is not None and key is not None else None
        if cache is None or not any(cache.glob(f"{key}-*.pt")):
            return _stream_folder(path, files, extractor, outputs=outputs, cache_dir=cache, image_size=image_size,
                                  image_mode=image_mode, batch_size=batch_size, device=device, workers=workers,
                                  progress=label)
    x = load_raw(spec, image_size=image_size, image_mode=image_mode, uint8=True, workers=workers)
    if len(x) == 0:
        raise ConfigError(f"{name} file {spec} holds no samples.")
    x = as_images(x, spec)
    return extract_cached(x, extractor, outputs=outputs, cache_dir=cache_dir, batch_size=batch_size, device=device,
                          progress=label)
