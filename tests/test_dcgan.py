"""DCGAN-style models, the architecture registry, image folders and image grids."""
import dataclasses

import numpy as np
import pytest
import torch

from modecollapse.errors import ConfigError
from modecollapse.lab.config import TechniqueSpec, TrainConfig
from modecollapse.models import DCGANDiscriminator, DCGANGenerator


@pytest.fixture
def image_dir(tmp_path):
    """Two subfolders (modes) of six 8 x 8 images: dark ones and bright ones."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(["dark", "bright"]):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(6):
            a = np.full((8, 8, 3), 30 + 180 * k, np.uint8) + rng.integers(0, 20, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / "imgs" / name / f"{i}.png")
    return tmp_path / "imgs"


def _cfg(image_dir, **kw):
    base = dict(data="image-folder", data_args={"path": str(image_dir), "side": 8}, latent_dim=8, steps=2,
                batch_size=8, eval_every=1, eval_samples=16, checkpoint_every=1, seed=1)
    return TrainConfig(**{**base, **kw})


def test_generator_shapes_and_range():
    g = DCGANGenerator(16, (3, 28, 28), width=8)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, 3 * 28 * 28) and x.abs().max() <= 1


@pytest.mark.parametrize("norm", ["none", "batch", "layer", "instance"])
def test_discriminator_norms_features_and_packing(norm):
    d = DCGANDiscriminator(3 * 28 * 28, (3, 28, 28), width=8, norm=norm)
    x = torch.randn(4, 3 * 28 * 28)
    assert d(x).shape == (4,) and d.features(x).shape == (4, d.feature_dim)
    packed = DCGANDiscriminator(2 * 3 * 28 * 28, (3, 28, 28), width=8, norm=norm)  # PacGAN: 6 channels
    assert packed.channels == 6 and packed(torch.randn(4, 2 * 3 * 28 * 28)).shape == (4,)


def test_bad_norm_and_side_are_config_errors():
    with pytest.raises(ConfigError, match="normalisation"):
        DCGANDiscriminator(3 * 64, (3, 8, 8), width=4, norm="group")
    with pytest.raises(ConfigError, match="side"):
        DCGANGenerator(4, (3, 7, 7), width=4)


def test_arch_auto_and_mismatch(image_dir):
    from modecollapse.lab.train import resolve

    assert resolve(_cfg(image_dir))[0].arch == "dcgan-small"
    assert resolve(_cfg(image_dir, arch="mlp"))[0].arch == "mlp"
    with pytest.raises(ConfigError, match="image benchmark"):
        resolve(TrainConfig(data="ring", arch="dcgan"))
    with pytest.raises(ConfigError, match="unknown architecture"):
        resolve(TrainConfig(data="ring", arch="resnet"))


def test_image_folder_modes_and_assignment(image_dir):
    from modecollapse.data import build_dataset

    ds = build_dataset("image-folder", {"path": str(image_dir), "side": 8})
    assert ds.num_modes == 2 and ds.mode_names == ["bright", "dark"] and ds.image_shape == (3, 8, 8)
    x = ds.sample_modes(torch.tensor([0, 1, 1, 0]), torch.Generator().manual_seed(0))
    assert ds.assign(x).mode.tolist() == [0, 1, 1, 0]
    with pytest.raises(ConfigError, match="does not exist"):
        build_dataset("image-folder", {"path": str(image_dir / "nope")})


@pytest.mark.parametrize("techniques", [
    [],
    [TechniqueSpec("pack", {"m": 2})],
    [TechniqueSpec("minibatch-std", {}), TechniqueSpec("pack", {"m": 2})],
    [TechniqueSpec("feature-matching", {})],
    [TechniqueSpec("minibatch-disc", {"kernels": 4, "kernel_dim": 3})],
    [TechniqueSpec("gp", {"kind": "r1", "weight": 1.0})],
])
def test_techniques_train_with_dcgan(image_dir, techniques):
    from modecollapse.lab.train import build_run, train_step

    run = build_run(_cfg(image_dir, techniques=techniques, d_norm="layer"))
    for _ in range(2):
        d_loss, g_loss = train_step(run)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)


def test_training_writes_a_grid_each_evaluation(image_dir, tmp_path):
    from PIL import Image

    from modecollapse.lab.train import train

    out = tmp_path / "run"
    summary = train(_cfg(image_dir), out, progress=False)
    assert summary["status"] == "ok" and summary["num_modes"] == 2
    grids = sorted((out / "grids").glob("*.png"))
    assert [g.name for g in grids] == ["step_0000001.png", "step_0000002.png"]
    assert Image.open(grids[0]).mode == "RGB"
    assert np.load(out / "samples.npy").shape == (16, 3 * 8 * 8)
    resumed = train(dataclasses.replace(_cfg(image_dir), steps=3), out, resume=True, progress=False)
    assert resumed["steps"] == 3
