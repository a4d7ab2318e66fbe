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

Every hook receives a :class:`TechniqueContext`, not the trainer's ``Run``. It is the whole of
what a technique may touch:

- read: ``cfg``, ``dataset``, ``loss``, ``device``, ``step``, ``progress``, ``G``, ``D``,
  ``opt_g`` / ``opt_d`` (their state, e.g. Adam's moments), ``noise_gen`` / ``data_gen``
  (draw from them, in a fixed order), ``needs_double_backward``, ``base_learning_rates``;
- call: ``sample_z(n)``, ``sample_real(n)``, ``new_generator()``, ``new_discriminator(in_dim)``;
- replace, in ``setup`` only: ``replace_generator(module)``, ``replace_discriminator(module)``,
  ``add_parameters(player, params)`` (modules trained with D or G outside them),
  ``set_adversarial_weight(w)`` (the weight of G's adversarial loss);
- each step: ``set_learning_rates(lr_g, lr_d)`` (schedules).

Order is the library's, never the user's list: techniques are sorted by ``(order, name)``
and both their ``setup`` and every hook run in that order. ``setup`` orders: heads of D (30)
< replacements of G (40) < wrappers of the whole D such as packing (50, the default) <
reparametrisations of layers (70) < wrappers of the finished G (90). A hook that needs the
modules reads ``ctx.G`` / ``ctx.D`` when it runs, never a copy taken in ``setup``, so it sees
the final modules whatever came later (weight clipping after packing).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..errors import ConfigError
from ..registry import NoParams, Registry

if TYPE_CHECKING:  # pragma: no cover
    from ..lab.config import TrainConfig
    from ..lab.losses import AdversarialLoss

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


class Technique:
    """Base class. Subclasses set ``name``, ``Params`` and override the hooks they need."""

    name: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    #: setup and hook order, smaller first, ties by name (see the module docstring).
    order: ClassVar[int] = 50
    #: one line for --help and the README table
    summary: ClassVar[str] = ""
    #: True when the technique differentiates through D's gradients (input-gradient penalties,
    #: unrolled look-ahead steps): D's layers then need a double backward, which lets a layer
    #: such as minibatch discrimination choose its slower, twice-differentiable form.
    needs_double_backward: ClassVar[bool] = False

    def __init__(self, params: Any) -> None:
        self.params = params

    # -- set-up --------------------------------------------------------------------------
    def check(self, cfg: TrainConfig, loss: AdversarialLoss) -> None:
        """Raise :class:`ConfigError` when this technique cannot work with ``cfg``."""

    def setup(self, ctx: TechniqueContext) -> None:
        """Replace G or D (``ctx.replace_discriminator``) or add modules (``ctx.add_parameters``)
        before the optimisers exist."""

    @classmethod
    def check_switchable(cls, owner: str) -> None:
        """Raise :class:`ConfigError` unless the technique can be switched on in a running run
        (a rollback's cure): only one without a ``setup`` of its own qualifies, since one that
        replaces modules or adds parameters would leave the optimisers holding stale ones.
        ``owner``: how the sentence names where the technique was asked for (``"--cure"``)."""
        if cls.setup is not Technique.setup:
            raise ConfigError(f"{owner} {cls.name!r}: this technique sets the models up at the start, so it cannot be "
                              "switched on mid-run; choose one that adds a loss term or a hook (e.g. gp:kind=r1, "
                              "instance-noise).")

    # -- hooks (override only what is needed) ---------------------------------------------
    def sample_real(self, ctx: TechniqueContext, n: int) -> torch.Tensor | None:
        return None

    def d_inputs(self, ctx: TechniqueContext, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return real, fake

    def g_input(self, ctx: TechniqueContext, fake: torch.Tensor) -> torch.Tensor:
        return fake

    def d_targets(self, ctx: TechniqueContext, real_target: Any, fake_target: Any, batch: int) -> tuple[Any, Any]:
        """``batch`` is the number of D's verdicts (n, or n / m when D judges packs of m)."""
        return real_target, fake_target

    def d_terms(self, ctx: TechniqueContext, batch: DBatch) -> dict[str, torch.Tensor]:
        return {}

    def g_critic(self, ctx: TechniqueContext, critic: Critic, judged: torch.Tensor) -> Critic:
        return critic

    def g_terms(self, ctx: TechniqueContext, batch: GBatch) -> dict[str, torch.Tensor]:
        return {}

    def after_d_step(self, ctx: TechniqueContext) -> None:
        pass

    def after_g_step(self, ctx: TechniqueContext) -> None:
        pass

    # -- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def overrides(self, hook: str) -> bool:
        return getattr(type(self), hook) is not getattr(Technique, hook)

    def params_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)


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
    def build(cls, techniques: list[Technique]) -> HookTable:
        return cls({h: [getattr(t, h) for t in techniques if t.overrides(h)] for h in HOOKS})

    def __getitem__(self, hook: str) -> list[Callable[..., Any]]:
        return self.table[hook]


def library_order(techniques: list[Technique]) -> list[Technique]:
    """The order every technique's setup and hooks run in: by ``(order, name)``, whatever the
    order the user listed them in."""
    return sorted(techniques, key=lambda t: (t.order, t.name))


class TechniqueContext:
    """The narrow view of a training run that techniques receive (see the module docstring).

    ``run`` is the trainer's ``Run``; only the members below are reachable through the view.
    Replacing modules is allowed during set-up only: afterwards the optimisers hold the
    parameters, and a module swapped then would silently stop training.
    """

    __slots__ = ("_run", "_in_setup")

    def __init__(self, run: Any) -> None:
        self._run = run
        self._in_setup = True

    # -- read --------------------------------------------------------------------------------
    cfg = property(lambda self: self._run.cfg)
    dataset = property(lambda self: self._run.dataset)
    loss = property(lambda self: self._run.loss)
    device = property(lambda self: self._run.device)
    step = property(lambda self: self._run.step)
    progress = property(lambda self: self._run.progress)
    G = property(lambda self: self._run.G)
    D = property(lambda self: self._run.D)
    opt_g = property(lambda self: self._run.opt_g)
    opt_d = property(lambda self: self._run.opt_d)
    noise_gen = property(lambda self: self._run.noise_gen)
    data_gen = property(lambda self: self._run.data_gen)

    @property
    def needs_double_backward(self) -> bool:
        """True when some active technique differentiates through D's gradients."""
        return any(t.needs_double_backward for t in self._run.techniques)

    @property
    def base_learning_rates(self) -> tuple[float, float]:
        """(lr_g, lr_d) a schedule starts from: the configured rates (times any rollback scale)."""
        return self._run.base_learning_rates

    # -- call --------------------------------------------------------------------------------
    def sample_z(self, n: int) -> torch.Tensor:
        return self._run.sample_z(n)

    def sample_real(self, n: int) -> torch.Tensor:
        return self._run.sample_real(n)

    def new_generator(self) -> torch.nn.Module:
        return self._run.new_generator()

    def new_discriminator(self, in_dim: int | None = None) -> torch.nn.Module:
        return self._run.new_discriminator(in_dim)

    # -- replace (set-up only) ------------------------------------------------------------------
    def _setup_only(self, what: str) -> None:
        if not self._in_setup:
            raise RuntimeError(f"{what} is allowed in a technique's setup only: the optimisers already hold the parameters")

    def replace_generator(self, module: torch.nn.Module) -> None:
        self._setup_only("replace_generator")
        self._run.G = module.to(self._run.device)

    def replace_discriminator(self, module: torch.nn.Module) -> None:
        self._setup_only("replace_discriminator")
        self._run.D = module.to(self._run.device)

    def add_parameters(self, player: str, params: Any) -> None:
        """Parameters outside G and D trained with ``player`` ("d" or "g")."""
        self._setup_only("add_parameters")
        if player not in ("d", "g"):
            raise ValueError(f"player must be 'd' or 'g', got {player!r}")
        (self._run.extra_d_params if player == "d" else self._run.extra_g_params).extend(params)

    def set_adversarial_weight(self, weight: float) -> None:
        self._setup_only("set_adversarial_weight")
        self._run.g_adv_weight = float(weight)

    def end_setup(self) -> None:
        self._in_setup = False

    # -- each step -----------------------------------------------------------------------------
    def set_learning_rates(self, lr_g: float, lr_d: float) -> None:
        for opt, lr in ((self._run.opt_g, lr_g), (self._run.opt_d, lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr
