"""CollapseCallback inside real TRL trainers (GRPOTrainer, DPOTrainer) and the plain Trainer with a
tiny GPT-2: its numbers reach the logs, it stops training when asked, a resumed run continues
its state, and under 2 CPU processes every rank reads the same verdict and stops at the same step."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("transformers")
trl = pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

from conftest import REPO  # noqa: E402
from llm_tiny import prompts, save_tiny_model, tokenizer, verifier  # noqa: E402
from modecollapse.monitor.hf import STATE_FILE, CollapseCallback  # noqa: E402
from modecollapse.monitor.text import TextMonitorSettings  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny"))


def _grpo(model_dir, out, callback, *, steps, save_steps=None, resume=None):
    from transformers import TrainerCallback

    class Seen(TrainerCallback):  # a logger placed before ours: attach() must run ours first
        logs: list = []

        def on_log(self, args, state, control, logs=None, **kw):
            Seen.logs.append(dict(logs or {}))

    args = trl.GRPOConfig(output_dir=str(out), use_cpu=True, report_to=[], max_steps=steps, learning_rate=1e-3,
                          per_device_train_batch_size=8, num_generations=4, max_completion_length=3, beta=0.0,
                          logging_steps=1, save_strategy="steps" if save_steps else "no", save_steps=save_steps or 500,
                          disable_tqdm=True, seed=0)
    reward = lambda prompts, completions, **kw: [float(verifier(p, c)) for p, c in zip(prompts, completions)]  # noqa: E731
    data = datasets.Dataset.from_dict({"prompt": prompts(4) * 8})
    trainer = trl.GRPOTrainer(model=str(model_dir), reward_funcs=reward, args=args, train_dataset=data,
                              processing_class=tokenizer(), callbacks=[Seen()])
    callback.attach(trainer)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, Seen.logs


def test_grpo_numbers_reach_the_logs_and_every_logger(model_dir, tmp_path):
    cb = CollapseCallback(prompts(4), n=4, check_every=2, generation={"max_new_tokens": 3}, verifier=verifier)
    trainer, seen = _grpo(model_dir, tmp_path / "run", cb, steps=4)
    checked = [h for h in trainer.state.log_history if "collapse/distinct" in h]
    assert [h["step"] for h in checked] == [1, 2, 4]  # the reference (first log) and the checks at 2 and 4
    assert all(0 <= h["collapse/pass1"] <= 1 and h["collapse/distinct"] >= 1 for h in checked)
    assert any("collapse/verdict" in logs for logs in seen)  # the other logger saw them: ours ran first
    assert cb.monitor.checks == 3 and cb.report.numbers["prompts"] == 4 and cb.report.numbers["per_prompt"] == 4
    assert cb.probe_seconds > 0


def test_grpo_stops_when_asked_and_names_the_checkpoint(model_dir, tmp_path):
    # an impossible line (distinct answers under 100x the reference's): the first judged check is bad
    always = TextMonitorSettings(answer_below=100.0, patience=2)
    cb = CollapseCallback(prompts(4), n=4, check_every=2, generation={"max_new_tokens": 3}, settings=always,
                          stop_on=("collapsed",))
    trainer, _ = _grpo(model_dir, tmp_path / "run", cb, steps=12, save_steps=2)
    assert cb.report.verdict == "collapsed" and trainer.state.global_step == 4  # checks at 2 (collapsing) and 4
    assert cb.report.onset_step == 2 and cb.report.rollback_step is None and cb.resume_checkpoint is None


def test_grpo_resumed_run_continues_the_monitor(model_dir, tmp_path):
    first = CollapseCallback(prompts(4), n=4, check_every=2, generation={"max_new_tokens": 3})
    _grpo(model_dir, tmp_path / "run", first, steps=4, save_steps=4)
    saved = json.loads((tmp_path / "run" / "checkpoint-4" / STATE_FILE).read_text())
    assert saved["monitor"]["checks"] == 3 and saved["checkpoints"] == [4]
    again = CollapseCallback(prompts(4), n=4, check_every=2, generation={"max_new_tokens": 3})
    trainer, _ = _grpo(model_dir, tmp_path / "run", again, steps=6, save_steps=4,
                       resume=str(tmp_path / "run" / "checkpoint-4"))
    assert again.monitor.checks == 4 and again.monitor.history[0]["step"] == 0  # one new check at 6; the reference kept
    assert again.report.step == 6 and trainer.state.global_step == 6


def test_dpo_trainer_logs_collapse_numbers(model_dir, tmp_path):
    data = datasets.Dataset.from_dict({"prompt": prompts(4) * 2, "chosen": ["14", "21", "24", "25"] * 2,
                                       "rejected": ["13", "22", "23", "26"] * 2})
    args = trl.DPOConfig(output_dir=str(tmp_path / "dpo"), use_cpu=True, report_to=[], max_steps=3,
                         per_device_train_batch_size=4, logging_steps=1, save_strategy="no", disable_tqdm=True,
                         max_length=16)
    cb = CollapseCallback(prompts(4), n=4, check_every=1, generation={"max_new_tokens": 3}, verifier=verifier)
    trainer = trl.DPOTrainer(model=str(model_dir), args=args, train_dataset=data, processing_class=tokenizer(),
                             callbacks=[cb])
    trainer.train()
    assert sum("collapse/distinct" in h for h in trainer.state.log_history) == 3  # steps 1-3 (with the reference)
    assert cb.monitor.checks == 4


def test_two_processes_read_the_same_verdict_and_stop_at_the_same_step(model_dir, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "hf_ddp_worker.py"), str(model_dir), str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in range(2)]
    assert ranks[0]["world_size"] == 2
    assert ranks[0]["verdicts"] == ranks[1]["verdicts"] and ranks[0]["verdicts"][-1] == "collapsed"
    assert ranks[0]["stopped_at"] == ranks[1]["stopped_at"] == 4
    assert ranks[0]["probes"] == 3 and ranks[1]["probes"] == 0  # the main process probed, once per check


def test_the_last_healthy_checkpoint_is_named_when_training_stops(model_dir, tmp_path):
    """A scripted probe (diverse answers up to step 4, one answer from step 6) inside a real
    GRPOTrainer that saves every 2 steps: the callback stops at step 8 and names checkpoint-4."""
    cb = CollapseCallback(prompts(4), n=4, check_every=2, generation={"max_new_tokens": 3}, stop_on=("collapsed",))

    def scripted(model, tokenizer):
        step = cb.monitor.checks * 2  # the probe of check c runs at step 2c
        groups = [[f"{k}{j}" for j in range(4)] if step <= 4 else [f"{k}0"] * 4 for k in range(4)]
        return {"completions": groups, "truncated": None, "correct": None, "rewards": None}

    cb.probe = scripted
    trainer, _ = _grpo(model_dir, tmp_path / "run", cb, steps=20, save_steps=2)
    assert trainer.state.global_step == 8 and cb.report.verdict == "collapsed" and cb.report.onset_step == 6
    assert cb.report.rollback_step == 4 and cb.checkpoints == [2, 4, 6, 8]
    assert cb.resume_checkpoint == str(tmp_path / "run" / "checkpoint-4")
