"""The reference implementations our pretrained extractors, KID and the Inception Score are
compared with, loaded without the parts that need torchvision (which does not import beside
this torch) or a download.

Both packages are installed by ``make test`` with ``pip install --no-deps --target
.venv/refs`` (the Makefile's ``REFS``): a folder outside ``sys.path``, so nothing imports
them by accident. Installed into site-packages, torch-fidelity made every ``import
torchmetrics`` (and so ``import lightning``) try to load torchvision, because torchmetrics
imports torch_fidelity whenever it is available and torch_fidelity's package ``__init__``
imports torchvision.

* torch-fidelity: registered as a bare namespace over its folder, and the module files that
  are pure torch (the Inception port, its TF-1.x resize, the FID/KID/IS metric functions)
  imported from it; ``torch_fidelity.utils`` is stubbed with the names the metric files
  import and never call on features.
* dinov2: the official DINOv2 model code (dinov2/models/vision_transformer.py and
  dinov2/layers), which imports only torch when xformers is absent, imported the same way.

Also the random weights both sides of a comparison load (tests and benchmarks/ use them):
:func:`random_inception_state` in torch-fidelity's file layout, and :func:`official` /
:func:`randomise` for a DINOv2 ViT in the official layout.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from functools import partial
from pathlib import Path

import pytest
import torch

#: where ``make test`` installs the reference packages (``pip install --target``)
REFS = Path(os.environ.get("MODECOLLAPSE_REFS", Path(sys.prefix) / "refs"))


def _package(name: str) -> Path | None:
    folder = REFS / name
    return folder if (folder / "__init__.py").exists() else None


def _import_from(name: str, modules: list[str], stubs: dict[str, list[str]]) -> list[types.ModuleType] | None:
    """``modules`` of package ``name`` (from REFS), the package itself a bare namespace (its
    ``__init__`` never runs) and ``stubs`` modules holding None under the listed names;
    sys.modules is left as it was found. None when the package is not in REFS."""
    folder = _package(name)
    if folder is None:
        return None
    saved = {k: v for k, v in sys.modules.items() if k == name or k.startswith(name + ".")}
    try:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(folder)]
        sys.modules[name] = pkg
        for stub_name, names in stubs.items():
            stub = types.ModuleType(stub_name)
            for n in names:
                setattr(stub, n, None)
            sys.modules[stub_name] = stub
        return [importlib.import_module(m) for m in modules]
    finally:
        for k in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[k]
        sys.modules.update(saved)


_FIDELITY_UTILS = ["extract_featuresdict_from_input_id_cached", "create_feature_extractor", "resolve_feature_extractor",
                   "resolve_feature_layer_for_metric", "get_cacheable_input_name", "cache_lookup_one_recompute_on_miss"]


def load_torch_fidelity() -> types.SimpleNamespace | None:
    """A namespace with FeatureExtractorInceptionV3, fid_statistics_to_metric,
    fid_features_to_statistics, kid_features_to_metric, kernel_mmd, isc_features_to_metric and
    interpolate_bilinear_2d_like_tensorflow1x; None when torch-fidelity is not in REFS."""
    found = _import_from("torch_fidelity", ["torch_fidelity.feature_extractor_inceptionv3", "torch_fidelity.metric_fid",
                                            "torch_fidelity.metric_kid", "torch_fidelity.metric_isc",
                                            "torch_fidelity.interpolate_compat_tensorflow"],
                         {"torch_fidelity.utils": _FIDELITY_UTILS})
    if found is None:
        return None
    inception, fid, kid, isc, resize = found
    return types.SimpleNamespace(
        FeatureExtractorInceptionV3=inception.FeatureExtractorInceptionV3,
        fid_features_to_statistics=fid.fid_features_to_statistics,
        fid_statistics_to_metric=fid.fid_statistics_to_metric,
        kid_features_to_metric=kid.kid_features_to_metric,
        kernel_mmd=kid.kernel_mmd,
        isc_features_to_metric=isc.isc_features_to_metric,
        interpolate_bilinear_2d_like_tensorflow1x=resize.interpolate_bilinear_2d_like_tensorflow1x,
    )


def torch_fidelity() -> types.SimpleNamespace:
    """:func:`load_torch_fidelity`, skipping the test when torch-fidelity is not installed."""
    ns = load_torch_fidelity()
    if ns is None:
        pytest.skip(f"torch-fidelity is not in {REFS} (make test installs it)")
    return ns


def dinov2_vision_transformer():
    """The official dinov2.models.vision_transformer module; skips when dinov2 is not installed."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "xFormers not available"
        found = _import_from("dinov2", ["dinov2.models.vision_transformer"], {})
    if found is None:
        pytest.skip(f"the dinov2 package is not in {REFS} (make test installs it)")
    return found[0]


def random_inception_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """Random weights with the names and shapes of torch-fidelity's Inception file (no
    num_batches_tracked, as its converter writes them); BatchNorm statistics random too, scaled so
    activations stay O(1)."""
    from modecollapse.features.inception import FIDInceptionV3

    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in FIDInceptionV3().state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith(("running_var", "bn.weight")):
            state[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith(("running_mean", "bn.bias")):
            state[k] = torch.randn(v.shape, generator=g) * 0.1
        elif v.ndim == 4:
            state[k] = torch.randn(v.shape, generator=g) * (2.0 / v[0].numel()) ** 0.5
        else:
            state[k] = torch.randn(v.shape, generator=g) * 0.02
    return state


def official(vits, *, dim, depth, heads, swiglu=False, img_size=518):
    """The official ViT (``vits``: :func:`dinov2_vision_transformer`) as torch hub builds the
    pretrained ones (patch 14, img_size 518, layer scale 1.0, block_chunks 0), with a given
    width and depth."""
    return vits.DinoVisionTransformer(
        img_size=img_size, patch_size=14, embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=4, init_values=1.0,
        ffn_layer="swiglufused" if swiglu else "mlp", block_chunks=0,
        block_fn=partial(vits.Block, attn_class=vits.MemEffAttention)).eval()


def randomise(model, seed=1):
    """``model``'s parameters random, in place (LayerNorm scales near 1, LayerScales and tokens larger); returns it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, p in model.state_dict().items():
            base = 1.0 if k.endswith(("norm1.weight", "norm2.weight")) or k == "norm.weight" else 0.0
            p.copy_(base + torch.randn(p.shape, generator=g) * (0.5 if "gamma" in k or "norm" in k or "token" in k else 0.05))
    return model
