"""Run under torchrun by tests/test_distributed.py (not a test itself): in one process group,
an uninterrupted 2-process run and the same run stopped after 13 steps (one launch instead of
two keeps the test fast). argv: full_dir part_dir."""
import sys

import torch
import torch.distributed as dist

from modecollapse import TechniqueSpec, TrainConfig
from modecollapse.lab.distributed import DDPStrategy, _leave_together
from modecollapse.lab.train import train

CFG = TrainConfig(data="ring", g_width=16, d_width=16, g_depth=1, d_depth=1, batch_size=16, eval_every=8,
                  eval_samples=100, checkpoint_every=8, steps=24, seed=2,
                  techniques=[TechniqueSpec("replay", {"p": 0.5, "size": 20, "keep": 4})])

if __name__ == "__main__":
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        full, part = sys.argv[1:3]
        train(CFG, full, strategy=DDPStrategy(full), progress=False)
        train(CFG, part, strategy=DDPStrategy(part), progress=False, stop_after=13)
    finally:
        _leave_together()
