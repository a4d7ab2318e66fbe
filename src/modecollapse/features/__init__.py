"""Feature extractors: what turns samples (arrays, images) into the rows the metrics compare.

The registry and the generic extractors live in ``base.py``; importing this package also
registers the MNIST classifier's extractors (``mnist.py``).
"""
from . import mnist  # noqa: F401  (registers the mnist extractors)
from .base import EXTRACTORS, Extractor, extract, load_callable, resolve_extractor

__all__ = ["EXTRACTORS", "Extractor", "extract", "load_callable", "resolve_extractor"]
