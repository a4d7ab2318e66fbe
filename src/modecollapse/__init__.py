"""modecollapse: reproduce, measure, detect and cure mode collapse in generative models.

The parts, each a package: :mod:`~modecollapse.lab` (train GANs on benchmarks),
:mod:`~modecollapse.measure` (metrics of any samples), :mod:`~modecollapse.monitor`
(:class:`CollapseMonitor` in any PyTorch loop), :mod:`~modecollapse.bench` (sweeps,
leaderboard, report), :mod:`~modecollapse.diagnostics`, :mod:`~modecollapse.scenarios` and
the command line :mod:`~modecollapse.cli`; below them the shared building blocks
:mod:`~modecollapse.data`, :mod:`~modecollapse.models`, :mod:`~modecollapse.techniques`,
:mod:`~modecollapse.features` and :mod:`~modecollapse.metrics`. The names below are
imported on first use, so ``import modecollapse`` costs little more than ``import torch``.
"""
from .errors import ConfigError
from .registry import lazy_exports

__version__ = "0.1.0"
__all__ = ["CollapseCallback", "CollapseMonitor", "ConfigError", "TextCollapseMonitor", "TechniqueSpec", "TrainConfig", "build_run", "train", "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "CollapseMonitor": "monitor", "TextCollapseMonitor": "monitor", "CollapseCallback": "monitor",
    "TechniqueSpec": "lab.config", "TrainConfig": "lab.config",
    "build_run": "lab.train", "train": "lab.train",
})
