"""Model architectures by name (``--arch``): how a run builds its generator and discriminator.

- ``mlp``: fully connected (models/mlp.py); any data, images as flat rows. Sized by
  ``--g-width/--g-depth/--d-width/--d-depth/--activation``, with ``--g-norm`` and
  ``--d-maxout`` for the networks of PacGAN's synthetic experiments.
- ``dcgan``: DCGAN-style convolutions (models/dcgan.py), base width 64, for image data;
  the size of the published Stacked MNIST experiments.
- ``dcgan-small``: the same with base width 16, sized for CPU runs.
- ``auto`` (resolved before a run starts and written to config.json): ``dcgan-small`` for
  image benchmarks, ``mlp`` otherwise.

The DCGAN architectures take their widths from the name, not from ``--g-width`` and
``--d-width`` (which size the MLP); ``--d-norm`` applies to both.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator

if TYPE_CHECKING:  # pragma: no cover
    from ..data.base import Benchmark
    from ..lab.config import TrainConfig


@dataclass(frozen=True)
class Arch:
    """Builders of a generator and a discriminator (reading ``in_dim`` values per row)."""

    generator: Callable[[TrainConfig, Benchmark], nn.Module]
    discriminator: Callable[[TrainConfig, Benchmark, int], nn.Module]
    needs_images: bool = False


ARCHS: Registry[Arch] = Registry("architecture")

ARCHS.add("mlp", Arch(
    generator=lambda c, ds: MLPGenerator(c.latent_dim, ds.dim, c.g_width, c.g_depth, c.activation, c.g_norm),
    discriminator=lambda c, ds, in_dim: MLPDiscriminator(in_dim, c.d_width, c.d_depth, c.activation, c.d_norm, c.d_maxout),
))


def _dcgan(width: int) -> Arch:
    return Arch(
        generator=lambda c, ds: DCGANGenerator(c.latent_dim, ds.image_shape, width),
        discriminator=lambda c, ds, in_dim: DCGANDiscriminator(in_dim, ds.image_shape, width, c.d_norm),
        needs_images=True,
    )


ARCHS.add("dcgan", _dcgan(64))
ARCHS.add("dcgan-small", _dcgan(16))


def resolve_arch(name: str, dataset: Benchmark) -> str:
    """``auto`` -> a concrete name for ``dataset``; checks that the architecture fits the data."""
    if name == "auto":
        return "dcgan-small" if dataset.image_shape is not None else "mlp"
    arch = ARCHS.get(name)
    if arch.needs_images and dataset.image_shape is None:
        raise ConfigError(f"--arch {name} needs an image benchmark (stacked-mnist, image-folder); use --arch mlp for {dataset.name}.")
    return name
