"""The monitor's verdicts and its frozen report (a leaf module: the adapters and the core both read it)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
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


def parse_report(r: Any, bad: Callable[[str], Exception], kinds: tuple[str, ...]) -> MonitorReport | None:
    """A report back from its :meth:`MonitorReport.as_dict` (in a saved monitor state); ``kinds``:
    the kinds its monitor names. A malformed one raises ``bad(what)``."""
    if r is None:
        return None
    required = ("step", "verdict", "reason", "onset_step", "check", "seconds", "kind", "rollback_step")
    core = (*required, "overhead")  # overhead: absent from states saved before it existed
    ok = (isinstance(r, Mapping) and all(k in r for k in required) and isinstance(r["step"], int)
          and (r.get("overhead") is None or (isinstance(r["overhead"], (int, float)) and 0 <= r["overhead"] <= 1))
          and r["verdict"] in VERDICTS and isinstance(r["reason"], str) and r["kind"] in kinds
          and isinstance(r["check"], int) and isinstance(r["seconds"], (int, float))
          and all(r[k] is None or isinstance(r[k], int) for k in ("onset_step", "rollback_step"))
          and all(v is None or isinstance(v, (int, float)) for k, v in r.items() if k not in core))
    if not ok:
        raise bad("report should be a report's as_dict() with a known verdict and kind")
    numbers = MappingProxyType({k: v for k, v in r.items() if k not in core})
    return MonitorReport(r["step"], r["verdict"], r["reason"], r["onset_step"], r["check"], numbers,
                         float(r["seconds"]), r["kind"], r["rollback_step"],
                         None if r.get("overhead") is None else float(r["overhead"]))
