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
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import pytest


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
