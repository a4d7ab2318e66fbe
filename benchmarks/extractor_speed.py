"""Images per second of each pretrained feature extractor on this machine's CPU (or --device).

Speed does not depend on the weights' values, so the networks hold random weights of the
published shapes (no weight file needed). Each extractor runs ``--images`` 32 x 32 uint8 RGB
images (CIFAR-10 size; the resize to 299 / 224 inside makes the input size nearly free) in
batches of ``--batch-size``, after one warm-up batch, in one process, one after another.
Prints wall and CPU (user + sys) seconds per image and images per second, one line each,
and a JSON line with the figures.

    PYTHONPATH=src python benchmarks/extractor_speed.py [--threads 1] [--images 16] [--batch-size 8]
        [--extractors inception-v3,dinov2-vits14,dinov2-vitb14,dinov2-vitl14]

dinov2-vitg14 (1.1 B parameters) can be named too; it needs about 5 GB of memory.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse.features.dinov2 import CONFIGS, DinoExtractor, DinoViT  # noqa: E402
from modecollapse.features.inception import FIDInceptionV3, InceptionExtractor  # noqa: E402


def build(name: str, device: str):
    if name == "inception-v3":
        return InceptionExtractor(FIDInceptionV3().to(device), name=name, weights_path=None)
    arch = name.removeprefix("dinov2-")
    if arch not in CONFIGS:
        raise SystemExit(f"unknown extractor {name!r}; choose inception-v3 or dinov2-{{{','.join(CONFIGS)}}}.")
    torch.manual_seed(0)
    return DinoExtractor(DinoViT(CONFIGS[arch]).to(device), name=name, weights_path=None)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extractors", default="inception-v3,dinov2-vits14,dinov2-vitb14,dinov2-vitl14")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=g)
    rows = []
    for name in args.extractors.split(","):
        ext = build(name, args.device)
        with torch.no_grad():
            ext(images[: args.batch_size])  # warm-up
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            w0, c0 = time.perf_counter(), cpu_seconds()
            for a in range(0, args.images, args.batch_size):
                ext(images[a : a + args.batch_size])
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
        row = {"extractor": name, "images": args.images, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
               "images_per_s": round(args.images / wall, 3), "cpu_s_per_image": round(cpu / args.images, 3)}
        rows.append(row)
        print(f"{name:<15} {row['images_per_s']:>8.3f} images/s  ({row['wall_s']} s wall, {row['cpu_s']} s CPU "
              f"for {args.images} images; {row['cpu_s_per_image']} CPU-s an image)", flush=True)
        del ext
    print(json.dumps({"threads": args.threads, "device": args.device, "batch_size": args.batch_size, "results": rows}))


if __name__ == "__main__":
    main()
