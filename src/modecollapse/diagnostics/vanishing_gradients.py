"""vanishing-gradients: how much gradient a generator gets from the optimal (or a trained)
discriminator as its samples move away from the data.

Arjovsky & Bottou (2017), "Towards Principled Methods for Training Generative Adversarial
Networks", ICLR (Theorems 2.4-2.6): with disjoint supports the optimal discriminator is
perfect and the minimax generator loss log(1 - D(G(z))) gives no gradient; the
non-saturating -log D(G(z)) does not vanish but is unstable. Arjovsky, Chintala & Bottou
(2017), "Wasserstein GAN", ICML (Example 1, the parallel lines): a 1-Lipschitz critic gives
a gradient of constant size however far the generator is. Gulrajani et al. (2017),
"Improved Training of Wasserstein GANs" (the gradient penalty used for the trained critic).

Real data at 0, the generator's samples at a, both Diracs (std 0) or Gaussians of width
``std``. For each a: the generator's gradient d/da E[g_loss(D(a + std * eps))] with D held
fixed, (i) under the optimal discriminator in closed form (the density-ratio logit
((x - a)^2 - x^2) / (2 std^2); for Diracs the optimal D is flat at a, so the gradient is 0
exactly) and the optimal critic f(x) = -sign(a) x, and (ii) with a discriminator trained on
the project's BCE loss and a critic trained on its WGAN-GP loss. Then the ``lines``
benchmark: a generator on the middle line against a trained JS discriminator and a trained
WGAN-GP critic, and the push each gives a sample between the lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import build_dataset
from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ..lab.losses import LOSSES
from ..techniques.penalties import penalty
from ._common import plt, quantile_normal, save, small_critic

JS_LOSSES = ("minimax", "nonsaturating")
ALL = JS_LOSSES + ("wgan",)


@dataclass
class Params:
    a_values: tuple[float, ...] = field(default=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0),
                                        metadata={"help": "distances a of the generator's samples from the data"})
    std: float = field(default=0.5, metadata={"help": "width of the Gaussians (the Diracs are always measured too)"})
    d_steps: int = field(default=300, metadata={"help": "Adam steps to train each discriminator / critic"})
    d_width: int = field(default=64, metadata={"help": "hidden width of the trained discriminators"})
    batch: int = field(default=256, metadata={"help": "samples per side per discriminator step"})
    gp_weight: float = field(default=10.0, metadata={"help": "WGAN-GP penalty weight of the trained critic"})
    lines_steps: int = field(default=800, metadata={"help": "steps to train D on the parallel lines (0 skips the lines)"})

    def validate(self) -> None:
        if not self.a_values or any(a <= 0 for a in self.a_values):
            raise ConfigError("a_values must be positive distances, e.g. --a-values 0.5,1,2,4,8.")
        if self.std <= 0:
            raise ConfigError(f"std must be positive (the Diracs are measured anyway), got {self.std}.")
        for k in ("d_steps", "d_width", "batch"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{k.replace('_', '-')} must be >= 1, got {getattr(self, k)}.")
        if self.lines_steps < 0:
            raise ConfigError(f"lines-steps must be >= 0, got {self.lines_steps}.")
        if self.gp_weight < 0:
            raise ConfigError(f"gp-weight must be >= 0, got {self.gp_weight}.")


# -- closed form -------------------------------------------------------------------------------
def optimal_gradient(loss: str, a: float, std: float, nodes: int = 2001) -> float:
    """|d/da E_eps[g_loss(D*(a + std eps))]| with the optimal D* for data N(0, std^2) against
    the generator N(a, std^2) held fixed (std = 0: Diracs). ``loss`` in minimax,
    nonsaturating (the JS family: D* is the density ratio) or wgan (the optimal 1-Lipschitz
    critic f(x) = -sign(a) x). Computed in float64 by autograd over quadrature nodes."""
    if loss == "wgan":
        critic = lambda x: -np.sign(a) * x  # noqa: E731
    elif std == 0:
        return 0.0  # D* = 1 at 0 and 0 at a, flat around a: no gradient at all
    else:
        critic = lambda x: ((x - a) ** 2 - x**2) / (2 * std**2)  # noqa: E731  log p_r - log p_g
    shift = torch.zeros((), dtype=torch.float64, requires_grad=True)
    x = a + shift + std * quantile_normal(nodes)
    (g,) = torch.autograd.grad(LOSSES.get(loss).g_loss(critic(x)), shift)
    return abs(float(g))


# -- trained -----------------------------------------------------------------------------------
def train_critic(real_sampler, fake_sampler, *, dim: int, kind: str, steps: int, width: int, gp_weight: float,
                 generator: torch.Generator, lr: float = 1e-3):
    """A discriminator trained on the project's ``kind`` loss ("bce": the minimax /
    non-saturating D loss; "wgan-gp": the Wasserstein critic loss plus the gradient penalty)."""
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    d = small_critic(dim, width)
    opt = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.0, 0.9) if kind == "wgan-gp" else (0.5, 0.999))
    loss = LOSSES.get("nonsaturating" if kind == "bce" else "wgan-gp")
    for _ in range(steps):
        real, fake = real_sampler(), fake_sampler()
        total = loss.d_loss(d(real), d(fake), 1.0, 0.0)
        if kind == "wgan-gp":
            total = total + gp_weight * penalty(d, "wgan-gp", real, fake, generator)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    return d


def trained_gradient(d, loss: str, a: float, std: float, n: int = 2001) -> float:
    """|d/da E[g_loss(d(a + std eps))]| with the trained ``d`` held fixed."""
    shift = torch.zeros((), requires_grad=True)
    x = (a + shift + std * quantile_normal(n, torch.float32))[:, None]
    (g,) = torch.autograd.grad(LOSSES.get(loss).g_loss(d(x)), shift)
    return abs(float(g))


@register_diagnostic
class VanishingGradients(Experiment):
    name = "vanishing-gradients"
    summary = "generator gradient vs distance a under the optimal / trained JS discriminator and a WGAN critic"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        gen = ctx.generator(0)
        a_values = [float(a) for a in p.a_values]
        widths = {"dirac": 0.0, "gaussian": p.std}
        closed = {w: {loss: [optimal_gradient(loss, a, s) for a in a_values] for loss in ALL} for w, s in widths.items()}
        trained = {w: {loss: [] for loss in ALL} for w in widths}
        bar = ctx.bar(len(widths) * len(a_values) * 2 + (2 if p.lines_steps else 0), "discriminators")
        for w, s in widths.items():
            for a in a_values:
                real = lambda s=s: (s * torch.randn(p.batch, 1, generator=gen))  # noqa: E731
                fake = lambda s=s, a=a: (a + s * torch.randn(p.batch, 1, generator=gen))  # noqa: E731
                d = train_critic(real, fake, dim=1, kind="bce", steps=p.d_steps, width=p.d_width, gp_weight=0, generator=gen)
                bar.update(1)
                c = train_critic(real, fake, dim=1, kind="wgan-gp", steps=p.d_steps, width=p.d_width, gp_weight=p.gp_weight, generator=gen)
                bar.update(1)
                for loss in JS_LOSSES:
                    trained[w][loss].append(trained_gradient(d, loss, a, s))
                trained[w]["wgan"].append(trained_gradient(c, "wgan", a, s))
        lines = self._lines(p, gen, bar) if p.lines_steps else None
        bar.close()
        at = {str(a): {f"{src}_{w}_{loss}": table[w][loss][i] for src, table in (("optimal", closed), ("trained", trained))
                       for w in widths for loss in ALL}
              for i, a in enumerate(a_values) if a in (1.0, 2.0, 4.0, 8.0)}
        result = {"a": a_values, "std": p.std, "optimal": closed, "trained": trained, "at": at, "lines": lines}
        self._plot(result, ctx)
        return result

    def _lines(self, p: Params, gen: torch.Generator, bar) -> dict:
        ds = build_dataset("lines", {"count": 5, "spacing": 1.0, "length": 4.0, "std": 0.02})
        middle = ds.num_modes // 2
        real = lambda: ds.sample(p.batch, gen)  # noqa: E731
        fake = lambda: ds.sample_modes(torch.full((p.batch,), middle), gen)  # noqa: E731
        d = train_critic(real, fake, dim=2, kind="bce", steps=p.lines_steps, width=128, gp_weight=0, generator=gen)
        bar.update(1)
        c = train_critic(real, fake, dim=2, kind="wgan-gp", steps=p.lines_steps, width=128, gp_weight=p.gp_weight, generator=gen)
        bar.update(1)
        # A column of probe points at each height y, spread along the lines' length.
        ys = torch.linspace(-2.5, 2.5, 101)
        xs = torch.linspace(-1.5, 1.5, 31)
        pts = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).reshape(-1, 2).requires_grad_(True)
        out = {"y": ys.tolist(), "line_y": ds.ys.tolist(), "generator_line_y": float(ds.ys[middle])}
        for name, model, loss in (("js", d, "nonsaturating"), ("minimax", d, "minimax"), ("wgan", c, "wgan")):
            value = model(pts)
            (g,) = torch.autograd.grad(LOSSES.get(loss).g_loss(value) * len(pts), pts)
            # The push on a sample at (x, y) is -g; its y-component, averaged over x per height.
            push_y = (-g[:, 1]).reshape(len(ys), len(xs)).mean(1)
            out[f"{name}_push_y"] = push_y.tolist()
            out[f"{name}_value"] = value.detach().reshape(len(ys), len(xs)).mean(1).tolist()
        # Per other line: the mean |push| halfway between the generator's line and that line,
        # and the critic / logit gain from the generator's line to it.
        per_line = []
        y0 = float(ds.ys[middle])
        for y in ds.ys.tolist():
            if y == y0:
                continue
            half = int(torch.argmin((ys - (y0 + y) / 2).abs()))
            at_line = int(torch.argmin((ys - y).abs()))
            at_gen = int(torch.argmin((ys - y0).abs()))
            per_line.append({"line_y": y, "distance": abs(y - y0),
                             **{f"{n}_push_halfway": abs(out[f"{n}_push_y"][half]) for n in ("js", "minimax", "wgan")},
                             **{f"{n}_gain": out[f"{n}_value"][at_line] - out[f"{n}_value"][at_gen] for n in ("js", "wgan")}})
        out["per_line"] = per_line
        return out

    def _plot(self, r: dict, ctx) -> None:
        ncol = 3 if r["lines"] else 2
        fig, axes = plt.subplots(1, ncol, figsize=(4.2 * ncol, 3.6))
        styles = {"minimax": "tab:red", "nonsaturating": "tab:orange", "wgan": "tab:blue"}
        for ax, w in zip(axes, ("dirac", "gaussian")):
            for loss, color in styles.items():
                opt = np.maximum(np.asarray(r["optimal"][w][loss]), 1e-30)
                ax.plot(r["a"], opt, "-", color=color, label=f"{loss} optimal D")
                ax.plot(r["a"], np.maximum(r["trained"][w][loss], 1e-30), "o--", color=color, ms=3, label=f"{loss} trained D")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(1e-16, 1e4)
            ax.set_xlabel("distance a of the generator from the data")
            ax.set_ylabel("|d loss_G / d a|")
            ax.set_title("Diracs (optimal JS D: exactly 0, not drawn)" if w == "dirac" else f"Gaussians, std {r['std']}", fontsize=9)
        axes[0].legend(fontsize=6)
        if r["lines"]:
            L = r["lines"]
            ax = axes[2]
            ax.plot(L["y"], L["js_push_y"], color="tab:orange", label="JS D, non-saturating")
            ax.plot(L["y"], L["minimax_push_y"], color="tab:red", label="JS D, minimax")
            ax.plot(L["y"], L["wgan_push_y"], color="tab:blue", label="WGAN-GP critic")
            for y in L["line_y"]:
                ax.axvline(y, color="grey", lw=0.5, ls=":" if y != L["generator_line_y"] else "-")
            ax.set_xlabel("height y of a sample (generator on the solid line)")
            ax.set_ylabel("vertical push on the sample")
            ax.set_title("parallel lines", fontsize=9)
            ax.legend(fontsize=6)
        save(fig, ctx.path("vanishing_gradients.png"))

    def describe(self, r: dict) -> str:
        lines = [f"generator gradient |dL/da| (std {r['std']} Gaussians; Diracs in result.json):",
                 f"{'a':>6} " + " ".join(f"{s + ' ' + l:>22}" for s in ("optimal", "trained") for l in ALL)]
        for i, a in enumerate(r["a"]):
            lines.append(f"{a:>6g} " + " ".join(f"{r[s]['gaussian'][l][i]:>22.3g}" for s in ("optimal", "trained") for l in ALL))
        a = r["a"]
        if 8.0 in a:
            i = a.index(8.0)
            js, w = r["optimal"]["gaussian"]["minimax"][i], r["optimal"]["gaussian"]["wgan"][i]
            tjs, tw = r["trained"]["gaussian"]["minimax"][i], r["trained"]["gaussian"]["wgan"][i]
            lines.append(f"at a = 8: minimax/WGAN gradient ratio {js / w:.2g} under the optimal D, {tjs / max(tw, 1e-30):.2g} "
                         f"with trained ones; the non-saturating loss does not vanish ({r['optimal']['gaussian']['nonsaturating'][i]:.3g} "
                         f"optimal, {r['trained']['gaussian']['nonsaturating'][i]:.3g} trained): its optimal-D gradient grows like a/std^2.")
        if r["lines"]:
            for pl in r["lines"]["per_line"]:
                lines.append(f"lines, line at distance {pl['distance']:g}: push halfway JS {pl['js_push_halfway']:.3g} "
                             f"(minimax {pl['minimax_push_halfway']:.3g}), WGAN-GP {pl['wgan_push_halfway']:.3g}; "
                             f"critic gain {pl['wgan_gain']:.3g}, JS logit gain {pl['js_gain']:.3g}")
        return "\n".join(lines)
