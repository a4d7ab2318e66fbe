"""``model-collapse``: recursive training on generated data, and the two remedies.

Generation n+1 is fitted only to samples of generation n (Shumailov et al. 2024, Nature,
"AI models collapse when trained on recursively generated data"; Alemohammad et al. 2023,
"Self-Consuming Generative Models Go MAD"). Three models: a single Gaussian fitted by
maximum likelihood (variance and tail mass against E[sigma^2_n] = sigma^2 ((N-1)/N)^n, see
:mod:`.gaussian`), a Gaussian mixture on the ring fitted by EM (modes lost per generation,
:mod:`.mixture`), and the lab's GAN (:mod:`.learned`). Policies: ``replace`` (only the last
generation's samples), ``keep-real`` (a fixed share of the original real data in every
generation) and ``accumulate`` (all data so far; Gerstgrasser et al. 2024).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...data.synthetic import RingParams
from ...errors import ConfigError
from ...experiments import Context, Experiment, register_scenario
from .gaussian import gaussian_experiment
from .learned import learned_experiment
from .mixture import mixture_experiment
from .plots import gaussian_figure, ring_figure


@dataclass
class ModelCollapseParams:
    samples: int = field(default=25, metadata={"help": "N, samples per generation for the single Gaussian"})
    generations: int = field(default=100, metadata={"help": "generations of the single Gaussian"})
    chains: int = field(default=1000, metadata={"help": "independent chains averaged for the single Gaussian"})
    real_share: float = field(default=0.2, metadata={"help": "share of original real data kept by keep-real"})
    ring_modes: int = field(default=8, metadata={"help": "modes of the ring for the mixture and the GAN"})
    mixture_samples: int = field(default=100, metadata={"help": "samples per generation for the mixture"})
    mixture_generations: int = field(default=40, metadata={"help": "generations of the mixture"})
    mixture_chains: int = field(default=4, metadata={"help": "independent chains averaged for the mixture"})
    gan_samples: int = field(default=100, metadata={"help": "training-set size per generation for the GAN"})
    gan_generations: int = field(default=10, metadata={"help": "generations of the GAN (0 skips it)"})
    gan_first_steps: int = field(default=3000, metadata={"help": "GAN steps on the real set (generation 0)"})
    gan_steps: int = field(default=300, metadata={"help": "GAN steps per later generation (warm start)"})
    eval_samples: int = field(default=1000, metadata={"help": "samples drawn to count modes and recall"})

    def validate(self) -> None:
        for key in ("samples", "generations", "chains", "mixture_samples", "mixture_generations", "mixture_chains",
                    "gan_samples", "eval_samples", "ring_modes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {getattr(self, key)}.")
        if self.samples < 2:
            raise ConfigError("--samples must be at least 2 to fit a variance.")
        if self.gan_generations < 0 or self.gan_first_steps < 1 or self.gan_steps < 1:
            raise ConfigError("--gan-generations must be >= 0 and --gan-first-steps, --gan-steps >= 1.")
        if not 0 < self.real_share < 1:
            raise ConfigError(f"--real-share must lie strictly between 0 and 1, got {self.real_share}.")
        if self.eval_samples < 4:
            raise ConfigError("--eval-samples must be at least 4 (recall uses 3 nearest neighbours).")


@register_scenario
class ModelCollapse(Experiment):
    """Recursive training on generated data (Shumailov et al. 2024): a Gaussian, a Gaussian
    mixture and a GAN, each generation fitted only to its predecessor's samples, against
    keeping real data in every generation and accumulating data (Gerstgrasser et al. 2024).
    Reports variance and tail mass (Gaussian) and modes, within-mode variance and recall
    (mixture, GAN) per generation and policy."""

    uses_device = True
    name = "model-collapse"
    summary = "recursive training on own samples: variance, tails and modes shrink; real data / accumulation fix it"
    Params = ModelCollapseParams

    def run(self, p: ModelCollapseParams, ctx: Context) -> dict:
        ring = RingParams(modes=p.ring_modes).build()
        g = gaussian_experiment(n_samples=p.samples, generations=p.generations, chains=p.chains,
                                real_share=p.real_share, generator=ctx.generator(1))
        gaussian_figure(ctx.path("gaussian.png"), g)
        with ctx.bar(3 * p.mixture_chains, "mixture chains") as bar:
            m = mixture_experiment(benchmark=ring, n_samples=p.mixture_samples, generations=p.mixture_generations,
                                   components=p.ring_modes, chains=p.mixture_chains, real_share=p.real_share,
                                   eval_samples=p.eval_samples, em_iterations=20, generator=ctx.generator(2), bar=bar)
        ring_figure(ctx.path("mixture.png"), m, f"Gaussian mixture (EM), N={p.mixture_samples}, "
                                                f"mean of {p.mixture_chains} chains")
        out = {"gaussian": g, "mixture": m}
        if p.gan_generations > 0:
            with ctx.bar(p.gan_first_steps + 3 * p.gan_generations * p.gan_steps, "GAN generations") as bar:
                gan, last = learned_experiment(benchmark=ring, n_samples=p.gan_samples, generations=p.gan_generations,
                                               first_steps=p.gan_first_steps, steps=p.gan_steps,
                                               real_share=p.real_share, eval_samples=p.eval_samples, seed=ctx.seed,
                                               device=str(ctx.device), generator=ctx.generator(3), bar=bar)
            ring_figure(ctx.path("gan.png"), gan, f"the lab's GAN, training set {p.gan_samples} per generation",
                        samples={k: v.numpy() for k, v in last.items()}, anchors=ring.anchors().numpy())
            out["gan"] = gan
        return out

    def describe(self, result: dict) -> str:
        g = result["gaussian"]
        lines = [f"single Gaussian, N={g['n_samples']}, {g['chains']} chains: fitted variance after "
                 f"{g['generations']} generations (true 1; theory for replace ((N-1)/N)^n = "
                 f"{g['theory_ml_replace_variance'][-1]:.4f}):"]
        for name, v in g["policies"].items():
            lines.append(f"  {name:<17} mean {v['variance_mean'][-1]:.4f}  median {v['variance_median'][-1]:.4f}  "
                         f"tail mass mean {v['tail_mass'][-1]:.5f} median {v['tail_mass_median'][-1]:.5f} "
                         f"(real {g['true_tail_mass']:.5f})")
        for part in ("mixture", "gan"):
            if part not in result:
                continue
            r = result[part]
            lines.append(f"{part}: modes / recall at generation 0 -> {r['generations']}:")
            for name, v in r["policies"].items():
                lines.append(f"  {name:<11} modes {v['modes'][0]:.2f} -> {v['modes'][-1]:.2f}  "
                             f"recall {v['recall'][0]:.2f} -> {v['recall'][-1]:.2f}")
        return "\n".join(lines)
