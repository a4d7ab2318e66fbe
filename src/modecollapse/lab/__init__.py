"""The lab: train a GAN on a benchmark with any losses and anti-collapse techniques
(``modecollapse train``).

:mod:`.config` (the typed run configuration, saved as ``config.json``), :mod:`.presets`,
:mod:`.losses`, :mod:`.train` (the one training loop), :mod:`.strategy` and
:mod:`.distributed` (one process or DDP under torchrun), :mod:`.evaluators` (what is
measured at each evaluation), :mod:`.rundir` (the run directory) and :mod:`.plots`.
"""
from ..registry import lazy_exports

__all__ = ["TechniqueSpec", "TrainConfig", "build_run", "train_step", "generate", "evaluate", "PRESETS", "LOSSES"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "TechniqueSpec": "config", "TrainConfig": "config", "build_run": "train", "train_step": "train",
    "generate": "train", "evaluate": "train", "PRESETS": "presets", "LOSSES": "losses",
})
