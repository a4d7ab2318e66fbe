"""The dinov2-* extractors against the official DINOv2 model code (the `dinov2` pip package,
dinov2/models/vision_transformer.py, the code torch hub's `facebookresearch/dinov2` builds the
published models with), holding the same RANDOM weights saved as the official state dict."""
from __future__ import annotations

import unittest.mock as um

import numpy as np
import pytest
import torch

from modecollapse.features import resolve_extractor
from modecollapse.features.dinov2 import CONFIGS, IMAGENET_MEAN, IMAGENET_STD, DinoViT, ViTConfig
from reference_impls import dinov2_vision_transformer, official, randomise


@pytest.mark.parametrize("swiglu", [False, True])
def test_class_token_equals_official_code(swiglu):
    """A narrow, 2-block ViT of each feed-forward kind (Mlp: S/B/L; SwiGLU: g), on a 224 input
    (so the 37 x 37 position embeddings are interpolated as the official code does)."""
    vits = dinov2_vision_transformer()
    ref = randomise(official(vits, dim=64, depth=2, heads=4, swiglu=swiglu))
    ours = DinoViT(ViTConfig(64, 2, 4, swiglu=swiglu))
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = ref(x), ours(x)
    assert float((a - b).abs().max() / a.abs().max()) < 1e-4
    assert float(a.std(0).mean()) > 1e-2  # not a constant output


def test_vits14_extractor_from_a_weight_file_equals_official(tmp_path):
    """The registered dinov2-vits14 on uint8 images, its weights from an official-format file."""
    vits = dinov2_vision_transformer()
    torch.manual_seed(0)
    ref = randomise(official(vits, dim=384, depth=12, heads=6), seed=2)
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(ref.state_dict(), path)
    ext = resolve_extractor("dinov2-vits14", weights=path)
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    x = ext.preprocess(img)
    assert x.shape == (2, 3, 224, 224)
    with torch.no_grad():
        theirs = ref(x)
    got = ext(img)
    assert got.shape == (2, 384)
    assert float((got - theirs).abs().max() / theirs.abs().max()) < 1e-4


def test_key_names_and_shapes_of_all_four_published_models():
    """Every published model's state dict (built on the meta device: no memory) has our names and shapes."""
    vits = dinov2_vision_transformer()
    builders = {"vits14": vits.vit_small, "vitb14": vits.vit_base, "vitl14": vits.vit_large, "vitg14": vits.vit_giant2}
    for arch, build in builders.items():
        with torch.device("meta"):
            ours = DinoViT(CONFIGS[arch])
        # the official constructor calls .item() on a linspace and initialises weights: neither works on meta
        with um.patch.object(vits.DinoVisionTransformer, "init_weights", lambda self: None), \
                um.patch.object(torch, "linspace", lambda a, b, n: [torch.tensor(0.0, device="cpu")] * n), \
                torch.device("meta"):
            ref = build(patch_size=14, img_size=518, init_values=1.0, block_chunks=0,
                        ffn_layer="swiglufused" if arch == "vitg14" else "mlp")
        shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == shapes, arch
    assert CONFIGS["vitl14"].dim == 1024


def test_preprocessing_is_pil_bicubic_then_imagenet_normalisation():
    from PIL import Image

    from modecollapse.features.dinov2 import DinoExtractor

    ext = DinoExtractor(DinoViT(ViTConfig(32, 1, 2)), name="dinov2-test", weights_path=None)
    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    want = np.asarray(Image.fromarray(img).resize((224, 224), Image.BICUBIC)).astype(np.float32) / 255
    want = (want - np.array(IMAGENET_MEAN, dtype=np.float32)) / np.array(IMAGENET_STD, dtype=np.float32)
    got = ext.preprocess(torch.from_numpy(img).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    assert np.allclose(got, want, atol=1e-6)
