"""game-dynamics: gradient play rotates around the equilibrium instead of converging, and
what the curvature of the generator's loss says about collapse.

Mescheder, Geiger & Nowozin (2018), "Which Training Methods for GANs do actually
Converge?", ICML: the Dirac GAN, real data at 0, a generator at theta, a linear
discriminator D(x) = psi x. The Jacobian of the gradient vector field at the equilibrium
(0, 0) has purely imaginary eigenvalues +-i f'(0), so simultaneous gradient descent spirals
outwards and alternating descent circles; R1 (and instance noise, Sønderby et al. 2017;
Arjovsky & Bottou 2017) add a negative real part and make it converge. WGAN-GP (Gulrajani
et al. 2017) has no stationary point at theta = 0 in this game. Also Mescheder, Nowozin &
Geiger (2017), "The Numerics of GANs".

The vector field is built from the project's losses (``losses.py``) and gradient penalty
(``techniques/penalties.py``); instance noise averages the losses over deterministic
quadrature nodes. Jacobians of the field and of the one-step maps are central finite
differences in float64 (autograd through the penalty's norm is not defined at psi = 0; their
accuracy: docs/results/diagnostics.md).

Then a small 2D mixture GAN (``ring``), trained with the project's trainer: with D held
fixed, the first and second directional derivatives of the generator's loss (autograd,
Hessian-vector products) along a parameter direction that spreads its samples over all
modes, one that concentrates them on the most populated mode, and random ones; the claim
tested is that "more diversity" is flat and "more collapse" has negative curvature.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ..lab.losses import LOSSES
from ..metrics.modes import mode_stats
from ..techniques.penalties import penalty
from ._common import TrainConfig, g_loss_on, plt, quantile_normal, save, train_gan

VARIANTS = ("plain", "r1", "instance-noise", "wgan-gp")
METHODS = ("simultaneous", "alternating")


@dataclass
class Params:
    loss: str = field(default="minimax", metadata={"help": "Dirac GAN loss: minimax (zero-sum, the paper's) or nonsaturating"})
    lr: float = field(default=0.2, metadata={"help": "step size h of gradient descent in the Dirac GAN"})
    steps: int = field(default=500, metadata={"help": "steps of each Dirac-GAN trajectory"})
    start: tuple[float, ...] = field(default=(1.0, 1.0), metadata={"help": "starting point theta,psi"})
    r1: float = field(default=1.0, metadata={"help": "R1 weight gamma"})
    noise: float = field(default=0.7, metadata={"help": "instance-noise std sigma"})
    gp: float = field(default=1.0, metadata={"help": "WGAN-GP weight"})
    mixture_steps: int = field(default=1500, metadata={"help": "training steps of the ring GAN for the curvature test (0 skips it)"})
    probe: int = field(default=1024, metadata={"help": "latents in the curvature probe batch"})
    random_directions: int = field(default=8, metadata={"help": "random parameter directions as a reference"})

    def validate(self) -> None:
        if self.loss not in ("minimax", "nonsaturating"):
            raise ConfigError(f"loss must be minimax or nonsaturating, got {self.loss!r}.")
        if len(self.start) != 2:
            raise ConfigError(f"start must be two numbers theta,psi, got {self.start}.")
        if not self.lr > 0 or self.steps < 1:
            raise ConfigError("lr must be positive and steps >= 1.")
        if self.r1 < 0 or self.noise < 0 or self.gp < 0:
            raise ConfigError("r1, noise and gp must be >= 0.")
        if self.mixture_steps < 0 or self.probe < 16 or self.random_directions < 0:
            raise ConfigError("mixture-steps must be >= 0, probe >= 16 and random-directions >= 0.")


# -- the Dirac GAN ---------------------------------------------------------------------------------
def dirac_field(x: torch.Tensor, variant: str, p: Params) -> torch.Tensor:
    """v(theta, psi) = (-dL_G/dtheta, -dL_D/dpsi) at ``x`` = (theta, psi) (float64, shape (2,))."""
    theta = x[0].detach().clone().requires_grad_(True)
    psi = x[1].detach().clone().requires_grad_(True)
    loss = LOSSES.get("wgan-gp" if variant == "wgan-gp" else p.loss)
    eps = quantile_normal(64) * p.noise if variant == "instance-noise" else torch.zeros(1, dtype=torch.float64)
    real, fake = eps[:, None], theta + eps[:, None]  # (n, 1)
    critic = lambda v: (psi * v).squeeze(-1)  # noqa: E731  D(x) = psi x, raw logits
    l_d = loss.d_loss(critic(real), critic(fake.detach()), 1.0, 0.0)
    gen = torch.Generator().manual_seed(0)
    if variant == "r1":
        l_d = l_d + p.r1 * penalty(critic, "r1", real, fake.detach(), gen)
    elif variant == "wgan-gp":
        l_d = l_d + p.gp * penalty(critic, "wgan-gp", real, fake.detach(), gen)
    l_g = loss.g_loss(critic(fake))
    (g_theta,) = torch.autograd.grad(l_g, theta)
    (g_psi,) = torch.autograd.grad(l_d, psi)
    return -torch.stack([g_theta, g_psi]).detach()


def step(x: torch.Tensor, variant: str, method: str, p: Params) -> torch.Tensor:
    """One step of simultaneous or alternating (generator first) gradient descent."""
    v = dirac_field(x, variant, p)
    if method == "simultaneous":
        return x + p.lr * v
    theta = x[0] + p.lr * v[0]
    psi = x[1] + p.lr * dirac_field(torch.stack([theta, x[1]]), variant, p)[1]
    return torch.stack([theta, psi])


def jacobian(fn, x: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Central finite-difference Jacobian (2, 2) of ``fn`` at ``x`` in float64."""
    cols = []
    for j in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[j] = h
        cols.append((fn(x + e) - fn(x - e)) / (2 * h))
    return torch.stack(cols, dim=1)


def eigen(m: torch.Tensor) -> list[list[float]]:
    ev = torch.linalg.eigvals(m)
    return [[float(z.real), float(z.imag)] for z in ev]


def dirac_analysis(p: Params, variant: str) -> dict:
    origin = torch.zeros(2, dtype=torch.float64)
    v0 = dirac_field(origin, variant, p)
    # Stationary: the field vanishes at (0, 0) and next to it (the GP's |psi| has a kink at 0,
    # where autograd reports 0 although the penalty pushes psi away on either side).
    near = [dirac_field(origin + d, variant, p) for d in 1e-6 * torch.eye(2, dtype=torch.float64)]
    stationary = bool(max(float(v.abs().max()) for v in [v0, *near]) < 1e-4)
    # Eigenvalues describe the dynamics only at a stationary point (WGAN-GP has none here).
    jac = jacobian(lambda x: dirac_field(x, variant, p), origin) if stationary else None
    out = {"field_at_origin": v0.tolist(), "stationary_at_origin": stationary,
           "jacobian": None if jac is None else jac.tolist(), "eigenvalues": None if jac is None else eigen(jac)}
    for method in METHODS:
        m = jacobian(lambda x, method=method: step(x, variant, method, p), origin) if stationary else None
        path = [list(p.start)]
        x = torch.tensor(p.start, dtype=torch.float64)
        for _ in range(p.steps):
            x = step(x, variant, method, p)
            path.append(x.tolist())
        out[method] = {"map_eigenvalues": None if m is None else eigen(m),
                       "spectral_radius": None if m is None else float(torch.linalg.eigvals(m).abs().max()),
                       "path": path, "final_distance": float(x.norm()),
                       "start_distance": float(np.hypot(*p.start))}
    return out


# -- curvature on a 2D mixture GAN -------------------------------------------------------------
def directional_derivatives(run, z: torch.Tensor, u: list[torch.Tensor]) -> tuple[float, float]:
    """(u . grad L, u^T H u) of the generator loss L on latents ``z`` with D fixed."""
    params = [q for q in run.G.parameters()]
    loss = g_loss_on(run, z)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    slope = sum((g * d).sum() for g, d in zip(grads, u))
    hv = torch.autograd.grad(slope, params)
    return float(slope.detach()), float(sum((h * d).sum() for h, d in zip(hv, u)))


def pullback(run, z: torch.Tensor, delta: torch.Tensor) -> list[torch.Tensor]:
    """The unit parameter direction whose first-order effect moves sample i along delta_i."""
    params = list(run.G.parameters())
    grads = torch.autograd.grad((run.G(z) * delta).sum(), params)
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    return [g / norm for g in grads]


def loss_profile(run, z: torch.Tensor, u: list[torch.Tensor], ts: np.ndarray) -> tuple[list[float], list[int]]:
    """L(params + t u) and the modes captured by the moved generator, for each t."""
    params = list(run.G.parameters())
    base = [q.detach().clone() for q in params]
    losses, modes = [], []
    with torch.no_grad():
        for t in ts:
            for q, b, d in zip(params, base, u):
                q.copy_(b + float(t) * d)
            losses.append(float(g_loss_on(run, z)))
            modes.append(mode_stats(samples=run.G(z), benchmark=run.dataset).modes)
        for q, b in zip(params, base):
            q.copy_(b)
    return losses, modes


def curvature_test(p: Params, ctx, bar) -> dict:
    # SiLU, not ReLU: a ReLU network's second derivatives are zero almost everywhere and its
    # curvature sits in the kinks, which autograd's Hessian-vector products do not see.
    cfg = TrainConfig(data="ring", loss="nonsaturating", steps=p.mixture_steps, latent_dim=2, g_width=64, d_width=64,
                      activation="silu",
                      lr_g=1e-3, lr_d=1e-3, batch_size=256, seed=ctx.seed)
    run, trace = train_gan(cfg, bar=bar)
    z = torch.randn(p.probe, cfg.latent_dim, generator=ctx.generator(7))
    with torch.no_grad():
        x = run.G(z)
    ds = run.dataset
    centers = ds.anchors()
    stats = mode_stats(samples=x, benchmark=ds)
    assign = ds.assign(x).mode
    dominant = int(torch.bincount(assign, minlength=ds.num_modes).argmax())
    # spread: an optimal balanced assignment of the samples to all modes (each mode gets
    # probe / k targets); concentrate: every sample towards the most populated mode.
    targets = centers[torch.arange(p.probe) % ds.num_modes]
    cost = torch.cdist(x, targets).numpy()
    rows, cols = linear_sum_assignment(cost)
    spread_to = torch.empty_like(x)
    spread_to[torch.as_tensor(rows)] = targets[torch.as_tensor(cols)]
    directions = {"spread": spread_to - x, "concentrate": centers[dominant] - x}
    gen = ctx.generator(8)
    for i in range(p.random_directions):
        directions[f"random{i}"] = torch.randn(x.shape, generator=gen)
    out: dict = {"modes_at_probe": stats.modes, "num_modes": ds.num_modes, "hq_fraction": stats.hq_fraction,
                 "dominant_mode": dominant, "train_modes_final": stats.modes, "directions": {}}
    ts = np.linspace(-0.2, 0.2, 21)
    for name, delta in directions.items():
        u = pullback(run, z, delta)
        slope, curv = directional_derivatives(run, z, u)
        entry = {"slope": slope, "curvature": curv}
        if not name.startswith("random"):
            losses, modes = loss_profile(run, z, u, ts)
            h = 1e-2
            near, _ = loss_profile(run, z, u, np.array([-h, 0.0, h]))
            entry.update({"t": ts.tolist(), "loss": losses, "modes": modes,
                          # central finite-difference check of the autograd curvature
                          "curvature_fd": (near[2] - 2 * near[1] + near[0]) / h**2})
        out["directions"][name] = entry
    rand = [out["directions"][f"random{i}"]["curvature"] for i in range(p.random_directions)]
    out["random_curvature_mean"] = float(np.mean(rand)) if rand else None
    out["random_curvature_abs_mean"] = float(np.mean(np.abs(rand))) if rand else None
    return out


@register_diagnostic
class GameDynamics(Experiment):
    name = "game-dynamics"
    summary = "Dirac GAN eigenvalues and trajectories (simultaneous/alternating, R1, noise, GP); loss curvature toward collapse"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        bar = ctx.bar(len(VARIANTS) + p.mixture_steps, "game dynamics")
        dirac = {}
        for v in VARIANTS:
            dirac[v] = dirac_analysis(p, v)
            bar.update(1)
        curvature = curvature_test(p, ctx, bar) if p.mixture_steps else None
        bar.close()
        result = {"dirac": dirac, "curvature": curvature}
        self._plot(result, p, ctx)
        return result

    def _plot(self, r: dict, p: Params, ctx) -> None:
        ncol = 3 if r["curvature"] else 2
        fig, axes = plt.subplots(1, ncol, figsize=(4.2 * ncol, 4.0))
        colors = dict(zip(VARIANTS, ("tab:red", "tab:green", "tab:purple", "tab:blue")))
        for ax, method in zip(axes, METHODS):
            for v in VARIANTS:
                path = np.asarray(r["dirac"][v][method]["path"])
                ax.plot(path[:, 0], path[:, 1], color=colors[v], lw=0.8,
                        label=f"{v}: |x_N| {r['dirac'][v][method]['final_distance']:.2g}")
            ax.plot([0], [0], "k*", ms=8)
            ax.plot([p.start[0]], [p.start[1]], "ko", ms=4)
            ax.set_xlim(-3, 3)
            ax.set_ylim(-3, 3)
            ax.set_aspect("equal")
            ax.set_xlabel("theta (generator)")
            ax.set_ylabel("psi (discriminator)")
            ax.set_title(f"Dirac GAN, {method} GD, h={p.lr}, {p.steps} steps", fontsize=8)
            ax.legend(fontsize=6, loc="lower left")
        if r["curvature"]:
            ax = axes[2]
            c = r["curvature"]
            for name, color in (("spread", "tab:green"), ("concentrate", "tab:red")):
                d = c["directions"][name]
                ax.plot(d["t"], np.asarray(d["loss"]) - d["loss"][10], color=color,
                        label=f"{name}: slope {d['slope']:.2g}, curv {d['curvature']:.2g}")
            ax.axvline(0, color="grey", lw=0.5)
            ax.set_xlabel("step t along the unit parameter direction")
            ax.set_ylabel("L_G(t) - L_G(0)  (D fixed)")
            ax.set_title(f"ring GAN ({c['modes_at_probe']}/{c['num_modes']} modes); random dirs |curv| "
                         f"{c['random_curvature_abs_mean']:.2g}", fontsize=8)
            ax.legend(fontsize=6)
        save(fig, ctx.path("game_dynamics.png"))

    def describe(self, r: dict) -> str:
        lines = ["Dirac GAN: eigenvalues of the field's Jacobian at (0, 0); spectral radius of the one-step maps; distance after N steps"]
        for v, d in r["dirac"].items():
            if d["stationary_at_origin"]:
                ev = ", ".join(f"{a:+.3g}{b:+.3g}i" for a, b in d["eigenvalues"])
                rho = [f"{d[m]['spectral_radius']:.4f}" for m in METHODS]
            else:
                ev, rho = "none: (0, 0) is not a stationary point", ["-", "-"]
            lines.append(f"  {v:<15} eig {ev}; sim rho {rho[0]} -> distance {d['simultaneous']['final_distance']:.3g}; "
                         f"alt rho {rho[1]} -> {d['alternating']['final_distance']:.3g} (start {d['simultaneous']['start_distance']:.3g})")
        c = r["curvature"]
        if c:
            s, k = c["directions"]["spread"], c["directions"]["concentrate"]
            lines.append(f"ring GAN at {c['modes_at_probe']}/{c['num_modes']} modes, D fixed: spread slope {s['slope']:.3g}, "
                         f"curvature {s['curvature']:.3g}; concentrate slope {k['slope']:.3g}, curvature {k['curvature']:.3g}; "
                         f"random directions mean |curvature| {c['random_curvature_abs_mean']:.3g}")
            flat = abs(s["curvature"]) < 0.1 * max(c["random_curvature_abs_mean"] or 0, 1e-12)
            lines.append(f"  claim 'diversity is flat, collapse has negative curvature': spread is "
                         f"{'flat' if flat else 'not flat'}, concentrate curvature is "
                         f"{'negative' if k['curvature'] < 0 else 'positive'}")
        return "\n".join(lines)
