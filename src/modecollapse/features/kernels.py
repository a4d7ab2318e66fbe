"""Inference kernels of the pretrained feature networks: a convolution with its ReLU and a linear
layer with its GELU, each one pass over memory on CPU (the k-NN metrics' distance products use
the linear one too).

On CPU in float32 they call oneDNN's fused operators (``torch.ops.mkldnn._convolution_pointwise``
and ``_linear_pointwise``, the ones PyTorch's own compiler emits for frozen CPU graphs): the
activation is applied while the output tile is still in cache, and oneDNN's matrix kernels use
the CPU's widest vector units where MKL's may not (on AMD processors). Anywhere else (a GPU,
another dtype, a PyTorch build without oneDNN) they are the plain ``F.conv2d`` + ``relu_`` and
``F.linear`` + ``F.gelu``. Both paths compute the same sums in float32; they differ by rounding
(about 1e-6 relative), which the tests bound against the reference implementations.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _onednn_available() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    return hasattr(ops, "_convolution_pointwise") and hasattr(ops, "_linear_pointwise")


#: whether the fused oneDNN operators are used on CPU (tests switch it off to check the plain path)
ONEDNN = _onednn_available()


def fused(x: torch.Tensor) -> bool:
    """Whether the oneDNN kernels serve ``x``: float32 on CPU, outside autocast, where PyTorch has them."""
    return ONEDNN and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")


def conv2d_relu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *, stride: tuple[int, int],
                padding: tuple[int, int]) -> torch.Tensor:
    """``relu(conv2d(x, weight, bias))`` for inference; (n, C, H, W) -> (n, C_out, H', W') in
    ``x``'s memory format (channels_last is the fast one on CPU)."""
    if fused(x):
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, list(padding), list(stride), [1, 1], 1,
                                                       "relu", [], "")
    return F.conv2d(x, weight, bias, stride=stride, padding=padding).relu_()


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, gelu: bool = False) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` (then the exact, erf GELU when ``gelu``) for inference: (..., d_in) -> (..., d_out)."""
    if fused(x):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu" if gelu else "none", [],
                                                  "none" if gelu else "")
    y = F.linear(x, weight, bias)
    return F.gelu(y) if gelu else y
