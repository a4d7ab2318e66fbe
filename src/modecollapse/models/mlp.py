"""Fully connected generator and discriminator for low-dimensional benchmarks.

The discriminator is split into ``body`` (input -> features) and ``head`` (features -> one
logit) so that techniques can reuse its features (feature matching) or change its head
(minibatch discrimination) without knowing the rest of the model.
"""
from __future__ import annotations

import typing

import torch
from torch import nn

from ..errors import ConfigError
from .choices import Activation, GNorm, Norm

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def make_activation(name: Activation) -> nn.Module:
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"unknown activation {name!r}; choose one of: {', '.join(_ACTIVATIONS)}.") from None


def make_norm(name: Norm, width: int) -> nn.Module | None:
    """Normalisation after a hidden layer (of the discriminator, or of the generator with
    ``--g-norm``).

    ``batch`` mixes statistics across the batch, so the discriminator's verdict on one sample
    depends on the others (the BatchNorm "leak" the seed articles warn about); ``layer`` and
    ``instance`` normalise each sample on its own. For a fully connected layer ``instance``
    normalises each sample across its features without a learned affine transform.
    """
    if name == "none":
        return None
    if name == "batch":
        return nn.BatchNorm1d(width)
    if name == "layer":
        return nn.LayerNorm(width)
    if name == "instance":
        return nn.LayerNorm(width, elementwise_affine=False)
    raise ConfigError(f"unknown normalisation {name!r}; choose one of: {', '.join(typing.get_args(Norm))}.")


class Maxout(nn.Module):
    """``width`` maxout units (Goodfellow et al. 2013): each is the largest of ``pieces``
    affine functions of the input, so the layer is its own non-linearity."""

    def __init__(self, in_dim: int, width: int, pieces: int) -> None:
        super().__init__()
        self.width, self.pieces = width, pieces
        self.linear = nn.Linear(in_dim, width * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # unit j takes outputs j*pieces .. j*pieces + pieces - 1 of the linear map
        return self.linear(x).unflatten(-1, (self.width, self.pieces)).amax(-1)


def _mlp(in_dim: int, width: int, depth: int, activation: Activation, norm: Norm = "none", maxout: int = 0) -> nn.Sequential:
    """``depth`` hidden layers: linear, optional norm, activation; or with ``maxout`` >= 2,
    maxout units of that many pieces (then optional norm, and no further activation)."""
    layers: list[nn.Module] = []
    dim = in_dim
    for _ in range(depth):
        layers.append(Maxout(dim, width, maxout) if maxout else nn.Linear(dim, width))
        n = make_norm(norm, width)
        if n is not None:
            layers.append(n)
        if not maxout:
            layers.append(make_activation(activation))
        dim = width
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z (batch, latent_dim) -> x (batch, out_dim); a linear output layer."""

    def __init__(self, latent_dim: int, out_dim: int, width: int, depth: int, activation: Activation,
                 norm: GNorm = "none") -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.body = _mlp(latent_dim, width, depth, activation, norm)
        self.out = nn.Linear(width if depth > 0 else latent_dim, out_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z))


class MLPDiscriminator(nn.Module):
    """x (batch, in_dim) -> logits (batch,). ``features(x)`` gives (batch, feature_dim)."""

    def __init__(self, in_dim: int, width: int, depth: int, activation: Activation, norm: Norm, maxout: int = 0) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.body = _mlp(in_dim, width, depth, activation, norm, maxout)
        self.feature_dim = width if depth > 0 else in_dim
        self.head: nn.Module = nn.Linear(self.feature_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)
