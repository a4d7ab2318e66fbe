"""colorization: a deterministic predictor of a multimodal target averages the modes into
mud; a conditional GAN picks one; noise (and a mode-seeking term) can keep several.

Zhang, Isola & Efros (2016), "Colorful Image Colorization" (L2 regression gives desaturated,
"muddy" colours, the mean of the plausible ones); Isola, Zhu, Zhou & Efros (2017),
"Image-to-Image Translation with Conditional Adversarial Networks" (pix2pix: the generator
learns to ignore its input noise, outputs are near-deterministic); Mao, Lee, Tseng, Ma &
Yang (2019), "Mode Seeking Generative Adversarial Networks for Diverse Image Synthesis"
(MSGAN, the ratio term of ``techniques/generator_objectives.py``).

A toy: ``inputs`` grey levels g; each has ``colours`` valid colourings of equal probability,
RGB points at chroma ``chroma`` around the grey g (1, 1, 1), on a circle in the plane
orthogonal to the grey axis, so their mean is the grey itself. Trained on them: an
L2 predictor (the project's MLP generator with the grey as its input), a conditional GAN
without noise, one with noise, and one with noise and the MSGAN term; each conditional D is
the project's MLP discriminator on (grey, colour) and the losses are the project's
non-saturating ones. Reported per method: colours produced per input (a colour counts when
at least ``min_share`` of the outputs lie within ``radius`` of it) and the mean distance of
the outputs to the mean colour.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ..lab.losses import LOSSES
from ..models.mlp import MLPGenerator
from ..techniques.generator_objectives import latent_output_ratio
from ._common import plt, save, small_critic

METHODS = ("l2", "cgan", "cgan+noise", "cgan+noise+ms")


@dataclass
class Params:
    inputs: int = field(default=4, metadata={"help": "grey levels (inputs)"})
    colours: int = field(default=4, metadata={"help": "valid colourings per input, equally likely"})
    chroma: float = field(default=0.3, metadata={"help": "distance of each colour from its grey"})
    std: float = field(default=0.02, metadata={"help": "noise of each colour"})
    steps: int = field(default=3000, metadata={"help": "training steps per method (the last quarter at lr 1e-4)"})
    batch: int = field(default=256, metadata={"help": "batch size"})
    noise_dim: int = field(default=2, metadata={"help": "latent noise dimensions of the noisy cGANs"})
    ms_weight: float = field(default=0.1, metadata={"help": "weight of the MSGAN mode-seeking term"})
    radius: float = field(default=0.1, metadata={"help": "an output within this distance of a colour produces it"})
    min_share: float = field(default=0.05, metadata={"help": "share of an input's outputs a colour needs to count"})

    def validate(self) -> None:
        if self.inputs < 1 or self.colours < 2:
            raise ConfigError("inputs must be >= 1 and colours >= 2.")
        if self.chroma <= 0 or self.std < 0 or self.radius <= 0:
            raise ConfigError("chroma and radius must be positive, std >= 0.")
        if self.steps < 1 or self.batch < 2 or self.noise_dim < 1 or self.ms_weight < 0:
            raise ConfigError("steps >= 1, batch >= 2, noise-dim >= 1 and ms-weight >= 0 are needed.")
        if not 0 <= self.min_share < 1:
            raise ConfigError(f"min-share must lie in [0, 1), got {self.min_share}.")


class ColourToy:
    """Greys g_j = (j + 1) / (inputs + 1); colours c_ji = g_j (1,1,1) + chroma (cos a_i u + sin a_i v)."""

    def __init__(self, p: Params) -> None:
        self.p = p
        self.greys = (torch.arange(p.inputs) + 1.0) / (p.inputs + 1)
        u = torch.tensor([1.0, -1.0, 0.0]) / math.sqrt(2)
        v = torch.tensor([1.0, 1.0, -2.0]) / math.sqrt(6)
        self.basis = torch.stack([u, v])  # (2, 3), orthogonal to the grey axis
        ang = torch.arange(p.colours) * (2 * math.pi / p.colours) + 0.3
        chroma = p.chroma * torch.stack([ang.cos(), ang.sin()], 1) @ self.basis  # (k, 3)
        self.colours = self.greys[:, None, None] + chroma[None]  # (inputs, k, 3)
        self.mean = self.colours.mean(1)  # (inputs, 3) = the grey

    def sample(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(input index (n,), grey (n, 1), colour (n, 3))."""
        j = torch.randint(self.p.inputs, (n,), generator=gen)
        i = torch.randint(self.p.colours, (n,), generator=gen)
        c = self.colours[j, i] + self.p.std * torch.randn(n, 3, generator=gen)
        return j, self.greys[j, None], c


def train_method(method: str, toy: ColourToy, p: Params, gen: torch.Generator) -> MLPGenerator:
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    zdim = p.noise_dim if "noise" in method else 0
    G = MLPGenerator(1 + zdim, 3, 64, 2, "relu")
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    if method != "l2":
        D = small_critic(4, 64)
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
        loss = LOSSES.get("nonsaturating")
    for step in range(p.steps):
        if step == (3 * p.steps) // 4:  # a final lower learning rate, so the L2 fit settles on its mean
            for opt in [opt_g] + ([opt_d] if method != "l2" else []):
                for group in opt.param_groups:
                    group["lr"] = 1e-4
        _, g, c = toy.sample(p.batch, gen)
        if method == "l2":
            l = (G(g) - c).pow(2).sum(1).mean()
            opt_g.zero_grad(set_to_none=True)
            l.backward()
            opt_g.step()
            continue
        if method == "cgan+noise+ms":
            g = torch.cat([g[: p.batch // 2], g[: p.batch // 2]])  # pairs share their input
        z = torch.randn(len(g), zdim, generator=gen)
        with torch.no_grad():
            fake = G(torch.cat([g, z], 1))
        d_loss = loss.d_loss(D(torch.cat([g, c[: len(g)]], 1)), D(torch.cat([g, fake], 1)), 1.0, 0.0)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        fake = G(torch.cat([g, z], 1))
        g_loss = loss.g_loss(D(torch.cat([g, fake], 1)))
        if method == "cgan+noise+ms":
            g_loss = g_loss + p.ms_weight / (latent_output_ratio(z, fake).mean() + 1e-5)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    G.eval()
    G.noise_dim = zdim  # type: ignore[attr-defined]
    return G


@torch.no_grad()
def evaluate(G, toy: ColourToy, p: Params, gen: torch.Generator, n: int = 500) -> dict:
    per_input, outputs = [], []
    for j in range(p.inputs):
        g = torch.full((n, 1), float(toy.greys[j]))
        z = torch.randn(n, G.noise_dim, generator=gen)
        x = G(torch.cat([g, z], 1))
        d = torch.cdist(x, toy.colours[j])  # (n, k)
        near, which = d.min(1)
        share = torch.bincount(which[near < p.radius], minlength=p.colours).double() / n
        per_input.append({"colours_produced": int((share >= p.min_share).sum()), "share_per_colour": share.tolist(),
                          "mean_distance_to_mean": float((x - toy.mean[j]).norm(dim=1).mean()),
                          "output_mean": x.mean(0).tolist(), "mean_colour": toy.mean[j].tolist(),
                          "mean_error": float((x.mean(0) - toy.mean[j]).abs().max()),
                          "far_from_every_colour": float((near >= p.radius).double().mean())})
        outputs.append(x[:24].clamp(0, 1).tolist())
    return {"per_input": per_input,
            "colours_produced_mean": float(np.mean([q["colours_produced"] for q in per_input])),
            "mean_distance_to_mean": float(np.mean([q["mean_distance_to_mean"] for q in per_input])),
            "max_error_vs_mean_colour": float(max(q["mean_error"] for q in per_input)),
            "swatches": outputs}


@register_diagnostic
class Colorization(Experiment):
    name = "colorization"
    summary = "multimodal colouring toy: L2 averages to mud, a cGAN picks one colour, noise / mode seeking keep several"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        toy = ColourToy(p)
        bar = ctx.bar(len(METHODS), "colorization")
        methods = {}
        for i, m in enumerate(METHODS):
            G = train_method(m, toy, p, ctx.generator(i))
            methods[m] = evaluate(G, toy, p, ctx.generator(100 + i))
            bar.update(1)
        bar.close()
        result = {"methods": methods, "colours": toy.colours.tolist(), "mean_colours": toy.mean.tolist(),
                  "chroma_of_colours": p.chroma}
        self._plot(result, p, ctx)
        return result

    def _plot(self, r: dict, p: Params, ctx) -> None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.6, 1]})
        j = min(1, p.inputs - 1)
        rows = [np.repeat(np.asarray(r["colours"][j]), 24 // p.colours + 1, axis=0)[:24]]
        labels = ["valid colours"]
        for m, res in r["methods"].items():
            rows.append(np.asarray(res["swatches"][j]))
            labels.append(m)
        ax = axes[0]
        ax.imshow(np.clip(np.stack(rows), 0, 1), aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xticks([])
        ax.set_title(f"24 outputs for grey input {j} (first row: the {p.colours} valid colours)", fontsize=9)
        ax = axes[1]
        names = list(r["methods"])
        x = np.arange(len(names))
        ax.bar(x - 0.2, [r["methods"][n]["colours_produced_mean"] for n in names], 0.4, color="tab:green",
               label="colours produced per input")
        ax.axhline(p.colours, color="tab:green", ls=":", lw=0.8)
        ax2 = ax.twinx()
        ax2.bar(x + 0.2, [r["methods"][n]["mean_distance_to_mean"] for n in names], 0.4, color="tab:brown",
                label="distance to the mean colour")
        ax2.axhline(p.chroma, color="tab:brown", ls=":", lw=0.8)
        ax.set_xticks(x, names, fontsize=7, rotation=15)
        ax.set_ylabel(f"colours produced (of {p.colours})")
        ax2.set_ylabel("mean distance to the mean colour")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
        save(fig, ctx.path("colorization.png"))

    def describe(self, r: dict) -> str:
        lines = [f"{'method':<15}{'colours/input':>14}{'dist to mean':>14}{'off-colour':>12}"]
        for m, res in r["methods"].items():
            off = np.mean([q["far_from_every_colour"] for q in res["per_input"]])
            lines.append(f"{m:<15}{res['colours_produced_mean']:>14.2f}{res['mean_distance_to_mean']:>14.3f}{off:>12.1%}")
        lines.append(f"L2 output vs the mean colour: max error {r['methods']['l2']['max_error_vs_mean_colour']:.3g} "
                     f"(valid colours lie {r['chroma_of_colours']} from it)")
        return "\n".join(lines)
