"""Anti-collapse techniques, each registered under a short name in :data:`TECHNIQUES`.

Importing this package registers every built-in technique. ``base.py`` documents the
interface (:class:`TechniqueContext`) and the order they run in (:func:`library_order`).
"""
from . import (  # noqa: F401  (registration)
    batch_aware,
    data_side,
    dynamics,
    generator_objectives,
    mixture,
    penalties,
    schedules,
    spectral_norm,
    weight_clip,
)
from .base import TECHNIQUES, DBatch, GBatch, HookTable, Technique, TechniqueContext, library_order, register

__all__ = ["DBatch", "GBatch", "HookTable", "TECHNIQUES", "Technique", "TechniqueContext", "library_order", "register"]
