"""Streaming metrics across processes: one all-gather of each process's state.

A streaming metric (``update`` / ``compute`` / ``reset`` / ``merge``) whose ``compute`` runs
while ``torch.distributed`` is initialised with more than one process gathers every
process's state, merges them in rank order and computes on the merged state, so every rank
gets the same number, equal to that of one process fed rank 0's batches, then rank 1's, and
so on. States are small dicts of CPU tensors, sent with ``all_gather_object`` (gloo or
NCCL); each rank must call ``compute`` (a collective), as with torchmetrics' ``sync``.
"""
from __future__ import annotations

from typing import Any

import torch


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without an initialised process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def gather_states(state: Any) -> list[Any]:
    """Every process's ``state``, in rank order (``[state]`` when running alone)."""
    _, size = world()
    if size == 1:
        return [state]
    out: list[Any] = [None] * size
    torch.distributed.all_gather_object(out, state)
    return out
