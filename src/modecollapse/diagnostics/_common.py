"""What several diagnostics share: figures, small discriminators, and the one place where a
diagnostic drives the project's trainer (``build_run`` / ``train_step`` / ``generate``), so
that a change of the trainer's interface is adapted here once.

Not a diagnostic itself (the leading underscore keeps :func:`modecollapse.experiments.load_all`
from importing it as one).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..errors import ConfigError  # noqa: E402
from ..lab import rundir  # noqa: E402
from ..lab.config import TechniqueSpec, TrainConfig  # noqa: E402
from ..lab.presets import PRESETS  # noqa: E402
from ..lab.train import build_run, eval_seed, generate, train_step  # noqa: E402
from ..metrics.fid import fid  # noqa: E402
from ..metrics.modes import mode_stats  # noqa: E402
from ..metrics.prdc import prdc  # noqa: E402
from ..models.mlp import MLPDiscriminator  # noqa: E402

__all__ = ["plt", "save", "quantile_normal", "small_critic", "train_gan", "GANTrace",
           "g_loss_on", "TrainConfig", "TechniqueSpec", "generate"]

DPI = 80


def save(fig, path: Path) -> None:
    """Saves ``fig`` small (the docs commit these PNGs) and closes it."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def quantile_normal(n: int, dtype=torch.float64) -> torch.Tensor:
    """``n`` deterministic standard-normal nodes, the quantiles at (i + 1/2) / n: a
    quadrature of E[f(eps)] without sampling noise, symmetric about 0."""
    u = (torch.arange(n, dtype=dtype) + 0.5) / n
    return torch.special.ndtri(u)


def small_critic(in_dim: int, width: int, depth: int = 2, activation: str = "relu", norm: str = "none") -> MLPDiscriminator:
    """The project's MLP discriminator (``models/mlp.py``) at a given size."""
    return MLPDiscriminator(in_dim, width, depth, activation, norm)


# -- training through the project's trainer --------------------------------------------------
@dataclasses.dataclass
class GANTrace:
    """Losses at every step and mode statistics at every evaluation of one run."""

    steps: list[int] = dataclasses.field(default_factory=list)
    d_loss: list[float] = dataclasses.field(default_factory=list)
    g_loss: list[float] = dataclasses.field(default_factory=list)
    eval_steps: list[int] = dataclasses.field(default_factory=list)
    modes: list[int] = dataclasses.field(default_factory=list)
    hq_fraction: list[float] = dataclasses.field(default_factory=list)


def train_gan(cfg: TrainConfig, *, steps: int | None = None, eval_every: int = 0, eval_samples: int = 1000, bar=None,
              step_fn: Callable[[Any], tuple[torch.Tensor, torch.Tensor]] | None = None) -> tuple[Any, GANTrace]:
    """Builds a run from ``cfg`` and trains it for ``cfg.steps`` steps in memory (no run
    directory). ``step_fn(run) -> (d_loss, g_loss)`` replaces the trainer's step when given.
    ``steps`` (default ``cfg.steps``) stops earlier; 0 returns the untrained initialisation.
    Returns the run (``run.G``, ``run.D``, ``run.dataset``, ``run.loss``, ``run.cfg``) and a trace."""
    run = build_run(cfg)
    step = step_fn or train_step
    trace = GANTrace()
    for i in range(1, (run.cfg.steps if steps is None else steps) + 1):
        d, g = step(run)
        trace.steps.append(i)
        trace.d_loss.append(float(d))
        trace.g_loss.append(float(g))
        if eval_every and (i % eval_every == 0 or i == run.cfg.steps):
            s = mode_stats(samples=generate(run, eval_samples, seed=eval_seed(run.cfg.seed, i)), benchmark=run.dataset)
            trace.eval_steps.append(i)
            trace.modes.append(s.modes)
            trace.hq_fraction.append(s.hq_fraction)
        if bar is not None:
            bar.update(1)
    return run, trace


def g_loss_on(run, z: torch.Tensor) -> torch.Tensor:
    """The run's adversarial generator loss on latents ``z`` (batch, latent_dim), D held fixed."""
    return run.loss.g_loss(run.D(run.G(z)))


def tail_std(values: list[float], frac: float = 0.5) -> float:
    """Standard deviation of the last ``frac`` of ``values`` (oscillation late in training)."""
    a = np.asarray(values[int(len(values) * (1 - frac)):], dtype=float)
    return float(a.std()) if len(a) > 1 else 0.0


def scores(*, real: torch.Tensor, fake: torch.Tensor, benchmark=None) -> dict[str, float]:
    """The project's collapse-aware metrics of ``fake`` against ``real`` (both (n, d)):
    precision / recall (k=3), density / coverage (k=5), FID and, given the benchmark, modes."""
    q = prdc(real=real, fake=fake, pr_k=3, dc_k=5)
    out = {"precision": q.precision, "recall": q.recall, "density": q.density, "coverage": q.coverage,
           "fid": fid(real=real, fake=fake).fid}
    if benchmark is not None:
        s = mode_stats(samples=fake, benchmark=benchmark)
        out.update({"modes": s.modes, "num_modes": s.num_modes, "hq_fraction": s.hq_fraction})
    return out


def load_run_generator(path: str):
    """The generator of a lab run directory written by ``modecollapse train`` (its
    ``config.json`` and ``checkpoint.pt``), as a built run with the trained G weights."""
    d = Path(path)
    cfg = TrainConfig.load(d / "config.json")
    state = rundir.load_checkpoint(d)
    run = build_run(cfg)
    try:
        run.G.load_state_dict(state["G"])
    except (RuntimeError, KeyError, TypeError) as err:  # weights of another shape: one sentence, not a traceback
        reason = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise ConfigError(f"{d / 'checkpoint.pt'} does not fit {d / 'config.json'} ({reason}).") from None
    run.G.eval()
    return run


def preset_config(name: str, data: str, **overrides: Any) -> TrainConfig:
    """The config of training preset ``name`` (``presets.py``) on ``data`` with ``overrides``."""
    return TrainConfig.from_dict({**PRESETS[name].values(data), **overrides})
