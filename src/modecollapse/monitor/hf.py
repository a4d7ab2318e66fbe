"""CollapseCallback: the text monitor inside a transformers ``Trainer`` or a TRL trainer.

Every ``check_every`` optimizer steps (and once before training, the reference) the callback
samples ``n`` completions of each probe prompt with the trainer's own model and tokenizer
(temperature 1 unless ``generation`` says otherwise, under its own seed, so the training's
random stream is untouched), scores them with the ``verifier`` and ``reward`` when given,
and feeds them to a :class:`~.text.TextCollapseMonitor`. Its numbers go into the trainer's
logs as ``collapse/*`` (the latest entry of ``trainer.state.log_history`` and every logging
callback after it: :meth:`CollapseCallback.attach` puts it first so TensorBoard and W&B see
them too); the trainer's logged scalars (``loss``, ``reward``, ``entropy`` ...) are read at
every log, a non-finite loss or reward is ``diverged``. A verdict in ``stop_on`` sets
``control.should_training_stop``; the last checkpoint saved at or before the last healthy
check is named (:attr:`CollapseCallback.resume_checkpoint`). The monitor's state is saved
in each checkpoint folder (``collapse_monitor.json``) and read back when training resumes
from it.

Under several processes (``accelerate launch``, ``torchrun``) the main process probes and
judges, once per check, and sends the monitor's state to every rank, so each reads the same
verdict and stops at the same step. (The probe runs the unwrapped model on the main process
alone: fine for DDP; a model sharded across ranks, FSDP or ZeRO-3, is not supported.)

Needs the ``llm`` extra (transformers); without it, importing this module raises one sentence
naming it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from .report import VERDICTS, MonitorReport
from .text import TextCollapseMonitor, TextMonitorSettings

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - the llm extra is installed by make test
    raise ConfigError("CollapseCallback needs transformers: pip install 'modecollapse[llm]'") from None

logger = logging.getLogger("modecollapse")
STATE_FILE = "collapse_monitor.json"
#: report numbers written to the trainer's logs as collapse/<name>
LOGGED = ("distinct", "distinct_correct", "diversity", "correct_diversity", "prompt_dep", "pooled_unique", "repetition",
          "truncated", "length", "pass1", "passk", "vendi", "diversity_rel", "correct_rel", "prompt_dep_rel")


def _distributed() -> tuple[bool, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size() > 1, torch.distributed.get_rank()
    return False, 0


class CollapseCallback(TrainerCallback):
    """Watches a transformers/TRL training for mode collapse (module docstring).

    ``prompts``: the probe prompts (strings, or chats as lists of ``{"role", "content"}``
    messages, rendered with the tokenizer's chat template); ``n``: completions per prompt;
    ``check_every``: optimizer steps between checks; ``generation``: ``model.generate``
    options (default ``max_new_tokens=64``, ``temperature=1.0``, ``do_sample=True``);
    ``verifier(prompt, completion) -> bool`` and ``reward(prompt, completion) -> float``:
    optional, per completion; ``stop_on``: verdicts that stop training (default none);
    ``settings``, ``normalise``, ``answer``, ``embedder``, ``reference``, ``log``: as
    :class:`~.text.TextCollapseMonitor`'s; ``seed``: of the probe's sampling.
    """

    def __init__(self, prompts: Sequence[Any], *, n: int = 8, check_every: int = 25,
                 generation: Mapping[str, Any] | None = None,
                 verifier: Callable[[Any, str], bool] | None = None, reward: Callable[[Any, str], float] | None = None,
                 stop_on: Sequence[str] = (), settings: TextMonitorSettings | None = None,
                 normalise: Any = "whitespace", answer: Any = None, embedder: Any = None,
                 reference: Sequence[Sequence[str]] | None = None, log: Any = None, seed: int = 0,
                 on_change: Callable[[str, MonitorReport], None] | None = None) -> None:
        if isinstance(prompts, str) or not prompts:
            raise ConfigError("CollapseCallback needs a non-empty list of probe prompts.")
        if not isinstance(n, int) or n < 2:
            raise ConfigError(f"CollapseCallback n must be an integer >= 2 (completions per prompt), got {n!r}.")
        self.prompts = list(prompts)
        self.n = n
        self.generation = {"max_new_tokens": 64, "do_sample": True, "temperature": 1.0, **(generation or {})}
        self.verifier, self.reward = verifier, reward
        self.seed = seed
        self.monitor = TextCollapseMonitor(settings=settings, check_every=check_every, reference=reference,
                                           normalise=normalise, answer=answer, embedder=embedder, log=log,
                                           stop_on=stop_on, on_change=on_change)
        self.checkpoints: list[int] = []  # steps of the checkpoints saved so far
        self.probe_seconds = 0.0  # wall time spent probing and judging
        self._logged_check = 0
        self._output_dir: str | None = None

    # -- placement -----------------------------------------------------------------------------
    def attach(self, trainer: Any) -> CollapseCallback:
        """Adds this callback to ``trainer`` as its first callback, so every logging callback
        (TensorBoard, W&B ...) runs after it and sees ``collapse/*``; returns self."""
        handler = trainer.callback_handler
        handler.callbacks = [cb for cb in handler.callbacks if cb is not self]
        handler.callbacks.insert(0, self)
        return self

    @property
    def report(self) -> MonitorReport | None:
        return self.monitor.report

    @property
    def resume_checkpoint(self) -> str | None:
        """The last checkpoint saved at or before the last healthy check (None when there is none)."""
        healthy = self.monitor.report.rollback_step if self.monitor.report is not None else None
        if healthy is None or self._output_dir is None:
            return None
        ok = [s for s in self.checkpoints if s <= healthy]
        return os.path.join(self._output_dir, f"checkpoint-{max(ok)}") if ok else None

    # -- the probe -------------------------------------------------------------------------------
    def _render(self, tokenizer: Any) -> list[str]:
        out = []
        for p in self.prompts:
            if isinstance(p, str):
                out.append(p)
            elif isinstance(p, list) and getattr(tokenizer, "chat_template", None):
                out.append(tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True))
            else:
                raise ConfigError("a probe prompt must be a string, or a chat (a list of messages) with a tokenizer that "
                                  "has a chat template.")
        return out

    @torch.no_grad()
    def probe(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        """``n`` completions of every probe prompt from ``model``: {"completions", "truncated",
        "correct", "rewards"}, a list per prompt each (correct/rewards None without a scorer)."""
        if tokenizer is None:
            raise ConfigError("CollapseCallback needs the trainer's tokenizer (processing_class) to probe the model.")
        was_training = model.training
        model.eval()
        side = getattr(tokenizer, "padding_side", "right")
        tokenizer.padding_side = "left"  # decoder-only generation continues the prompt's last token
        try:
            texts = self._render(tokenizer)
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            with torch.random.fork_rng(devices=[model.device] if model.device.type == "cuda" else []):
                torch.manual_seed(self.seed + self.monitor.checks)
                out = model.generate(**enc, num_return_sequences=self.n, pad_token_id=pad, **self.generation)
        finally:
            tokenizer.padding_side = side
            model.train(was_training)
        new = out[:, enc["input_ids"].shape[1]:]
        eos = tokenizer.eos_token_id
        limit = self.generation.get("max_new_tokens")
        finished = (new == eos).any(dim=1) if eos is not None else torch.zeros(len(new), dtype=torch.bool)
        decoded = tokenizer.batch_decode(new, skip_special_tokens=True)
        groups = [decoded[i * self.n:(i + 1) * self.n] for i in range(len(self.prompts))]
        truncated = [[bool(not finished[i * self.n + j]) and limit is not None for j in range(self.n)]
                     for i in range(len(self.prompts))]
        correct = ([[bool(self.verifier(p, c)) for c in g] for p, g in zip(self.prompts, groups)]
                   if self.verifier is not None else None)
        rewards = ([[float(self.reward(p, c)) for c in g] for p, g in zip(self.prompts, groups)]
                   if self.reward is not None else None)
        return {"completions": groups, "truncated": truncated, "correct": correct, "rewards": rewards}

    def _check(self, step: int, model: Any, tokenizer: Any) -> None:
        """Probes and judges on the main process and shares the monitor's state with every rank."""
        multi, rank = _distributed()
        if rank == 0:
            t0 = time.perf_counter()
            p = self.probe(model, tokenizer)
            self.monitor.update(step, prompts=[str(x) for x in self.prompts], completions=p["completions"],
                                correct=p["correct"], rewards=p["rewards"], truncated=p["truncated"])
            self.probe_seconds += time.perf_counter() - t0
        if multi:
            box = [self.monitor.state_dict() if rank == 0 else None]
            torch.distributed.broadcast_object_list(box, src=0)
            if rank != 0:
                self.monitor.load_state_dict(box[0])

    # -- the trainer's events ------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        self._output_dir = args.output_dir
        if state.global_step > 0:
            self._load(Path(args.output_dir) / f"checkpoint-{state.global_step}" / STATE_FILE)
        if self.monitor.checks == 0 and model is not None:  # the reference probe, before any update
            self._check(state.global_step, model, processing_class)
        return control

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if model is not None and self.monitor.due(state.global_step):
            self._check(state.global_step, model, processing_class)
            control.should_log = True  # the check's numbers reach the logs at this step
        if self.monitor.should_stop:
            control.should_training_stop = True
            self._say_stop(state.global_step)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.monitor.update(state.global_step, logs=logs)  # a non-finite loss or reward: diverged
        report = self.monitor.report
        if report is not None and logs is not None and report.check != self._logged_check:
            self._logged_check = report.check
            extra = {f"collapse/{k}": float(report.numbers[k]) for k in LOGGED
                     if isinstance(report.numbers.get(k), (int, float)) and math.isfinite(report.numbers[k])}
            extra["collapse/verdict"] = float(VERDICTS.index(report.verdict))
            extra["collapse/alarm"] = float(report.alarm)
            logs.update(extra)
            if state.log_history:
                state.log_history[-1].update(extra)
        if self.monitor.should_stop:
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):
        self.checkpoints.append(state.global_step)
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                from ..fileio import atomic_write

                text = json.dumps({"monitor": self.monitor.state_dict(), "checkpoints": self.checkpoints,
                                   "probe_seconds": self.probe_seconds})
                atomic_write(folder / STATE_FILE, lambda tmp: Path(tmp).write_text(text))
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.monitor.close()
        return control

    def _load(self, path: Path) -> None:
        if not path.is_file():
            return
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            raise ConfigError(f"cannot read the collapse monitor's state {path}; delete it to start the monitor "
                              "afresh.") from None
        self.monitor.load_state_dict(saved.get("monitor"))
        self.checkpoints = [int(s) for s in saved.get("checkpoints", [])]
        self.probe_seconds = float(saved.get("probe_seconds", 0.0))
        self._logged_check = self.monitor.checks

    def _say_stop(self, step: int) -> None:
        r = self.monitor.report
        if r is None or getattr(self, "_said", None) == r.check:
            return
        self._said = r.check
        where = self.resume_checkpoint
        resume = (f"; resume from {where}, the last checkpoint at or before the last healthy check"
                  if where else "")
        logger.warning("modecollapse: training stopped at step %d: %s%s", step, r.reason, resume)
