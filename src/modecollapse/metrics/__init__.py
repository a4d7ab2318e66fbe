"""Collapse-aware metrics: pure functions on named tensors returning frozen dataclasses."""
from .modes import ModeStats, mode_stats, reverse_kl_from_counts

__all__ = ["ModeStats", "mode_stats", "reverse_kl_from_counts"]
