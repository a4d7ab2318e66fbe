"""Generators and discriminators."""
from .mlp import MLPDiscriminator, MLPGenerator, make_activation, make_norm

__all__ = ["MLPDiscriminator", "MLPGenerator", "make_activation", "make_norm"]
