"""Typed run configuration: one dataclass, validated once, saved as ``config.json``.

Everything a run depends on lives here, with dataset and technique parameters fully
resolved (defaults written out), so ``config.json`` plus the seed reproduce the run.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fileio import atomic_write_text, read_json
from ..models.choices import Activation, GNorm, Norm
from ..registry import flag_of, json_value, option

#: ``--d-norm``: a normalisation the discriminators build, or ``spectral``, which a run resolves
#: to the spectral-norm technique on D (``train.resolve``)
DNorm = typing.Literal[Norm, "spectral"]


@dataclass
class TechniqueSpec:
    """One registered component (a technique, an evaluator) and its parameters, e.g.
    ``TechniqueSpec("pack", {"m": 4})``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Every setting of a training run. Field help doubles as the ``train`` options' help."""

    # benchmark
    data: str = option("ring", help="benchmark", flag="--data")
    data_args: dict[str, Any] = option(factory=dict, help="benchmark parameters", flag="--data-arg")
    # objective and techniques
    loss: str = option("nonsaturating", help="adversarial loss", flag="--loss")
    techniques: list[TechniqueSpec] = option(factory=list, help="anti-collapse techniques", flag="--<technique>")
    # models: arch "auto" becomes dcgan-small for image benchmarks, mlp otherwise (models/registry.py)
    arch: str = option("auto", help="model architecture: auto, mlp, dcgan, dcgan-small (auto: dcgan-small for images, else mlp)")
    latent_dim: int = option(2, help="size of the generator's latent vector z")
    g_width: int = option(128, help="hidden width of the generator")
    g_depth: int = option(2, help="hidden layers of the generator")
    d_width: int = option(128, help="hidden width of the discriminator")
    d_depth: int = option(2, help="hidden layers of the discriminator")
    activation: Activation = option("relu", help="hidden activation")
    d_norm: DNorm = option("none", help="discriminator normalisation (batch leaks batch statistics into D's verdict; "
                                        "spectral is --spectral-norm where=d)")
    g_norm: GNorm = option("none", help="generator normalisation after each hidden layer, mlp only (batch is PacGAN's "
                                        "generator; the dcgan generators always use batch)")
    d_maxout: int = option(0, help="maxout pieces per hidden unit of the mlp discriminator: 0 for linear + --activation, "
                                   "k >= 2 for the max of k linear pieces (PacGAN's discriminator uses 5)")
    # optimisation
    steps: int = option(5000, help="generator steps (on --resume: a larger number extends the run)", resume=True)
    batch_size: int = option(256, help="samples per batch (a large batch is itself a technique)")
    n_critic: int = option(1, help="discriminator steps per generator step")
    lr_g: float = option(1e-3, help="generator learning rate (Adam)")
    lr_d: float = option(1e-3, help="discriminator learning rate; lr-d > lr-g is the two time-scale update rule")
    beta1: float = option(0.5, help="Adam beta1")
    beta2: float = option(0.999, help="Adam beta2")
    # bookkeeping
    seed: int = option(0, help="random seed: the same seed gives the same run on CPU")
    eval_every: int = option(500, help="steps between evaluations appended to metrics.jsonl", resume=True)
    eval_samples: int = option(0, help="samples per evaluation; 0: the benchmark's protocol (2500 for the mixtures, "
                                       "26000 for stacked-mnist)", resume=True)
    checkpoint_every: int = option(1000, help="steps between checkpoints", resume=True)
    device: str = option("cpu", help="cpu or cuda[:N]")
    # training-time evaluators (evaluators.py); "modes" is always on and added when resolved
    evaluators: list[TechniqueSpec] = option(factory=list, help="training-time evaluators", flag="--evaluator", resume=True)

    def validate(self) -> TrainConfig:
        """Raises :class:`ConfigError` on the first invalid value; returns ``self``. The one
        check of a run's settings (``train.resolve`` calls it, again once ``arch`` is resolved)."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if typing.get_origin(hints[f.name]) is typing.Literal and value not in typing.get_args(hints[f.name]):
                choices = ", ".join(typing.get_args(hints[f.name]))
                raise ConfigError(f"unknown {flag_of(f)} {value!r}; choose one of: {choices}.")
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
        for key, value in {"g_depth": self.g_depth, "d_depth": self.d_depth, "d_maxout": self.d_maxout}.items():
            if value < 0:
                raise ConfigError(f"--{key.replace('_', '-')} must be >= 0, got {value}.")
        if self.d_maxout == 1:
            raise ConfigError("--d-maxout 1 is a linear layer with no non-linearity; give 0 (off) or at least 2 pieces.")
        if self.arch not in ("auto", "mlp") and (self.g_norm != "none" or self.d_maxout):
            raise ConfigError(f"--g-norm and --d-maxout shape the mlp architecture; --arch {self.arch} has its own layers.")
        for key, value in {"beta1": self.beta1, "beta2": self.beta2}.items():
            if not 0 <= value < 1:
                raise ConfigError(f"--{key} must lie in [0, 1), got {value}.")
        if self.eval_samples < 0:
            raise ConfigError(f"--eval-samples must be positive (or 0 for the benchmark's default), got {self.eval_samples}.")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}.")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"--device must be 'cpu' or 'cuda[:N]', got {self.device!r}.")
        for kind, specs in (("technique", self.techniques), ("evaluator", self.evaluators)):
            names = [t.name for t in specs]
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ConfigError(f"{kind} {sorted(dup)[0]!r} is given twice; give each {kind} once.")
        return self

    # -- JSON ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> TrainConfig:
        """The config of ``values`` (a ``config.json`` object), each value checked against its
        field's type, techniques and evaluators as ``{"name": ..., "params": {...}}``; one
        sentence naming ``where`` and the key otherwise."""
        if not isinstance(values, dict):
            raise ConfigError(f"{where} must be a JSON object of settings, got {type(values).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"{where} has unknown key {sorted(unknown)[0]!r}; valid keys: {', '.join(sorted(known))}.")
        hints = typing.get_type_hints(cls)
        typed: dict[str, Any] = {}
        for key, value in values.items():
            if key in ("techniques", "evaluators"):
                typed[key] = _specs(value, key, where)
            else:
                typed[key] = json_value(value, hints[key], key, where)
        return cls(**typed)

    def save(self, path: Path) -> None:
        # atomic: an interrupted write never leaves a half config.json that blocks --resume
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            values = read_json(Path(path))
        except ConfigError as err:
            if not Path(path).exists():
                raise ConfigError(f"{path} does not exist; is this a run directory?") from None
            raise err from None
        return cls.from_dict(values, where=str(path))


def _specs(value: Any, key: str, where: str) -> list[TechniqueSpec]:
    """``techniques`` / ``evaluators`` of a config file: a list of ``{"name", "params"}``."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: {key} must be a list of {{\"name\": ..., \"params\": {{...}}}} objects.")
    out = []
    for i, t in enumerate(value):
        if isinstance(t, TechniqueSpec):
            out.append(TechniqueSpec(t.name, dict(t.params)))
            continue
        if not isinstance(t, dict) or not isinstance(t.get("name"), str) or set(t) - {"name", "params"}:
            raise ConfigError(f"{where}: {key}[{i}] must be an object with a \"name\" string and a \"params\" object.")
        params = t.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"{where}: {key}[{i}] ({t['name']}) params must be an object, got {type(params).__name__}.")
        out.append(TechniqueSpec(t["name"], dict(params)))
    return out
