"""Training-time evaluators: registered ones add their keys to metrics.jsonl and summary.json,
keep checkpointed state across a resume, and can stop the run or roll it back."""
import dataclasses
import json
from dataclasses import dataclass

import pytest
import torch

from modecollapse import TechniqueSpec
from modecollapse.cli import main
from modecollapse.lab.evaluators import EVALUATORS, Evaluator, RollBack, StopTraining, register_evaluator
from modecollapse.lab.rundir import load_checkpoint
from modecollapse.lab.train import train


@dataclass
class ProbeParams:
    stop_at: int = 0
    rollback_at: int = 0
    always_rollback: bool = False


@register_evaluator
class Probe(Evaluator):
    """Counts its evaluations (state that must survive a resume) and steers on request."""

    name = "test-probe"
    Params = ProbeParams
    order = 60

    def __init__(self, params=None):
        super().__init__(params)
        self.calls, self.rolled_back = 0, []

    def evaluate(self, ctx):
        self.calls += 1
        if self.p.stop_at and ctx.step >= self.p.stop_at:
            raise StopTraining(f"enough at {ctx.step}", status="stopped")
        if self.p.always_rollback or (ctx.step == self.p.rollback_at and not self.rolled_back):
            raise RollBack(f"bad at {ctx.step}", lr_scale=0.5)
        return {"calls": self.calls, "sample_mean": float(ctx.samples.mean())}

    def summarize(self, records, final):
        return {"evaluations": self.calls}

    def on_rollback(self, step):
        self.rolled_back.append(step)

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = int(state.get("calls", 0))


def probe(tiny_cfg, **params):
    return dataclasses.replace(tiny_cfg, evaluators=[TechniqueSpec("test-probe", params)])


def records(out):
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_evaluator_keys_reach_metrics_and_summary_and_modes_is_always_on(tiny_cfg, tmp_path):
    summary = train(probe(tiny_cfg), tmp_path / "r", progress=False)
    assert [r["calls"] for r in records(tmp_path / "r")] == [1, 2, 3]
    assert summary["evaluations"] == 3 and summary["num_modes"] == 8  # modes ran first, probe after
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["evaluators"]
    assert [e["name"] for e in saved] == ["modes", "test-probe"]
    assert "test-probe" in EVALUATORS


def test_evaluator_state_survives_a_resume(tiny_cfg, tmp_path):
    cfg = probe(tiny_cfg)
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, stop_after=20)
    assert load_checkpoint(tmp_path / "part")["evaluators"]["test-probe"] == {"calls": 2}
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False)
    assert records(tmp_path / "part") == [{**r, "wall_seconds": r2["wall_seconds"]}
                                          for r, r2 in zip(records(tmp_path / "full"), records(tmp_path / "part"))]
    assert resumed["evaluations"] == full["evaluations"] == 3


def test_stop_training_ends_the_run_with_its_status_and_a_checkpoint(tiny_cfg, tmp_path, capsys):
    summary = train(probe(tiny_cfg, stop_at=20), tmp_path / "r", progress=False)
    assert summary["status"] == "stopped" and summary["steps"] == 20 and summary["message"] == "enough at 20"
    assert load_checkpoint(tmp_path / "r")["step"] == 20
    assert [r["step"] for r in records(tmp_path / "r")] == [10, 20]
    code = main(["train", "--data", "ring", "--steps", "30", "--eval-every", "10", "--eval-samples", "100",
                 "--g-width", "8", "--d-width", "8", "--evaluator", "test-probe:stop_at=10", "--out", str(tmp_path / "c"),
                 "--quiet"])
    assert code == 1 and "enough at 10" in capsys.readouterr().err


def test_rollback_restores_the_last_checkpoint_and_lowers_the_learning_rates(tiny_cfg, tmp_path):
    cfg = probe(tiny_cfg, rollback_at=20)
    summary = train(cfg, tmp_path / "r", progress=False)
    assert summary["status"] == "ok" and summary["steps"] == 30
    assert summary["rollbacks"] == [{"at_step": 20, "to_step": 10, "reason": "bad at 20", "lr_scale": 0.5}]
    assert [r["step"] for r in records(tmp_path / "r")] == [10, 20, 30]  # the rolled-back 20 was replaced
    state = load_checkpoint(tmp_path / "r")
    assert state["lr_scale"] == 0.5 and state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(tiny_cfg.lr_g * 0.5)
    # steps 11..20 were trained twice: the second time at half the rate, so G differs from a plain run
    plain = train(tiny_cfg, tmp_path / "plain", progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(state["G"].values(), load_checkpoint(tmp_path / "plain")["G"].values()))
    assert plain["status"] == "ok"
    # the summary's mode statistics are those of the run's final samples (samples.npy), recounted
    import numpy as np

    from modecollapse.data import build_dataset
    from modecollapse.metrics.modes import mode_stats

    final = mode_stats(samples=torch.from_numpy(np.load(tmp_path / "r" / "samples.npy")), benchmark=build_dataset("ring", {}))
    assert (summary["modes"], summary["counts"], summary["reverse_kl"]) == (final.modes, list(final.counts), final.reverse_kl)
    assert summary["modes"] == sum(c > 0 for c in summary["counts"])


def test_a_rollback_that_keeps_failing_stops_the_run(tiny_cfg, tmp_path):
    summary = train(probe(tiny_cfg, always_rollback=True), tmp_path / "r", progress=False)
    assert summary["status"] == "rolled-back" and len(summary["rollbacks"]) == RollBack.max_rollbacks
    assert summary["steps"] == 10 and "after 3 rollbacks" in summary["message"]


@register_evaluator
class CureProbe(Evaluator):
    """Rolls back once at step 20 asking for a cure, then stops at step 30; both signals carry
    the probe's own key for the record."""

    name = "test-cure-probe"
    order = 60

    def __init__(self, params=None):
        super().__init__(params)
        self.fired = False

    def evaluate(self, ctx):
        if ctx.step == 20 and not self.fired:
            self.fired = True
            raise RollBack("alarm at 20", switch_on=(TechniqueSpec("gp", {"kind": "r1", "weight": 1.0}),),
                           record_keys={"probe_alarm": "rollback"})
        if ctx.step == 30:
            raise StopTraining("enough at 30", record_keys={"probe_alarm": "stop"})
        return {"probe_alarm": "none"}


def test_signals_declare_their_fields_and_the_loop_reads_them(tiny_cfg, tmp_path):
    """switch_on and record_keys are fields of the signals (with defaults), not attributes set
    on them after construction; the loop acts on both."""
    assert RollBack("r").switch_on == () and RollBack("r").record_keys == {} and StopTraining("s").record_keys == {}
    cfg = dataclasses.replace(tiny_cfg, steps=40, evaluators=[TechniqueSpec("test-cure-probe", {})])
    summary = train(cfg, tmp_path / "r", progress=False)
    assert summary["rollbacks"][0]["switched_on"] == [{"name": "gp", "params": {"kind": "r1", "weight": 1.0, "interval": 1}}]
    assert summary["status"] == "stopped" and summary["steps"] == 30
    # the stop's record holds the raising evaluator's key (the rollback's record was rewound)
    assert [(r["step"], r["probe_alarm"]) for r in records(tmp_path / "r")] == [(10, "none"), (20, "none"), (30, "stop")]


def test_every_evaluation_and_the_final_samples_draw_from_one_seed_formula(tiny_cfg, tmp_path):
    """The samples of the evaluation at step s are G's at s with the seed eval_seed(seed, s);
    the run's samples.npy are its last evaluation's."""
    import numpy as np

    from modecollapse.lab.train import build_run, eval_samples, eval_seed, generate, load_checkpoint_state

    train(probe(tiny_cfg), tmp_path / "r", progress=False)
    run = build_run(tiny_cfg)
    load_checkpoint_state(run, load_checkpoint(tmp_path / "r"))
    assert run.step == 30 and eval_seed(tiny_cfg.seed, 30) == tiny_cfg.seed * 7919 + 30
    final = eval_samples(run)
    assert torch.equal(final, generate(run, tiny_cfg.eval_samples, seed=eval_seed(tiny_cfg.seed, 30)))
    assert np.array_equal(np.load(tmp_path / "r" / "samples.npy"), final.numpy())
    assert records(tmp_path / "r")[-1]["sample_mean"] == float(final.mean())
