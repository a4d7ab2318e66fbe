"""The monitor's verdicts and its frozen report (a leaf module: the adapters and the core both read it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

VERDICTS: tuple[str, ...] = ("warming-up", "healthy", "collapsing", "collapsed", "diverged")
#: verdicts that mean "act now"
ALARMS: tuple[str, ...] = ("collapsing", "collapsed", "diverged")


@dataclass(frozen=True)
class MonitorReport:
    """One check's verdict. ``numbers`` holds the signals behind it (read-only mapping)."""

    step: int
    verdict: str
    reason: str
    onset_step: int | None
    check: int  # 1-based index of the check
    numbers: Mapping[str, float | int | None] = field(default_factory=lambda: MappingProxyType({}))
    seconds: float = 0.0  # wall time of this check

    @property
    def alarm(self) -> bool:
        return self.verdict in ALARMS

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "verdict": self.verdict, "reason": self.reason, "onset_step": self.onset_step,
                "check": self.check, **dict(self.numbers), "seconds": self.seconds}
