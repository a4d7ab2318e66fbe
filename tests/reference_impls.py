"""The reference implementations our pretrained extractors and the Inception Score are
compared with, loaded without the parts that need torchvision (which does not import beside
this torch) or a download.

* torch-fidelity (pip, installed with --no-deps by `make test`): its package __init__ and its
  utils module import torchvision, so the package is registered as a bare namespace over its
  folder and the module files that are pure torch (the Inception port, its TF-1.x resize, the
  FID/KID/IS metric functions) are imported from it; ``torch_fidelity.utils`` is stubbed with
  the names the metric files import and never call on features.
* dinov2 (pip, installed with --no-deps): the official DINOv2 model code
  (dinov2/models/vision_transformer.py and dinov2/layers), which imports only torch when
  xformers is absent.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import pytest


def torch_fidelity():
    """A namespace with FeatureExtractorInceptionV3, fid_statistics_to_metric,
    fid_features_to_statistics, kid_features_to_metric and isc_features_to_metric; skips the
    test when torch-fidelity is not installed."""
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch-fidelity is not installed (make test installs it)")
    saved = {k: v for k, v in sys.modules.items() if k == "torch_fidelity" or k.startswith("torch_fidelity.")}
    try:
        pkg = types.ModuleType("torch_fidelity")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["torch_fidelity"] = pkg
        stub = types.ModuleType("torch_fidelity.utils")
        for name in ("extract_featuresdict_from_input_id_cached", "create_feature_extractor", "resolve_feature_extractor",
                     "resolve_feature_layer_for_metric", "get_cacheable_input_name", "cache_lookup_one_recompute_on_miss"):
            setattr(stub, name, None)
        sys.modules["torch_fidelity.utils"] = stub
        inception = importlib.import_module("torch_fidelity.feature_extractor_inceptionv3")
        fid = importlib.import_module("torch_fidelity.metric_fid")
        kid = importlib.import_module("torch_fidelity.metric_kid")
        isc = importlib.import_module("torch_fidelity.metric_isc")
    finally:
        for k in [k for k in sys.modules if k == "torch_fidelity" or k.startswith("torch_fidelity.")]:
            del sys.modules[k]
        sys.modules.update(saved)
    return types.SimpleNamespace(
        FeatureExtractorInceptionV3=inception.FeatureExtractorInceptionV3,
        fid_features_to_statistics=fid.fid_features_to_statistics,
        fid_statistics_to_metric=fid.fid_statistics_to_metric,
        kid_features_to_metric=kid.kid_features_to_metric,
        isc_features_to_metric=isc.isc_features_to_metric,
    )


def dinov2_vision_transformer():
    """The official dinov2.models.vision_transformer module; skips when dinov2 is not installed."""
    if importlib.util.find_spec("dinov2") is None:
        pytest.skip("the dinov2 package is not installed (make test installs it)")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "xFormers not available"
        return importlib.import_module("dinov2.models.vision_transformer")
