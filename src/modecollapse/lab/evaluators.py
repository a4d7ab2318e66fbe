"""Training-time evaluators: what the trainer measures at each evaluation, in a registry.

At every evaluation (each ``--eval-every`` steps and at the end) the loop draws one set of
``eval_samples`` samples from the generator in eval mode and hands it to every enabled
evaluator. Each returns the keys it adds to the ``metrics.jsonl`` record of that step; at the
end each adds its keys to ``summary.json``. The mode statistics (the VEEGAN / PacGAN
protocol: Srivastava et al. 2017, Lin et al. 2018) are the first evaluator and always on,
because the command-line contract promises their keys (``modes``, ``num_modes``,
``hq_fraction``, ``reverse_kl``).

Writing one (the interface the trainer relies on, nothing more)::

    @register_evaluator
    class MyMonitor(Evaluator):
        name = "my-monitor"            # the name in config.json and after --evaluator
        Params = MyMonitorParams       # a dataclass (optional), set by --evaluator my-monitor:k=v
        order = 50                     # evaluators run by (order, name); "modes" is 0

        def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
            ...                        # ctx.samples, ctx.step, ctx.d_loss, ctx.generate(...)
            return {"my_key": 1.0}     # JSON-able keys added to this step's record
        def summarize(self, records: list[dict], final: dict) -> dict[str, Any]:
            return {}                  # keys added to summary.json (final = last record)
        def state_dict(self) -> dict: ...            # kept in checkpoint.pt, restored on --resume
        def load_state_dict(self, state: dict) -> None: ...

- **State.** An evaluator instance lives for the whole run; whatever it must remember
  across evaluations (a running baseline, a counter) goes through ``state_dict`` /
  ``load_state_dict`` (tensors, numbers, strings, lists and dicts of these: the checkpoint
  is read with ``weights_only=True``), so a resumed run sees what an uninterrupted one saw.
- **Stopping.** ``evaluate`` may raise :class:`StopTraining` ``(reason, status=...)``: the
  loop writes this evaluation's record, a checkpoint at this step and the summary with that
  ``status`` (default ``"stopped"``) and ``message``, then returns (exit code 1 on the CLI).
- **Rolling back.** ``evaluate`` may raise :class:`RollBack` ``(reason, lr_scale=...)``:
  the loop keeps this evaluation's record, restores the run from the last checkpoint
  (weights, optimisers, random streams, technique state; not the evaluators' own state, so
  an evaluator remembers that it rolled back), drops later records from ``metrics.jsonl``,
  multiplies both learning rates by ``lr_scale``, calls ``on_rollback(step)`` and trains on.
  After ``max_rollbacks`` (``RollBack.max_rollbacks``, 3) in one run it stops with status
  ``"rolled-back"`` instead, so a rollback that keeps failing cannot loop for ever.
- Under torchrun only rank 0 evaluates; its decision is sent to every rank.

Register with :func:`register_evaluator`; enable with ``TrainConfig.evaluators`` (``--evaluator
NAME[:K=V,...]``). Nothing in ``train.py`` changes when one is added.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..data.base import Benchmark
from ..metrics.modes import mode_stats
from ..registry import NoParams, Registry
from .config import TechniqueSpec


class EvaluatorSignal(Exception):
    """Base of the signals an evaluator raises to steer the loop.

    ``record_keys``: the raising evaluator's own keys for this evaluation's record (its
    ``evaluate`` returns none when it raises). ``record``: the whole record of the evaluation,
    every evaluator's keys up to and including these; the loop fills it in
    (``train.evaluate``) and writes it to ``metrics.jsonl``.
    """

    def __init__(self, reason: str, *, record_keys: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record_keys: dict[str, Any] = dict(record_keys or {})
        self.record: dict[str, Any] = {}


class StopTraining(EvaluatorSignal):
    """Stop now: checkpoint, summary with ``status`` and ``message=reason``."""

    def __init__(self, reason: str, status: str = "stopped", *, record_keys: dict[str, Any] | None = None) -> None:
        super().__init__(reason, record_keys=record_keys)
        self.status = status


class RollBack(EvaluatorSignal):
    """Go back to the last checkpoint and train on with the learning rates times ``lr_scale``,
    with the techniques of ``switch_on`` switched on from there (a cure; see
    ``train.switch_on`` for which qualify)."""

    max_rollbacks: ClassVar[int] = 3

    def __init__(self, reason: str, lr_scale: float = 1.0, *, switch_on: Iterable[TechniqueSpec] = (),
                 record_keys: dict[str, Any] | None = None) -> None:
        super().__init__(reason, record_keys=record_keys)
        if not lr_scale > 0:
            raise ValueError(f"lr_scale must be positive, got {lr_scale}")
        self.lr_scale = lr_scale
        self.switch_on: tuple[TechniqueSpec, ...] = tuple(switch_on)


@dataclass
class EvalContext:
    """What an evaluator sees at one evaluation (read-only by contract).

    ``samples``: (eval_samples, dim) CPU float samples from G in eval mode, the same tensor
    for every evaluator; ``generate(n, seed)`` draws more without touching training's random
    streams; ``G`` / ``D`` are the plain (unwrapped) modules, in eval mode during the call.
    """

    step: int
    total_steps: int
    samples: torch.Tensor
    dataset: Benchmark
    d_loss: float
    g_loss: float
    G: torch.nn.Module
    D: torch.nn.Module
    generate: Callable[[int, int], torch.Tensor]
    seed: int


class Evaluator:
    """Base class: override ``evaluate`` and whatever else the evaluator needs."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    order: ClassVar[int] = 50
    summary: ClassVar[str] = ""

    def __init__(self, params: Any = None) -> None:
        self.p = params if params is not None else self.Params()

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        raise NotImplementedError

    def summarize(self, records: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
        """Keys for ``summary.json``, from every record so far (``final`` is the last one)."""
        return {}

    def progress(self, record: dict[str, Any]) -> str:
        """A few words for the progress bar from this evaluation's record ('' for none)."""
        return ""

    def on_rollback(self, step: int) -> None:
        """Called after the loop went back to the checkpoint of ``step``."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def params_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.p)


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")
#: the collapse monitor's evaluator (``--monitor``) lives in the monitor part, above the lab
EVALUATORS.provided_by("monitor", "modecollapse.monitor.lab")
#: evaluators every run has, whatever the config says (their keys are the CLI contract)
ALWAYS = ("modes",)


def register_evaluator(cls: type[Evaluator]) -> type[Evaluator]:
    """Class decorator: adds an evaluator to :data:`EVALUATORS` under ``cls.name``."""
    EVALUATORS.add(cls.name, cls)
    return cls


@register_evaluator
class ModeEvaluator(Evaluator):
    """Mode coverage of the samples (``metrics/modes.py``, the protocol of Srivastava et al.
    2017 and Lin et al. 2018): modes captured, high-quality fraction, reverse KL of the mode
    histogram, counts per mode."""

    name = "modes"
    order = 0
    summary = "modes captured, hq_fraction and reverse_kl on the benchmark's known modes (always on)"

    def evaluate(self, ctx: EvalContext) -> dict[str, Any]:
        return mode_stats(samples=ctx.samples, benchmark=ctx.dataset).as_dict()

    def progress(self, record: dict[str, Any]) -> str:
        return f"modes {record['modes']}/{record['num_modes']}, hq {record['hq_fraction']:.2f}, rKL {record['reverse_kl']:.3f}"

    def summarize(self, records: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
        captured = [frozenset(i for i, c in enumerate(r["counts"]) if c > 0) for r in records if "counts" in r]
        dominant = [max(range(len(r["counts"])), key=r["counts"].__getitem__) if any(r["counts"]) else -1
                    for r in records if "counts" in r]
        return {
            "modes": final["modes"],
            "num_modes": final["num_modes"],
            "hq_fraction": final["hq_fraction"],
            "reverse_kl": final["reverse_kl"],
            "collapsed": final["modes"] <= final["num_modes"] // 2,
            # modes captured at any evaluation: large while each evaluation holds few = mode hopping
            "modes_ever": len(frozenset().union(*captured)) if captured else 0,
            # evaluations at which the most populated mode differs from the previous evaluation's
            "dominant_mode_changes": sum(a != b for a, b in zip(dominant, dominant[1:])),
            "counts": list(final["counts"]),
        }
