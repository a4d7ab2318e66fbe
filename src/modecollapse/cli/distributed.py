"""``torchrun ... -m modecollapse.distributed <train options>``: ``modecollapse train`` on a
torchrun process group (the strategy is :class:`modecollapse.lab.distributed.DDPStrategy`)."""
from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.distributed as dist

from ..errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Entry point under torchrun: the options of ``modecollapse train``."""
    from ..lab.distributed import DDPStrategy, _leave_together
    from ..lab.train import train
    from .train import add_parser, report, resolve_command

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
        cfg, out = resolve_command(args)
        if args.dry_run:
            raise ConfigError("--dry-run needs no processes; run it with 'modecollapse train --dry-run'.")
        strategy = DDPStrategy(out)
        summary = train(cfg, out, resume=bool(args.resume), overwrite=args.overwrite, strategy=strategy,
                        progress=not args.quiet and sys.stderr.isatty(), stop_after=args.stop_after)
        if summary is not None:
            code = report(summary, args, out)
        else:
            code = 0
    except ConfigError as err:
        if dist.get_rank() == 0:
            sys.stderr.write(f"modecollapse.distributed: {err}\n")
        code = 2
    finally:
        _leave_together()
    return code
