"""CollapseMonitor: collapse detection for any PyTorch training loop (see :mod:`.core`)."""
from .core import ALARMS, VERDICTS, CollapseMonitor, MonitorReport, MonitorSettings

__all__ = ["ALARMS", "VERDICTS", "CollapseMonitor", "MonitorReport", "MonitorSettings"]
