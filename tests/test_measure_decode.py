"""Image folders decoded by worker processes (measure/decode.py): the same bytes as the
one-process reader, in file order; the streamed fingerprint and cache file equal the whole-set
ones; bad files and sizes are one sentence; `--workers` is checked at the boundary."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from modecollapse.errors import ConfigError
from modecollapse.fileio import image_files, read_image
from modecollapse.measure.decode import StreamingFingerprint, image_batches
from modecollapse.measure.io import cache_file, load_images, load_network_outputs
from modecollapse.metrics.reference import fingerprint


def write(folder, n, *, seed=0, side=(9, 7), mode="RGB", fmt="png"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = rng.integers(0, 256, (side[1], side[0], 3), dtype=np.uint8)
        Image.fromarray(a).convert(mode).save(folder / f"{i:03d}.{fmt}")
    return folder


def reference(folder, *, mode="RGB", side=None) -> torch.Tensor:
    """The one-process reader, image by image (what the folder reader did before the workers)."""
    x = torch.from_numpy(np.stack([read_image(f, mode=mode, side=side) for f in image_files(folder)]))
    return x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("mode, side, fmt", [("RGB", None, "png"), ("L", None, "png"), ("RGB", 5, "jpg")])
def test_workers_give_the_same_bytes_in_file_order(tmp_path, workers, mode, side, fmt):
    folder = write(tmp_path / "imgs", 11, fmt=fmt, mode=mode)
    got = torch.cat(list(image_batches(image_files(folder), folder=folder, batch_size=4, image_size=side, mode=mode,
                                       workers=workers)))
    want = reference(folder, mode=mode, side=side)
    assert got.dtype == torch.uint8 and torch.equal(got, want)
    assert torch.equal(load_images(folder, mode=mode, image_size=side, uint8=True, workers=workers), want)


def test_streamed_fingerprint_equals_the_whole_sets(tmp_path):
    folder = write(tmp_path / "imgs", 7)
    x = reference(folder)
    fp = StreamingFingerprint(len(x))
    for b in x.split(3):
        fp.update(b)
    assert fp.hexdigest() == fingerprint(x)
    with pytest.raises(ValueError):
        StreamingFingerprint(8).hexdigest()


class Counting:
    """A stand-in network with a cache key: the mean pixel of each image, counting the images it saw."""

    outputs = ("features",)
    cache_key = "counting-test"

    def __init__(self):
        self.seen = 0

    def outputs_of(self, images, names):
        self.seen += len(images)
        return {"features": images.float().mean((2, 3))}


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_folder_writes_the_cache_file_the_whole_set_would_and_the_next_run_reads_it(tmp_path, workers):
    """With workers on CPU the network runs in them (its count stays 0 here); the outputs, their
    order and the cache file are the same either way."""
    folder = write(tmp_path / "imgs", 9)
    net, cache = Counting(), tmp_path / "cache"
    first = load_network_outputs(str(folder), net, outputs=("features",), batch_size=4, cache_dir=cache, workers=workers)
    x = reference(folder)
    assert cache_file(cache, x, net).is_file()  # the name the decode-first path looks up
    assert torch.equal(first["features"], x.float().mean((2, 3)))
    assert net.seen == (9 if workers == 0 else 0)
    again = load_network_outputs(str(folder), net, outputs=("features",), batch_size=4, cache_dir=cache, workers=0)
    assert net.seen == (9 if workers == 0 else 0) and torch.equal(again["features"], first["features"])  # read back
    other = write(tmp_path / "other", 3, seed=1)  # a cache of this network exists, but not for this set
    load_network_outputs(str(other), net, outputs=("features",), batch_size=4, cache_dir=cache, workers=0)
    assert net.seen == (12 if workers == 0 else 3) and len(list(cache.glob("counting-test-*.pt"))) == 2


def test_network_failure_in_a_worker_is_one_sentence(tmp_path):
    folder = write(tmp_path / "imgs", 5)

    class Failing(Counting):
        def outputs_of(self, images, names):
            raise RuntimeError("boom")

    with pytest.raises(ConfigError, match="the feature extractor failed on a batch of shape .*boom"):
        load_network_outputs(str(folder), Failing(), outputs=("features",), batch_size=4, workers=2)


def test_an_unreadable_file_or_another_size_is_one_sentence_naming_it(tmp_path):
    folder = write(tmp_path / "imgs", 6)
    (folder / "004.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=r"cannot read image .*004\.png"):
        list(image_batches(image_files(folder), folder=folder, batch_size=4, workers=1))
    folder2 = write(tmp_path / "sizes", 5)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder2 / "005.png")
    for batch_size in (2, 6):  # the odd one in a later batch, or inside the first one
        with pytest.raises(ConfigError, match=r"differ in size \(005\.png is 4x4, the first is 9x7\)"):
            list(image_batches(image_files(folder2), folder=folder2, batch_size=batch_size, workers=1))
        with pytest.raises(ConfigError, match=r"differ in size \(005\.png is 4x4"):  # the network in the workers
            load_network_outputs(str(folder2), Counting(), outputs=("features",), batch_size=batch_size, workers=1)


def test_negative_workers_is_one_sentence_and_exit_2(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 2), np.float32))
    proc = subprocess.run([sys.executable, "-m", "modecollapse", "measure", "--fake", str(tmp_path / "x.npy"),
                           "--workers", "-1"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--workers must be >= 0" in proc.stderr and "Traceback" not in proc.stderr
