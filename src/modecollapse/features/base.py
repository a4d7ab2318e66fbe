"""Feature extractors (the registry and the generic ones): what turns samples (arrays, images) into the rows the metrics compare.

Built in, by name (:data:`EXTRACTORS`): ``identity`` (each sample flattened to one row: raw
coordinates of toy data, or pixels of images). User-supplied: a TorchScript file (loaded
with ``torch.jit.load``) or a ``module:function`` path to a Python callable; either maps a
batch (b, ...) to features (b, d). Images reach an extractor as (b, C, H, W) floats in
[0, 1] (the pretrained networks take uint8 images too).

Pretrained networks, by name: ``inception-v3`` (the FID Inception graph, :mod:`.inception`)
and ``dinov2-vits14`` / ``-vitb14`` / ``-vitl14`` / ``-vitg14`` (:mod:`.dinov2`). Their
published weight files are not shipped and nothing is downloaded at run time; they are found
as :mod:`.weights` says. A factory that takes ``weights`` / ``device`` keywords gets them from
:func:`resolve_extractor`. An extractor with several outputs (features, logits, taps) has an
``outputs`` tuple, an ``outputs_of(x, names)`` method and ``logits_output``, the name of its
logits for the Inception Score (None when it has none); :func:`extract_outputs` uses them.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from ..errors import ConfigError
from ..registry import Registry

Extractor = Callable[[torch.Tensor], torch.Tensor]

#: name -> factory of a built-in extractor.
EXTRACTORS: Registry[Callable[[], Extractor]] = Registry("feature extractor")


@EXTRACTORS.register("identity")
def _identity() -> Extractor:
    """Each sample flattened to one row: raw coordinates of toy data, or pixels (this project's default)."""
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


@EXTRACTORS.register("inception-v3")
def _inception(*, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
               precision: str = "float32") -> Extractor:
    """The FID Inception-v3 graph (Szegedy et al. 2016; Heusel et al. 2017's FID weights): 2048 pool features and logits."""
    from .inception import inception_extractor

    return inception_extractor(weights=weights, device=device, precision=precision)


def _dinov2(arch: str) -> Callable[..., Extractor]:
    def factory(*, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                precision: str = "float32") -> Extractor:
        from .dinov2 import dinov2_extractor

        return dinov2_extractor(arch, weights=weights, device=device, precision=precision)

    factory.__doc__ = f"The DINOv2 {arch} class token (Oquab et al. 2023), as Stein et al. 2023 evaluate generators with it."
    return factory


for _arch in ("vits14", "vitb14", "vitl14", "vitg14"):
    EXTRACTORS.add(f"dinov2-{_arch}", _dinov2(_arch))


def resolve_extractor(spec: str | None, *, weights: str | os.PathLike | None = None,
                      device: str | torch.device = "cpu", precision: str = "float32") -> Extractor:
    """``None`` or a registered name -> built-in; anything else -> :func:`load_callable`.

    ``weights`` (a weight file), ``device`` and ``precision`` (``float32``, or the opt-in
    ``tf32`` / ``bf16`` of :mod:`.inference`) go to the factories that take them (the
    pretrained networks); a weight file or a reduced precision for an extractor that takes
    none is an error.
    """
    if spec is None:
        spec = "identity"
    if spec in EXTRACTORS:
        factory = EXTRACTORS.get(spec)
        accepts = inspect.signature(factory).parameters
        kwargs: dict = {}
        if weights is not None:
            if "weights" not in accepts:
                raise ConfigError(f"extractor {spec!r} takes no weights file; --extractor-weights is for the "
                                  f"pretrained networks ({', '.join(n for n, f in EXTRACTORS.items() if 'weights' in inspect.signature(f).parameters)}).")
            kwargs["weights"] = weights
        if "device" in accepts:
            kwargs["device"] = device
        if precision != "float32":
            if "precision" not in accepts:
                raise ConfigError(f"extractor {spec!r} runs in float32 only; --extractor-precision is for the "
                                  "pretrained networks.")
            kwargs["precision"] = precision
        return factory(**kwargs)
    if precision != "float32":
        raise ConfigError(f"--extractor-precision is for the registered pretrained networks, not for {spec!r}.")
    if weights is not None:
        raise ConfigError(f"--extractor-weights is for the registered pretrained networks, not for {spec!r}.")
    return load_callable(spec)


def output_names(extractor: Extractor) -> tuple[str, ...]:
    """The outputs an extractor gives: its ``outputs`` tuple, or just ``("features",)``."""
    return tuple(getattr(extractor, "outputs", ("features",)))


def logits_output(extractor: Extractor) -> str | None:
    """The name of the extractor's logits for the Inception Score, or None when it has none."""
    return getattr(extractor, "logits_output", None)


def progress_bar(total: int | None, label: bool | str):
    """A tqdm bar in images per second on stderr, shown only on a terminal; None when ``label`` is False."""
    if not label:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=label if isinstance(label, str) else "features", unit="img", file=sys.stderr,
                disable=None, leave=False, smoothing=0.1)  # disable=None: off when not a terminal


def extract_outputs(
    x: torch.Tensor, extractor: Extractor, *, outputs: tuple[str, ...] = ("features",), batch_size: int = 256,
    device: str | torch.device = "cpu", progress: bool | str = False,
) -> dict[str, torch.Tensor]:
    """``outputs`` of ``extractor`` on ``x`` (n, ...) in batches without gradients -> name -> (n, d)
    on CPU. ``progress``: a label for a bar in images per second on stderr (shown only on a terminal)."""
    if len(x) == 0:
        raise ConfigError("there are no samples to extract features from.")
    batches = (x[a : a + batch_size] for a in range(0, len(x), batch_size))
    return extract_batches(batches, extractor, outputs=outputs, device=device, total=len(x), progress=progress)


def extract_batches(
    batches: Iterable[torch.Tensor], extractor: Extractor, *, outputs: tuple[str, ...] = ("features",),
    device: str | torch.device = "cpu", total: int | None = None, progress: bool | str = False,
) -> dict[str, torch.Tensor]:
    """:func:`extract_outputs` over the batches (b, ...) an iterable yields (e.g. images decoded by
    worker processes while the network runs); ``total``: the number of samples, for the bar."""
    have = output_names(extractor)
    unknown = [o for o in outputs if o not in have]
    if unknown:
        raise ConfigError(f"the feature extractor has no output {unknown[0]!r}; it gives: {', '.join(have)}.")
    several = hasattr(extractor, "outputs_of")
    parts: dict[str, list[torch.Tensor]] = {o: [] for o in outputs}
    bar = progress_bar(total, progress)
    try:
        with torch.no_grad():
            for batch in batches:
                try:
                    if several:
                        got = extractor.outputs_of(batch.to(device), tuple(outputs))  # type: ignore[attr-defined]
                    else:
                        got = {"features": extractor(batch.to(device))}
                except ConfigError:
                    raise
                except Exception as err:  # noqa: BLE001 - a failing user extractor is a user error
                    raise ConfigError(f"the feature extractor failed on a batch of shape {tuple(batch.shape)}: {type(err).__name__}: {err}.") from None
                for name in outputs:
                    out = got[name]
                    if not isinstance(out, torch.Tensor):
                        raise ConfigError(f"the feature extractor returned {type(out).__name__}, not a tensor.")
                    if len(out) != len(batch):
                        raise ConfigError(f"the feature extractor returned {len(out)} rows for a batch of {len(batch)}.")
                    parts[name].append(out.detach().reshape(len(out), -1).cpu())
                if bar is not None:
                    bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if not parts[outputs[0]]:
        raise ConfigError("there are no samples to extract features from.")
    return {name: torch.cat(p) for name, p in parts.items()}


def extract(
    x: torch.Tensor, extractor: Extractor, *, batch_size: int = 256, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Applies ``extractor`` to ``x`` (n, ...) in batches without gradients -> (n, d) on CPU."""
    if hasattr(extractor, "outputs_of"):
        return extract_outputs(x, extractor, batch_size=batch_size, device=device)["features"]
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

