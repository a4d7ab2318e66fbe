"""Generators and discriminators."""
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator, make_activation, make_norm
from .registry import ARCHS, resolve_arch

__all__ = ["ARCHS", "DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator", "make_activation", "make_norm",
           "resolve_arch"]
