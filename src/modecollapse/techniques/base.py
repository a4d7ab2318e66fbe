"""The small interface through which every anti-collapse technique plugs into the trainer.

A technique is a class with a parameter dataclass ``Params`` and any subset of the hooks
below. The trainer calls only the hooks a technique overrides, in a fixed place of the step,
so a new technique never adds a branch to the training step:

===================  ===========================================================  =================================
hook                 called                                                        typical use
===================  ===========================================================  =================================
``check``            once, before anything is built                               reject incompatible options
``setup``            once, after the models, before the optimisers               wrap/replace G or D, add modules
``sample_real``      for each real batch (first non-None answer wins)            curriculum
``d_inputs``         on (real, fake) before D sees them in the D step             instance noise, replay buffer
``g_input``          on the fake batch before D judges it in the G step          instance noise
``d_targets``        on the classification targets of the D loss                  label smoothing, label flipping
``d_terms``          extra D-loss terms, given the D-step batch                   gradient penalties, classifiers
``g_critic``         may replace the critic the G step is judged by              unrolled GAN
``g_terms``          extra G-loss terms, given the G-step batch                   feature matching, mode seeking
``after_d_step``     after each D optimiser step                                  weight clipping
``after_g_step``     after each G optimiser step                                   averaging, schedules
``state_dict``       checkpointing (tensors, numbers, strings only)              replay buffers
===================  ===========================================================  =================================
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch

from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TrainConfig
    from ..losses import AdversarialLoss
    from ..train import Run

Critic = Callable[[torch.Tensor], torch.Tensor]

HOOKS = (
    "sample_real",
    "d_inputs",
    "g_input",
    "d_targets",
    "d_terms",
    "g_critic",
    "g_terms",
    "after_d_step",
    "after_g_step",
)


@dataclass
class DBatch:
    """What the discriminator saw in one D step: inputs (batch, dim) and outputs (batch,)."""

    real: torch.Tensor
    fake: torch.Tensor
    d_real: torch.Tensor
    d_fake: torch.Tensor


@dataclass
class GBatch:
    """One G step: latents (batch, latent), generator output ``fake`` (with graph), the input
    the critic judged (``fake`` after ``g_input`` hooks) and its output (batch,)."""

    z: torch.Tensor
    fake: torch.Tensor
    judged: torch.Tensor
    d_fake: torch.Tensor


@dataclass
class NoParams:
    """A technique without parameters."""


class Technique:
    """Base class. Subclasses set ``name``, ``Params`` and override the hooks they need."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    #: setup order: smaller first. Head changes (30) come before wrappers of the whole
    #: discriminator (50, packing), which come before reparametrisations of its layers (70).
    order: ClassVar[int] = 50
    #: one line for --help and the README table
    summary: ClassVar[str] = ""
    #: True when the technique differentiates through D's gradients (input-gradient penalties,
    #: unrolled look-ahead steps): D's layers then need a double backward, which lets a layer
    #: such as minibatch discrimination choose its slower, twice-differentiable form.
    needs_double_backward: ClassVar[bool] = False

    def __init__(self, params: Any) -> None:
        self.p = params

    # -- set-up --------------------------------------------------------------------------
    def check(self, cfg: "TrainConfig", loss: "AdversarialLoss") -> None:
        """Raise :class:`ConfigError` when this technique cannot work with ``cfg``."""

    def setup(self, run: "Run") -> None:
        """Modify ``run.G`` / ``run.D`` or add modules (``run.extra_d_params``) before optimisers exist."""

    # -- hooks (override only what is needed) ---------------------------------------------
    def sample_real(self, run: "Run", n: int) -> torch.Tensor | None:
        return None

    def d_inputs(self, run: "Run", real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return real, fake

    def g_input(self, run: "Run", fake: torch.Tensor) -> torch.Tensor:
        return fake

    def d_targets(self, run: "Run", real_target: Any, fake_target: Any, batch: int) -> tuple[Any, Any]:
        """``batch`` is the number of D's verdicts (n, or n / m when D judges packs of m)."""
        return real_target, fake_target

    def d_terms(self, run: "Run", batch: DBatch) -> dict[str, torch.Tensor]:
        return {}

    def g_critic(self, run: "Run", critic: Critic, judged: torch.Tensor) -> Critic:
        return critic

    def g_terms(self, run: "Run", batch: GBatch) -> dict[str, torch.Tensor]:
        return {}

    def after_d_step(self, run: "Run") -> None:
        pass

    def after_g_step(self, run: "Run") -> None:
        pass

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def overrides(self, hook: str) -> bool:
        return getattr(type(self), hook) is not getattr(Technique, hook)

    def params_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.p)


TECHNIQUES: Registry[type[Technique]] = Registry("technique")


def register(cls: type[Technique]) -> type[Technique]:
    """Class decorator: adds a technique to :data:`TECHNIQUES` under ``cls.name``."""
    TECHNIQUES.add(cls.name, cls)
    return cls


@dataclass
class HookTable:
    """The bound hooks of the active techniques, grouped by hook name (built once)."""

    table: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)

    @classmethod
    def build(cls, techniques: list[Technique]) -> "HookTable":
        return cls({h: [getattr(t, h) for t in techniques if t.overrides(h)] for h in HOOKS})

    def __getitem__(self, hook: str) -> list[Callable[..., Any]]:
        return self.table[hook]
