"""latent-interpolation: a collapsed generator ignores its latent; walking between two
latent points shows it, and so does the mutual information between latent and output.

Radford, Metz & Chintala (2016), DCGAN §6.1 ("walking in the latent space": sharp
transitions signal memorisation, smooth ones a learned manifold); White (2016), "Sampling
Generative Networks" (spherical interpolation, slerp, for Gaussian latents); Chen et al.
(2016), InfoGAN, and Belghazi et al. (2018), MINE, on I(Z; G(Z)) as a measure of collapse;
Kraskov, Stögbauer & Grassberger (2004) for the k-NN estimator (``metrics/mutual_info.py``).

For a lab run (``--run DIR``) or two generators trained on the fly on ``ring`` with the
project's presets (``vanilla``, which collapses, and ``best``, which keeps the modes):
``paths`` walks along straight lines and great circles between random latent pairs; for
each point the nearest mode and whether it lies within 3 std of it; how often a walk
switches mode, the fraction of the walk spent between modes (not within 3 std of any);
I(Z; mode) = H(mode) in nats (exact for a deterministic generator, from the histogram) and
the KSG estimate of I(Z; X).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ..metrics.mutual_info import mutual_information
from ._common import generate, load_run_generator, plt, preset_config, save, train_gan

WALKS = ("line", "great-circle")


@dataclass
class Params:
    run: str = field(default="", metadata={"help": "a run directory of 'modecollapse train' to analyse (default: "
                                                   "train a collapsed and a healthy ring generator on the fly)"})
    collapsed_steps: int = field(default=1000, metadata={"help": "steps of the on-the-fly 'vanilla' generator"})
    healthy_steps: int = field(default=3000, metadata={"help": "steps of the on-the-fly 'best' generator"})
    paths: int = field(default=64, metadata={"help": "latent walks per kind"})
    points: int = field(default=101, metadata={"help": "points per walk"})
    mi_samples: int = field(default=2000, metadata={"help": "samples for the mutual-information estimates"})

    def validate(self) -> None:
        for k in ("collapsed_steps", "healthy_steps", "paths", "mi_samples"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{k.replace('_', '-')} must be >= 1, got {getattr(self, k)}.")
        if self.points < 2:
            raise ConfigError(f"points must be >= 2, got {self.points}.")
        if self.mi_samples < 10:
            raise ConfigError("mi-samples must be >= 10.")
        if self.run and not (Path(self.run) / "config.json").is_file():
            raise ConfigError(f"--run {self.run} is not a run directory of 'modecollapse train' (it has no config.json).")


def walk(z0: torch.Tensor, z1: torch.Tensor, ts: torch.Tensor, kind: str) -> torch.Tensor:
    """Points (paths, points, d) between latents z0, z1 (paths, d): a straight line, or the
    great circle through z0 and z1 about the origin (slerp) with the norm interpolated."""
    t = ts[None, :, None]
    if kind == "line":
        return (1 - t) * z0[:, None] + t * z1[:, None]
    n0, n1 = z0.norm(dim=1, keepdim=True), z1.norm(dim=1, keepdim=True)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 * u1).sum(1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))[:, None]  # (paths, 1, 1)
    s = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) * u0[:, None] + torch.sin(t * omega) * u1[:, None]) / s
    return direction * ((1 - t) * n0[:, None] + t * n1[:, None])


@torch.no_grad()
def analyse(run, p: Params, gen: torch.Generator) -> dict:
    ds, dz = run.dataset, run.cfg.latent_dim
    ts = torch.linspace(0, 1, p.points)
    out: dict = {"latent_dim": dz}
    run.G.eval()
    for kind in WALKS:
        z0, z1 = torch.randn(p.paths, dz, generator=gen), torch.randn(p.paths, dz, generator=gen)
        z = walk(z0, z1, ts, kind)
        x = run.G(z.reshape(-1, dz)).float()
        a = ds.assign(x)
        mode = a.mode.reshape(p.paths, p.points)
        hq = a.hq.reshape(p.paths, p.points)
        switches = (mode[:, 1:] != mode[:, :-1]).sum(1).float()
        out[kind] = {"switches_per_walk": float(switches.mean()), "between_fraction": float((~hq).float().mean()),
                     "endpoints_differ": float((mode[:, 0] != mode[:, -1]).float().mean()),
                     "mode": mode[:16].tolist(), "hq": hq[:16].int().tolist(),
                     "path_x": x.reshape(p.paths, p.points, -1)[:6].tolist()}
    z = torch.randn(p.mi_samples, dz, generator=gen)
    x = run.G(z).float()
    counts = torch.bincount(ds.assign(x).mode, minlength=ds.num_modes).double()
    q = counts / counts.sum()
    out["mode_counts"] = counts.int().tolist()
    out["mi_latent_mode"] = max(0.0, float(-(q[q > 0] * q[q > 0].log()).sum()))
    out["mi_latent_output_ksg"] = mutual_information(latent=z, samples=x, k=3).mutual_info
    out["max_mi_latent_mode"] = float(np.log(ds.num_modes))
    out["samples"] = generate(run, 500, seed=11).tolist()
    return out


@register_diagnostic
class LatentInterpolation(Experiment):
    name = "latent-interpolation"
    summary = "walks between latent points: mode switches, time between modes, I(Z; output), collapsed vs healthy"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        if p.run:
            runs = {"run": load_run_generator(p.run)}
            bar = None
        else:
            bar = ctx.bar(p.collapsed_steps + p.healthy_steps, "training two generators")
            runs = {}
            for name, preset, steps in (("collapsed", "vanilla", p.collapsed_steps), ("healthy", "best", p.healthy_steps)):
                runs[name], _ = train_gan(preset_config(preset, "ring", steps=steps, seed=ctx.seed), bar=bar)
            bar.close()
        result = {"generators": {name: {"preset": None if p.run else ("vanilla" if name == "collapsed" else "best"),
                                        **analyse(run, p, ctx.generator(i))}
                                 for i, (name, run) in enumerate(runs.items())},
                  "anchors": next(iter(runs.values())).dataset.anchors().tolist()}
        self._plot(result, ctx)
        return result

    def _plot(self, r: dict, ctx) -> None:
        gens = r["generators"]
        fig, axes = plt.subplots(len(gens), 3, figsize=(12, 3.6 * len(gens)), squeeze=False)
        anchors = np.asarray(r["anchors"])
        for row, (name, g) in zip(axes, gens.items()):
            ax = row[0]
            s = np.asarray(g["samples"])
            ax.scatter(s[:, 0], s[:, 1], s=2, color="lightgrey")
            for path in g["line"]["path_x"]:
                path = np.asarray(path)
                ax.plot(path[:, 0], path[:, 1], lw=0.8)
            ax.scatter(anchors[:, 0], anchors[:, 1], marker="x", color="k", s=20)
            ax.set_aspect("equal")
            ax.set_title(f"{name}: straight-line walks in output space", fontsize=8)
            for ax, kind in zip(row[1:], WALKS):
                m = np.asarray(g[kind]["mode"], dtype=float)
                m[np.asarray(g[kind]["hq"]) == 0] = np.nan
                cmap = plt.get_cmap("tab10").copy()
                cmap = cmap.with_extremes(bad="white")
                ax.imshow(np.ma.masked_invalid(m), aspect="auto", cmap=cmap, vmin=0, vmax=9, interpolation="nearest")
                ax.set_xlabel("step along the walk (white: between modes)")
                ax.set_ylabel("walk")
                ax.set_title(f"{name}, {kind}: {g[kind]['switches_per_walk']:.2f} switches/walk, "
                             f"{g[kind]['between_fraction']:.0%} between modes\nI(Z;mode) {g['mi_latent_mode']:.2f} nats, "
                             f"KSG I(Z;X) {g['mi_latent_output_ksg']:.2f}", fontsize=8)
        save(fig, ctx.path("latent_interpolation.png"))

    def describe(self, r: dict) -> str:
        lines = []
        for name, g in r["generators"].items():
            lines.append(f"{name} (latent dim {g['latent_dim']}): I(Z; mode) = {g['mi_latent_mode']:.3f} nats of "
                         f"{g['max_mi_latent_mode']:.3f}, KSG I(Z; X) = {g['mi_latent_output_ksg']:.3f} nats")
            for kind in WALKS:
                w = g[kind]
                lines.append(f"  {kind:<12} {w['switches_per_walk']:.2f} mode switches per walk, "
                             f"{w['between_fraction']:.1%} of the walk between modes, endpoints in different modes "
                             f"{w['endpoints_differ']:.0%}")
        return "\n".join(lines)
