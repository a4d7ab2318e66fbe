"""What every collapse monitor shares: the cadence of checks, the verdict streak, the report.

:class:`MonitorBase` is the machinery under the image monitor (:class:`~.core.CollapseMonitor`)
and the text monitor (:class:`~.text.TextCollapseMonitor`); each decides what a check shows (a
*kind*: what is wrong, or ``none``), and the base turns the kinds of successive checks into
verdicts the same way for both:

- a check is due every ``check_every`` steps, counted from 0 or from a :meth:`restart`;
- a bad check after the warm-up is ``collapsing``; ``patience`` bad checks in a row are
  ``collapsed``; ``onset_step`` is the first check of the current run of bad checks and
  ``rollback_step`` the last check that was healthy (the checkpoint to go back to);
- non-finite losses or samples are ``diverged`` at once;
- every report goes to the sinks (a JSONL log, TensorBoard), ``on_change`` hears each change
  of verdict, :attr:`should_stop` is true once the verdict is one of ``stop_on``, and
  ``report.overhead`` is the share of the loop's wall time spent inside ``update()``.

A subclass sets the state entries of :data:`STREAK_STATE` in its ``_reset_state`` and saves
them with its own state.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError
from .report import VERDICTS, MonitorReport

#: the verdict machinery's state entries (attribute ``_<name>``, public ones without the
#: underscore): each monitor saves them with its own in state_dict()
STREAK_STATE = ("next_due", "checks", "bad_streak", "onset", "last_healthy", "warming", "warm_checks", "start_step",
                "report", "total_seconds")


class MonitorBase:
    """The cadence, verdict streak and report emission shared by the monitors (module docstring).

    A subclass provides ``settings`` (with ``check_every`` and ``patience``) and ``_reset_state``."""

    settings: Any
    checks: int
    report: MonitorReport | None
    total_seconds: float
    _next_due: int
    _start_step: int
    _bad_streak: int
    _onset: int | None
    _last_healthy: int | None

    def _init_outputs(self, *, log: Any, tensorboard: Any, on_change: Callable[[str, MonitorReport], None] | None,
                      stop_on: Sequence[str]) -> None:
        bad = [v for v in stop_on if v not in VERDICTS]
        if bad:
            raise ConfigError(f"stop_on has unknown verdict {bad[0]!r}; choose from: {', '.join(VERDICTS)}.")
        self.stop_on = tuple(stop_on)
        self.on_change = on_change
        self._sinks: list[Any] = []
        if log is not None:
            from .adapters import JsonlSink

            self._sinks.append(JsonlSink(log))
        if tensorboard is not None:
            from .adapters import TensorBoardSink

            self._sinks.append(TensorBoardSink(tensorboard))

    def _reset_state(self) -> None:  # pragma: no cover - every monitor defines it
        raise NotImplementedError

    # -- cadence ------------------------------------------------------------------------------
    def restart(self, step: int) -> None:
        """Forgets every check and warms up again from ``step`` (after the loop rolled back to
        ``step`` and changed the training, e.g. switched a cure on)."""
        self._reset_state()
        self._start_step = int(step)
        self._next_due = int(step) + self.settings.check_every

    def due(self, step: int) -> bool:
        """Whether a check is due at ``step`` (lets a loop skip producing samples otherwise)."""
        return step >= self._next_due

    def _schedule(self, step: int) -> None:
        """The next due step: the next multiple of check_every (from the start) after ``step``."""
        every = self.settings.check_every
        self._next_due = self._start_step + ((step - self._start_step) // every + 1) * every

    # -- verdicts -----------------------------------------------------------------------------
    @property
    def verdict(self) -> str:
        """The latest verdict (``warming-up`` before the first check)."""
        return self.report.verdict if self.report is not None else "warming-up"

    @property
    def should_stop(self) -> bool:
        """True once the latest verdict is one of ``stop_on`` (early stopping)."""
        return self.verdict in self.stop_on

    def _streak(self, step: int, bad: bool, *, onset: int | None = None) -> None:
        """Counts this check into the run of bad checks: a bad check starts the run's onset
        (at ``onset`` when the trouble began before this check), a good one ends the run."""
        self._bad_streak = self._bad_streak + 1 if bad else 0
        if bad and self._onset is None:
            self._onset = step if onset is None else onset
        if not bad:
            self._onset = None

    def _alarm_verdict(self) -> str:
        """``collapsed`` once the run of bad checks has lasted ``patience`` checks, else ``collapsing``."""
        return "collapsed" if self._bad_streak >= self.settings.patience else "collapsing"

    def _rollback_note(self, cure: str) -> str:
        """What to do: roll back to the last healthy check and apply ``cure``, or, when no check
        was healthy, say so and apply it from the start."""
        if self._last_healthy is None:
            return f"no check has been healthy yet, so there is no healthy checkpoint to roll back to: {cure} and start again"
        return f"roll back to the checkpoint of step {self._last_healthy} (the last healthy check) and {cure}"

    def _latest(self, step: int) -> MonitorReport:
        if self.report is None:
            return MonitorReport(step, "warming-up", "warming up: no check has run yet", None, 0)
        return self.report

    # -- output -------------------------------------------------------------------------------
    def _emit(self, report: MonitorReport, t0: float) -> MonitorReport:
        now = time.perf_counter()
        seconds = now - t0
        overhead = None
        # (this call's seconds join total_seconds only when it returns)
        if self._clock0 is None:  # the first check's own cost, set-up included, stays out
            self._clock0, self._seconds0 = now, self.total_seconds + seconds
        elif now > self._clock0:
            overhead = min(1.0, (self.total_seconds + seconds - self._seconds0) / (now - self._clock0))
        report = dataclasses.replace(report, seconds=seconds, overhead=overhead)
        previous = self.verdict
        self.report = report
        for sink in self._sinks:
            sink.write(report)
        if self.on_change is not None and report.verdict != previous:
            self.on_change(previous, report)
        return report

    def _reset_clock(self) -> None:
        """The wall clock and total_seconds at the end of this process's first check, from which
        ``overhead`` counts (not saved: another process's wall time says nothing of this one)."""
        self._clock0: float | None = None
        self._seconds0 = 0.0

    def close(self) -> None:
        """Flushes and closes the log sinks."""
        for sink in self._sinks:
            sink.close()
