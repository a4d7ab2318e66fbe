"""Anti-collapse techniques, each registered under a short name in :data:`TECHNIQUES`.

Importing this package registers every built-in technique.
"""
from . import penalties, weight_clip  # noqa: F401  (registration)
from .base import DBatch, GBatch, HookTable, Technique, TECHNIQUES, register

__all__ = ["DBatch", "GBatch", "HookTable", "TECHNIQUES", "Technique", "register"]
