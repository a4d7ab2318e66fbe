"""Feature extractors (the registry and the generic ones): what turns samples (arrays, images) into the rows the metrics compare.

Built in, by name (:data:`EXTRACTORS`): ``identity`` (each sample flattened to one row: raw
coordinates of toy data, or pixels of images). User-supplied: a TorchScript file (loaded
with ``torch.jit.load``) or a ``module:function`` path to a Python callable; either maps a
batch (b, ...) to features (b, d). Images reach an extractor as (b, C, H, W) floats in
[0, 1]. Pretrained Inception weights are not shipped (nothing is downloaded at run time):
pass your own network to get FID in its usual feature space.
"""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path
from typing import Callable

import torch

from ..errors import ConfigError
from ..registry import Registry

Extractor = Callable[[torch.Tensor], torch.Tensor]

#: name -> factory of a built-in extractor.
EXTRACTORS: Registry[Callable[[], Extractor]] = Registry("feature extractor")


@EXTRACTORS.register("identity")
def _identity() -> Extractor:
    return lambda x: x.reshape(len(x), -1)


def load_callable(spec: str, *, what: str = "feature extractor") -> Extractor:
    """A TorchScript file path or a ``module:function`` path -> a callable on tensors."""
    path = Path(spec)
    if path.is_file():
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated in recent torch, still supported
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as err:  # noqa: BLE001 - any failure means the file is unusable
            raise ConfigError(f"cannot load {what} {spec} as TorchScript ({type(err).__name__}); save it with torch.jit.save.") from None
        module.eval()
        return module
    if ":" in spec and not spec.startswith(("/", ".")):
        mod_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(mod_name)
        except Exception as err:  # noqa: BLE001 - import errors of user code are user errors
            raise ConfigError(f"cannot import module {mod_name!r} for the {what} ({type(err).__name__}: {err}).") from None
        fn = module
        for part in attr.split("."):
            fn = getattr(fn, part, None)
            if fn is None:
                raise ConfigError(f"module {mod_name!r} has no attribute {attr!r} for the {what}.")
        if not callable(fn):
            raise ConfigError(f"{spec} is not callable; the {what} must map a batch tensor to a tensor.")
        return fn
    raise ConfigError(
        f"{what} {spec!r} is neither a file nor a module:function path; "
        f"give a TorchScript file, a module:function, or one of: {', '.join(EXTRACTORS.names())}."
    )


def resolve_extractor(spec: str | None) -> Extractor:
    """``None`` or a registered name -> built-in; anything else -> :func:`load_callable`."""
    if spec is None:
        return EXTRACTORS.get("identity")()
    if spec in EXTRACTORS:
        return EXTRACTORS.get(spec)()
    return load_callable(spec)


def extract(
    x: torch.Tensor, extractor: Extractor, *, batch_size: int = 256, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Applies ``extractor`` to ``x`` (n, ...) in batches without gradients -> (n, d) on CPU."""
    outs = []
    with torch.no_grad():
        for a in range(0, len(x), batch_size):
            try:
                out = extractor(x[a : a + batch_size].to(device))
            except ConfigError:
                raise
            except Exception as err:  # noqa: BLE001 - a failing user extractor is a user error
                raise ConfigError(f"the feature extractor failed on a batch of shape {tuple(x[a:a + batch_size].shape)}: {type(err).__name__}: {err}.") from None
            if not isinstance(out, torch.Tensor):
                raise ConfigError(f"the feature extractor returned {type(out).__name__}, not a tensor.")
            if len(out) != len(x[a : a + batch_size]):
                raise ConfigError(f"the feature extractor returned {len(out)} rows for a batch of {len(x[a:a + batch_size])}.")
            outs.append(out.detach().reshape(len(out), -1).cpu())
    if not outs:
        raise ConfigError("there are no samples to extract features from.")
    return torch.cat(outs)

