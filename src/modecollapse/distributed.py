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
- The training step is the single-process one (``train.train_step``, all technique hooks
  included); only rank 0 evaluates, writes the run directory and checkpoints, using the
  unwrapped modules, so its checkpoint resumes with ``modecollapse train --resume``.
- gloo on CPU, nccl on CUDA (``--device cuda``: each process takes GPU ``LOCAL_RANK``).
- ``distributed.json`` in the run directory records the world size, backend, per-rank
  batch and seeds, and a checksum of each rank's final generator weights.

Techniques that add trainable parameters outside G and D (the mixture's classifier) are
refused: DDP would not average those gradients.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from . import rundir
from .config import TrainConfig
from .errors import ConfigError, TrainingDiverged


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


def _agree(error: str | None) -> None:
    """Raises :class:`ConfigError` on every rank when any rank hit one (no rank is left waiting)."""
    errors = [None] * dist.get_world_size()
    dist.all_gather_object(errors, error)
    first = next((e for e in errors if e), None)
    if first:
        raise ConfigError(first)


@contextlib.contextmanager
def _unwrapped(run):
    """Rank 0 evaluates and saves the plain modules: a DDP forward would wait for the other ranks."""
    G, D = run.G, run.D
    run.G, run.D = G.module, D.module
    try:
        yield
    finally:
        run.G, run.D = G, D


def train_distributed(cfg: TrainConfig, out: Path | str, *, overwrite: bool = False, progress: bool = True) -> dict[str, Any] | None:
    """Trains ``cfg`` in the process group torchrun set up; rank 0 returns the summary, others None."""
    from .train import History, build_run, checkpoint_state, evaluate, make_summary, train_step

    out = Path(out)
    rank, world = dist.get_rank(), dist.get_world_size()
    error = None
    if cfg.batch_size % world:
        error = f"--batch-size {cfg.batch_size} must be divisible by the {world} processes (it is the global batch)."
    _agree(error)
    local = dataclasses.replace(cfg, batch_size=cfg.batch_size // world)
    try:
        run = build_run(local)
        if run.extra_d_params or run.extra_g_params:
            raise ConfigError("a technique here adds parameters outside G and D, which DDP does not average; train it without torchrun.")
        if rank == 0:
            rundir.prepare(out, overwrite=overwrite)
    except ConfigError as err:
        error = str(err)
    _agree(error)

    seed = rank_seed(cfg.seed, rank)
    run.data_gen.manual_seed(seed)
    run.noise_gen.manual_seed(seed + 1_000_003)
    ids = [run.device.index or 0] if run.device.type == "cuda" else None
    run.G = _DDP(run.G, device_ids=ids)
    run.D = _DDP(run.D, device_ids=ids)
    saved = dataclasses.replace(run.cfg, batch_size=cfg.batch_size)  # config.json: the global batch
    if rank == 0:
        saved.save(out / "config.json")

    from tqdm.auto import tqdm

    history = History()
    started = time.perf_counter()
    status, message = "ok", ""
    bar = tqdm(total=cfg.steps, disable=not (progress and rank == 0), desc=f"{cfg.data}/{cfg.loss} x{world}", unit="step", leave=False)
    last_stats, samples = None, None
    try:
        while run.step < cfg.steps:
            d_loss, g_loss = train_step(run)
            losses = torch.stack([d_loss, g_loss]).float().cpu()
            if run.device.type == "cuda":
                losses = losses.to(run.device)
            dist.all_reduce(losses)  # every rank sees the same mean losses and stops together
            d_val, g_val = (float(v) / world for v in losses)
            bar.update(1)
            if not (math.isfinite(d_val) and math.isfinite(g_val)):
                raise TrainingDiverged(f"loss became non-finite at step {run.step} (d_loss={d_val}, g_loss={g_val})")
            at_end = run.step == cfg.steps
            if rank == 0 and (run.step % cfg.eval_every == 0 or at_end):
                with _unwrapped(run):
                    last_stats, samples = evaluate(run)
                record = {"step": run.step, **last_stats.as_dict(), "d_loss": d_val, "g_loss": g_val,
                          "wall_seconds": time.perf_counter() - started}
                history.records.append(record)
                rundir.append_metrics(out, record)
                rundir.save_eval_samples(out, run.step, samples, run.dataset)
            if rank == 0 and (run.step % cfg.checkpoint_every == 0 or at_end):
                with _unwrapped(run):
                    rundir.save_checkpoint(out, {**checkpoint_state(run), "wall_seconds": time.perf_counter() - started})
    except TrainingDiverged as err:
        status, message = "diverged", str(err)
    finally:
        bar.close()

    checksums = [None] * world
    dist.all_gather_object(checksums, weights_checksum(run.G.module))
    seeds = [None] * world
    dist.all_gather_object(seeds, seed)
    if rank != 0:
        return None
    with _unwrapped(run):
        if last_stats is None or history.records[-1]["step"] != run.step:
            last_stats, samples = evaluate(run)
    summary = make_summary(cfg, run.step, last_stats, history, status=status, message=message, wall=time.perf_counter() - started)
    summary["world_size"] = world
    rundir.write_json(out / "distributed.json", {
        "world_size": world,
        "backend": dist.get_backend(),
        "batch_per_rank": local.batch_size,
        "global_batch": cfg.batch_size,
        "rank_seeds": seeds,
        "generator_checksums": checksums,
        "weights_identical": len(set(checksums)) == 1,
    })
    rundir.finish(out, summary, samples, run.dataset, history.records)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point under torchrun: the options of ``modecollapse train`` (no --resume)."""
    import json

    from .cli_train import add_parser, config_from_args

    parser = argparse.ArgumentParser(prog="torchrun ... -m modecollapse.distributed")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    if "RANK" not in os.environ:
        sys.stderr.write("modecollapse.distributed: launch it with torchrun, e.g. torchrun --standalone --nproc_per_node 2 -m modecollapse.distributed ...\n")
        return 2
    cuda = (args.device or "cpu").startswith("cuda")
    if cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local_rank)
        args.device = f"cuda:{local_rank}"
    else:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dist.init_process_group("nccl" if cuda else "gloo")
    code = 0
    try:
        if args.resume:
            raise ConfigError("--resume is not supported under torchrun yet; resume the run with 'modecollapse train --resume'.")
        if args.out is None:
            raise ConfigError("--out DIR is required: the directory the run writes to.")
        cfg = config_from_args(args)
        summary = train_distributed(cfg, args.out, overwrite=args.overwrite, progress=not args.quiet and sys.stderr.isatty())
        if summary is not None:
            if args.json:
                print(json.dumps(summary))
            else:
                print(f"{summary['data']}: {summary['modes']}/{summary['num_modes']} modes, reverse_kl {summary['reverse_kl']:.3f}, "
                      f"{summary['steps']} steps on {summary['world_size']} processes in {summary['wall_seconds']:.1f}s -> {args.out}")
            code = 0 if summary["status"] == "ok" else 1
    except ConfigError as err:
        if dist.get_rank() == 0:
            sys.stderr.write(f"modecollapse.distributed: {err}\n")
        code = 2
    finally:
        dist.destroy_process_group()
    return code


if __name__ == "__main__":
    sys.exit(main())
