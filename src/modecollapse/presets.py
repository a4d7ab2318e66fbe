"""Named starting points for ``modecollapse train --preset NAME``.

A preset is a set of config values chosen per dataset family; explicit options override it.
- ``vanilla``: a plain GAN (non-saturating loss, equal learning rates, no technique) on
  which collapse and mode hopping show within a few thousand steps.
- ``recommended``: what the seed articles recommend with the foundation's parts alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    description: str
    values: Callable[[str], dict[str, Any]]  # dataset name -> TrainConfig values


def _vanilla(data: str) -> dict[str, Any]:
    return {"data": data, "loss": "nonsaturating", "steps": 5000, "latent_dim": 2, "g_depth": 2, "d_depth": 2,
            "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999, "batch_size": 256, "techniques": []}


def _recommended(data: str) -> dict[str, Any]:
    return {"data": data, "loss": "wgan-gp", "n_critic": 5, "steps": 5000, "latent_dim": 16, "g_depth": 3,
            "d_depth": 3, "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "beta2": 0.9, "batch_size": 256, "techniques": []}


PRESETS: dict[str, Preset] = {
    "vanilla": Preset("plain GAN, non-saturating loss, no technique: collapses on the 2D mixtures", _vanilla),
    "recommended": Preset("WGAN-GP critic, 5 critic steps, Adam(0.5, 0.9): the seed articles' advice", _recommended),
}


def preset_values(name: str, data: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    return PRESETS[name].values(data)
