"""Input checks shared by the metrics: one clear sentence (a :class:`ConfigError`) per problem.

The metrics are called from the command line on user files and from Python on tensors; in
both cases a NaN row, a dimension mismatch or too few samples must stop the computation
with a sentence that says what is wrong and how to fix it, never a NaN result or a
traceback from deep inside a matrix product.
"""
from __future__ import annotations

import torch

from ..errors import ConfigError


def check_features(x: torch.Tensor, name: str, *, min_samples: int = 1, why: str = "") -> None:
    """Checks that ``x`` is an (n, d) floating tensor of finite values with n >= ``min_samples``."""
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{name} must be a torch.Tensor of shape (n, d), got {type(x).__name__}.")
    if x.ndim != 2:
        raise ConfigError(f"{name} must have shape (n, d), got {tuple(x.shape)}; flatten each sample to one row.")
    if not x.is_floating_point():
        raise ConfigError(f"{name} must hold floating-point values, got {x.dtype}.")
    if x.shape[1] == 0:
        raise ConfigError(f"{name} has rows of zero features; each sample needs at least one value.")
    if len(x) < min_samples:
        reason = f" ({why})" if why else ""
        raise ConfigError(f"{name} has {len(x)} samples but at least {min_samples} are needed{reason}.")
    # A NaN or infinite value makes the sum non-finite, so one summing pass clears ordinary data
    # (a finite set whose sum overflows falls through to the row count, which then finds nothing).
    if bool(torch.isfinite(x.sum())):
        return
    # in row blocks: a mask of the whole set would cost n * d bytes (100 MB at 50,000 x 2048)
    bad = sum(int((~torch.isfinite(x[a : a + 4096])).any(dim=1).sum()) for a in range(0, len(x), 4096))
    if bad:
        raise ConfigError(
            f"{name} has {bad} of {len(x)} rows with NaN or infinite values; drop or fix them first."
        )


def check_pair(real: torch.Tensor, fake: torch.Tensor, *, min_real: int = 1, min_fake: int = 1, why: str = "") -> None:
    """Checks both sets and that their feature dimensions agree."""
    check_features(real, "real", min_samples=min_real, why=why)
    check_features(fake, "fake", min_samples=min_fake, why=why)
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(
            f"real and fake have different feature dimensions ({real.shape[1]} vs {fake.shape[1]}); "
            "extract both with the same feature extractor."
        )


def check_positive_int(value: int, name: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def resolve_device(device: str | torch.device | None, x: torch.Tensor) -> torch.device:
    """``None`` means the device ``x`` already lives on; CUDA must be available when asked for."""
    if device is None:
        return x.device
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use cpu or cuda[:N].") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu.")
    return dev


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 when any input is float64 (exact comparisons for tests), float32 otherwise (speed)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def as_generator(seed: int | torch.Generator) -> torch.Generator:
    """A seed or a ``torch.Generator`` (used as is, so a caller can chain draws) -> a Generator.
    The one place the metrics turn their ``seed`` argument into a random stream."""
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
