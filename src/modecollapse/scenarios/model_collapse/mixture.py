"""Recursive fitting of a Gaussian mixture on the ring: modes die one by one.

Each generation fits a K-component isotropic Gaussian mixture by EM (maximum likelihood,
warm-started from the previous generation's fit) to N samples of the previous generation
(Shumailov et al. 2024 fit GMMs the same way in their Fig. 2). Resampling N points makes the
mixture weights a Wright-Fisher random walk: a mode that by chance receives no sample is
gone for good, and the fitted variances shrink as for the single Gaussian.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .common import POLICIES, measure, training_set

VAR_FLOOR = 1e-8


@dataclass
class Mixture:
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, d)
    variances: torch.Tensor  # (K,) isotropic per component

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)
        return self.means[k] + noise * self.variances[k, None].sqrt()


def farthest_point_init(x: torch.Tensor, k: int) -> Mixture:
    """K means by farthest-point traversal from the first sample (deterministic), equal weights."""
    idx = [0]
    d = (x - x[0]).pow(2).sum(1)
    for _ in range(k - 1):
        idx.append(int(d.argmax()))
        d = torch.minimum(d, (x - x[idx[-1]]).pow(2).sum(1))
    means = x[idx].clone()
    return Mixture(torch.full((k,), 1.0 / k, dtype=x.dtype), means, torch.full((k,), float(x.var(0).mean()) / k,
                                                                               dtype=x.dtype))


def fit_em(x: torch.Tensor, init: Mixture, iterations: int) -> Mixture:
    """Maximum-likelihood EM for an isotropic mixture; a component left with no responsibility
    keeps weight 0 (its mode is lost: no later generation can revive it)."""
    n, d = x.shape
    w, mu, var = init.weights.clone(), init.means.clone(), init.variances.clone()
    for _ in range(iterations):
        alive = w > 0
        d2 = torch.cdist(x, mu).pow(2)  # (n, K)
        logp = -0.5 * d2 / var - 0.5 * d * torch.log(2 * math.pi * var) + torch.log(w.clamp_min(1e-300))
        logp[:, ~alive] = -math.inf
        r = torch.softmax(logp, dim=1)
        nk = r.sum(0)
        w = nk / n
        w[nk < 1e-6] = 0.0
        safe = nk.clamp_min(1e-12)
        mu_new = (r.T @ x) / safe[:, None]
        mu = torch.where((w > 0)[:, None], mu_new, mu)
        var_new = (r * torch.cdist(x, mu).pow(2)).sum(0) / (d * safe)
        var = torch.where(w > 0, var_new.clamp_min(VAR_FLOOR), var)
    return Mixture(w / w.sum(), mu, var)


def mixture_experiment(*, benchmark, n_samples: int, generations: int, components: int, chains: int,
                       real_share: float, eval_samples: int, em_iterations: int, generator: torch.Generator,
                       bar=None) -> dict:
    reference = benchmark.sample(eval_samples, generator).double()
    res = {"n_samples": n_samples, "generations": generations, "components": components, "chains": chains,
           "policies": {p: {"modes": [], "variance": [], "recall": []} for p in POLICIES}}
    per = {p: [[] for _ in range(generations + 1)] for p in POLICIES}
    for _ in range(chains):
        real = benchmark.sample(n_samples, generator).double()
        start = fit_em(real, farthest_point_init(real, components), 4 * em_iterations)
        for policy in POLICIES:
            model, history = start, []
            for g in range(generations + 1):
                per[policy][g].append(measure(model.sample(eval_samples, generator).float(), benchmark=benchmark,
                                              reference=reference.float()))
                if g == generations:
                    break
                fresh = model.sample(n_samples, generator)
                data = training_set(policy, real=real, history=history, fresh=fresh, real_share=real_share)
                history.append(fresh)
                model = fit_em(data, model, em_iterations)
            if bar is not None:
                bar.update(1)
    for policy in POLICIES:
        for key in ("modes", "variance", "recall"):
            res["policies"][policy][key] = [sum(m[key] for m in gen) / len(gen) for gen in per[policy]]
    return res
