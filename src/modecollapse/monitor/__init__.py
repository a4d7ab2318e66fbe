"""CollapseMonitor: collapse detection for any PyTorch training loop (see :mod:`.core`)."""
from .core import CollapseMonitor, MonitorSettings
from .report import ALARMS, VERDICTS, MonitorReport

__all__ = ["ALARMS", "VERDICTS", "CollapseMonitor", "MonitorReport", "MonitorSettings"]
