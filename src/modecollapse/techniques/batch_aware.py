"""Batch-aware discriminators: D's verdict on a sample depends on the samples beside it, so a
generator that puts the whole batch on one mode is caught by the lack of variety.

- ``minibatch-disc`` (Salimans et al. 2016, "Improved Techniques for Training GANs", §3.2):
  features f (n, A) are projected by a learned tensor T to n matrices M_i (B, C); for each of
  the B kernels, o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1) measures how close the
  other samples of the batch lie; o (n, B) is appended to the features before the head.
- ``minibatch-std`` (Karras et al. 2018, "Progressive Growing of GANs", §3): the standard
  deviation of each feature over the batch (or over groups of ``group`` samples), averaged
  to one number, is appended to every sample's features. No parameters to learn.
- ``pack`` (Lin, Khetan, Fanti & Oh 2018, "PacGAN"): D judges m samples at once, all real
  or all fake, concatenated into one input of m * dim coordinates. A generator that covers
  few modes yields packs that look unlike real packs, which are diverse.

The first two change D's head (setup order 30); packing wraps the whole discriminator
(order 50) and keeps whatever head the earlier techniques built.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from .base import Technique, TechniqueContext, register


class BatchStatHead(nn.Module):
    """Discriminator head: features (n, A) plus batch statistics (n, S) -> logit (n, 1).

    Statistics modules have ``out_dim`` and map (n, A) -> (n, out_dim); several batch-aware
    techniques add theirs to the same head, so they combine.
    """

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.stats = nn.ModuleList()
        self.out = nn.Linear(feature_dim, 1)

    def add(self, stat: nn.Module) -> None:
        self.stats.append(stat)
        self.out = nn.Linear(self.feature_dim + sum(s.out_dim for s in self.stats), 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.out(torch.cat([f] + [s(f) for s in self.stats], dim=1))


def add_batch_stat(ctx: TechniqueContext, stat: nn.Module) -> None:
    """Adds ``stat`` to the discriminator's head, turning a plain head into a :class:`BatchStatHead`."""
    D = ctx.D
    if not (hasattr(D, "head") and hasattr(D, "feature_dim")):
        raise ConfigError("this technique needs a discriminator with a replaceable head (.head, .feature_dim).")
    head = D.head if isinstance(D.head, BatchStatHead) else BatchStatHead(D.feature_dim)
    head.add(stat)
    D.head = head.to(ctx.device)


class MinibatchDiscrimination(nn.Module):
    """o (n, kernels): summed closeness of each sample to the others, per learned kernel.

    ``double_backward=False`` computes the L1 distances with ``torch.cdist`` (faster on CPU:
    docs/results/performance.md), whose backward cannot be differentiated again; with ``True``
    it broadcasts instead, for techniques that differentiate through D's gradients.
    """

    def __init__(self, feature_dim: int, kernels: int, kernel_dim: int, double_backward: bool = True) -> None:
        super().__init__()
        self.out_dim, self.kernel_dim, self.double_backward = kernels, kernel_dim, double_backward
        self.T = nn.Parameter(torch.randn(feature_dim, kernels * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        n = f.shape[0]
        m = (f @ self.T).view(n, self.out_dim, self.kernel_dim).transpose(0, 1)  # (B, n, C)
        if self.double_backward:
            # n^2 * B * C memory per call: the defaults keep B * C small for the 2D benchmarks
            l1 = (m.unsqueeze(2) - m.unsqueeze(1)).abs().sum(dim=3)  # (B, n, n)
        else:
            m = m.contiguous()
            l1 = torch.cdist(m, m, p=1.0)
        return (torch.exp(-l1).sum(dim=2) - 1.0).t()  # (n, B), the sample itself (exp(0) = 1) left out


class MinibatchStd(nn.Module):
    """s (n, 1): mean over features of the per-feature std within each group of samples."""

    out_dim = 1

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        n, a = f.shape
        g = self.group if 0 < self.group <= n and n % self.group == 0 else n
        # Group k holds samples k, k + n/g, k + 2n/g ... (strided, as in Karras et al.).
        grouped = f.reshape(g, n // g, a)
        # eps inside the root: a collapsed batch has zero variance and sqrt'(0) is infinite.
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=1)  # (n/g,)
        return std.repeat(g).unsqueeze(1)


@dataclass
class MinibatchDiscParams:
    kernels: int = 8
    kernel_dim: int = 4

    def validate(self) -> None:
        if self.kernels < 1 or self.kernel_dim < 1:
            raise ConfigError(f"kernels and kernel_dim must be >= 1, got {self.kernels} and {self.kernel_dim}.")


@register
class MinibatchDisc(Technique):
    name = "minibatch-disc"
    Params = MinibatchDiscParams
    order = 30
    summary = "minibatch discrimination: D sees how close each sample lies to the rest of its batch (Salimans 2016)"

    def setup(self, ctx: TechniqueContext) -> None:
        double = ctx.needs_double_backward
        stat = MinibatchDiscrimination(ctx.D.feature_dim, self.params.kernels, self.params.kernel_dim,
                                       double_backward=double)
        add_batch_stat(ctx, stat)


@dataclass
class MinibatchStdParams:
    group: int = 0

    def validate(self) -> None:
        if self.group < 0 or self.group == 1:
            raise ConfigError(f"group must be 0 (the whole batch) or >= 2, got {self.group}.")


@register
class MinibatchStdTechnique(Technique):
    name = "minibatch-std"
    Params = MinibatchStdParams
    order = 30
    summary = "minibatch standard deviation appended to D's features: group=0 is the whole batch (Karras 2018)"

    def check(self, cfg, loss) -> None:
        if self.params.group and cfg.batch_size % self.params.group:
            raise ConfigError(f"minibatch-std group={self.params.group} must divide --batch-size {cfg.batch_size}.")

    def setup(self, ctx: TechniqueContext) -> None:
        add_batch_stat(ctx, MinibatchStd(self.params.group))


class Packed(nn.Module):
    """x (n, dim) -> logits (n / m,): consecutive groups of m samples judged as one input.

    Batches are i.i.d., so packing consecutive samples packs random ones. ``features`` packs
    the same way, giving (n / m, feature_dim).
    """

    def __init__(self, inner: nn.Module, m: int) -> None:
        super().__init__()
        self.inner, self.m = inner, m
        self.feature_dim = inner.feature_dim

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if n % self.m:
            raise ValueError(f"a batch of {n} samples cannot be packed in groups of {self.m}")
        return x.reshape(n // self.m, self.m * x.shape[1])

    @property
    def head(self) -> nn.Module:
        return self.inner.head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.features(self.pack(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.pack(x))


@dataclass
class PackParams:
    m: int = 4

    def validate(self) -> None:
        if self.m < 2:
            raise ConfigError(f"m must be >= 2 (m=1 is the plain discriminator), got {self.m}.")


@register
class Pack(Technique):
    name = "pack"
    Params = PackParams
    order = 50
    summary = "PacGAN: D judges m samples at once, concatenated (Lin et al. 2018)"

    def check(self, cfg, loss) -> None:
        if cfg.batch_size % self.params.m:
            m = self.params.m
            raise ConfigError(f"pack m={m} needs --batch-size divisible by {m}, got {cfg.batch_size}.")

    def setup(self, ctx: TechniqueContext) -> None:
        old = ctx.D
        inner = ctx.new_discriminator(in_dim=ctx.dataset.dim * self.params.m)
        # Keep a head built by earlier techniques (minibatch layers): it reads features, whose
        # size does not change with the input size when D has hidden layers.
        if not isinstance(old.head, nn.Linear):
            if inner.feature_dim != old.feature_dim:
                raise ConfigError("pack cannot keep a changed discriminator head when --d-depth is 0; use --d-depth >= 1.")
            inner.head = old.head
        ctx.replace_discriminator(Packed(inner, self.params.m))
