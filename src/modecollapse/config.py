"""Typed run configuration: one dataclass, validated once, saved as ``config.json``.

Everything a run depends on lives here, with dataset and technique parameters fully
resolved (defaults written out), so ``config.json`` plus the seed reproduce the run.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass
class TechniqueSpec:
    """One technique and its parameters, e.g. ``TechniqueSpec("pack", {"m": 4})``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    # benchmark
    data: str = "ring"
    data_args: dict[str, Any] = field(default_factory=dict)
    # objective and techniques
    loss: str = "nonsaturating"
    techniques: list[TechniqueSpec] = field(default_factory=list)
    # models: arch "auto" becomes dcgan-small for image benchmarks, mlp otherwise (models/registry.py)
    arch: str = "auto"
    latent_dim: int = 2
    g_width: int = 128
    g_depth: int = 2
    d_width: int = 128
    d_depth: int = 2
    activation: str = "relu"
    d_norm: str = "none"
    # optimisation
    steps: int = 5000
    batch_size: int = 256
    n_critic: int = 1
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    # bookkeeping
    seed: int = 0
    eval_every: int = 500
    eval_samples: int = 0  # 0: the benchmark's protocol number (2,500 for the mixtures, 26,000 for stacked MNIST)
    checkpoint_every: int = 1000
    device: str = "cpu"

    def validate(self) -> "TrainConfig":
        """Raises :class:`ConfigError` on the first invalid value; returns ``self``."""
        positive = {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "n_critic": self.n_critic,
            "latent_dim": self.latent_dim,
            "g_width": self.g_width,
            "d_width": self.d_width,
            "eval_every": self.eval_every,
            "checkpoint_every": self.checkpoint_every,
            "lr_g": self.lr_g,
            "lr_d": self.lr_d,
        }
        for key, value in positive.items():
            if not value > 0:
                raise ConfigError(f"--{key.replace('_', '-')} must be positive, got {value}.")
        for key, value in {"g_depth": self.g_depth, "d_depth": self.d_depth}.items():
            if value < 0:
                raise ConfigError(f"--{key.replace('_', '-')} must be >= 0, got {value}.")
        for key, value in {"beta1": self.beta1, "beta2": self.beta2}.items():
            if not 0 <= value < 1:
                raise ConfigError(f"--{key} must lie in [0, 1), got {value}.")
        if self.eval_samples < 0:
            raise ConfigError(f"--eval-samples must be positive (or 0 for the benchmark's default), got {self.eval_samples}.")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}.")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"--device must be 'cpu' or 'cuda[:N]', got {self.device!r}.")
        names = [t.name for t in self.techniques]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"technique {sorted(dup)[0]!r} is given twice; give each technique once.")
        return self

    # -- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"config has unknown key {sorted(unknown)[0]!r}; valid keys: {', '.join(sorted(known))}.")
        values = dict(values)
        values["techniques"] = [
            t if isinstance(t, TechniqueSpec) else TechniqueSpec(t["name"], dict(t.get("params", {})))
            for t in values.get("techniques", [])
        ]
        try:
            return cls(**values)
        except TypeError as err:  # pragma: no cover - a hand-edited file
            raise ConfigError(f"config is malformed: {err}.") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            values = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path} does not exist; is this a run directory?") from None
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not readable JSON ({err}).") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path} does not hold a JSON object.")
        return cls.from_dict(values)
