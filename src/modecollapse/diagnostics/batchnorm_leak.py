"""batchnorm-leak: batch normalisation in the discriminator couples the samples of a batch,
so D's verdict on a real sample depends on the fakes (or the other reals) beside it.

Ioffe & Szegedy (2015), "Batch Normalization"; Radford, Metz & Chintala (2016), DCGAN (BN
in D); Salimans et al. (2016), "Improved Techniques for Training GANs" (§3.4, virtual batch
norm: "the output of a neural network for an input example is highly dependent on several
other inputs in the same minibatch"); Gulrajani et al. (2017), WGAN-GP §4 (no BN in the
critic, layer norm instead); Ba et al. (2016) layer norm; Ulyanov et al. (2016) instance
norm; Miyato et al. (2018) spectral norm.

For each discriminator, a ring GAN is trained with the project's trainer (``--d-norm``;
``spectral`` is its spectral-norm technique). ``batch-mixed`` trains with real and fake
samples in one batch through D (the only variant with its own step, since the trainer
judges real and fake batches separately); ``batch-separate`` is the trainer's own way. Then,
with D in training mode (batch statistics), the change of D's output for fixed real samples
when only the fakes of its batch are redrawn, and when the other reals are redrawn. The
per-sample norms are 0 by construction; they are measured anyway. Spectral norm is measured
in eval mode: in training mode each forward pass also advances its power iteration, which
changes the output without any batch dependence.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from ..experiments import Experiment, register_diagnostic
from ..metrics.modes import mode_stats
from ._common import TrainConfig, generate, plt, save, tail_std, train_gan

VARIANTS = {"none": "none", "batch-mixed": "batch", "batch-separate": "batch", "layer": "layer",
            "instance": "instance", "spectral": "spectral"}


@dataclass
class Params:
    steps: int = field(default=1500, metadata={"help": "training steps per discriminator variant"})
    batch: int = field(default=128, metadata={"help": "batch size (per side)"})
    eval_every: int = field(default=100, metadata={"help": "steps between mode counts"})
    probe: int = field(default=64, metadata={"help": "real samples whose verdicts are probed"})
    draws: int = field(default=8, metadata={"help": "redraws of the rest of the batch per probe"})

    def validate(self) -> None:
        for k in ("steps", "batch", "eval_every", "probe", "draws"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{k.replace('_', '-')} must be >= 1, got {getattr(self, k)}.")
        if self.batch < 2:
            raise ConfigError("batch must be >= 2 (batch norm needs two samples).")


def mixed_step(run) -> tuple[torch.Tensor, torch.Tensor]:
    """One D step and one G step with real and fake samples in one batch through D."""
    n = run.cfg.batch_size
    real = run.sample_real(n)
    with torch.no_grad():
        fake = run.G(run.sample_z(n))
    out = run.D(torch.cat([real, fake]))
    d_loss = run.loss.d_loss(out[:n], out[n:], 1.0, 0.0)
    run.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    run.opt_d.step()
    fake = run.G(run.sample_z(n))
    g_loss = run.loss.g_loss(run.D(torch.cat([real, fake]))[n:])
    run.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    run.opt_g.step()
    run.step += 1
    return d_loss.detach(), g_loss.detach()


@torch.no_grad()
def leak(run, variant: str, p: Params, gen: torch.Generator) -> dict:
    """Mean |change| of D(x) for ``probe`` fixed reals x when the fakes, or the other reals,
    of the batch they are judged in are redrawn; and the spread of D(x) for scale."""
    D = run.D
    D.eval() if variant == "spectral" else D.train()
    ds, n = run.dataset, p.batch
    probe = ds.sample(p.probe, gen)
    mixed = variant == "batch-mixed"

    def verdict(others_real: torch.Tensor, fakes: torch.Tensor) -> torch.Tensor:
        reals = torch.cat([probe, others_real])
        out = D(torch.cat([reals, fakes])) if mixed else D(reals)
        return out[: p.probe]

    def fakes_now() -> torch.Tensor:
        return run.G(torch.randn(n, run.cfg.latent_dim, generator=gen))

    base_real = ds.sample(n - p.probe, gen)
    base_fake = fakes_now()
    ref = verdict(base_real, base_fake)
    d_fake = [(verdict(base_real, fakes_now()) - ref).abs().mean() for _ in range(p.draws)]
    d_real = [(verdict(ds.sample(n - p.probe, gen), base_fake) - ref).abs().mean() for _ in range(p.draws)]
    D.train()
    return {"fake_change": float(torch.stack(d_fake).mean()), "real_change": float(torch.stack(d_real).mean()),
            "output_std": float(ref.std())}


def _paired_bars(ax, r: dict, left: tuple[str, str], right: tuple[str, str], ylabel: str, title: str) -> None:
    """Two bars per variant of ``r``: the ``(key, label)`` pairs ``left`` and ``right``."""
    names = list(r)
    x = np.arange(len(names))
    for off, (key, label) in ((-0.2, left), (0.2, right)):
        ax.bar(x + off, [r[n][key] for n in names], 0.4, label=label)
    ax.set_xticks(x, names, rotation=30, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


@register_diagnostic
class BatchNormLeak(Experiment):
    name = "batchnorm-leak"
    summary = "how D's verdict on a real sample depends on the rest of its batch (batch/layer/instance/spectral norm)"
    Params = Params
    __doc__ = __doc__

    def run(self, p: Params, ctx) -> dict:
        bar = ctx.bar(len(VARIANTS) * p.steps, "batchnorm leak")
        base = TrainConfig(data="ring", loss="nonsaturating", latent_dim=2, g_width=128, d_width=128, lr_g=1e-3,
                           lr_d=1e-3, batch_size=p.batch, steps=p.steps, seed=ctx.seed)
        result = {}
        for i, (variant, norm) in enumerate(VARIANTS.items()):
            cfg = dataclasses.replace(base, d_norm=norm)
            run, trace = train_gan(cfg, eval_every=p.eval_every, bar=bar,
                                   step_fn=mixed_step if variant == "batch-mixed" else None)
            final = generate(run, 1000, seed=ctx.seed + 17)
            result[variant] = {
                **leak(run, variant, p, ctx.generator(i)),
                "d_loss_tail_std": tail_std(trace.d_loss), "g_loss_tail_std": tail_std(trace.g_loss),
                "modes_trace": trace.modes, "eval_steps": trace.eval_steps, "modes_final": trace.modes[-1],
                "modes_std": float(np.std(trace.modes)),
                "mode_count_changes": int(sum(a != b for a, b in zip(trace.modes, trace.modes[1:]))),
                "d_loss": trace.d_loss[:: max(1, p.steps // 200)], "g_loss": trace.g_loss[:: max(1, p.steps // 200)],
                "hq_fraction_final": mode_stats(samples=final, benchmark=run.dataset).hq_fraction,
            }
        bar.close()
        self._plot(result, ctx)
        return result

    def _plot(self, r: dict, ctx) -> None:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
        names = list(r)
        x = np.arange(len(names))
        ax = axes[0]
        _paired_bars(ax, r, ("fake_change", "fakes redrawn"), ("real_change", "other reals redrawn"),
                     "mean |change of D(x_real)| (logits)", "D's verdict on fixed reals vs the rest of the batch")
        for n, xi in zip(names, x):
            for off, key in ((-0.2, "fake_change"), (0.2, "real_change")):
                if r[n][key] == 0:
                    ax.text(xi + off, 0, "0", ha="center", va="bottom", fontsize=6)
        ax = axes[1]
        for n in names:
            ax.plot(r[n]["eval_steps"], r[n]["modes_trace"], label=n, lw=1)
        ax.set_xlabel("step")
        ax.set_ylabel("modes captured (of 8)")
        ax.set_title("mode count over training", fontsize=9)
        ax.legend(fontsize=6)
        _paired_bars(axes[2], r, ("d_loss_tail_std", "D loss"), ("g_loss_tail_std", "G loss"),
                     "std of the loss, second half of training", "loss oscillation")
        save(fig, ctx.path("batchnorm_leak.png"))

    def describe(self, r: dict) -> str:
        lines = [f"{'D':<15}{'fakes redrawn':>14}{'reals redrawn':>14}{'D out std':>10}{'modes':>7}{'changes':>8}{'D loss std':>11}"]
        for n, v in r.items():
            lines.append(f"{n:<15}{v['fake_change']:>14.3g}{v['real_change']:>14.3g}{v['output_std']:>10.3g}"
                         f"{v['modes_final']:>7}{v['mode_count_changes']:>8}{v['d_loss_tail_std']:>11.3g}")
        return "\n".join(lines)
