"""Generators and discriminators.

The networks are imported on first use (PEP 562), so that the names of their choices
(``choices.py``), which type the run configuration, come without torch.
"""
from ..registry import lazy_exports

_EXPORTS = {
    "ARCHS": "registry", "resolve_arch": "registry",
    "DCGANDiscriminator": "dcgan", "DCGANGenerator": "dcgan",
    "MLPDiscriminator": "mlp", "MLPGenerator": "mlp", "make_activation": "mlp", "make_norm": "mlp",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
