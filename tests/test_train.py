"""Trainer: determinism, resume equivalence, divergence handling, run directory contents."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from modecollapse import TrainConfig, build_run
from modecollapse.errors import ConfigError
from modecollapse.lab.rundir import load_checkpoint
from modecollapse.lab.train import train


def final_weights(out):
    state = load_checkpoint(out)
    return state["G"], state["D"]


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_run_directory_contents(tiny_cfg, tmp_path):
    out = tmp_path / "run"
    summary = train(tiny_cfg, out, progress=False)
    for name in ("config.json", "metrics.jsonl", "summary.json", "samples.npy", "checkpoint.pt", "samples.png", "modes.png"):
        assert (out / name).is_file(), name
    for key, typ in [("modes", int), ("num_modes", int), ("hq_fraction", float), ("reverse_kl", float),
                     ("status", str), ("steps", int), ("wall_seconds", float)]:
        assert isinstance(summary[key], typ), key
    assert summary["status"] == "ok" and summary["steps"] == 30 and summary["num_modes"] == 8
    assert json.loads((out / "summary.json").read_text()) == summary
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30]
    assert np.load(out / "samples.npy").shape == (200, 2)
    # config.json is fully resolved: dataset defaults written out, and reloadable
    saved = TrainConfig.load(out / "config.json")
    assert saved.data_args == {"modes": 8, "radius": 2.0, "std": 0.02}


def test_same_seed_same_result_and_config_json_reproduces(tiny_cfg, tmp_path):
    s1 = train(tiny_cfg, tmp_path / "a", progress=False)
    s2 = train(TrainConfig.load(tmp_path / "a" / "config.json"), tmp_path / "b", progress=False)
    assert_same_state(final_weights(tmp_path / "a")[0], final_weights(tmp_path / "b")[0])
    assert s1["counts"] == s2["counts"]
    s3 = train(dataclasses.replace(tiny_cfg, seed=4), tmp_path / "c", progress=False)
    g3 = final_weights(tmp_path / "c")[0]
    assert not all(torch.equal(g3[k], final_weights(tmp_path / "a")[0][k]) for k in g3)
    assert s3["seed"] == 4


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan", "wgan-gp"])
def test_resume_reaches_the_uninterrupted_result(tiny_cfg, tmp_path, loss):
    cfg = dataclasses.replace(tiny_cfg, loss=loss, n_critic=2)
    full = train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, stop_after=20)
    assert part["status"] == "interrupted" and part["steps"] == 20
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False)
    assert resumed["steps"] == 30 and resumed["status"] == "ok"
    for a, b in zip(final_weights(tmp_path / "full"), final_weights(tmp_path / "part")):
        assert_same_state(a, b)
    assert resumed["counts"] == full["counts"]
    steps = [json.loads(x)["step"] for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30]


def test_resume_after_a_crash_between_checkpoints(tiny_cfg, tmp_path, monkeypatch):
    """A crash at step 25 with checkpoints every 10: the evaluation at step 25 was written,
    the checkpoint is from step 20. Resuming replays 21..30 and keeps metrics.jsonl clean."""
    import importlib

    trainer = importlib.import_module("modecollapse.lab.train")

    cfg = dataclasses.replace(tiny_cfg, eval_every=5, checkpoint_every=10)
    train(cfg, tmp_path / "full", progress=False)
    real_step = trainer.train_step

    def crash_at_26(run):  # an abrupt stop in the middle of step 26 (a second Ctrl-C, a kill)
        if run.step == 25:
            raise KeyboardInterrupt
        return real_step(run)

    monkeypatch.setattr(trainer, "train_step", crash_at_26)
    summary = train(cfg, tmp_path / "r", progress=False)
    monkeypatch.undo()
    assert summary["status"] == "interrupted" and summary["steps"] == 25
    assert load_checkpoint(tmp_path / "r")["step"] == 20
    train(cfg, tmp_path / "r", resume=True, progress=False)
    steps = [json.loads(x)["step"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]
    for a, b in zip(final_weights(tmp_path / "full"), final_weights(tmp_path / "r")):
        assert_same_state(a, b)


def test_extend_a_finished_run(tiny_cfg, tmp_path):
    train(tiny_cfg, tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="already has 30 steps"):
        train(tiny_cfg, tmp_path / "r", resume=True, progress=False)
    longer = train(dataclasses.replace(tiny_cfg, steps=40), tmp_path / "r", resume=True, progress=False)
    assert longer["steps"] == 40


def test_nan_loss_stops_with_status_diverged(tiny_cfg, tmp_path):
    cfg = dataclasses.replace(tiny_cfg, lr_g=1e30, lr_d=1e30, beta1=0.0, loss="lsgan")
    summary = train(cfg, tmp_path / "nan", progress=False)
    assert summary["status"] == "diverged"
    assert "non-finite" in summary["message"]
    assert summary["steps"] < 30
    assert json.loads((tmp_path / "nan" / "summary.json").read_text())["status"] == "diverged"


def test_existing_run_is_not_overwritten_silently(tiny_cfg, tmp_path):
    train(tiny_cfg, tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_cfg, tmp_path / "r", progress=False)
    train(tiny_cfg, tmp_path / "r", progress=False, overwrite=True)


def test_implied_technique_is_resolved_once(tiny_cfg):
    run = build_run(dataclasses.replace(tiny_cfg, loss="wgan-gp"))
    assert [t.name for t in run.cfg.techniques] == ["gp"]
    again = build_run(run.cfg)  # reloading the resolved config adds nothing
    assert [t.name for t in again.cfg.techniques] == ["gp"]


@pytest.mark.parametrize("norm", ["none", "batch", "layer", "instance"])
def test_discriminator_norms_train(tiny_cfg, tmp_path, norm):
    summary = train(dataclasses.replace(tiny_cfg, d_norm=norm, steps=10, eval_every=10), tmp_path / norm, progress=False)
    assert summary["status"] == "ok"


@pytest.mark.parametrize("data,num_modes,dim", [("grid", 25, 2), ("plus", 4, 2), ("core-outliers", 5, 2), ("lines", 4, 2),
                                               ("highdim", 10, 1200)])
def test_every_benchmark_trains(tiny_cfg, tmp_path, data, num_modes, dim):
    """Each benchmark's documented number of modes reaches the summary, and the summary's
    counts agree with its own modes and hq_fraction on the eval samples written."""
    cfg = dataclasses.replace(tiny_cfg, data=data, steps=5, eval_every=5, eval_samples=50)
    summary = train(cfg, tmp_path / data, progress=False)
    assert summary["status"] == "ok" and summary["num_modes"] == num_modes and len(summary["counts"]) == num_modes
    assert summary["modes"] == sum(c > 0 for c in summary["counts"])
    assert summary["hq_fraction"] == pytest.approx(sum(summary["counts"]) / 50)
    assert np.load(tmp_path / data / "samples.npy").shape == (50, dim)


def test_ctrl_c_stops_at_the_end_of_the_step_and_the_resume_is_exact(tiny_cfg, tmp_path, monkeypatch):
    """Ctrl-C (SIGINT) during step 13 lets that step finish, checkpoints at 13 and ends with
    status interrupted; the resume reaches the uninterrupted weights. A second Ctrl-C stops at
    once (the checkpoint is then the last periodic one)."""
    import importlib
    import signal

    trainer = importlib.import_module("modecollapse.lab.train")
    # as in a terminal, even where the test runner was started with SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    train(tiny_cfg, tmp_path / "full", progress=False)
    real_step = trainer.train_step

    def press_ctrl_c(times):
        def step(run):
            if run.step == 12:
                for _ in range(times):
                    signal.raise_signal(signal.SIGINT)
            return real_step(run)
        return step

    monkeypatch.setattr(trainer, "train_step", press_ctrl_c(1))
    summary = train(tiny_cfg, tmp_path / "r", progress=False)
    assert summary["status"] == "interrupted" and summary["steps"] == 13
    assert load_checkpoint(tmp_path / "r")["step"] == 13
    monkeypatch.setattr(trainer, "train_step", press_ctrl_c(2))
    twice = train(tiny_cfg, tmp_path / "twice", progress=False)
    assert twice["status"] == "interrupted" and twice["steps"] == 12 and load_checkpoint(tmp_path / "twice")["step"] == 10
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    signal.signal(signal.SIGINT, previous)
    train(tiny_cfg, tmp_path / "r", resume=True, progress=False)
    for a, b in zip(final_weights(tmp_path / "full"), final_weights(tmp_path / "r")):
        assert_same_state(a, b)


def test_maxout_unit_is_the_largest_of_its_pieces():
    from modecollapse.models.mlp import Maxout

    layer = Maxout(2, width=2, pieces=3)
    with torch.no_grad():
        # pieces of unit 0: x0, -x0, x1; of unit 1: 2*x1, 0, x0 + x1 (biases 0, except piece 4: 1)
        layer.linear.weight.copy_(torch.tensor([[1., 0.], [-1., 0.], [0., 1.], [0., 2.], [0., 0.], [1., 1.]]))
        layer.linear.bias.copy_(torch.tensor([0., 0., 0., 0., 1., 0.]))
    x = torch.tensor([[3., -1.], [-2., 5.]])
    # row 0: unit 0 = max(3, -3, -1) = 3, unit 1 = max(-2, 1, 2) = 2
    # row 1: unit 0 = max(-2, 2, 5) = 5, unit 1 = max(10, 1, 3) = 10
    assert torch.equal(layer(x), torch.tensor([[3., 2.], [5., 10.]]))


def test_pacgan_networks_g_batch_norm_and_maxout_d(tiny_cfg, tmp_path):
    """--g-norm batch puts a BatchNorm1d after each of G's hidden layers; --d-maxout k makes
    each of D's hidden layers k-piece maxout units with no further activation; both train
    and resume exactly (batch norm's running statistics are checkpointed)."""
    cfg = dataclasses.replace(tiny_cfg, g_norm="batch", d_maxout=5, g_depth=2, d_depth=2, steps=6, eval_every=3,
                              checkpoint_every=3)
    run = build_run(cfg)
    bns = [m for m in run.G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bns) == 2
    linears = [m for m in run.D.body.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [cfg.d_width * 5] * 2
    assert not any(isinstance(m, torch.nn.ReLU) for m in run.D.modules())
    full = train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, stop_after=3)
    assert part["status"] == "interrupted"
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False)
    assert resumed["counts"] == full["counts"]
    for a, b in zip(final_weights(tmp_path / "full"), final_weights(tmp_path / "part")):
        assert_same_state(a, b)
    assert any(k.endswith("running_mean") for k in final_weights(tmp_path / "full")[0])
    assert json.loads((tmp_path / "full" / "config.json").read_text())["d_maxout"] == 5


@pytest.mark.parametrize("change,message", [
    ({"g_norm": "group"}, "unknown --g-norm"),
    ({"d_maxout": 1}, "--d-maxout 1"),
    ({"d_maxout": -2}, "--d-maxout must be >= 0"),
])
def test_bad_network_options_are_refused(tiny_cfg, change, message):
    with pytest.raises(ConfigError, match=message):
        build_run(dataclasses.replace(tiny_cfg, **change))
