"""The MNIST digit classifier that counts Stacked MNIST modes, trained by the project itself.

The Stacked MNIST protocol (Metz et al. 2017, Unrolled GANs; Srivastava et al. 2017,
VEEGAN; Lin et al. 2018, PacGAN) classifies each colour channel of a generated image with a
pretrained MNIST classifier; the triple of predictions is the image's mode. No weights are
downloaded: a small CNN is trained here on the MNIST training set (a few minutes on a CPU)
and cached in ``cache_dir`` under a file name that holds a hash of its training settings,
so a change of settings never reuses a stale network. The file is a plain dict of tensors
and numbers, reloaded with ``torch.load(..., weights_only=True)``.

The network's penultimate layer (128 features) doubles as a feature extractor for digit-like
images (:mod:`modecollapse.features.mnist`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..fileio import atomic_torch_save
from ..idx import load_mnist, to_signed

CACHE_ENV = "MODECOLLAPSE_CACHE"
#: images the classifier reads at a time without gradients: a chunk's activations stay in the
#: CPU's caches, with the same values bit for bit (the timings behind the size:
#: docs/results/performance.md, "The digit classifier's features")
FEATURE_CHUNK = 64
VERSION = 1  # bump when the network or the training recipe changes


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, else ``$MODECOLLAPSE_CACHE``, else ``~/.cache/modecollapse``."""
    text = str(cache_dir) if cache_dir else os.environ.get(CACHE_ENV, "")
    return Path(text).expanduser().resolve() if text else Path.home() / ".cache" / "modecollapse"


def _max_pool2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` for even sizes, bit for bit, as the larger of four strided views,
    several times faster on CPU (docs/results/performance.md). Used without gradients only:
    with them, ties would share the gradient where max_pool2d gives it to one input, and the
    cached classifier's training would change."""
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class DigitCNN(nn.Module):
    """x (batch, 1, 28, 28) in [-1, 1] -> logits (batch, 10); ``features`` gives (batch, 128)."""

    feature_dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=2)  # (b, 16, 28, 28) -> pool (b, 16, 14, 14)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)  # (b, 32, 14, 14) -> pool (b, 32, 7, 7)
        self.fc = nn.Linear(32 * 7 * 7, self.feature_dim)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(self.feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled():
            if len(x) > FEATURE_CHUNK:  # in chunks: the same values, faster (see FEATURE_CHUNK)
                return torch.cat([self.features(x[a:a + FEATURE_CHUNK]) for a in range(0, len(x), FEATURE_CHUNK)])
            # max-pool before the ReLU: the same values bit for bit (the ReLU is monotone, so it
            # commutes with a max), on a quarter of the elements, in place, so less CPU
            # (docs/results/performance.md)
            x = _max_pool2(self.conv1(x)).relu_()
            x = _max_pool2(self.conv2(x)).relu_()
            return F.relu(self.fc(x.flatten(1)))
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.features(x)))


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained; their hash names the cached file."""

    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    limit: int = 0  # training images used (0 = all 60,000); small values are for tests
    shift: int = 0  # random shifts of up to this many pixels (per batch) during training (see docs/stacked_mnist.md)

    def digest(self) -> str:
        text = json.dumps({**dataclasses.asdict(self), "version": VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def filename(self) -> str:
        return f"mnist-classifier-v{VERSION}-{self.digest()}.pt"


@dataclass(frozen=True)
class TrainedClassifier:
    model: DigitCNN
    test_accuracy: float
    train_seconds: float
    path: Path


def _batches(n: int, size: int, gen: torch.Generator):
    order = torch.randperm(n, generator=gen)
    for a in range(0, n, size):
        yield order[a : a + size]


@torch.no_grad()
def accuracy(model: DigitCNN, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` (n, 28, 28) uint8 classified as ``labels`` (n,)."""
    model.eval()
    right = 0
    for a in range(0, len(images), 2000):
        x = to_signed(images[a : a + 2000]).unsqueeze(1)
        right += int((model(x).argmax(1) == labels[a : a + 2000]).sum())
    return right / max(len(images), 1)


def train_classifier(settings: ClassifierSettings, data_dir: str | os.PathLike | None, *, progress: bool = False) -> tuple[DigitCNN, float, float]:
    """Trains a :class:`DigitCNN` on MNIST; returns (model, test accuracy, seconds). Adam, with the
    learning rate halved each epoch after the first, optionally random shifts of up to ``shift`` pixels.

    The test accuracy of the defaults (4 epochs, no shifts) and of other settings:
    docs/stacked_mnist.md, "The mode classifier"."""
    images, labels = load_mnist(data_dir, "train")
    test_images, test_labels = load_mnist(data_dir, "test")
    if settings.limit:
        images, labels = images[: settings.limit], labels[: settings.limit]
    gen = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    model = DigitCNN()
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    started = time.perf_counter()
    for epoch in range(settings.epochs):
        for group in opt.param_groups:
            group["lr"] = settings.lr * (0.5 ** max(epoch, 0))
        model.train()
        for i, idx in enumerate(_batches(len(images), settings.batch_size, gen)):
            x = to_signed(images[idx]).unsqueeze(1)  # (b, 1, 28, 28)
            # Shifts make the classifier robust to the slightly off-centre digits a GAN draws.
            if settings.shift:
                dx, dy = (int(v) for v in torch.randint(-settings.shift, settings.shift + 1, (2,), generator=gen))
                x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))  # MNIST borders are blank: the wrap is harmless
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if progress and i % 100 == 0:
                sys.stderr.write(f"\rclassifier epoch {epoch + 1}/{settings.epochs} batch {i} loss {float(loss.detach()):.3f}   ")
        if progress:
            sys.stderr.write("\n")
    seconds = time.perf_counter() - started
    acc = accuracy(model, test_images, test_labels)
    model.eval()
    return model, acc, seconds


def load_or_train_info(
    settings: ClassifierSettings = ClassifierSettings(),
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> TrainedClassifier:
    """The cached classifier for ``settings`` with its test accuracy, training time and file
    path; trained (and cached) first when the cache has none."""
    path = resolve_cache_dir(cache_dir) / settings.filename()
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            # its random init is overwritten at once: drawn from a fork of the global random
            # stream, so loading the classifier (e.g. in CollapseMonitor(features="mnist")) leaves
            # the caller's training run on the path it takes without it
            with torch.random.fork_rng(devices=[]):
                model = DigitCNN()
            model.load_state_dict(state["state_dict"])
        except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
            raise ConfigError(f"the cached classifier {path} is unreadable ({type(err).__name__}); delete it to retrain.") from None
        model.eval()
        return TrainedClassifier(model, float(state["test_accuracy"]), float(state["train_seconds"]), path)
    if progress is None:
        progress = sys.stderr.isatty()
    sys.stderr.write(f"modecollapse: training the MNIST mode classifier once (cached as {path}) ...\n")
    # first use may come from inside an evaluation under no_grad; training seeds the global
    # random stream, which is the caller's: forked, so their run is not re-seeded
    with torch.enable_grad(), torch.random.fork_rng(devices=[]):
        model, acc, seconds = train_classifier(settings, data_dir, progress=progress)
    state = {
        "state_dict": model.state_dict(),
        "settings": dataclasses.asdict(settings),
        "version": VERSION,
        "test_accuracy": acc,
        "train_seconds": seconds,
    }
    try:
        atomic_torch_save(state, path)
    except OSError as err:
        raise ConfigError(f"cannot write the classifier cache {path} ({err.strerror}); set {CACHE_ENV} or cache_dir to a writable folder.") from None
    sys.stderr.write(f"modecollapse: classifier test accuracy {acc:.4f}, trained in {seconds:.0f}s\n")
    return TrainedClassifier(model, acc, seconds, path)


def load_or_train(settings: ClassifierSettings = ClassifierSettings(), *, data_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None, progress: bool | None = None) -> DigitCNN:
    """Just the network of :func:`load_or_train_info`."""
    return load_or_train_info(settings, data_dir=data_dir, cache_dir=cache_dir, progress=progress).model
