"""The monitor inside the lab's trainer: ``modecollapse train --monitor [--on-collapse stop|rollback --cure T]``.

:class:`LabMonitor` builds a :class:`~modecollapse.monitor.CollapseMonitor` from the
benchmark's own real samples (never from its known modes: the lab watches its runs the way a
user would watch theirs), feeds it the first ``samples`` of each evaluation's samples, and
turns the verdict into the record's keys and into an action:

- ``on_collapse="none"``: the verdict and reason of every evaluation go to ``metrics.jsonl``
  (``monitor_verdict``, ``monitor_reason``, ``monitor_score``), the last ones and
  ``collapse_step`` to ``summary.json``;
- ``"stop"``: a ``collapsed`` (or ``diverged``) verdict ends the run, status ``collapsed``;
- ``"rollback"``: the first alarm (``collapsing``, ``collapsed`` or ``diverged``) sends the
  run back to its last checkpoint, which the trainer took while the verdict was still
  healthy (the alarm comes at the first bad evaluation, before any later checkpoint), and
  switches the ``cure`` technique on from there. One cure per run: a second alarm after
  the cure stops the run with status ``collapsed``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from .core import CollapseMonitor, MonitorSettings
from .report import ALARMS

ON_COLLAPSE = ("none", "stop", "rollback")


@dataclass
class MonitorParams:
    """``on_collapse``: none | stop | rollback; ``cure``: TECHNIQUE[:k=v,...] switched on at a
    rollback; ``samples``: evaluation samples the monitor scores; ``real``: real samples it
    is built from; ``warmup_steps``: steps before the first verdict (the monitor's warm-up in
    steps, since the lab's evaluations are further apart than the monitor's default checks)."""

    on_collapse: str = "none"
    cure: str = ""
    samples: int = 512
    real: int = 4096
    warmup_steps: int = 400

    def validate(self) -> None:
        if self.on_collapse not in ON_COLLAPSE:
            raise ConfigError(f"--on-collapse must be one of {', '.join(ON_COLLAPSE)}, got {self.on_collapse!r}.")
        if self.on_collapse == "rollback" and not self.cure:
            raise ConfigError("--on-collapse rollback needs --cure TECHNIQUE[:k=v,...] (e.g. --cure gp:kind=r1), "
                              "the technique switched on after the rollback.")
        if self.cure and self.on_collapse != "rollback":
            raise ConfigError("--cure only acts with --on-collapse rollback.")
        if self.samples < 32 or self.real < 256 or self.warmup_steps < 0:
            raise ConfigError("monitor needs samples >= 32, real >= 256 and warmup_steps >= 0.")


def parse_cure(text: str) -> tuple[str, dict[str, str]]:
    """``"gp:kind=r1,weight=1"`` -> ``("gp", {"kind": "r1", "weight": "1"})``."""
    name, _, rest = text.partition(":")
    pairs: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--cure {text!r}: parameters are key=value pairs, e.g. --cure gp:kind=r1,weight=1.")
        pairs[key.strip()] = value.strip()
    if not name.strip():
        raise ConfigError("--cure needs a technique name, e.g. --cure gp:kind=r1.")
    return name.strip(), pairs


def features_for(dataset: Any):
    """The monitor's feature extractor for a lab benchmark: the digit classifier's features
    for Stacked MNIST, raw coordinates otherwise."""
    if getattr(dataset, "name", "") == "stacked-mnist":
        from ..features.mnist import mnist_features

        model = dataset.classifier
        return lambda x: mnist_features(x, model=model, pixel_range=(-1.0, 1.0))
    return None


class LabMonitor:
    """The trainer-facing side of the monitor (see the module docstring)."""

    def __init__(self, params: MonitorParams, *, dataset: Any, seed: int, eval_every: int) -> None:
        params.validate()
        self.p = params
        real = dataset.sample(params.real, torch.Generator().manual_seed(seed * 7 + 424_242))
        warm = math.ceil(params.warmup_steps / max(eval_every, 1))
        settings = MonitorSettings(check_every=1, batch_size=params.samples, min_samples=min(params.samples, 128),
                                   warmup_checks=warm, seed=seed)
        self.monitor = CollapseMonitor(real=real, features=features_for(dataset), settings=settings)
        self.cured = False
        self.collapse_step: int | None = None

    def observe(self, step: int, samples: torch.Tensor, d_loss: float, g_loss: float) -> tuple[dict[str, Any], str | None]:
        """The record's keys and the action: None, ``"stop"`` or ``"rollback"``."""
        d = d_loss if math.isfinite(d_loss) else None
        g = g_loss if math.isfinite(g_loss) else None
        r = self.monitor.update(step, fake=samples[: self.p.samples], d_loss=d, g_loss=g)
        if r.verdict in ALARMS and self.collapse_step is None:
            self.collapse_step = r.onset_step if r.onset_step is not None else step
        elif r.verdict == "healthy":
            self.collapse_step = None
        score = r.numbers.get("score")
        keys = {"monitor_verdict": r.verdict, "monitor_reason": r.reason,
                "monitor_score": score if isinstance(score, float) and math.isfinite(score) else None}
        action = None
        if self.p.on_collapse == "stop" and r.verdict in ("collapsed", "diverged"):
            action = "stop"
        elif self.p.on_collapse == "rollback" and r.verdict in ALARMS:
            action = "stop" if self.cured else "rollback"
        return keys, action

    def progress(self) -> str:
        return f"monitor {self.monitor.verdict}"

    def summary(self) -> dict[str, Any]:
        r = self.monitor.report
        return {"monitor_verdict": self.monitor.verdict, "monitor_reason": r.reason if r else "",
                "collapse_step": self.collapse_step, "monitor_cured": self.cured}

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "cured": self.cured, "collapse_step": self.collapse_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.monitor.load_state_dict(state["monitor"])
        self.cured = bool(state["cured"])
        self.collapse_step = state["collapse_step"]
