"""modecollapse: reproduce, measure, detect and cure mode collapse in generative models."""
from .config import TechniqueSpec, TrainConfig
from .errors import ConfigError
from .train import build_run, train
from .monitor import CollapseMonitor  # noqa: E402

__version__ = "0.1.0"
__all__ = ["CollapseMonitor", "ConfigError", "TechniqueSpec", "TrainConfig", "build_run", "train", "__version__"]
