"""How the pretrained feature networks are run: in inference mode, in chunks on CPU, and in
float32 unless the user opts in to less.

Chunks: on CPU a network sees :data:`CPU_CHUNK` images at a time, whatever the batch size. The
large activations of a chunk then stay below the size from which the C allocator maps fresh
pages from the kernel for every allocation and unmaps them at every free (then every batch
costs page faults and zeroing in the kernel, measured in ``docs/results/performance.md``);
chunks also keep a layer's activations nearer the caches. On a GPU the whole batch runs at once.

Precision:

* ``float32`` (the default): full float32 everywhere, the precision the reference
  implementations' numbers are made in. On a GPU this is enforced for the duration of the
  forward pass: PyTorch lets cuDNN convolutions use TF32 by default on Ampere and later GPUs
  (``torch.backends.cudnn.allow_tf32``), which would move FID by an amount nobody asked for.
* ``tf32`` (GPU only): convolutions and matrix products with TF32 inputs (10-bit mantissa),
  float32 sums.
* ``bf16``: ``torch.autocast`` to bfloat16 (8-bit mantissa), on a GPU or a CPU.

The reduced precisions change the features, and so FID, by more than the tolerances the tests
hold against the reference implementations; ``docs/results/performance.md`` says what is known
of their cost in FID. The caller's settings are restored after each batch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from ..errors import ConfigError

PRECISIONS = ("float32", "tf32", "bf16")


def check_precision(precision: str, device: str | torch.device) -> str:
    """``precision`` when it is known and runs on ``device``; else one :class:`ConfigError`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown extractor precision {precision!r}; choose one of: {', '.join(PRECISIONS)}.")
    if precision == "tf32" and torch.device(device).type != "cuda":
        raise ConfigError("extractor precision tf32 is a GPU setting; use it with --device cuda, or float32 / bf16.")
    return precision


@contextlib.contextmanager
def reduced_precision(precision: str, device: str | torch.device) -> Iterator[None]:
    """The arithmetic of ``precision`` on ``device`` for the body of the ``with``."""
    dev = torch.device(device)
    if precision == "bf16":
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            yield
        return
    if dev.type != "cuda":
        yield
        return
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    allow = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


#: images a network sees at once on CPU (see the module docstring)
CPU_CHUNK = 8


def run_network(forward: Callable[[torch.Tensor], dict[str, torch.Tensor]], images: torch.Tensor, *,
                device: torch.device, precision: str) -> dict[str, torch.Tensor]:
    """``forward`` (images -> name -> (b, d)) over ``images`` (n, ...) in chunks on CPU (one
    piece on a GPU), in inference mode and ``precision``; the outputs concatenated, float32,
    as ordinary tensors (not inference tensors: callers may change them in place)."""
    parts = images.split(CPU_CHUNK) if device.type == "cpu" else (images,)
    with torch.inference_mode(), reduced_precision(precision, device):
        got = [forward(p) for p in parts]
    return {k: (torch.cat([g[k] for g in got]) if len(got) > 1 else got[0][k]).float().clone() for k in got[0]}
