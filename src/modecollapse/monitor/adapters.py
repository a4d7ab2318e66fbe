"""Where the monitor's reports go: a JSONL log, TensorBoard scalars, a Lightning callback.

TensorBoard and Lightning are optional extras; asking for an adapter without its package
raises one :class:`~modecollapse.errors.ConfigError` line naming the extra to install.
"""
from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from .report import VERDICTS, MonitorReport

#: report numbers written as TensorBoard scalars, under ``monitor/``
SCALARS: tuple[str, ...] = ("score", "recall_rel", "modes_rel", "coverage_rel", "precision", "spread_rel", "effective_modes",
                            "overlap", "mutual_info")


def require_extra(module: str, extra: str) -> Any:
    """Imports ``module`` or raises one line naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"this needs the optional package {module.split('.')[0]!r}: pip install modecollapse[{extra}]") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _Sink:
    """A destination for reports; ``update`` returns the latest report again between checks,
    which is written once only."""

    _last: tuple[int, int] | None = None

    def fresh(self, report: MonitorReport) -> bool:
        key = (report.step, report.check)
        if key == self._last:
            return False
        self._last = key
        return True

    def close(self) -> None:
        pass


class JsonlSink(_Sink):
    """Appends one JSON object per check to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, report: MonitorReport) -> None:
        if not self.fresh(report):
            return
        with self.path.open("a") as fh:
            fh.write(json.dumps({k: _jsonable(v) for k, v in report.as_dict().items()}) + "\n")


class TensorBoardSink(_Sink):
    """Writes the report's signals as scalars ``monitor/<name>`` and the verdict as ``monitor/verdict``
    (its index in :data:`VERDICTS`: 0 warming-up ... 4 diverged)."""

    def __init__(self, target: Any) -> None:
        if isinstance(target, (str, Path)):
            tb = require_extra("torch.utils.tensorboard", "tensorboard")
            require_extra("tensorboard", "tensorboard")
            self.writer = tb.SummaryWriter(log_dir=str(target))
            self._owned = True
        else:
            self.writer, self._owned = target, False

    def write(self, report: MonitorReport) -> None:
        if not self.fresh(report):
            return
        self.writer.add_scalar("monitor/verdict", VERDICTS.index(report.verdict), report.step)
        for name in SCALARS:
            v = report.numbers.get(name)
            if isinstance(v, (int, float)) and math.isfinite(v):
                self.writer.add_scalar(f"monitor/{name}", float(v), report.step)
        if report.overhead is not None:
            self.writer.add_scalar("monitor/overhead", report.overhead, report.step)
        self.writer.flush()

    def close(self) -> None:
        if self._owned:
            self.writer.close()


def lightning_callback(monitor: Any, sample: Callable[[Any], torch.Tensor], *, every_n_steps: int | None = None,
                       stop_on: tuple[str, ...] = ("collapsed", "diverged")) -> Any:
    """A ``lightning.pytorch.Callback`` that feeds ``sample(pl_module)`` (fake samples, (b, ...))
    to ``monitor`` every ``every_n_steps`` training batches (default: the monitor's
    ``check_every``), logs the collapse score and verdict index through the module's logger,
    and stops training (``trainer.should_stop``) on a verdict in ``stop_on``. Extra ``lightning``.
    """
    pl = require_extra("lightning.pytorch", "lightning")
    every = every_n_steps or monitor.settings.check_every

    class CollapseMonitorCallback(pl.Callback):
        def __init__(self) -> None:
            self.monitor = monitor
            self.batches = 0
            self.reports: list[MonitorReport] = []

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D401
            # training batches seen, not trainer.global_step, which counts optimizer steps
            # (two per batch in a manually optimised GAN)
            self.batches += 1
            step = self.batches
            if step % every:
                return
            was = pl_module.training
            pl_module.eval()
            with torch.no_grad():
                fake = sample(pl_module)
            pl_module.train(was)
            report = self.monitor.update(step, fake=fake)
            if not self.reports or self.reports[-1].check != report.check:
                self.reports.append(report)
                score = report.numbers.get("score")
                pl_module.log("monitor/verdict", float(VERDICTS.index(report.verdict)))
                if isinstance(score, float):
                    pl_module.log("monitor/score", score)
            if report.verdict in stop_on:
                trainer.should_stop = True

        def state_dict(self) -> dict:
            return {"monitor": self.monitor.state_dict(), "batches": self.batches}

        def load_state_dict(self, state_dict: dict) -> None:
            self.monitor.load_state_dict(state_dict["monitor"])
            self.batches = int(state_dict["batches"])

    return CollapseMonitorCallback()
