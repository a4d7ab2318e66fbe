"""Benchmarks with known modes. ``build_dataset(name, params)`` returns a :class:`Benchmark`."""
from __future__ import annotations

from typing import Any

from ..registry import params_from_dict

# registration, in the order --help lists the benchmarks: the mixtures first, images last
from . import (  # noqa: F401,E402
    image_folder,
    mnist,
    synthetic,  # noqa: F401,I001
)
from .base import DATASETS, Assignment, Benchmark, GaussianMixture, hq_radius


def dataset_params(name: str, values: dict[str, Any] | None = None) -> Any:
    """The validated parameter dataclass of dataset ``name``."""
    return params_from_dict(DATASETS.get(name), values or {}, f"dataset {name!r}")


def build_dataset(name: str, values: dict[str, Any] | None = None) -> Benchmark:
    return dataset_params(name, values).build()


__all__ = ["Assignment", "Benchmark", "DATASETS", "GaussianMixture", "build_dataset", "dataset_params", "hq_radius"]
