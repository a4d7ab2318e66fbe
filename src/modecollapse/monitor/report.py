"""The monitor's verdicts and its frozen report (a leaf module: the adapters and the core both read it)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

VERDICTS: tuple[str, ...] = ("warming-up", "healthy", "collapsing", "collapsed", "diverged")
#: verdicts that mean "act now"
ALARMS: tuple[str, ...] = ("collapsing", "collapsed", "diverged")
#: what a report says is wrong: ``none`` (healthy or warming up), ``dropped-modes`` (fewer of
#: the real data's modes or clusters filled than real data of the same size fills),
#: ``within-mode`` (the modes are filled, but the samples are near-duplicates within them),
#: ``hopping`` (few modes at a time, different ones from check to check), ``off-data`` (the
#: samples left the data) and ``diverged`` (non-finite samples or losses)
KINDS: tuple[str, ...] = ("none", "dropped-modes", "within-mode", "hopping", "off-data", "diverged")
#: what the text monitor's report says is wrong: ``answer-collapse`` (the completions of a
#: prompt converge to few answers), ``template-collapse`` (the completions stop depending on
#: the prompt), ``repetition`` (completions degenerate into repeated n-grams or run to the
#: length limit) and ``diverged`` (a non-finite loss or reward)
TEXT_KINDS: tuple[str, ...] = ("none", "answer-collapse", "template-collapse", "repetition", "diverged")


@dataclass(frozen=True)
class MonitorReport:
    """One check's verdict. ``numbers`` holds the signals behind it (read-only mapping);
    ``kind`` names the failure (:data:`KINDS`); ``rollback_step`` is the step of the last
    check whose verdict was healthy (None when no check has been healthy yet)."""

    step: int
    verdict: str
    reason: str
    onset_step: int | None
    check: int  # 1-based index of the check
    numbers: Mapping[str, float | int | None] = field(default_factory=lambda: MappingProxyType({}))
    seconds: float = 0.0  # wall time of this check
    kind: str = "none"
    rollback_step: int | None = None
    #: share of the loop's wall time spent inside ``update()`` since the end of this process's
    #: first check (None at that check): what the monitor costs this loop
    overhead: float | None = None

    @property
    def alarm(self) -> bool:
        return self.verdict in ALARMS

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "verdict": self.verdict, "reason": self.reason, "onset_step": self.onset_step,
                "check": self.check, "kind": self.kind, "rollback_step": self.rollback_step, **dict(self.numbers),
                "seconds": self.seconds, "overhead": self.overhead}
