"""CollapseMonitor: collapse detection for any PyTorch training loop (see :mod:`.core`).

:mod:`.lab` is the monitor as the lab's ``monitor`` evaluator (``modecollapse train
--monitor``); the lab's evaluator registry imports it by name when a run asks for it.
"""
from .core import CollapseMonitor, MonitorSettings
from .report import ALARMS, KINDS, VERDICTS, MonitorReport

__all__ = ["ALARMS", "KINDS", "VERDICTS", "CollapseMonitor", "MonitorReport", "MonitorSettings"]
