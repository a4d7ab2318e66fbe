"""How the one training loop (``train.train``) runs on one process or on several.

The loop asks its strategy a handful of questions and nothing else about processes: which
process writes the run directory, how each rank seeds its random streams, how G and D are
wrapped for training and unwrapped for evaluation and checkpoints, how the step's losses and
the stop request are reduced, and how per-rank state is gathered into one checkpoint.
:class:`Strategy` declares them, with the answers of one process (identity everywhere), which
:class:`SingleProcess` keeps and ``distributed.DDPStrategy`` overrides for a torchrun
process group. The pattern follows the GAN
codebases that run one loop on any number of GPUs (StyleGAN2-ADA's ``training_loop``).
"""
from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError


class Strategy:
    """What the training loop asks about processes. The answers here are those of one process
    (it writes, nothing is wrapped, reductions are the identity); a strategy for several
    processes overrides them."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_writer(self) -> bool:
        """True on the process that evaluates and writes the run directory."""
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        """This process's share of the global batch (raises ConfigError when it does not divide)."""
        return batch_size

    def agree(self, error: str | None) -> None:
        """Raises :class:`ConfigError` on every process when any process met ``error``."""
        if error:
            raise ConfigError(error)

    def seed_streams(self, data_gen: torch.Generator, noise_gen: torch.Generator, seed: int) -> None:
        """Seeds this rank's real-data and noise streams (rank 0 keeps the single-process seeds)."""

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        return module

    @staticmethod
    def unwrap(module: torch.nn.Module) -> torch.nn.Module:
        return getattr(module, "module", module) if _is_wrapper(module) else module

    @contextlib.contextmanager
    def unwrapped(self, run: Any) -> Iterator[None]:
        """``run.G`` and ``run.D`` are the plain modules inside the block (evaluation, checkpoints)."""
        G, D = run.G, run.D
        run.G, run.D = self.unwrap(G), self.unwrap(D)
        try:
            yield
        finally:
            run.G, run.D = G, D

    def reduce(self, values: torch.Tensor) -> torch.Tensor:
        """(k,) float values -> their mean over processes; the last entry (the stop request)
        is a maximum, so every process stops at the same step."""
        return values

    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, by rank (on every process)."""
        return [obj]

    def broadcast(self, obj: Any) -> Any:
        """The writer's ``obj`` on every process."""
        return obj

    def signals(self) -> tuple[int, ...]:
        """The signals that ask for a graceful stop at the end of the current step."""
        return (signal.SIGINT,)

    def describe(self, run: Any) -> dict[str, Any]:
        """Extra keys for the summary at the end of training (none on one process); called on
        every process, as it may gather."""
        return {}


class SingleProcess(Strategy):
    """One process: every answer is the default."""


def _is_wrapper(module: torch.nn.Module) -> bool:
    return isinstance(module, DistributedDataParallel)
