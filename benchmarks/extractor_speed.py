"""The pretrained feature extractors against the reference code, side by side: CPU and wall time.

Each pair holds the same RANDOM weights (speed does not depend on their values; no weight file
needed) and gets the same random uint8 RGB images, at every ``--sizes`` (32: CIFAR-10; 256: an
ImageNet-style crop; the networks resize to 299 / 224 inside):

* ``inception-v3``: ours against torch-fidelity 0.4.0's ``FeatureExtractorInceptionV3`` (both load
  one weight file in torch-fidelity's format; outputs: the 2048 features and the unbiased
  logits, as ``measure --metrics fid,isc`` asks for them).
* ``dinov2-vits14`` / ``-vitb14`` / ``-vitl14``: ours against the official model code (the
  ``dinov2`` package, built as torch hub builds the published models) on the preprocessing of
  Stein et al.'s evaluation code (PIL bicubic resize to 224, ImageNet normalisation, which ours
  does too).

The reference packages are loaded as ``tests/reference_impls.py`` does (``make test`` installs
them). Rounds interleave the two sides (their order alternating), in one process with
``--threads`` threads, so a load that other jobs put on the machine falls on both alike; the
ratios are of the summed CPU (user + sys) and wall seconds. Every pair's outputs are compared
(largest difference relative to the largest value) and the run stops if they differ by more
than the tests allow (1e-4).

    .venv/bin/python benchmarks/extractor_speed.py [--threads 1] [--images 16] [--batch-size 8] [--rounds 3]
        [--sizes 32,256] [--extractors inception-v3,dinov2-vits14,dinov2-vitb14]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from modecollapse.features import resolve_extractor  # noqa: E402
from modecollapse.features.dinov2 import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from reference_impls import dinov2_vision_transformer, load_torch_fidelity, official, random_inception_state, randomise  # noqa: E402

TOLERANCE = 1e-4
VIT = {"vits14": (384, 12, 6), "vitb14": (768, 12, 12), "vitl14": (1024, 24, 16)}


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def pair(name: str, folder: Path):
    """(ours, theirs, label of theirs): two callables uint8 images (b, 3, H, W) -> (b, d) features."""
    if name == "inception-v3":
        tf = load_torch_fidelity()
        if tf is None:
            raise SystemExit("torch-fidelity is not in .venv/refs; run make test once to install it.")
        path = folder / "weights-inception-2015-12-05-6726825d.pth"
        torch.save(random_inception_state(), path)
        ref = tf.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                             feature_extractor_weights_path=str(path))
        ext = resolve_extractor("inception-v3", weights=path)

        def theirs(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():  # as torch-fidelity's own extraction loop calls it
                return ref(x)[0]

        return (lambda x: ext.outputs_of(x, ("features", "logits_unbiased"))["features"]), theirs, "torch-fidelity 0.4.0"
    arch = name.removeprefix("dinov2-")
    if arch not in VIT:
        raise SystemExit(f"unknown extractor {name!r}; choose inception-v3 or dinov2-{{{','.join(VIT)}}}.")
    vits = _dinov2_module()
    dim, depth, heads = VIT[arch]
    torch.manual_seed(0)
    model = randomise(official(vits, dim=dim, depth=depth, heads=heads), seed=2)
    path = folder / f"dinov2_{arch}_pretrain.pth"
    torch.save(model.state_dict(), path)
    ext = resolve_extractor(name, weights=path)
    mean = np.array(IMAGENET_MEAN, dtype=np.float32)
    std = np.array(IMAGENET_STD, dtype=np.float32)

    def theirs(x: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        # Stein et al.'s preprocessing: PIL bicubic resize, to [0, 1], ImageNet normalisation
        arr = [np.asarray(Image.fromarray(a).resize((224, 224), Image.BICUBIC)) for a in x.permute(0, 2, 3, 1).numpy()]
        batch = torch.from_numpy((np.stack(arr).astype(np.float32) / 255 - mean) / std).permute(0, 3, 1, 2)
        with torch.no_grad():
            return model(batch)

    return ext, theirs, "dinov2 official code"


def _dinov2_module():
    import pytest

    try:
        return dinov2_vision_transformer()
    except pytest.skip.Exception:
        raise SystemExit("the dinov2 package is not in .venv/refs; run make test once to install it.") from None


def timed(fn, images: torch.Tensor, batch: int) -> tuple[float, float, torch.Tensor]:
    w0, c0 = time.perf_counter(), cpu_seconds()
    out = torch.cat([fn(images[a : a + batch]) for a in range(0, len(images), batch)])
    return time.perf_counter() - w0, cpu_seconds() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extractors", default="inception-v3,dinov2-vits14,dinov2-vitb14")
    ap.add_argument("--sizes", default="32,256", help="image sides in pixels, comma-separated")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    images = {s: torch.randint(0, 256, (args.images, 3, s, s), dtype=torch.uint8, generator=g) for s in sizes}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.extractors.split(","):
            ours, theirs, label = pair(name, Path(tmp))
            for s in sizes:
                x = images[s]
                ours(x[: args.batch_size]), theirs(x[: args.batch_size])  # warm-up at the timed shapes (oneDNN builds kernels per shape)
                tot = {"ours": [0.0, 0.0], "theirs": [0.0, 0.0]}
                worst = 0.0
                for r in range(args.rounds):
                    got = {}
                    for side in (("ours", "theirs") if r % 2 == 0 else ("theirs", "ours")):
                        wall, cpu, out = timed(ours if side == "ours" else theirs, x, args.batch_size)
                        tot[side][0] += wall
                        tot[side][1] += cpu
                        got[side] = out
                    worst = max(worst, float((got["ours"] - got["theirs"]).abs().max() / got["theirs"].abs().max()))
                if worst > TOLERANCE:
                    raise SystemExit(f"{name} at {s} px: outputs differ by {worst:.1e} relative, over {TOLERANCE}.")
                n = args.images * args.rounds
                row = {"extractor": name, "size": s, "reference": label, "images": n,
                       "ours_cpu_s_per_image": tot["ours"][1] / n, "theirs_cpu_s_per_image": tot["theirs"][1] / n,
                       "ours_wall_s_per_image": tot["ours"][0] / n, "theirs_wall_s_per_image": tot["theirs"][0] / n,
                       "cpu_ratio": tot["theirs"][1] / tot["ours"][1], "wall_ratio": tot["theirs"][0] / tot["ours"][0],
                       "max_rel_diff": worst}
                rows.append(row)
                print(f"{name:<14} {s:>4} px  ours {row['ours_cpu_s_per_image']:.3f} CPU-s/image "
                      f"({row['ours_wall_s_per_image']:.3f} wall), {label} {row['theirs_cpu_s_per_image']:.3f} "
                      f"({row['theirs_wall_s_per_image']:.3f} wall): {row['cpu_ratio']:.2f}x CPU, "
                      f"{row['wall_ratio']:.2f}x wall, outputs within {worst:.1e}", flush=True)
    print("\n| extractor | pixels | reference | ours CPU-s / image | reference CPU-s / image | CPU ratio | wall ratio "
          "| max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['extractor']}` | {r['size']} | {r['reference']} | {r['ours_cpu_s_per_image']:.3f} | "
              f"{r['theirs_cpu_s_per_image']:.3f} | {r['cpu_ratio']:.2f}x | {r['wall_ratio']:.2f}x | "
              f"{r['max_rel_diff']:.1e} |")
    print(json.dumps({"threads": args.threads, "batch_size": args.batch_size, "rounds": args.rounds,
                      "loadavg": os.getloadavg(), "results": rows}))


if __name__ == "__main__":
    main()
