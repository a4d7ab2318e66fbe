"""Image preparation shared by the pretrained feature networks: 8-bit pixels and the resizes
the reference implementations use.

* :func:`to_uint8` - every network here sees 8-bit pixel values, as the FID Inception graph
  did (it was fed JPEG/PNG decodes). Float images in [0, 1] are quantised the way saving
  them as PNG does (``floor(255 x + 0.5)``), so a tensor and the PNG folder written from it
  give the same features.
* :func:`resize_bilinear_tf1` - bilinear resize as TensorFlow 1.x's ``resize_bilinear``
  (``align_corners=False``, no half-pixel centres, no antialiasing), the resize inside the
  2015 Inception graph and torch-fidelity's port. Source coordinate of output pixel i is
  ``i * in / out`` (float32); pytorch-fid's ``F.interpolate(..., mode="bilinear")`` uses
  half-pixel centres instead, which moves its FID by a fraction of a point.
* :func:`resize_pil_bicubic` - PIL's bicubic resize of the uint8 image, as torchvision's
  ``Resize(..., BICUBIC)`` on a PIL image does in Stein et al.'s DINOv2 evaluation (and as
  clean-fid resizes for Inception).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError


def to_uint8(images: torch.Tensor, *, what: str = "the feature network") -> torch.Tensor:
    """(n, C, H, W) uint8, or floats in [0, 1] -> (n, 3, H, W) uint8 (one channel is repeated).

    Floats outside [0, 1] by more than half an 8-bit level are an error rather than clipped silently: images
    in [-1, 1] must be mapped with ``(x + 1) / 2`` first.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"{what} takes images (n, 3, H, W) or (n, 1, H, W), got shape {tuple(images.shape)}.")
    if images.dtype == torch.uint8:
        x = images
    elif images.is_floating_point():
        if len(images):
            lo, hi = float(images.min()), float(images.max())
            if not (lo >= -0.5 / 255 and hi <= 1 + 0.5 / 255):  # half an 8-bit level of rounding
                raise ConfigError(f"{what} takes uint8 images or floats in [0, 1], got values from {lo:.3g} to "
                                  f"{hi:.3g}; map images in [-1, 1] with (x + 1) / 2 first.")
        x = images.float().mul(255).add_(0.5).floor_().clamp_(0, 255).to(torch.uint8)
    else:
        raise ConfigError(f"{what} takes uint8 or float images, got {images.dtype}.")
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def resize_bilinear_tf1(x: torch.Tensor, size: int) -> torch.Tensor:
    """(n, C, H, W) float -> (n, C, size, size), TensorFlow 1.x bilinear (see module docstring).

    The result is laid out channels_last in memory (the layout the networks' convolutions run
    fastest in on CPU). Each output pixel is ``t + (b - t) dy`` with ``t`` and ``b`` the
    interpolations along x, ``l + (r - l) dx``, of the two source rows around it: TF's order of
    operations, so the values are TF's to the bit. When enlarging, each source row is interpolated
    along x once, before it is spread over the output rows.
    """
    if x.shape[-2:] == (size, size):
        return x

    def axis(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float32, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = src.long()  # floor: src >= 0
        hi = (lo + 1).clamp_max(n_in - 1)
        return lo, hi, (src - lo.float()).to(x.dtype)

    ylo, yhi, dy = axis(x.shape[2])
    xlo, xhi, dx = axis(x.shape[3])
    h = x.permute(0, 2, 3, 1)  # (n, H, W, C): channels last

    def along_x(r: torch.Tensor) -> torch.Tensor:  # (n, rows, W, C) -> (n, rows, size, C)
        left, right = r.index_select(2, xlo), r.index_select(2, xhi)
        return left.add_((right - left).mul_(dx.view(-1, 1)))

    if x.shape[2] <= size:  # enlarging: each source row along x once, then spread over the output rows
        rows = along_x(h)
        top, bottom = rows.index_select(1, ylo), rows.index_select(1, yhi)  # (n, size, size, C)
    else:  # shrinking: only the source rows that are used
        top, bottom = along_x(h.index_select(1, ylo)), along_x(h.index_select(1, yhi))
    out = top.add_((bottom - top).mul_(dy.view(-1, 1, 1)))
    return out.permute(0, 3, 1, 2)  # (n, C, size, size)


def resize_pil_bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, H, W) uint8 -> (n, 3, size, size) uint8 through PIL's bicubic resize, image by image."""
    if x.shape[-2:] == (size, size):
        return x
    from PIL import Image

    arr = x.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    out = np.stack([np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC)) for a in arr])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device)
