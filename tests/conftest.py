import os
from pathlib import Path

import pytest
import torch

# Tests run on tiny models; one thread keeps them fast and deterministic on shared CPUs.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
# ../shared/data/mnist beside the clone (CI), or wherever $MODECOLLAPSE_DATA points
MNIST_DIR = Path(os.environ.get("MODECOLLAPSE_DATA") or REPO.parent / "shared" / "data" / "mnist")


@pytest.fixture
def tiny_cfg():
    """A ring run small enough to train in well under a second."""
    from modecollapse import TrainConfig

    return TrainConfig(
        data="ring", steps=30, batch_size=32, g_width=16, d_width=16, g_depth=1, d_depth=1,
        eval_every=10, eval_samples=200, checkpoint_every=10, seed=3,
    )


@pytest.fixture(autouse=True)
def _no_tty_progress(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    yield
