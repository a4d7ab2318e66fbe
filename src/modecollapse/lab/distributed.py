"""Training one GAN across processes with DistributedDataParallel, launched by ``torchrun``:

    torchrun --standalone --nproc_per_node 2 -m modecollapse.distributed \\
        --data stacked-mnist --arch dcgan --steps 20000 --batch-size 64 --out runs/smnist

The options are those of ``modecollapse train``. Data parallelism as in Goyal et al. 2017
("Accurate, Large Minibatch SGD"), applied to both players of the GAN (Goodfellow et al.
2014): each of the N processes draws ``--batch-size / N`` real and fake samples per step,
and DDP averages the gradients of G and of D across processes before each optimiser step,
so the global batch is ``--batch-size`` and every process keeps identical weights.

- Same initialisation on every rank: models are built after ``torch.manual_seed(--seed)``
  (and DDP broadcasts rank 0's weights once more when it wraps them).
- Data sharding: rank r draws its real batches and latents from generators seeded by
  (seed, r) (rank 0 keeps the single-process seeds), so ranks see different samples.
- One loop: this module holds no training loop, only :class:`DDPStrategy`, which tells
  ``train.train`` (the single-process loop, all technique hooks and evaluators included)
  which rank writes (rank 0: it evaluates, writes the run directory and checkpoints with the
  unwrapped modules), how modules are wrapped, how the losses and the stop request are
  reduced (mean; max) and how each rank's random streams and technique state are gathered
  into rank 0's checkpoint.
- ``--resume DIR`` continues a torchrun run with the same number of processes, each rank
  from its own streams. Ctrl-C (SIGINT, or the SIGTERM torchrun forwards) stops every rank at
  the end of the same step with a checkpoint there, as on one process.
- gloo on CPU, nccl on CUDA (``--device cuda``: each process takes GPU ``LOCAL_RANK``).
- ``distributed.json`` in the run directory records the world size, backend, per-rank
  batch and seeds, and a checksum of each rank's final generator weights.

Techniques that add trainable parameters outside G and D (the mixture's classifier) are
refused: DDP would not average those gradients.
"""
from __future__ import annotations

import hashlib
import signal
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError
from . import rundir
from .strategy import Strategy


class _DDP(DistributedDataParallel):
    """DDP whose unknown attributes (``features``, ``head``, ``feature_dim`` ...) come from the
    wrapped module, so techniques that read the discriminator's parts keep working."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("module"), name)


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random streams: ``seed`` itself on rank 0, else a mix of both."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] % (2**63))


def weights_checksum(module: torch.nn.Module) -> str:
    """sha256 of a module's parameters, in order, as raw bytes: equal iff the weights are equal."""
    h = hashlib.sha256()
    for p in module.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class DDPStrategy(Strategy):
    """The process group torchrun set up (``dist.init_process_group`` already called)."""

    def __init__(self, out: Path | str) -> None:
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.out = Path(out)
        self.seed: int | None = None
        self.device = torch.device("cpu")

    def local_batch(self, batch_size: int) -> int:
        error = None
        if batch_size % self.world_size:
            error = f"--batch-size {batch_size} must be divisible by the {self.world_size} processes (it is the global batch)."
        self.agree(error)
        return batch_size // self.world_size

    def agree(self, error: str | None) -> None:
        errors: list[str | None] = [None] * self.world_size
        dist.all_gather_object(errors, error)
        first = next((e for e in errors if e), None)
        if first:
            raise ConfigError(first)

    def seed_streams(self, data_gen: torch.Generator, noise_gen: torch.Generator, seed: int) -> None:
        self.seed = rank_seed(seed, self.rank)
        data_gen.manual_seed(self.seed)
        noise_gen.manual_seed(self.seed + 1_000_003)

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        self.device = device
        return _DDP(module, device_ids=[device.index or 0] if device.type == "cuda" else None)

    def reduce(self, values: torch.Tensor) -> torch.Tensor:
        values = values.to(self.device)
        losses, stop = values[:-1].clone(), values[-1:].clone()
        dist.all_reduce(losses)  # every rank sees the same mean losses and stops together
        dist.all_reduce(stop, op=dist.ReduceOp.MAX)
        return torch.cat([losses / self.world_size, stop]).cpu()

    def gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def signals(self) -> tuple[int, ...]:
        return (signal.SIGINT, signal.SIGTERM)

    def describe(self, run: Any) -> dict[str, Any]:
        """Gathers every rank's generator checksum and seed; rank 0 writes ``distributed.json``."""
        checksums = self.gather(weights_checksum(self.unwrap(run.G)))
        seeds = self.gather(self.seed)
        if self.is_writer:
            rundir.write_json(self.out / "distributed.json", {
                "world_size": self.world_size,
                "backend": dist.get_backend(),
                "batch_per_rank": run.cfg.batch_size,
                "global_batch": run.cfg.batch_size * self.world_size,
                "rank_seeds": seeds,
                "generator_checksums": checksums,
                "weights_identical": len(set(checksums)) == 1,
            })
        return {"world_size": self.world_size}


def _leave_together() -> None:
    """Every rank waits for the others before the process group goes away: rank 0 still
    writes the summary when rank 1 is done, and a gloo rank that tears its group down while a
    peer is still connected can abort the process ("terminate called without an active
    exception"; how often: docs/guide/lab.md, "Several processes")."""
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()

