"""Two CPU processes under torchrun train one image GAN and end with identical weights."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist

from conftest import REPO

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")


def test_torchrun_two_processes_stay_in_sync(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(2):
        (tmp_path / "imgs" / f"m{k}").mkdir(parents=True)
        for i in range(4):
            Image.fromarray((np.full((8, 8, 3), 40 + 170 * k) + rng.integers(0, 20, (8, 8, 3))).astype(np.uint8)).save(
                tmp_path / "imgs" / f"m{k}" / f"{i}.png")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "modecollapse.distributed", "--data", "image-folder", "--data-arg", f"path={tmp_path / 'imgs'}",
           "--data-arg", "size=8", "--latent-dim", "8", "--steps", "3", "--batch-size", "8", "--eval-every", "3",
           "--eval-samples", "16", "--pack", "m=2", "--out", str(out), "--json", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["world_size"] == 2 and summary["steps"] == 3 and summary["status"] == "ok"
    info = json.loads((out / "distributed.json").read_text())
    assert info["weights_identical"] and len(set(info["generator_checksums"])) == 1 and len(info["generator_checksums"]) == 2
    assert len(set(info["rank_seeds"])) == 2  # each rank draws its own data shard
    assert info["global_batch"] == 8 and info["batch_per_rank"] == 4
    # Rank 0's checkpoint holds the plain modules: the single-process trainer can load it.
    from modecollapse.config import TrainConfig
    from modecollapse.train import build_run, load_checkpoint_state

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    run = build_run(TrainConfig.load(out / "config.json"))
    load_checkpoint_state(run, state)
    assert run.step == 3


def test_batch_not_divisible_is_a_clear_error(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "modecollapse.distributed", "--data", "ring", "--steps", "1", "--batch-size", "7", "--out", str(tmp_path / "r")]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO, timeout=240)
    assert r.returncode != 0 and "divisible" in r.stderr
