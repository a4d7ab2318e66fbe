"""One GRPO run of the policy on the verifier reward, with TRL's ``GRPOTrainer`` (Shao et al.
2024, "DeepSeekMath": group-relative policy optimisation), and the callback that measures it.

Imports transformers, TRL and datasets at import time: import this module only after
:func:`.llm.require_llm`. The KL penalty ``beta`` is TRL's, to a reference model it loads from
the policy's folder; the entropy bonus is TRL's ``entropy_coef`` (the mean token entropy added
to the objective).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset
from transformers import PreTrainedTokenizerFast, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import GRPOConfig, GRPOTrainer

from .probe import measure, sample
from .task import verifier_reward

#: TRL's per-step scalars that a run keeps (kl is logged only when beta > 0)
LOGGED = ("reward", "entropy", "kl")


@dataclass(frozen=True)
class Setting:
    """What differs between the runs: the KL weight and the entropy bonus."""

    name: str
    beta: float
    entropy_coef: float


@dataclass(frozen=True)
class Probe:
    """How a run is measured: ``n`` completions of each prompt every ``every`` steps."""

    prompts: tuple[str, ...]
    n: int
    every: int
    max_new_tokens: int
    temperature: float
    seed: int  # measurement at step s samples under seed + s: the same draws for every setting

    def run(self, model, tokenizer, step: int) -> tuple[dict[str, float], list[list[str]]]:
        groups = sample(model, tokenizer, self.prompts, self.n, max_new_tokens=self.max_new_tokens,
                        temperature=self.temperature, seed=self.seed + step)
        return measure(self.prompts, groups), groups


class Recorder(TrainerCallback):
    """Keeps TRL's logged scalars of every step and measures the probe every ``probe.every``
    steps and at the last, with the trainer's own model and tokenizer."""

    def __init__(self, probe: Probe, last_step: int, tick: Callable[[], None]) -> None:
        self.probe, self.last_step, self.tick = probe, last_step, tick
        self.logs: dict[str, list[float | None]] = {"step": [], **{k: [] for k in LOGGED}}
        self.checks: list[dict[str, float]] = []
        self.last_groups: list[list[str]] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.tick()

    def on_log(self, args, state, control, logs=None, model=None, processing_class=None, **kwargs):
        if not logs or "train_runtime" in logs:  # the closing summary, not a step
            return
        step = state.global_step
        self.logs["step"].append(step)
        for key in LOGGED:
            value = logs.get(key)
            self.logs[key].append(float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None)
        if step % self.probe.every == 0 or step == self.last_step:
            numbers, self.last_groups = self.probe.run(model, processing_class, step)
            self.checks.append({"step": step, **numbers})


def grpo_config(setting: Setting, *, out: Path, steps: int, lr: float, prompts_per_step: int, generations: int,
                max_new_tokens: int, temperature: float, seed: int) -> GRPOConfig:
    """TRL's configuration of one run: CPU, no logger, no checkpoints, constant learning rate,
    a log line every step (the callback reads them)."""
    return GRPOConfig(
        output_dir=str(out), use_cpu=True, report_to=[], seed=seed, data_seed=seed, max_steps=steps,
        learning_rate=lr, lr_scheduler_type="constant", warmup_steps=0, beta=setting.beta,
        entropy_coef=setting.entropy_coef, per_device_train_batch_size=prompts_per_step * generations,
        num_generations=generations, max_completion_length=max_new_tokens, temperature=temperature,
        logging_steps=1, save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, bf16=False, fp16=False)


def run(setting: Setting, *, policy: Path, work: Path, train_prompts: Sequence[str], probe: Probe, steps: int,
        lr: float, prompts_per_step: int, generations: int, seed: int,
        tick: Callable[[], None] = lambda: None) -> Recorder:
    """Trains a copy of the policy saved in ``policy`` (the folder is read, never written) for
    ``steps`` GRPO steps under ``setting``; returns the recorder with its logs and checks."""
    args = grpo_config(setting, out=work, steps=steps, lr=lr, prompts_per_step=prompts_per_step,
                       generations=generations, max_new_tokens=probe.max_new_tokens,
                       temperature=probe.temperature, seed=seed)
    recorder = Recorder(probe, steps, tick)
    # by path: with beta > 0 TRL builds the reference model from the policy's name or path
    trainer = GRPOTrainer(model=str(policy), reward_funcs=verifier_reward, args=args,
                          train_dataset=Dataset.from_dict({"prompt": list(train_prompts)}),
                          processing_class=PreTrainedTokenizerFast.from_pretrained(policy), callbacks=[recorder])
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    trainer.train()
    return recorder
