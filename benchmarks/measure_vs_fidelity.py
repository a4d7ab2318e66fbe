"""End to end on two folders of PNGs: ``modecollapse measure`` against torch-fidelity's own CLI
(and torchmetrics' FID), wall and CPU time in one run, with the values checked equal.

The folders (``--images`` random 32 x 32 RGB PNGs each, seeded; 30% of the "fake" images have
their pixels in a narrower range, so that FID is not near 0 and precision is not 1) and one weight file of RANDOM Inception weights in
torch-fidelity's format are written to ``--work`` once and reused. Then each tool runs as its
own process, on the whole machine, the same metrics:

* ours: ``modecollapse measure --real R --fake F --extractor inception-v3 --extractor-weights W
  --metrics fid,kid,isc,precision,recall --no-feature-cache --json`` (its defaults otherwise:
  torch's threads, one decoding worker);
* torch-fidelity 0.4.0: ``fidelity --input1 F --input2 R --fid --kid --isc --prc --feature-extractor
  inception-v3-compat --feature-extractor-weights-path W --cpu --json`` (its defaults otherwise:
  torch's threads, 4 loader workers, batches of 64). ``--feature-extractor`` puts precision and
  recall in the Inception space too, as ours are: left alone, torch-fidelity computes them on
  VGG-16 features, a second network that needs torchvision and a download;
* torchmetrics (``--tools`` adds it): ``FrechetInceptionDistance(feature=2048,
  feature_extractor_weights_path=W)``, fed uint8 batches of 64 that the script decodes with
  Pillow, FID only.

torch-fidelity's CLI needs the whole package, which ``make test`` does not keep (it removes the
modules that load torchvision), and torchvision, which does not import beside this torch. So
it is installed apart (``pip install --no-deps --target .venv/fidelity-cli torch-fidelity==0.4.0``)
and started by a runner that puts in ``sys.modules`` a stand-in for the few torchvision names its
modules import: ``transforms.functional.pil_to_tensor`` and ``transforms.Compose`` (what the
folder reader calls, re-written to torchvision's definitions) and placeholders for the rest, which raise if
called (datasets, VGG/CLIP/DINOv2 extractors, resizing: none is used here). Everything else is
torch-fidelity's own code, its own Inception port and metrics. torchmetrics loads the same
package through the same stand-in (it imports torch-fidelity for its Inception network).
clean-fid is not run: its package imports torchvision at import time (cleanfid.features ->
inception_pytorch) and its default network is a TorchScript file downloaded at run time.

Wall time: ``time.perf_counter`` around the process; CPU time: ``getrusage(RUSAGE_CHILDREN)``,
which counts the tools' worker processes too (user and system apart, since page faults and
memory mapping show as system time). ``--rounds`` repeats the tools in alternating order; the
ratios are of the sums. FID must agree with torch-fidelity's to 1e-4 relative (torchmetrics' is
printed beside it: it takes the square root of its covariance product its own way, which
differs where the covariances are singular, i.e. fewer images than 2048 features), and the
Inception Score, precision and recall are printed beside each other (KID too, although the two
tools draw their 100 random subsets differently, so it agrees only within its std).

    .venv/bin/python benchmarks/measure_vs_fidelity.py [--images 2000] [--rounds 1] [--tools ours,fidelity]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIDELITY = ROOT / ".venv" / "fidelity-cli"
FID_TOLERANCE = 1e-4

# torch-fidelity imports torchvision in modules the CLI loads; a stand-in of the names it imports.
STUB = r'''
import sys, types
import numpy as np, torch

def _unused(name):
    def fail(*args, **kwargs):
        raise RuntimeError(f"torchvision.{name} is not available in this benchmark")
    return fail

class Compose:  # torchvision's: the transforms in order
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

def pil_to_tensor(pic):
    # torchvision's definition: the image's bytes as (C, H, W) uint8
    arr = torch.as_tensor(np.array(pic, copy=True))
    return arr.view(pic.size[1], pic.size[0], len(pic.getbands())).permute((2, 0, 1))

tv = types.ModuleType("torchvision"); tv.__path__ = []
tr = types.ModuleType("torchvision.transforms"); tr.__path__ = []
fn = types.ModuleType("torchvision.transforms.functional")
ds = types.ModuleType("torchvision.datasets")
md = types.ModuleType("torchvision.models")
fn.pil_to_tensor, fn.normalize = pil_to_tensor, _unused("transforms.functional.normalize")
tr.Compose = Compose
for name in ("Resize", "CenterCrop", "Normalize", "InterpolationMode"):
    setattr(tr, name, _unused("transforms." + name))
for name in ("CIFAR10", "CIFAR100", "STL10"):
    setattr(ds, name, type(name, (), {"__init__": _unused("datasets." + name)}))
md.vgg16, md.VGG16_Weights = _unused("models.vgg16"), None
tr.functional, tv.transforms, tv.datasets, tv.models = fn, tr, ds, md
sys.modules.update({"torchvision": tv, "torchvision.transforms": tr, "torchvision.transforms.functional": fn,
                    "torchvision.datasets": ds, "torchvision.models": md})
'''

FIDELITY_MAIN = STUB + r'''
from torch_fidelity.fidelity import main
sys.argv = ["fidelity"] + sys.argv[1:]
main()
'''

TORCHMETRICS_MAIN = STUB + r'''
import json
from pathlib import Path
from PIL import Image
import torch_fidelity  # through the stand-in, which then leaves: torchmetrics probes for torchvision and must not find it
for name in [k for k in sys.modules if k.split(".")[0] == "torchvision"]:
    del sys.modules[name]
from torchmetrics.image.fid import FrechetInceptionDistance

real, fake, weights = sys.argv[1:4]
fid = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=weights)
for folder, is_real in ((real, True), (fake, False)):
    files = sorted(Path(folder).glob("*.png"))
    for a in range(0, len(files), 64):
        batch = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files[a:a + 64]])
        fid.update(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous(), real=is_real)
print(json.dumps({"frechet_inception_distance": float(fid.compute())}))
'''


def make_inputs(work: Path, n: int, seed: int) -> tuple[Path, Path, Path]:
    """(real folder, fake folder, weight file), written once under ``work``."""
    from PIL import Image

    sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]
    import torch

    from reference_impls import random_inception_state

    base = work / f"n{n}-seed{seed}-v2"
    real, fake, weights = base / "real", base / "fake", base / "weights-inception-2015-12-05-6726825d.pth"
    done = base / ".complete"
    if not done.exists():
        rng = np.random.default_rng(seed)
        for folder, narrow in ((real, 0.0), (fake, 0.3)):
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                lo, hi = (40, 216) if rng.random() < narrow else (0, 256)
                Image.fromarray(rng.integers(lo, hi, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
        torch.save(random_inception_state(), weights)
        done.touch()
    return real, fake, weights


def run_tool(tool: str, real: Path, fake: Path, weights: Path, threads: int | None, n: int) -> dict:
    env = dict(os.environ)
    if tool == "ours":
        cmd = [str(ROOT / ".venv" / "bin" / "modecollapse"), "measure", "--real", str(real), "--fake", str(fake),
               "--extractor", "inception-v3", "--extractor-weights", str(weights),
               "--metrics", "fid,kid,isc,precision,recall", "--no-feature-cache", "--json", "--quiet"]
        if threads:
            cmd += ["--threads", str(threads)]
    elif tool == "fidelity":
        cmd = [sys.executable, "-c", FIDELITY_MAIN, "--input1", str(fake), "--input2", str(real), "--fid", "--kid",
               "--isc", "--prc", "--feature-extractor", "inception-v3-compat", "--feature-extractor-weights-path", str(weights), "--cpu", "--json", "--silent",
               "--kid-subset-size", str(min(1000, n))]  # its default 1000, ours min(1000, n)
        env["PYTHONPATH"] = str(FIDELITY)
    else:
        cmd = [sys.executable, "-c", TORCHMETRICS_MAIN, str(real), str(fake), str(weights)]
        env["PYTHONPATH"] = str(FIDELITY)
    if threads and tool != "ours":
        env["OMP_NUM_THREADS"] = str(threads)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    text = proc.stdout
    out = json.loads(text[text.index("{"):])  # torch-fidelity prints its JSON over several lines
    return {"tool": tool, "wall_s": wall, "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime,
            "values": out}


def values(row: dict) -> dict[str, float]:
    """The tool's numbers under our names."""
    v = row["values"]
    if row["tool"] == "ours":
        return {k: v[k] for k in ("fid", "kid", "isc", "precision", "recall") if k in v}
    names = {"frechet_inception_distance": "fid", "kernel_inception_distance_mean": "kid",
             "inception_score_mean": "isc", "precision": "precision", "recall": "recall"}
    return {ours: v[theirs] for theirs, ours in names.items() if theirs in v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000, help="PNGs per folder")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--tools", default="ours,fidelity", help="from: ours, fidelity, torchmetrics")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of every tool (default: each tool's own)")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "modecollapse-e2e")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tools = args.tools.split(",")
    if {"fidelity", "torchmetrics"} & set(tools) and not (FIDELITY / "torch_fidelity").is_dir():
        raise SystemExit(f"torch-fidelity's CLI needs the whole package: .venv/bin/pip install --no-deps --target "
                         f"{FIDELITY.relative_to(ROOT)} torch-fidelity==0.4.0")
    real, fake, weights = make_inputs(args.work, args.images, args.seed)
    print(f"{args.images} + {args.images} PNGs (32 x 32) in {real.parent}; load average before: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    sums = {t: {"wall_s": 0.0, "user_s": 0.0, "sys_s": 0.0} for t in tools}
    last: dict[str, dict] = {}
    for r in range(args.rounds):
        for tool in (tools if r % 2 == 0 else tools[::-1]):
            row = run_tool(tool, real, fake, weights, args.threads, args.images)
            for k in sums[tool]:
                sums[tool][k] += row[k]
            last[tool] = row
            print(f"round {r + 1}: {tool:<12} {row['wall_s']:8.1f} s wall, {row['user_s']:8.1f} s user, "
                  f"{row['sys_s']:6.1f} s sys  {json.dumps(values(row))}", flush=True)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| tool | wall (s) | CPU (s) | of which system | wall vs ours | fid | kid | isc | precision | recall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ours = sums.get("ours")
    for t in tools:
        s, v = sums[t], values(last[t])
        cpu = s["user_s"] + s["sys_s"]
        ratio = f"{s['wall_s'] / ours['wall_s']:.2f}x" if ours else ""
        cells = " | ".join(f"{v[k]:.6g}" if k in v else "-" for k in ("fid", "kid", "isc", "precision", "recall"))
        print(f"| {t} | {s['wall_s']:.1f} | {cpu:.1f} | {s['sys_s']:.1f} ({s['sys_s'] / cpu:.1%}) | {ratio} | {cells} |")
    failed = False
    if "ours" in last:
        mine = values(last["ours"])["fid"]
        for t in tools:
            if t != "ours":
                rel = abs(values(last[t])["fid"] - mine) / abs(values(last[t])["fid"])
                print(f"FID ours vs {t}: {rel:.1e} relative ({'within' if rel <= FID_TOLERANCE else 'OVER'} "
                      f"{FID_TOLERANCE})")
                failed |= t == "fidelity" and rel > FID_TOLERANCE  # the reference; torchmetrics is compared, not held to it
    print(json.dumps({"images": args.images, "rounds": args.rounds, "sums": sums,
                      "values": {t: values(last[t]) for t in tools}}))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
