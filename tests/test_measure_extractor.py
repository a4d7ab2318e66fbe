"""`modecollapse measure --extractor inception-v3` on image folders, ADM-style .npz batches and
tensor files (RANDOM weights in the published file format: the real network, few images),
and the real set's feature cache."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from modecollapse.cli import main
from modecollapse.features import resolve_extractor
from modecollapse.features.inception import FIDInceptionV3
from modecollapse.measure.io import load_network_outputs
from test_features_inception import random_inception_state


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state(seed=3), path)
    return path


def write_pngs(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"{i:03d}.png")


def pixels(n, seed, side=8):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


@pytest.fixture
def count_images(monkeypatch):
    """How many images the Inception network saw, call by call."""
    seen: list[int] = []
    forward = FIDInceptionV3.forward

    def counting(self, images, outputs=("features",)):
        seen.append(len(images))
        return forward(self, images, outputs)

    monkeypatch.setattr(FIDInceptionV3, "forward", counting)
    return seen


def test_measure_folders_prints_paper_metrics_and_caches_the_real_features(tmp_path, weights, count_images, capsys):
    write_pngs(tmp_path / "real", pixels(6, 0))
    write_pngs(tmp_path / "fake", pixels(4, 1))
    argv = ["measure", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"), "--extractor", "inception-v3",
            "--extractor-weights", str(weights), "--feature-cache", str(tmp_path / "cache"), "--isc-splits", "2",
            "--kid-subset-size", "3", "--metrics", "precision,recall,density,coverage,fid,kid,isc", "--batch-size", "4",
            "--workers", "0"]  # the network in this process, where count_images counts
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert sum(count_images) == 10  # real and fake
    for key in ("precision", "recall", "density", "coverage", "fid", "kid", "isc"):
        assert f"  {key} " in text
    assert "2048 features" in text
    cached = list((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith("inception-v3-")
    count_images.clear()
    argv[argv.index("--metrics") + 1] = "kid,isc"  # (fid's 2048 x 2048 eigh is the slow part; not needed again)
    assert main(argv + ["--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sum(count_images) == 4  # the fake set only: the real features came from the cache
    assert result["n_real"] == 6 and result["n_fake"] == 4 and result["dim"] == 2048
    assert "kid" in result
    # the Inception Score of the fake images' logits, from the network directly (PNG keeps the pixels)
    from modecollapse.features import logits_output
    from modecollapse.metrics import isc

    ext = resolve_extractor("inception-v3", weights=weights)
    logits = ext.outputs_of(torch.from_numpy(pixels(4, 1)).permute(0, 3, 1, 2), (logits_output(ext),))[logits_output(ext)]
    assert result["isc"] == pytest.approx(isc(logits=logits, splits=2, seed=2020).isc, rel=1e-6)


def test_folder_npz_batch_and_tensor_give_the_same_features(tmp_path, weights):
    imgs = pixels(3, 2, side=6)
    write_pngs(tmp_path / "f", imgs)
    np.savez(tmp_path / "batch.npz", arr_0=imgs)  # the ADM reference-batch layout: uint8 NHWC
    torch.save(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255, tmp_path / "t.pt")  # NCHW in [0, 1]
    ext = resolve_extractor("inception-v3", weights=weights)
    got = [load_network_outputs(str(tmp_path / p), ext, outputs=("features",), batch_size=8)["features"]
           for p in ("f", "batch.npz", "t.pt")]
    assert got[0].shape == (3, 2048)
    assert torch.equal(got[0], got[1]) and torch.equal(got[0], got[2])


@pytest.mark.parametrize("extra, message", [
    (["--extractor-weights", "missing.pth"], "does not exist"),
    (["--extractor", "identity", "--extractor-weights", "w.pth"], "pretrained --extractor"),
    (["--metrics", "isc"], "needs class logits"),
    pytest.param(["--device", "cuda"], "CUDA is not available", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="a GPU is here")),
])
def test_bad_input_exit_2(tmp_path, weights, capsys, extra, message):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((12, 4)).astype(np.float32))
    argv = ["measure", "--real", str(tmp_path / "x.npy"), "--fake", str(tmp_path / "x.npy")]
    if "--extractor" not in extra and "isc" not in extra:
        argv += ["--extractor", "inception-v3"]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_images_in_minus_one_one_exit_2(tmp_path, weights, capsys):
    torch.save(torch.rand(2, 3, 8, 8) * 2 - 1, tmp_path / "x.pt")
    argv = ["measure", "--fake", str(tmp_path / "x.pt"), "--extractor", "inception-v3", "--extractor-weights",
            str(weights), "--metrics", "isc", "--isc-splits", "1"]
    assert main(argv) == 2
    assert "(x + 1) / 2" in capsys.readouterr().err


def test_measure_with_dinov2_vits14(tmp_path, capsys, monkeypatch):
    from modecollapse.features.dinov2 import CONFIGS, DinoViT

    torch.manual_seed(0)
    net = DinoViT(CONFIGS["vits14"])
    with torch.no_grad():  # random (not zero) position embeddings and tokens
        for p in (net.pos_embed, net.cls_token):
            p.normal_(0, 0.02)
    torch.save(net.state_dict(), tmp_path / "dinov2_vits14_pretrain.pth")
    np.savez(tmp_path / "real.npz", arr_0=pixels(5, 3))
    np.savez(tmp_path / "fake.npz", arr_0=pixels(5, 4))
    argv = ["measure", "--real", str(tmp_path / "real.npz"), "--fake", str(tmp_path / "fake.npz"), "--extractor",
            "dinov2-vits14", "--metrics", "fid,kid,precision", "--kid-subset-size", "5", "--json",
            "--feature-cache", str(tmp_path / "cache")]
    monkeypatch.setenv("MODECOLLAPSE_WEIGHTS", str(tmp_path))  # found by its usual name there
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dim"] == 384 and "isc" not in result
    # FID of the cached real features and the fake ones from the network directly
    from modecollapse.metrics.fid import fid

    (cached,) = (tmp_path / "cache").iterdir()
    real = torch.load(cached, weights_only=True)["outputs"]["features"]
    fake = load_network_outputs(str(tmp_path / "fake.npz"), resolve_extractor("dinov2-vits14"), outputs=("features",))
    assert result["fid"] == pytest.approx(fid(real=real, fake=fake["features"]).fid, rel=1e-6)
