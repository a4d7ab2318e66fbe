"""CollapseMonitor: collapse detection for any PyTorch training loop (see :mod:`.core`)."""
from .core import CollapseMonitor, MonitorSettings
from .report import ALARMS, KINDS, VERDICTS, MonitorReport
from . import lab  # noqa: E402,F401  (registers the trainer's "monitor" evaluator)

__all__ = ["ALARMS", "KINDS", "VERDICTS", "CollapseMonitor", "MonitorReport", "MonitorSettings"]
