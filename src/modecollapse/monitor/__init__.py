"""Collapse monitors for any training loop: :class:`CollapseMonitor` for generators of samples
(images, vectors; :mod:`.core`), :class:`TextCollapseMonitor` for language models
(:mod:`.text`), both on the verdict machinery of :mod:`.base`; :class:`CollapseCallback` puts
the text monitor in a transformers or TRL trainer (:mod:`.hf`, extra ``llm``, imported on first use).

:mod:`.lab` is the monitor as the lab's ``monitor`` evaluator (``modecollapse train
--monitor``); the lab's evaluator registry imports it by name when a run asks for it.
"""
from .core import CollapseMonitor, MonitorSettings
from .report import ALARMS, KINDS, TEXT_KINDS, VERDICTS, MonitorReport
from .text import TextCollapseMonitor, TextMonitorSettings

__all__ = ["ALARMS", "KINDS", "TEXT_KINDS", "VERDICTS", "CollapseCallback", "CollapseMonitor", "MonitorReport",
           "MonitorSettings", "TextCollapseMonitor", "TextMonitorSettings"]


def __getattr__(name: str):
    if name == "CollapseCallback":  # transformers is imported only when the callback is asked for
        from .hf import CollapseCallback

        return CollapseCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
