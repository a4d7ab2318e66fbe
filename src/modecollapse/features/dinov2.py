"""DINOv2 ViT feature extractors (``dinov2-vits14``, ``-vitb14``, ``-vitl14``, ``-vitg14``):
the self-supervised vision transformers of Oquab et al. 2023 ("DINOv2: learning robust
visual features without supervision"), whose feature space Stein et al. (NeurIPS 2023,
"Exposing flaws of generative model evaluation metrics and their unfair treatment of
diffusion models") found to rank generators closest to human judgement and to show dropped
modes that Inception misses. The whole network in one file, loading the official
``dinov2_vit*14_pretrain.pth`` files strictly (their key names are this module's).

The feature is the class token after the final LayerNorm (384 / 768 / 1024 / 1536 values).
Preprocessing, as in Stein et al.'s evaluation (dgm-eval): 8-bit RGB images (floats in
[0, 1] are quantised first, as a PNG would be), resized to 224 x 224 with PIL's bicubic
resize, scaled to [0, 1] and normalised with the ImageNet mean (0.485, 0.456, 0.406) and
std (0.229, 0.224, 0.225). ``resize="tf-bilinear"`` uses torch-fidelity's resize instead
(TensorFlow 1.x bilinear, as for Inception). The 37 x 37 position embeddings of the
518-pixel pretraining are interpolated to the 16 x 16 patch grid bicubically, with the
official code's 0.1 offset in the scale factor.

Speed: attention is PyTorch's fused ``scaled_dot_product_attention``; the linear layers run
through :mod:`.kernels` (the first feed-forward layer with its GELU as one kernel); once
loaded, each LayerScale is folded into the weights of the layer before it
(:func:`fold_layer_scale`); and the last block computes only the class token, the one output
read (its keys and values still come from every token), which skips most of that block.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from .images import resize_bilinear_tf1, resize_pil_bicubic, to_uint8
from .inference import check_precision, run_network
from .kernels import linear
from .weights import WeightFile, cache_key, find_weights, load_strict, read_state_dict, untouched_rng

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZES = ("pil-bicubic", "tf-bilinear")


@dataclass(frozen=True)
class ViTConfig:
    dim: int
    depth: int
    heads: int
    swiglu: bool = False  # ViT-g/14 uses a SwiGLU feed-forward layer
    patch: int = 14
    pretrain_size: int = 518  # the position embeddings cover 37 x 37 patches


CONFIGS = {
    "vits14": ViTConfig(384, 12, 6),
    "vitb14": ViTConfig(768, 12, 12),
    "vitl14": ViTConfig(1024, 24, 16),
    "vitg14": ViTConfig(1536, 40, 24, swiglu=True),
}


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, *, cls_only: bool = False) -> torch.Tensor:
        """(b, n, d) -> (b, n, d), or (b, 1, d) for the class token's query alone when ``cls_only``."""
        b, n, d = x.shape
        h, w, bias = self.heads, self.qkv.weight, self.qkv.bias
        if cls_only:  # keys and values of every token, the query of the class token only
            k, v = linear(x, w[d:], bias[d:]).reshape(b, n, 2, h, d // h).permute(2, 0, 3, 1, 4)  # 2 x (b, h, n, d/h)
            q = linear(x[:, :1], w[:d], bias[:d]).reshape(b, 1, h, d // h).transpose(1, 2)  # (b, h, 1, d/h)
        else:
            q, k, v = linear(x, w, bias).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)  # 3 x (b, h, n, d/h)
        y = F.scaled_dot_product_attention(q, k, v)  # (b, h, m, d/h)
        return linear(y.transpose(1, 2).reshape(b, q.shape[2], d), self.proj.weight, self.proj.bias)


class Mlp(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(linear(x, self.fc1.weight, self.fc1.bias, gelu=True), self.fc2.weight, self.fc2.bias)


class SwiGLU(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = (int(4 * dim * 2 / 3) + 7) // 8 * 8  # the official rounding to a multiple of 8
        self.w12, self.w3 = nn.Linear(dim, 2 * hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = linear(x, self.w12.weight, self.w12.bias).chunk(2, dim=-1)
        return linear(F.silu(x1) * x2, self.w3.weight, self.w3.bias)


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(cfg.dim, eps=1e-6), nn.LayerNorm(cfg.dim, eps=1e-6)
        self.attn = Attention(cfg.dim, cfg.heads)
        self.mlp = SwiGLU(cfg.dim) if cfg.swiglu else Mlp(cfg.dim)
        self.ls1, self.ls2 = LayerScale(cfg.dim), LayerScale(cfg.dim)

    def forward(self, x: torch.Tensor, *, cls_only: bool = False) -> torch.Tensor:
        """(b, n, dim) -> (b, n, dim), or the class token's row (b, 1, dim) alone when ``cls_only``."""
        x = (x[:, :1] if cls_only else x) + self.ls1(self.attn(self.norm1(x), cls_only=cls_only))
        return x + self.ls2(self.mlp(self.norm2(x)))

    def out_layer(self) -> nn.Linear:
        """The feed-forward layer's last linear layer (what ``ls2`` scales)."""
        return self.mlp.w3 if isinstance(self.mlp, SwiGLU) else self.mlp.fc2


def fold_layer_scale(net: DinoViT) -> DinoViT:
    """Folds every block's LayerScale into the linear layer before it (the attention's output
    projection, the feed-forward layer's last layer), in place: ``gamma * (W x + b)`` is
    ``(gamma W) x + gamma b``; the LayerScales become identities. Returns ``net``, whose state
    dict then no longer has the published file's keys."""
    with torch.no_grad():
        for blk in net.blocks:
            for scale, layer in ((blk.ls1, blk.attn.proj), (blk.ls2, blk.out_layer())):
                layer.weight.mul_(scale.gamma.view(-1, 1))
                layer.bias.mul_(scale.gamma)
            blk.ls1, blk.ls2 = nn.Identity(), nn.Identity()
    return net


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.dim, cfg.patch, stride=cfg.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (b, patches, dim)


class DinoViT(nn.Module):
    """``forward(x)``: normalised images (b, 3, H, W), H and W multiples of 14 -> class token (b, dim)."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        grid = cfg.pretrain_size // cfg.patch
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, cfg.dim))
        self.mask_token = nn.Parameter(torch.zeros(1, cfg.dim))  # used in training only; in the files
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.eval().requires_grad_(False)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """(1, 1 + h * w, dim): the pretraining grid's embeddings resampled to h x w patches."""
        n = self.pos_embed.shape[1] - 1
        if h * w == n and h == w:
            return self.pos_embed
        m = int(math.sqrt(n))
        cls, grid = self.pos_embed[:, :1].float(), self.pos_embed[:, 1:].float()
        grid = grid.reshape(1, m, m, -1).permute(0, 3, 1, 2)
        # the official code passes a scale factor with a 0.1 offset (not a size); bicubic uses that scale
        grid = F.interpolate(grid, scale_factor=((h + 0.1) / m, (w + 0.1) / m), mode="bicubic")
        grid = grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)
        return torch.cat([cls, grid], 1).to(self.pos_embed.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // self.cfg.patch, x.shape[3] // self.cfg.patch
        t = self.patch_embed(x)  # (b, h * w, dim)
        t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], 1) + self.position_embedding(h, w)
        for blk in self.blocks[:-1]:
            t = blk(t)
        t = self.blocks[-1](t, cls_only=True)  # (b, 1, dim): only the class token is read
        return self.norm(t)[:, 0]  # (b, dim)


class DinoExtractor:
    """A ``dinov2-*`` extractor: ``self(images)`` -> (n, dim) class tokens (see module doc)."""

    outputs = ("features",)
    logits_output = None
    size = 224

    def __init__(self, network: DinoViT, *, name: str, weights_path: Path | None, resize: str = "pil-bicubic",
                 precision: str = "float32") -> None:
        if resize not in RESIZES:
            raise ConfigError(f"unknown DINOv2 resize {resize!r}; choose one of: {', '.join(RESIZES)}.")
        self.network, self.name, self.weights_path, self.resize = network, name, weights_path, resize
        self.precision = check_precision(precision, network.norm.weight.device)
        self.cache_key = cache_key(name, weights_path, resize, *(() if precision == "float32" else (precision,)))

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images (n, 3 or 1, H, W), uint8 or [0, 1] -> normalised (n, 3, 224, 224) float32."""
        x = to_uint8(images, what=self.name)
        dev = self.network.norm.weight.device
        if self.resize == "pil-bicubic":
            x = resize_pil_bicubic(x, self.size).to(dev, torch.float32) / 255
        else:
            x = resize_bilinear_tf1(x.to(dev, torch.float32), self.size) / 255
        mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
        return (x - mean) / std

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs_of(images, ("features",))["features"]

    def outputs_of(self, images: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return run_network(lambda x: {"features": self.network(self.preprocess(x))}, images,
                           device=self.network.norm.weight.device, precision=self.precision)


def weight_file(arch: str) -> WeightFile:
    return WeightFile(network=f"DINOv2 {arch}", names=(f"dinov2_{arch}_pretrain.pth",),
                      url=f"https://dl.fbaipublicfiles.com/dinov2/dinov2_{arch}/dinov2_{arch}_pretrain.pth")


def load_dinov2(arch: str, weights: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
                fold: bool = True) -> DinoViT:
    """The DINOv2 ``arch`` (vits14, vitb14, vitl14, vitg14) with its official weights, on
    ``device``; LayerScale folded in when ``fold``."""
    spec = weight_file(arch)
    path = find_weights(spec, weights)
    net = untouched_rng(lambda: DinoViT(CONFIGS[arch]))
    load_strict(net, read_state_dict(path, spec.network), path, spec.network)
    if fold:
        fold_layer_scale(net)
    return net.to(device)


def dinov2_extractor(arch: str, *, weights: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                     resize: str = "pil-bicubic", precision: str = "float32") -> DinoExtractor:
    path = find_weights(weight_file(arch), weights)
    return DinoExtractor(load_dinov2(arch, path, device=device), name=f"dinov2-{arch}", weights_path=path, resize=resize,
                         precision=precision)
