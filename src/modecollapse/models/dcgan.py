"""DCGAN-style convolutional generator and discriminator (Radford, Metz & Chintala 2016,
"Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
Networks"), sized for 28 x 28 Stacked MNIST as in Metz et al. 2017 (Unrolled GANs) and
Lin et al. 2018 (PacGAN), and for any square image whose side halves down to 4..7.

Samples travel through the trainer as flat rows (batch, C * H * W) in [-1, 1]; the models
reshape them. The discriminator reads ``in_dim / (H * W)`` channels, so a packed input
(PacGAN: m images concatenated into one row) arrives as m * C stacked channels, which is
how PacGAN packs images. Like :class:`~modecollapse.models.mlp.MLPDiscriminator` it has
``features(x)`` (batch, feature_dim) and a replaceable ``head``, so feature matching,
minibatch discrimination and the mixture classifier work unchanged.
"""
from __future__ import annotations

import typing

import torch
from torch import nn

from ..errors import ConfigError
from .choices import Norm


def upsamplings(side: int) -> tuple[int, int]:
    """(start side, number of 2x steps): the side is halved while even and above 7."""
    start, steps = side, 0
    while start % 2 == 0 and start > 7:
        start //= 2
        steps += 1
    if steps == 0:
        raise ConfigError(f"DCGAN models need a square image side of 8 or more that halves down to 4..7 (e.g. 28, 32, 64), got {side}.")
    return start, steps


def conv_norm(name: str, channels: int) -> nn.Module | None:
    """Normalisation after a discriminator convolution: ``batch`` leaks batch statistics into
    each verdict; ``layer`` (over C, H, W) and ``instance`` (over H, W) do not."""
    if name == "none":
        return None
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "layer":
        return nn.GroupNorm(1, channels)
    if name == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    raise ConfigError(f"unknown discriminator normalisation {name!r}; choose one of: {', '.join(typing.get_args(Norm))}.")


class DCGANGenerator(nn.Module):
    """z (batch, latent_dim) -> x (batch, C * H * W) in [-1, 1]: a linear layer to a
    (width * 2^(k-1), s, s) map, then k transposed convolutions doubling the side."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], width: int) -> None:
        super().__init__()
        c, h, w = image_shape
        if h != w:
            raise ConfigError(f"DCGAN models need square images, got {h} x {w}.")
        self.latent_dim, self.image_shape = latent_dim, image_shape
        start, steps = upsamplings(h)
        ch = width * 2 ** (steps - 1)
        self.start = (ch, start)
        self.fc = nn.Sequential(nn.Linear(latent_dim, ch * start * start, bias=False), nn.BatchNorm1d(ch * start * start), nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(steps - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ch, s = self.start
        x = self.fc(z).view(len(z), ch, s, s)  # (b, ch, s, s)
        return self.body(x).flatten(1)  # (b, C * H * W)


class DCGANDiscriminator(nn.Module):
    """x (batch, in_dim) -> logits (batch,), in_dim a multiple of H * W (channels = in_dim / (H W)).

    Strided 4x4 convolutions halve the side down to s (7 for 28 x 28), doubling the width;
    leaky ReLU 0.2; no normalisation on the first layer (DCGAN). ``features`` flattens the
    last map: (batch, width * 2^(k-1) * s * s).
    """

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], width: int, norm: str) -> None:
        super().__init__()
        _, h, w = image_shape
        if in_dim % (h * w):
            raise ConfigError(f"a DCGAN discriminator for {h} x {w} images cannot read rows of {in_dim} values.")
        self.in_dim, self.hw = in_dim, (h, w)
        self.channels = in_dim // (h * w)
        start, steps = upsamplings(h)
        conv_norm(norm, 1)  # reject an unknown name even when no layer is normalised
        layers: list[nn.Module] = [nn.Conv2d(self.channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = width
        for _ in range(steps - 1):
            layers.append(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=norm == "none"))
            ch *= 2
            n = conv_norm(norm, ch)
            if n is not None:
                layers.append(n)
            layers.append(nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*layers)
        self.feature_dim = ch * start * start
        self.head: nn.Module = nn.Linear(self.feature_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(len(x), self.channels, *self.hw)).flatten(1)  # (b, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)
