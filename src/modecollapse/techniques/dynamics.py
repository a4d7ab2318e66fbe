"""Game dynamics: change what the generator is trained against, not the losses themselves.

- ``unrolled`` (Metz, Poole, Pfau & Sohl-Dickstein 2017, "Unrolled Generative Adversarial
  Networks"): the generator's loss is computed against D_k, the discriminator after k more
  of its own optimisation steps, with gradients flowing through those steps back into G
  (the term that makes G anticipate D's reaction). A G that moves every sample to the mode D
  currently rates best sees that D_k would punish it, so mode hopping stops paying. The
  unrolled steps replay D's Adam update (its current moments and learning rate) on the plain
  adversarial D loss, with fresh real batches and the generator's batch; penalties and other
  D-loss terms are not unrolled. D itself is left untouched (``torch.func.functional_call``
  on copies of its parameters and buffers). k=0 is exactly the plain step.
- ``replay`` (experience replay: Shrivastava et al. 2017, "Learning from Simulated and
  Unsupervised Images through Adversarial Training", §2.3; suggested for GANs by Pfau &
  Vinyals 2016): a buffer of past fakes; in each D step every fake is replaced with
  probability p by a random one from the buffer, so D keeps rejecting modes G used to
  produce, and G cannot return to them unpunished (the oscillation of mode hopping).

Also game-dynamics techniques, as trainer options rather than classes: ``--n-critic N``
(N discriminator steps per G step; Arjovsky et al. 2017) and ``--lr-d`` > ``--lr-g``, the
two time-scale update rule (Heusel et al. 2017, TTUR).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.func import functional_call

from ..errors import ConfigError
from .base import Critic, Technique, TechniqueContext, register


@dataclass
class UnrolledParams:
    k: int = 5

    def validate(self) -> None:
        if self.k < 0:
            raise ConfigError(f"k must be >= 0, got {self.k}.")


def _adam_lookahead(ctx: TechniqueContext, params: dict[str, torch.Tensor], grads: list[torch.Tensor], t: int,
                    moments: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One differentiable Adam step of D's optimiser on ``params`` (the graph is kept)."""
    group = ctx.opt_d.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    out = {}
    for (name, p), g in zip(params.items(), grads):
        m, v = moments[name]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        moments[name] = (m, v)
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        # the tiny constant keeps sqrt differentiable where a parameter has had no gradient yet
        out[name] = p - lr * m_hat / ((v_hat + 1e-16).sqrt() + eps)
    return out


@register
class Unrolled(Technique):
    name = "unrolled"
    Params = UnrolledParams
    summary = "unrolled GAN: G is judged by D after k look-ahead steps, gradients through them (Metz 2017)"
    needs_double_backward = True

    def g_critic(self, ctx: TechniqueContext, critic: Critic, judged: torch.Tensor) -> Critic:
        if self.params.k == 0:
            return critic
        D = ctx.D
        names = [n for n, p in D.named_parameters() if p.requires_grad]
        params = {n: p for n, p in D.named_parameters() if p.requires_grad}
        # Copies of the buffers: spectral norm's power iteration and BatchNorm statistics
        # update them in place during the look-ahead, which must leave D as it was.
        buffers = {n: b.detach().clone() for n, b in D.named_buffers()}
        state = {name: ctx.opt_d.state.get(p, {}) for name, p in params.items()}
        moments = {
            name: (s["exp_avg"].detach(), s["exp_avg_sq"].detach()) if "exp_avg" in s
            else (torch.zeros_like(params[name]), torch.zeros_like(params[name]))
            for name, s in state.items()
        }
        t0 = max((int(s["step"]) for s in state.values() if "step" in s), default=0)
        n = judged.shape[0]
        for i in range(self.params.k):
            real = ctx.sample_real(n)
            d_real = functional_call(D, {**params, **buffers}, (real,))
            d_fake = functional_call(D, {**params, **buffers}, (judged,))
            loss = ctx.loss.d_loss(d_real, d_fake, 1.0, 0.0)
            grads = torch.autograd.grad(loss, [params[n_] for n_ in names], create_graph=True)
            params = _adam_lookahead(ctx, params, list(grads), t0 + i + 1, moments)
        final = {**params, **buffers}
        return lambda x: functional_call(D, final, (x,))


@dataclass
class ReplayParams:
    p: float = 0.5
    size: int = 5000
    keep: int = 32

    def validate(self) -> None:
        if not 0 <= self.p <= 1:
            raise ConfigError(f"p must lie in [0, 1], got {self.p}.")
        if self.size < 1 or self.keep < 1:
            raise ConfigError(f"size and keep must be >= 1, got {self.size} and {self.keep}.")


@register
class Replay(Technique):
    """The buffer is a ring of ``size`` past fakes; ``keep`` fakes of each D step enter it."""

    name = "replay"
    Params = ReplayParams
    summary = "experience replay: each fake shown to D is swapped with prob p for a stored past fake"

    def __init__(self, params: ReplayParams) -> None:
        super().__init__(params)
        self.buffer: torch.Tensor | None = None
        self.filled = 0
        self.pos = 0

    def setup(self, ctx: TechniqueContext) -> None:
        self.buffer = torch.zeros(self.params.size, ctx.dataset.dim, device=ctx.device)

    def push(self, fake: torch.Tensor) -> None:
        new = fake.detach()[: self.params.keep].flatten(1)
        idx = (self.pos + torch.arange(len(new))) % self.params.size
        self.buffer[idx.to(self.buffer.device)] = new
        self.pos = int((self.pos + len(new)) % self.params.size)
        self.filled = min(self.filled + len(new), self.params.size)

    def d_inputs(self, ctx: TechniqueContext, real: torch.Tensor,
                 fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shown = fake
        if self.filled > 0 and self.params.p > 0:
            n = fake.shape[0]
            swap = torch.rand(n, generator=ctx.noise_gen) < self.params.p
            pick = torch.randint(self.filled, (n,), generator=ctx.noise_gen)
            old = self.buffer[pick.to(self.buffer.device)].view_as(fake)
            shown = torch.where(swap.to(fake.device).view(n, *([1] * (fake.ndim - 1))), old, fake)
        self.push(fake)  # the fresh fakes, not the replayed ones
        return real, shown

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.cpu().clone(), "filled": self.filled, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.copy_(state["buffer"])
        self.filled, self.pos = int(state["filled"]), int(state["pos"])
