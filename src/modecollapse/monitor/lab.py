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
  healthy or warming up (the alarm comes at the first bad evaluation, and the trainer
  writes no checkpoint at an evaluation that raised), and switches the ``cure`` technique
  on from there (``train.switch_on``). One cure per run: the monitor then starts afresh
  (warm-up included) and the cured run trains to its end, its verdicts recorded as before.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from ..lab.config import TechniqueSpec
from ..lab.evaluators import EvalContext, Evaluator, RollBack, StopTraining, register_evaluator
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
        if self.cure:
            cure_spec(self.cure)  # a bad name or parameter fails now, not at the rollback


def cure_spec(text: str) -> TechniqueSpec:
    """The technique ``--cure TECHNIQUE[:k=v,...]`` names, its parameters validated and read
    as ``--TECHNIQUE k=v,...`` reads them (:func:`~modecollapse.registry.parse_pairs`)."""
    from ..registry import params_from_strings, parse_pairs
    from ..techniques import TECHNIQUES

    name, _, rest = text.partition(":")
    if not name.strip():
        raise ConfigError("--cure needs a technique name, e.g. --cure gp:kind=r1.")
    cls = TECHNIQUES.get(name.strip())
    cls.check_switchable("--cure")
    params = params_from_strings(cls.Params, parse_pairs(rest, f"--cure {cls.name}"), f"--cure {cls.name}")
    return TechniqueSpec(cls.name, dataclasses.asdict(params))


def features_for(dataset: Any):
    """The monitor's feature extractor for a lab benchmark: the digit classifier's features
    for MNIST and Stacked MNIST, raw coordinates otherwise."""
    if getattr(dataset, "name", "") in ("mnist", "stacked-mnist"):
        from ..features.mnist import mnist_features

        model = dataset.classifier
        return lambda x: mnist_features(x, model=model, pixel_range=(-1.0, 1.0))
    return None


class LabMonitor:
    """The trainer-facing side of the monitor (see the module docstring)."""

    def __init__(self, params: MonitorParams, *, dataset: Any, seed: int) -> None:
        params.validate()
        self.p = params
        real = dataset.sample(params.real, torch.Generator().manual_seed(seed * 7 + 424_242))
        settings = MonitorSettings(check_every=1, batch_size=params.samples, min_samples=min(params.samples, 128),
                                   warmup_checks=0, warmup_steps=params.warmup_steps, seed=seed)
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
        elif self.p.on_collapse == "rollback" and r.verdict in ALARMS and not self.cured:
            action = "rollback"  # once: after the cure the run trains on to its end, judged as before
        return keys, action

    def restart(self, step: int) -> None:
        """After the rollback to ``step``: the cured run is judged afresh, warm-up included."""
        self.monitor.restart(step)
        self.collapse_step = None

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


@register_evaluator
class MonitorEvaluator(Evaluator):
    """``--monitor``: the verdict of this project's collapse monitor at every evaluation, and ``--on-collapse``."""

    name = "monitor"
    Params = MonitorParams
    order = 60
    summary = ("CollapseMonitor verdict and reason from real data only (on_collapse=none|stop|rollback, "
               "cure=TECHNIQUE for rollback); also --monitor / --on-collapse / --cure")

    def __init__(self, params: MonitorParams | None = None) -> None:
        super().__init__(params)
        self.lab: LabMonitor | None = None
        self._state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []

    def _ensure(self, ctx: EvalContext) -> LabMonitor:
        if self.lab is None:
            self.lab = LabMonitor(self.p, dataset=ctx.dataset, seed=ctx.seed)
            self.lab.load_state_dict(self._state)
        return self.lab

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        lab = self._ensure(ctx)
        keys, action = lab.observe(ctx.step, ctx.samples, ctx.d_loss, ctx.g_loss)
        verdict, reason = keys["monitor_verdict"], keys["monitor_reason"]
        if action == "rollback":
            lab.cured = True
            cure = cure_spec(self.p.cure)
            self.events.append({"step": ctx.step, "verdict": verdict, "cure": self.p.cure,
                                "collapse_step": lab.collapse_step})
            raise RollBack(f"monitor: {verdict} at step {ctx.step}: {reason}; rolling back and switching "
                           f"{self.p.cure} on", switch_on=(cure,), record_keys=keys)
        if action == "stop":
            raise StopTraining(f"monitor: {verdict} at step {ctx.step}: {reason}", status="collapsed", record_keys=keys)
        return keys

    def on_rollback(self, step: int) -> None:
        if self.lab is not None and self.lab.cured:
            self.lab.restart(step)

    def progress(self, record: dict[str, Any]) -> str:
        return f"monitor {record['monitor_verdict']}" if "monitor_verdict" in record else ""

    def summarize(self, records: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
        if self.lab is None:
            return {}
        out = self.lab.summary()
        if "monitor_verdict" in final:  # the final evaluation's verdict (a rollback's record is dropped)
            out["monitor_verdict"], out["monitor_reason"] = final["monitor_verdict"], final["monitor_reason"]
        if self.events:
            out["monitor_events"] = list(self.events)
        return out

    def state_dict(self) -> dict[str, Any]:
        state = self.lab.state_dict() if self.lab is not None else dict(self._state)
        return {**state, "events": list(self.events)} if state else {"events": list(self.events)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.events = list(state.get("events", []))
        self._state = {k: v for k, v in state.items() if k != "events"}
        if self.lab is not None:
            self.lab.load_state_dict(self._state)
