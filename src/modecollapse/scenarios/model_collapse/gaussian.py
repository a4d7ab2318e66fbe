"""Recursive fitting of a single Gaussian: the analytic core of model collapse.

Shumailov et al. (2024, Nature, "AI models collapse when trained on recursively generated
data", Section 3 and Supplementary): generation n+1 is the Gaussian fitted to N samples of
generation n. With the maximum-likelihood variance (divide by N) each step multiplies the
variance by a scaled chi-square of mean (N-1)/N, so

    E[sigma^2_n] = sigma^2_0 * ((N - 1) / N)^n            (the curve plotted as "theory")

and sigma^2_n -> 0 almost surely even for the unbiased estimator (divide by N-1), whose
*mean* stays sigma^2_0 while its median decays: log sigma^2 performs a random walk with
negative drift E[log chi^2_{N-1}/(N-1)] < 0. The tails go first: the mass beyond 3 sigma_0
of the real distribution vanishes.

Remedies, on the same chains: a fixed share of the original real sample in every
generation's training set (Shumailov et al.; Alemohammad et al. 2023, "Self-Consuming
Generative Models Go MAD", the "fresh/fixed real data" loops), and accumulating all data
across generations instead of replacing it (Gerstgrasser et al. 2024, "Is Model Collapse
Inevitable? Breaking the Curse of Recursion by Accumulating Real and Synthetic Data"), for
which the error stays bounded.

Everything is vectorised over ``chains`` independent replicates.
"""
from __future__ import annotations

import math

import torch

POLICIES = ("replace", "replace-unbiased", "keep-real", "accumulate")


def theory_ml_variance(n_samples: int, generations: int) -> list[float]:
    """E[sigma^2_n] / sigma^2_0 = ((N-1)/N)^n for n = 0..generations (ML estimator, replace)."""
    return [((n_samples - 1) / n_samples) ** n for n in range(generations + 1)]


def tail_mass(sigma: torch.Tensor, threshold: float = 3.0) -> torch.Tensor:
    """P(|x - mu| > threshold * sigma_0) under the fitted N(mu, sigma^2), per chain (sigma_0 = 1):
    how much of its mass the model still puts in the real distribution's 3-sigma tails,
    measured around its own mean so that the drift of the mean does not count as tail."""
    return 2 * torch.special.ndtr(-threshold / sigma.clamp_min(1e-30))


def run_chains(
    policy: str, *, n_samples: int, generations: int, chains: int, real_share: float, generator: torch.Generator
) -> dict[str, list[float]]:
    """Fits a Gaussian recursively ``generations`` times on ``chains`` chains (generation 0 is
    the real distribution, generation 1 the fit to the real sample); returns per generation the mean and median fitted variance, the mean and median tail mass beyond 3 sigma_0 and
    the mean |mu_n| (the fitted mean's drift away from the real mean 0)."""
    real = torch.randn(chains, n_samples, generator=generator, dtype=torch.float64)  # generation 0's data
    n_keep = int(round(real_share * n_samples)) if policy == "keep-real" else 0
    ddof = 1 if policy == "replace-unbiased" else 0
    # running sums for "accumulate": all data seen so far, real included
    s1, s2, count = real.sum(1), real.pow(2).sum(1), float(n_samples)
    # generation 0 is the real distribution N(0, 1); generation 1 is fitted to the real sample
    mu, var = torch.zeros(chains, dtype=torch.float64), torch.ones(chains, dtype=torch.float64)
    out = {"variance_mean": [], "variance_median": [], "tail_mass": [], "tail_mass_median": [], "mean_abs_drift": []}

    def record() -> None:
        out["variance_mean"].append(float(var.mean()))
        out["variance_median"].append(float(var.median()))
        tails = tail_mass(var.sqrt())
        out["tail_mass"].append(float(tails.mean()))
        out["tail_mass_median"].append(float(tails.median()))
        out["mean_abs_drift"].append(float(mu.abs().mean()))

    record()
    mu, var = real.mean(1), real.var(1, correction=ddof)
    record()
    for _ in range(generations - 1):
        fresh = mu[:, None] + var.sqrt()[:, None] * torch.randn(chains, n_samples - n_keep, generator=generator,
                                                                 dtype=torch.float64)
        if policy == "accumulate":
            s1, s2, count = s1 + fresh.sum(1), s2 + fresh.pow(2).sum(1), count + fresh.shape[1]
            mu = s1 / count
            var = (s2 / count - mu.pow(2)).clamp_min(0)
        else:
            data = torch.cat([real[:, :n_keep], fresh], dim=1)
            mu, var = data.mean(1), data.var(1, correction=ddof)
        record()
    return out


def gaussian_experiment(*, n_samples: int, generations: int, chains: int, real_share: float,
                        generator: torch.Generator) -> dict:
    res = {"n_samples": n_samples, "generations": generations, "chains": chains, "real_share": real_share,
           "true_tail_mass": 2 * (1 - 0.5 * (1 + math.erf(3 / math.sqrt(2)))),
           "theory_ml_replace_variance": theory_ml_variance(n_samples, generations), "policies": {}}
    for policy in POLICIES:
        res["policies"][policy] = run_chains(policy, n_samples=n_samples, generations=generations, chains=chains,
                                             real_share=real_share, generator=generator)
    return res
