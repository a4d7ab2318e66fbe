"""The monitor in the lab: ``train --monitor``, ``--on-collapse stop`` and ``rollback --cure``."""
import dataclasses
import json

import pytest
import torch

from modecollapse.lab.config import TechniqueSpec
from modecollapse.lab.train import train
from modecollapse.monitor.lab import LabMonitor
from test_cli_train import TINY, run_cli  # the CLI driver and tiny run of the CLI tests


def records(path):
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


def test_on_collapse_stop_ends_a_collapsing_vanilla_run(capsys, tmp_path):
    """--preset vanilla collapses on ring (1 mode from step ~300 at seed 0): stopped, status collapsed, exit 0."""
    code, out, err = run_cli(capsys, "train", "--preset", "vanilla", "--data", "ring", "--steps", "700",
                             "--eval-every", "100", "--checkpoint-every", "700", "--monitor", "--on-collapse", "stop",
                             "--out", str(tmp_path / "r"), "--json", "--quiet")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["status"] == "collapsed" and summary["steps"] < 700
    assert summary["monitor_verdict"] == "collapsed" and "dropping modes" in summary["monitor_reason"]
    assert summary["collapse_step"] is not None and summary["collapse_step"] < summary["steps"]
    assert summary["modes"] <= 2  # the truth agrees: the run had collapsed
    recs = records(tmp_path / "r")
    assert all("monitor_verdict" in r and "monitor_reason" in r for r in recs)
    assert recs[0]["monitor_verdict"] == "warming-up" and recs[-1]["monitor_verdict"] == "collapsed"
    assert "monitor: collapsed" in err
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert {"name": "monitor", "params": {"on_collapse": "stop", "cure": "", "samples": 512, "real": 4096,
                                          "warmup_steps": 400}} in cfg["evaluators"]


def test_rollback_switches_the_cure_on_records_it_and_resumes_with_it(tiny_cfg, tmp_path, monkeypatch):
    """The wiring, with the monitor's verdict forced: an alarm at step 20 rolls back to the
    checkpoint of step 10 and switches R1 on; a resumed run keeps it."""
    observe = LabMonitor.observe

    def forced(self, step, samples, d_loss, g_loss):
        keys, _ = observe(self, step, samples, d_loss, g_loss)
        alarm = step == 20 and not self.cured
        return ({**keys, "monitor_verdict": "collapsing"} if alarm else keys), ("rollback" if alarm else None)

    monkeypatch.setattr(LabMonitor, "observe", forced)
    spec = TechniqueSpec("monitor", {"on_collapse": "rollback", "cure": "gp:kind=r1,weight=1", "real": 512,
                                     "samples": 128, "warmup_steps": 0})
    cfg = dataclasses.replace(tiny_cfg, steps=40, evaluators=[spec], eval_samples=300)
    summary = train(cfg, tmp_path / "r", progress=False, stop_after=30)
    assert summary["rollbacks"][0]["at_step"] == 20 and summary["rollbacks"][0]["to_step"] == 10
    assert summary["rollbacks"][0]["switched_on"] == [{"name": "gp", "params": {"kind": "r1", "weight": 1.0, "interval": 1}}]
    (event,) = summary["monitor_events"]
    assert (event["step"], event["verdict"], event["cure"]) == (20, "collapsing", "gp:kind=r1,weight=1")
    assert summary["monitor_cured"] is True
    steps = [r["step"] for r in records(tmp_path / "r")]
    assert steps == [10, 20, 30]  # the record of the rolled-back step 20 was replaced
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert [t["name"] for t in state["switched_on"]] == ["gp"] and state["step"] == 30
    resumed = train(cfg, tmp_path / "r", resume=True, progress=False)
    assert resumed["status"] == "ok" and resumed["steps"] == 40
    assert resumed["monitor_events"] == summary["monitor_events"]  # the evaluator's state came back
    assert [t["name"] for t in torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["switched_on"]] == ["gp"]


@pytest.mark.parametrize("args, message", [
    (["--on-collapse", "rollback"], "needs --cure"),
    (["--cure", "gp:kind=r1"], "only acts with --on-collapse rollback"),
    (["--on-collapse", "rollback", "--cure", "pack:m=2"], "cannot be switched on"),
    (["--on-collapse", "rollback", "--cure", "nosuch"], "nosuch"),
    (["--on-collapse", "rollback", "--cure", "gp:kind=r7"], "r7"),
])
def test_bad_monitor_options_exit_2(capsys, tmp_path, args, message):
    code, _, err = run_cli(capsys, "train", "--data", "ring", "--out", str(tmp_path / "r"), *TINY, *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_cure_reads_its_keys_as_the_technique_option_does(monkeypatch):
    """--cure T:k=v goes through parse_pairs like --T k=v, so a hyphenated key is the same key."""
    import argparse
    from dataclasses import dataclass, field

    from modecollapse.lab.options import add_train_options, config_from_args
    from modecollapse.monitor.lab import cure_spec
    from modecollapse.techniques import TECHNIQUES, Technique

    @dataclass
    class TermParams:
        extra_weight: float = field(default=1.0, metadata={"help": "weight"})

    class Term(Technique):
        name, Params, summary = "test-term", TermParams, "a loss term for this test"

    # registered for this test only (the technique-pair tests iterate the registry)
    monkeypatch.setitem(TECHNIQUES._items, Term.name, Term)
    parser = argparse.ArgumentParser()
    add_train_options(parser)
    cfg = config_from_args(parser.parse_args(["--test-term", "extra-weight=2"]))
    assert cure_spec("test-term:extra-weight=2") == cfg.techniques[0] == TechniqueSpec("test-term", {"extra_weight": 2.0})


def test_one_check_says_which_techniques_can_be_switched_on(tiny_cfg, monkeypatch):
    """The --cure option and the loop's switch_on ask the same check, the technique's own."""
    from modecollapse.errors import ConfigError
    from modecollapse.lab.train import build_run, switch_on
    from modecollapse.monitor.lab import cure_spec
    from modecollapse.techniques import Technique

    asked = []

    def check(cls, owner):
        asked.append((cls.name, owner))
        raise ConfigError("refused.")

    monkeypatch.setattr(Technique, "check_switchable", classmethod(check))
    with pytest.raises(ConfigError, match="refused"):
        cure_spec("gp:kind=r1")
    with pytest.raises(ConfigError, match="refused"):
        switch_on(build_run(tiny_cfg), [TechniqueSpec("gp", {"kind": "r1"})])
    assert [name for name, _ in asked] == ["gp", "gp"]
