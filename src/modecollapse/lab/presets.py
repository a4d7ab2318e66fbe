"""Named starting points for ``modecollapse train --preset NAME``.

A preset is a set of config values chosen per dataset family; explicit options override it.
- ``vanilla``: a plain GAN (non-saturating loss, Adam, no technique) whose discriminator
  learns 4x faster than its generator, so that it collapses on the 2D mixtures (with equal
  learning rates it mode-hops instead).
- ``recommended``: the same networks and optimiser plus an R1 gradient penalty on real data
  (Mescheder et al. 2018), which keeps the modes.
- ``best``: the technique leaderboard's best combination: R1, a final learning-rate decay and
  generator weight averaging, 20,000 steps.

What each gives over seeds: docs/results/leaderboard.md ("Collapse on demand, and its cure" for
``vanilla`` and ``recommended``, the ``best`` rows and "The best combination and why").
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..data import DATASETS
from ..errors import ConfigError


@dataclass(frozen=True)
class Preset:
    description: str
    values: Callable[[str], dict[str, Any]]  # dataset name -> TrainConfig values


def _vanilla(data: str) -> dict[str, Any]:
    return {"data": data, "loss": "nonsaturating", "steps": 5000, "latent_dim": 16, "g_width": 128, "g_depth": 3,
            "d_width": 128, "d_depth": 3, "d_norm": "none", "lr_g": 2e-4, "lr_d": 8e-4, "beta1": 0.5, "beta2": 0.9,
            "batch_size": 256, "n_critic": 1, "techniques": []}


def _recommended(data: str) -> dict[str, Any]:
    # The same networks as `vanilla`; the cure is the R1 penalty on real data (Mescheder et al.
    # 2018), which keeps D from carving sharp peaks that fling G from mode to mode.
    return {**_vanilla(data), "techniques": [{"name": "gp", "params": {"kind": "r1", "weight": 1.0, "interval": 1}}]}


def _best(data: str) -> dict[str, Any]:
    # The best combination of the technique leaderboard (benchmarks/leaderboard.py; its
    # "best ..." rows are this ablation). Its base is not `vanilla`: equal learning rates of
    # 1e-3, a 2D latent, 2 x 128 MLPs, 20,000 steps. R1 brings every mode; the final
    # learning-rate decay and an average of G's weights (EMA) put the samples within 3 std of
    # their modes; on vanilla's base the same three techniques keep the modes but not the
    # precision. The same values serve ring and grid. The numbers behind each part:
    # docs/results/leaderboard.md, "The best combination and why".
    techniques = [
        {"name": "gp", "params": {"kind": "r1", "weight": 1.0, "interval": 1}},
        {"name": "lr-decay", "params": {"final": 0.1, "start": 0.5, "shape": "cosine"}},
        {"name": "ema", "params": {"decay": 0.999}},
    ]
    return {"data": data, "loss": "nonsaturating", "steps": 20000, "latent_dim": 2, "g_width": 128, "g_depth": 2,
            "d_width": 128, "d_depth": 2, "d_norm": "none", "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999,
            "batch_size": 256, "n_critic": 1, "techniques": techniques}


PRESETS: dict[str, Preset] = {
    "vanilla": Preset("plain GAN (non-saturating loss, lr-d 4x lr-g, no technique): collapses on the 2D mixtures", _vanilla),
    "recommended": Preset("the vanilla setting plus an R1 gradient penalty on D (weight 1): keeps every mode", _recommended),
    "best": Preset("the leaderboard's best combination: R1 + final lr decay + G weight averaging, 20k steps "
                   "(every mode, hq >= 0.9 on ring and grid)", _best),
}


# The presets' networks and step counts are the 2-D / vector benchmarks' (MLPs); on image
# data they would mean nothing, and no best combination has been measured there.
IMAGE_DATA = ("mnist", "stacked-mnist", "image-folder")


def preset_values(name: str, data: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    if data in IMAGE_DATA:
        vector = ", ".join(n for n in DATASETS.names() if n not in IMAGE_DATA)
        raise ConfigError(f"--preset {name} is defined for the vector benchmarks ({vector}), not for {data}; give the "
                          "options yourself (docs/stacked_mnist.md has the Stacked MNIST protocol's settings).")
    return PRESETS[name].values(data)
