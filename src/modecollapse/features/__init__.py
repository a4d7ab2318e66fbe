"""Feature extractors: what turns samples (arrays, images) into the rows the metrics compare.

The registry and the generic extractors live in ``base.py``; the pretrained networks in
``inception.py`` (the FID Inception graph) and ``dinov2.py`` (DINOv2 ViTs), their weight files
in ``weights.py``; importing this package also registers the MNIST classifier's extractors
(``mnist.py``).
"""
from . import mnist  # noqa: F401  (registers the mnist extractors)
from .base import (
                   EXTRACTORS,
                   Extractor,
                   extract,
                   extract_batches,
                   extract_outputs,
                   load_callable,
                   logits_output,
                   output_names,
                   resolve_extractor,
)

__all__ = ["EXTRACTORS", "Extractor", "extract", "extract_batches", "extract_outputs", "load_callable", "logits_output",
           "output_names", "resolve_extractor"]
