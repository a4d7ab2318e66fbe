"""MNIST IDX loading, Stacked MNIST sampling and mode assignment, the mode classifier's cache."""
import gzip
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import MNIST_DIR, REPO
from modecollapse.errors import ConfigError

needs_mnist = pytest.mark.skipif(not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(), reason="no MNIST copy in ../shared/data/mnist")


@pytest.fixture(autouse=True)
def _no_user_dirs(monkeypatch, tmp_path):
    # Never read the user's environment or write to their home cache.
    monkeypatch.delenv("MODECOLLAPSE_DATA", raising=False)
    monkeypatch.setenv("MODECOLLAPSE_CACHE", str(tmp_path / "cache"))


def _write_idx(path, array, compress):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_gzip_and_raw(tmp_path, compress):
    from modecollapse.idx import read_idx

    a = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    p = tmp_path / ("x.gz" if compress else "x")
    _write_idx(p, a, compress)
    np.testing.assert_array_equal(read_idx(p), a)


def test_read_idx_rejects_bad_magic(tmp_path):
    from modecollapse.idx import read_idx

    p = tmp_path / "bad"
    p.write_bytes(b"\x12\x34\x56\x78" + b"\x00" * 16)
    with pytest.raises(ConfigError, match="not an IDX file"):
        read_idx(p)


def test_missing_files_name_what_is_needed(tmp_path):
    from modecollapse.idx import load_mnist

    with pytest.raises(ConfigError, match="MODECOLLAPSE_DATA"):
        load_mnist(None)
    with pytest.raises(ConfigError, match=r"train-images-idx3-ubyte.*not found in .*"):
        load_mnist(tmp_path)


def _fake_stacked(size=50):
    """Ten images per digit whose pixels all equal 20 * digit, and a classifier that reads them."""
    from modecollapse.data.mnist import StackedMNIST

    labels = torch.arange(10).repeat_interleave(10)
    images = (labels * 20).to(torch.uint8)[:, None, None].expand(100, 28, 28).clone()

    def classifier(x):  # (b, 1, 28, 28) in [-1, 1] -> logits (b, 10)
        digit = ((x.mean(dim=(1, 2, 3)) + 1) * 127.5 / 20).round().long().clamp(0, 9)
        return torch.nn.functional.one_hot(digit, 10).float() * 10

    return StackedMNIST(images, labels, size=size, seed=0, classifier_loader=lambda: classifier, confidence=0.0)


def test_stacked_sampling_is_seeded_and_in_range():
    ds = _fake_stacked()
    a = ds.sample(16, torch.Generator().manual_seed(1))
    b = ds.sample(16, torch.Generator().manual_seed(1))
    assert a.shape == (16, 3 * 28 * 28) and ds.image_shape == (3, 28, 28)
    assert torch.equal(a, b) and a.min() >= -1 and a.max() <= 1


def test_modes_round_trip_through_the_classifier():
    ds = _fake_stacked()
    modes = torch.tensor([0, 7, 123, 999, 450])
    x = ds.sample_modes(modes, torch.Generator().manual_seed(0))
    a = ds.assign(x)
    assert a.mode.tolist() == modes.tolist() and bool(a.hq.all())


def test_one_mode_gives_log_1000_reverse_kl():
    from modecollapse.metrics.modes import mode_stats

    ds = _fake_stacked()
    x = ds.sample_modes(torch.full((200,), 321), torch.Generator().manual_seed(0))
    s = mode_stats(samples=x, benchmark=ds)
    assert (s.modes, s.num_modes) == (1, 1000)
    assert s.reverse_kl == pytest.approx(math.log(1000))
    assert s.counts[321] == 200


@needs_mnist
def test_mnist_matches_the_published_checks():
    from modecollapse.idx import load_mnist

    images, labels = load_mnist(MNIST_DIR, "train")
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert float(images.double().mean()) == pytest.approx(33.318, abs=1e-3)
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@needs_mnist
def test_classifier_cache_hash_and_reload(tmp_path, monkeypatch):
    from modecollapse.features.mnist import mnist_features
    from modecollapse.models import classifier as C

    tiny = C.ClassifierSettings(epochs=1, limit=256)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    info = C.load_or_train_info(tiny, data_dir=MNIST_DIR, cache_dir=tmp_path)
    # training seeds and draws from a fork: the caller's random stream is where it was
    assert torch.equal(torch.random.get_rng_state(), before)
    assert info.path.name == tiny.filename() and tiny.digest() in info.path.name
    from modecollapse.idx import load_mnist

    assert info.test_accuracy == C.accuracy(info.model, *load_mnist(MNIST_DIR, "test"))  # the 10,000 test digits
    # A second call reloads (weights_only) instead of training again.
    monkeypatch.setattr(C, "train_classifier", lambda *a, **k: pytest.fail("retrained a cached classifier"))
    again = C.load_or_train_info(tiny, data_dir=MNIST_DIR, cache_dir=tmp_path)
    # ... and so does reloading (the network's random init is drawn from a fork too), so a
    # user's run is the same with and without CollapseMonitor(features="mnist")
    assert torch.equal(torch.random.get_rng_state(), before)
    for p, q in zip(info.model.parameters(), again.model.parameters()):
        assert torch.equal(p, q)
    assert C.ClassifierSettings(epochs=2, limit=256).filename() != tiny.filename()
    state = torch.load(info.path, weights_only=True)
    assert state["settings"]["limit"] == 256
    feats = mnist_features(torch.rand(5, 3, 28, 28), model=again.model)
    assert feats.shape == (5, 3 * 128)


def _cli(*args, env_extra=None, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MODECOLLAPSE_DATA"}
    env.update({"TQDM_DISABLE": "1", "MODECOLLAPSE_CACHE": str(tmp_path / "cache"), **(env_extra or {})})
    return subprocess.run([sys.executable, "-m", "modecollapse", "train", *args], capture_output=True, text=True, env=env, cwd=REPO)


def test_cli_without_data_dir_exits_2(tmp_path):
    r = _cli("--data", "stacked-mnist", "--steps", "1", "--out", str(tmp_path / "run"), tmp_path=tmp_path)
    assert r.returncode == 2 and "MODECOLLAPSE_DATA" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


@needs_mnist
def test_cli_stacked_mnist_end_to_end(tmp_path):
    out = tmp_path / "run"
    r = _cli("--data", "stacked-mnist", "--data-arg", "classifier_limit=256", "--data-arg", "classifier_epochs=1",
             "--data-arg", "images=1000", "--latent-dim", "16", "--steps", "2", "--batch-size", "8", "--eval-every", "1",
             "--eval-samples", "64", "--out", str(out), "--json", "--quiet",
             env_extra={"MODECOLLAPSE_DATA": str(MNIST_DIR)}, tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["num_modes"] == 1000 and summary["status"] == "ok"
    # 64 samples over 1000 equally likely modes: modes captured and KL(p || uniform) from the counts
    counts = summary["counts"]
    n = sum(counts)
    assert len(counts) == 1000 and 1 <= n <= 64 and summary["modes"] == sum(c > 0 for c in counts)
    assert summary["reverse_kl"] == pytest.approx(math.log(1000) + sum(c / n * math.log(c / n) for c in counts if c))
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["arch"] == "dcgan-small" and cfg["data_args"]["data_dir"] == str(MNIST_DIR.resolve())
    assert (out / "grids" / "step_0000001.png").is_file() and (out / "samples.png").is_file()


@needs_mnist
def test_protocol_defaults_resolve_per_benchmark(tmp_path):
    from modecollapse.lab.config import TrainConfig
    from modecollapse.lab.train import resolve

    smnist = resolve(TrainConfig(data="stacked-mnist", data_args={"data_dir": str(MNIST_DIR), "images": 10}))[0]
    ring = resolve(TrainConfig(data="ring"))[0]
    assert (smnist.eval_samples, smnist.arch) == (26000, "dcgan-small")
    assert (ring.eval_samples, ring.arch) == (2500, "mlp")


def test_classifier_features_without_gradients_equal_max_pool():
    """Without gradients the classifier reads the images in chunks and pools with four strided
    views before its ReLUs (faster on CPU); the features must be bit-identical to the path
    training takes (all at once, ReLU, then max_pool2d), ties and all."""
    from modecollapse.models.classifier import DigitCNN, _max_pool2

    torch.manual_seed(0)
    model = DigitCNN().eval()
    x = torch.rand(150, 1, 28, 28) * 2 - 1  # more than FEATURE_CHUNK: read in chunks
    x[:5] = -1.0  # blank images: every pooling window a tie
    with torch.no_grad():
        fast = model.features(x)
    slow = model.features(x).detach()  # gradients on: F.max_pool2d, all images at once
    assert torch.equal(fast, slow)
    y = torch.randn(3, 4, 6, 8)
    assert torch.equal(_max_pool2(y), torch.nn.functional.max_pool2d(y, 2))


@needs_mnist
def test_mnist_features_resize_square_images_of_other_sizes(tmp_path):
    """MNIST GANs often train at 32 pixels (PyTorch-GAN's DCGAN resizes MNIST to 32): square
    images of another size are resized to 28, so the classifier reads them as MNIST; rows that
    are neither C x 784 values nor square images still get one clear sentence."""
    import torch.nn.functional as F

    from modecollapse.features.mnist import mnist_features, to_28
    from modecollapse.idx import load_mnist
    from modecollapse.models import classifier as C

    # a quick classifier (95% test accuracy, 3 s); the shipped one: 99.08% at 28, 98.84% via 32
    model = C.load_or_train_info(C.ClassifierSettings(epochs=1, limit=16384), data_dir=MNIST_DIR, cache_dir=tmp_path).model
    images, labels = load_mnist(MNIST_DIR, "test")
    x, y = images[:2000].float().div(255).unsqueeze(1), labels[:2000]  # (n, 1, 28, 28) in [0, 1]
    at32 = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True, align_corners=False)
    assert to_28(at32).shape == (2000, 1, 28, 28) and to_28(x) is x
    with torch.no_grad():
        acc28 = float((model(x * 2 - 1).argmax(1) == y).double().mean())
        acc32 = float((model(to_28(at32) * 2 - 1).argmax(1) == y).double().mean())
    assert acc28 > 0.9 and acc32 >= acc28 - 0.02, (acc28, acc32)
    assert torch.equal(mnist_features(at32, model=model), mnist_features(to_28(at32), model=model))
    with pytest.raises(ConfigError, match="28 x 28 images"):
        mnist_features(at32.reshape(2000, -1), model=model)  # flat rows of 1,024: no shape to resize from
