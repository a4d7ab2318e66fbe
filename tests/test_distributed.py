"""Two CPU processes under torchrun: one loop (train.train with distributed.DDPStrategy), the
same weights on every rank, and a stopped run resumed reaches the uninterrupted weights."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from conftest import REPO

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")


def test_batch_not_divisible_is_a_clear_error(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "modecollapse.distributed", "--data", "ring", "--steps", "1", "--batch-size", "7", "--out", str(tmp_path / "r")]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=REPO, timeout=240)
    assert r.returncode != 0 and "divisible" in r.stderr


def _torchrun(*args, timeout=240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "modecollapse.distributed", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


def test_torchrun_stopped_part_way_and_resumed_reaches_the_uninterrupted_weights(tmp_path):
    """One loop under torchrun: a 2-process run stopped at step 13 (between checkpoints, as
    Ctrl-C would stop it) and resumed with the command line ends with the weights of an
    uninterrupted 2-process run. Replay keeps per-rank state (each rank's buffer of its own
    fakes), so the resume must restore every rank's own state, not rank 0's everywhere."""
    full, part = tmp_path / "full", tmp_path / "part"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "ddp_worker.py"), str(full), str(part)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((full / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 24 and summary["status"] == "ok"
    info = json.loads((full / "distributed.json").read_text())
    assert info["weights_identical"] and len(set(info["generator_checksums"])) == 1 and len(info["generator_checksums"]) == 2
    assert len(set(info["rank_seeds"])) == 2  # each rank draws its own data shard
    assert info["global_batch"] == 16 and info["batch_per_rank"] == 8
    assert json.loads((full / "config.json").read_text())["batch_size"] == 16
    stopped = json.loads((part / "summary.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["steps"] == 13
    assert torch.load(part / "checkpoint.pt", weights_only=True)["step"] == 13

    r = _torchrun("--resume", part, "--json", "--quiet")
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = json.loads(r.stdout.strip().splitlines()[-1])
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (full, part))
    assert a["step"] == b["step"] == 24
    for key in ("G", "D"):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k]), (key, k)
    assert len(b["other_ranks"]) == 1  # rank 1's own streams and replay buffer were kept
    assert not torch.equal(b["techniques"]["replay"]["buffer"], b["other_ranks"][0]["techniques"]["replay"]["buffer"])
    assert resumed["counts"] == summary["counts"] and resumed["world_size"] == 2
    assert [json.loads(x)["step"] for x in (part / "metrics.jsonl").read_text().splitlines()] == [8, 16, 24]
    # Rank 0's checkpoint holds the plain modules: the single-process code loads it, but a
    # single process refuses to continue a 2-process run (one line, exit 2).
    from modecollapse.cli import main
    from modecollapse.lab.config import TrainConfig
    from modecollapse.lab.train import build_run, load_checkpoint_state

    run = build_run(TrainConfig.load(part / "config.json"))
    load_checkpoint_state(run, b)
    assert run.step == 24
    assert main(["train", "--resume", str(part), "--steps", "30", "--quiet"]) == 2
