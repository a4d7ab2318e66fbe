"""The FID Inception network (``inception-v3``): the 2015-12-05 TensorFlow Inception-v3 graph
that FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a
local Nash equilibrium"), KID, precision/recall and the Inception Score (Salimans et al.
2016) are reported in, layer for layer as pytorch-fid and torch-fidelity port it.

What makes it that graph rather than torchvision's Inception-v3: the input is 8-bit pixels
(:func:`~modecollapse.features.images.to_uint8`; floats in [0, 1] are quantised first, as
saving a PNG would), resized to 299 x 299 with TensorFlow 1.x's bilinear resize and scaled
as ``(x - 128) / 128``; the average pools inside the blocks leave the zero padding out of
their means (``count_include_pad=False``); the last block max-pools its pool branch; the
head is 1008-way. Outputs: ``features`` (the 2048 pool features of FID/KID/PR/DC/Vendi),
``logits`` (with the head's bias), ``logits_unbiased`` (without it: what the original
Inception Score code and torch-fidelity's ``isc`` use) and the 64 / 192 / 768-channel taps.

Weights: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` or pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth``; both hold the same tensors under the same names
(pytorch-fid's adds BatchNorm's ``num_batches_tracked``) and load strictly here.

Speed: once loaded, every BatchNorm is folded into the weights and bias of the convolution
before it (:func:`fold_batchnorm`), the activations are laid out channels_last and each
convolution runs with its ReLU as one kernel (:mod:`.kernels`); on CPU the extractor feeds the
network a few images at a time (:mod:`.inference`). The
outputs equal the layer-for-layer network's up to float32 rounding (about 1e-6 relative).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .images import resize_bilinear_tf1, to_uint8
from .inference import check_precision, run_network
from .kernels import conv2d_relu
from .weights import WeightFile, cache_key, find_weights, load_strict, read_state_dict, untouched_rng

WEIGHTS = WeightFile(
    network="FID Inception-v3",
    names=("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth"),
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth "
        "(or pytorch-fid's pt_inception-2015-12-05-6726825d.pth from https://github.com/mseitzer/pytorch-fid/releases)",
)
OUTPUTS = ("features", "logits", "logits_unbiased", "64", "192", "768")


class Conv(nn.Module):
    """Convolution without bias, BatchNorm (eps 1e-3, as TF), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))

    def folded(self) -> FoldedConv:
        """This unit with BatchNorm folded into the convolution: ``w * s`` and ``beta - mean * s``
        with ``s = gamma / sqrt(var + eps)`` per output channel, computed in float64."""
        bn, w = self.bn, self.conv.weight
        scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()  # (c_out,)
        weight = (w.double() * scale.view(-1, 1, 1, 1)).to(w.dtype)
        bias = (bn.bias.double() - bn.running_mean.double() * scale).to(w.dtype)
        return FoldedConv(weight, bias, stride=self.conv.stride, padding=self.conv.padding)


class FoldedConv(nn.Module):
    """A :class:`Conv` with its BatchNorm folded in (inference only): one convolution with a
    bias and its ReLU, the weight laid out channels_last."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, *, stride: tuple[int, int],
                 padding: tuple[int, int]) -> None:
        super().__init__()
        self.register_buffer("weight", weight.contiguous(memory_format=torch.channels_last))
        self.register_buffer("bias", bias.contiguous())
        self.stride, self.padding = tuple(stride), tuple(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv2d_relu(x, self.weight, self.bias, stride=self.stride, padding=self.padding)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Replaces every :class:`Conv` inside ``module`` by its :meth:`Conv.folded` unit, in place,
    and returns ``module`` (whose state dict then no longer has the published file's keys)."""
    for name, child in module.named_children():
        if isinstance(child, Conv):
            setattr(module, name, child.folded())
        else:
            fold_batchnorm(child)
    return module


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TF's SAME average pool divides by the number of real (unpadded) pixels in the window
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):  # Mixed_5b..5d, 35 x 35
    def __init__(self, c_in: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(c_in, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = Conv(c_in, 48, 1), Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(c_in, 64, 1), Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(c_in, pool, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class BlockB(nn.Module):  # Mixed_6a: 35 -> 17
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = Conv(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(c_in, 64, 1), Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockC(nn.Module):  # Mixed_6b..6e, 17 x 17, factorised 7 x 7
    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = Conv(c_in, 192, 1)
        self.branch7x7_1, self.branch7x7_2, self.branch7x7_3 = Conv(c_in, c7, 1), Conv(c7, c7, **row), Conv(c7, 192, **col)
        self.branch7x7dbl_1, self.branch7x7dbl_2 = Conv(c_in, c7, 1), Conv(c7, c7, **col)
        self.branch7x7dbl_3, self.branch7x7dbl_4 = Conv(c7, c7, **row), Conv(c7, c7, **col)
        self.branch7x7dbl_5 = Conv(c7, 192, **row)
        self.branch_pool = Conv(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            self.branch7x7dbl_5(self.branch7x7dbl_4(d)),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class BlockD(nn.Module):  # Mixed_7a: 17 -> 8
    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = Conv(c_in, 192, 1), Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(c_in, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x)))
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), self.branch7x7x3_4(b), F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):  # Mixed_7b (average pool) and Mixed_7c (max pool, as in the TF graph), 8 x 8
    def __init__(self, c_in: int, max_pool: bool) -> None:
        super().__init__()
        row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
        self.max_pool = max_pool
        self.branch1x1 = Conv(c_in, 320, 1)
        self.branch3x3_1, self.branch3x3_2a, self.branch3x3_2b = Conv(c_in, 384, 1), Conv(384, 384, **row), Conv(384, 384, **col)
        self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(c_in, 448, 1), Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a, self.branch3x3dbl_3b = Conv(384, 384, **row), Conv(384, 384, **col)
        self.branch_pool = Conv(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _tf_avg_pool(x)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d),
            self.branch_pool(pooled),
        ], 1)


class FIDInceptionV3(nn.Module):
    """The network; module names are the published files' keys. ``forward`` takes uint8 (or
    [0, 1] float) images (n, 3 or 1, H, W) and returns the requested outputs (see module doc)."""

    size = 299

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b, self.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b, self.Mixed_7c = BlockE(1280, max_pool=False), BlockE(2048, max_pool=True)
        self.fc = nn.Linear(2048, 1008)
        self.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor, outputs: tuple[str, ...] = ("features",)) -> dict[str, torch.Tensor]:
        want = set(outputs)
        out: dict[str, torch.Tensor] = {}
        x = to_uint8(images, what="inception-v3").to(self.fc.weight.device, torch.float32)  # a new tensor
        x = resize_bilinear_tf1(x, self.size)  # (n, 3, 299, 299) in [0, 255]
        x = x.contiguous(memory_format=torch.channels_last).sub_(128).div_(128)  # the graph's (x - 128) * 0.0078125
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # (n, 64, 147, 147)
        x = F.max_pool2d(x, 3, stride=2)  # (n, 64, 73, 73)

        def tap(name: str, t: torch.Tensor) -> bool:
            if name in want:
                out[name] = t.mean((2, 3))
            return want <= out.keys()

        if tap("64", x):
            return out
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)  # (n, 192, 35, 35)
        if tap("192", x):
            return out
        x = self.Mixed_6a(self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x))))  # (n, 768, 17, 17)
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        if tap("768", x):
            return out
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # (n, 2048, 8, 8)
        pool = x.mean((2, 3))  # (n, 2048)
        if "features" in want:
            out["features"] = pool
        if {"logits", "logits_unbiased"} & want:
            unbiased = pool @ self.fc.weight.T  # (n, 1008)
            if "logits_unbiased" in want:
                out["logits_unbiased"] = unbiased
            if "logits" in want:
                out["logits"] = unbiased + self.fc.bias
        return out


class InceptionExtractor:
    """The ``inception-v3`` extractor: ``self(images)`` -> (n, 2048) pool features;
    :meth:`outputs_of` gives the logits and taps too. ``logits_output`` names the logits the
    Inception Score uses (``logits_unbiased``, torch-fidelity's and the original code's).
    ``precision``: see :mod:`.inference` (float32 unless asked)."""

    outputs = OUTPUTS
    logits_output = "logits_unbiased"

    def __init__(self, network: FIDInceptionV3, *, name: str, weights_path: Path | None,
                 precision: str = "float32") -> None:
        self.network, self.name, self.weights_path = network, name, weights_path
        self.precision = check_precision(precision, network.fc.weight.device)
        self.cache_key = cache_key(name, weights_path, *(() if precision == "float32" else (precision,)))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs_of(images, ("features",))["features"]

    def outputs_of(self, images: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return run_network(lambda x: self.network(x, tuple(names)), images, device=self.network.fc.weight.device,
                           precision=self.precision)


def load_inception(weights: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
                   fold: bool = True) -> FIDInceptionV3:
    """The FID Inception network with the published weights (see :mod:`.weights` for where
    they are looked for), on ``device``, in eval mode; BatchNorm folded in when ``fold``."""
    path = find_weights(WEIGHTS, weights)
    net = untouched_rng(FIDInceptionV3)
    load_strict(net, read_state_dict(path, WEIGHTS.network), path, WEIGHTS.network, optional=("num_batches_tracked",))
    if fold:
        fold_batchnorm(net)
    return net.to(device)


def inception_extractor(*, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                        precision: str = "float32") -> InceptionExtractor:
    path = find_weights(WEIGHTS, weights)
    return InceptionExtractor(load_inception(path, device=device), name="inception-v3", weights_path=path,
                              precision=precision)
