"""A ``TrainerCallback`` that records what a collapse monitor would see, and the truth, at checks.

At step 0 (``on_train_begin``, before any update: the reference) and then every
``check_every`` optimizer steps, with the trainer's current model and tokenizer, it samples
``probe_n`` completions for each fixed probe prompt, scores them with the verifier and the
run's reward, and samples ``truth_n`` more for every truth prompt to measure distinct correct
answers and pass@k (``sampling.truth_of``). One JSON line per check is appended to
``checks.jsonl``, whole lines only, so a recording cut short stays readable:

    {"step", "prompts": [P], "completions": [[n str] x P], "correct": [[n bool] x P],
     "rewards": [[n float] x P], "logs": {latest training log}, "logs_mean": {mean of each
     scalar over the logs since the previous check}, "truth": {"per_prompt": [...],
     "mean": {...}}, "probe_seconds", "truth_seconds", "train_seconds"}

Every training log (one per step) is also appended to ``logs.jsonl`` as ``{"step", ...scalars}``,
so a baseline on the logged scalars (an alarm when ``entropy`` falls under a share of its value
at step 1) sees every step, not only the checked ones.

``train_seconds`` is the wall time of training since the previous check, the probe and truth
sampling excluded. The check runs in ``on_log`` (logging every step), after the step's own
scalars have arrived, so a check's ``logs`` belong to its step.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from sampling import sample_completions, truth_of
from task import correct
from transformers import TrainerCallback


class CheckRecorder(TrainerCallback):
    def __init__(self, path: Path, logs_path: Path, *, probe: list[str], truth: list[str], check_every: int,
                 probe_n: int, truth_n: int, max_new_tokens: int, temperature: float,
                 reward: Callable[..., list[float]], seed: int) -> None:
        self.path, self.logs_path = path, logs_path
        self.probe, self.truth = probe, truth
        self.check_every, self.probe_n, self.truth_n = check_every, probe_n, truth_n
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.reward, self.seed = reward, seed
        self.logs: list[dict] = []
        self.last_step = -1
        self.clock = time.perf_counter()
        self.last_truth: dict | None = None

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kw):
        self.clock = time.perf_counter()
        self._check(0, model, processing_class)

    def on_log(self, args, state, control, logs=None, model=None, processing_class=None, **kw):
        if not logs or "train_runtime" in logs:
            return
        scalars = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        self.logs.append(scalars)
        step = state.global_step
        with open(self.logs_path, "a") as f:
            f.write(json.dumps({"step": step, **scalars}) + "\n")
        if step % self.check_every == 0 and step > self.last_step:
            self._check(step, model, processing_class)

    def _check(self, step: int, model, tokenizer) -> None:
        train_seconds = time.perf_counter() - self.clock
        t0 = time.perf_counter()
        comps = sample_completions(model, tokenizer, self.probe, self.probe_n,
                                   max_new_tokens=self.max_new_tokens, seed=self.seed * 1_000_003 + step,
                                   temperature=self.temperature)
        flat_p = [p for p, cs in zip(self.probe, comps) for _ in cs]
        flat_r = self.reward(prompts=flat_p, completions=[c for cs in comps for c in cs])
        rewards = [flat_r[i * self.probe_n:(i + 1) * self.probe_n] for i in range(len(self.probe))]
        t1 = time.perf_counter()
        truth_comps = sample_completions(model, tokenizer, self.truth, self.truth_n,
                                         max_new_tokens=self.max_new_tokens,
                                         seed=self.seed * 1_000_003 + step + 500_000,
                                         temperature=self.temperature)
        truth = truth_of(self.truth, truth_comps)
        t2 = time.perf_counter()
        line = {"step": step, "prompts": self.probe, "completions": comps,
                "correct": [[correct(p, c) for c in cs] for p, cs in zip(self.probe, comps)],
                "rewards": rewards, "logs": self.logs[-1] if self.logs else {},
                "logs_mean": _mean_logs(self.logs), "truth": truth,
                "probe_seconds": t1 - t0, "truth_seconds": t2 - t1, "train_seconds": train_seconds}
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
        self.logs, self.last_step, self.last_truth = [], step, truth
        self.clock = time.perf_counter()


def _mean_logs(logs: list[dict]) -> dict:
    keys = {k for d in logs for k in d}
    out = {}
    for k in sorted(keys):
        vals = [d[k] for d in logs if k in d and math.isfinite(d[k])]
        if vals:
            out[k] = statistics.fmean(vals)
    return out
