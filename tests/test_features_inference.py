"""How the pretrained networks are run (features/inference.py, features/kernels.py): the fused
oneDNN kernels and the plain PyTorch path agree, results do not depend on the batch size or the
CPU chunks, and the reduced precisions are opt-in, refused where they cannot run, and leave the
caller's settings as they were."""
from __future__ import annotations

import pytest
import torch

from modecollapse.errors import ConfigError
from modecollapse.features import extract_outputs, kernels, resolve_extractor
from modecollapse.features.dinov2 import DinoViT, ViTConfig, fold_layer_scale
from modecollapse.features.inference import CPU_CHUNK, check_precision, reduced_precision
from reference_impls import random_inception_state


@pytest.fixture(scope="module")
def inception(tmp_path_factory):
    path = tmp_path_factory.mktemp("inc") / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state(), path)
    return resolve_extractor("inception-v3", weights=path)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(7)
    return torch.randint(0, 256, (CPU_CHUNK + 2, 3, 16, 20), dtype=torch.uint8, generator=g)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_batch_size_and_chunks_do_not_change_inception_outputs(inception, images):
    whole = extract_outputs(images, inception, outputs=("features", "logits_unbiased"), batch_size=len(images))
    small = extract_outputs(images, inception, outputs=("features", "logits_unbiased"), batch_size=3)
    for k in whole:
        assert rel(small[k], whole[k]) < 1e-5, k
    assert not whole["features"].is_inference()  # ordinary tensors: metrics may change them in place
    whole["features"].add_(0)


def test_plain_pytorch_path_equals_fused_kernels(inception, images, monkeypatch):
    if not kernels.ONEDNN:
        pytest.skip("this PyTorch has no oneDNN fused operators")
    fused = inception(images[:2])
    monkeypatch.setattr(kernels, "ONEDNN", False)
    assert rel(inception(images[:2]), fused) < 1e-5


@pytest.mark.parametrize("onednn", [True, False])
def test_dinov2_folded_class_token_path_equals_the_plain_block(onednn, monkeypatch):
    """LayerScale folded and the last block on the class token alone give the class token the
    whole plain network gives, through either kernel path."""
    if onednn and not kernels.ONEDNN:
        pytest.skip("this PyTorch has no oneDNN fused operators")
    monkeypatch.setattr(kernels, "ONEDNN", onednn)
    torch.manual_seed(0)
    net = DinoViT(ViTConfig(64, 2, 4))
    with torch.no_grad():
        for blk in net.blocks:
            blk.ls1.gamma.uniform_(0.5, 1.5)
            blk.ls2.gamma.uniform_(0.5, 1.5)
    x = torch.randn(3, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        t = net.patch_embed(x)
        t = torch.cat([net.cls_token.expand(3, -1, -1), t], 1) + net.position_embedding(4, 4)
        for blk in net.blocks:
            t = blk(t)  # every token through every block
        plain = net.norm(t)[:, 0]
        folded = fold_layer_scale(net)(x)
    assert rel(folded, plain) < 1e-5


def test_precision_is_float32_unless_asked_and_checked_at_the_boundary(inception):
    assert inception.precision == "float32"
    with pytest.raises(ConfigError, match="GPU setting"):
        check_precision("tf32", "cpu")
    with pytest.raises(ConfigError, match="float32, tf32, bf16"):
        check_precision("fp8", "cpu")
    with pytest.raises(ConfigError, match="pretrained networks"):
        resolve_extractor("identity", precision="bf16")


def test_float32_on_a_gpu_turns_tf32_off_for_the_pass_and_restores_the_callers_setting():
    """PyTorch lets cuDNN use TF32 by default; float32 must mean float32 (the flags are plain
    settings, so this runs without a GPU)."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cudnn.allow_tf32 = True
    try:
        with reduced_precision("float32", "cuda"):
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.allow_tf32
        with reduced_precision("tf32", "cuda"):
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert not torch.backends.cuda.matmul.allow_tf32 or before[0]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_bf16_opt_in_runs_on_cpu_and_changes_the_features_a_little(tmp_path, images):
    path = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state(), path)
    f32 = resolve_extractor("inception-v3", weights=path)
    bf16 = resolve_extractor("inception-v3", weights=path, precision="bf16")
    assert bf16.cache_key != f32.cache_key  # reduced-precision features never share a cache file
    a, b = f32(images[:2]), bf16(images[:2])
    assert b.dtype == torch.float32
    assert 0 < rel(b, a) < 0.1
