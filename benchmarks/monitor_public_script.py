"""CollapseMonitor added to a public GAN training script that this project did not write.

The script is the user's own copy (nothing of it ships here): for the well-known MLP GAN,
``git clone https://github.com/eriklindernoren/PyTorch-GAN`` and pass
``implementations/gan/gan.py`` (or ``implementations/dcgan/dcgan.py``, the DCGAN that trains
at 32 x 32: the real images are resized to the script's ``--img_size`` as its loader does,
and ``features="mnist"`` resizes to 28). It is run as it is, with the lines a user adds:

- before the training loop: a ``CollapseMonitor(real=..., features="mnist")`` built from 4,096
  real MNIST images in [-1, 1] (the script's ``Normalize([0.5], [0.5])``);
- after the discriminator's step: ``monitor.update(step, fake=gen_imgs.detach(),
  d_loss=d_loss, g_loss=g_loss)``, and the run ends after ``--steps`` steps.

The digit classifier (99.1% test accuracy) labels the last 1,024 generated images at every
check (the script's own training-mode batches, so the script draws nothing extra and its
weights follow the same path as without the monitor): the digits held at 5% or more, and
``monitor_images.run_truth`` labels the run as the image suite does. The script imports
torchvision for MNIST, its transforms and ``save_image``; its import lines are pointed at a
stand-in package (written to a temporary folder) that reads the IDX files from ``--data``
and saves no images, since torchvision does not import beside this project's torch.

    PYTHONPATH=src python benchmarks/monitor_public_script.py --script PyTorch-GAN/implementations/gan/gan.py \\
        --data ../shared/data/mnist --seeds 0-4 --steps 3000 --out /tmp/public [-- --lr 0.002]

Prints a line per run (the monitor's first alarm, kind and final verdict beside the truth)
and writes ``OUT/NAME.json`` per run and ``OUT/TAG-summary.json``. ``--overhead`` runs the
script without the monitor and with it (no truth) per seed instead, and prints the ratios of
their loops' wall and CPU time and whether the final generator weights are identical
(``--built`` adds a run with the monitor built but never updated).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# the lines a user adds, inserted at anchors of the script (see the module docstring)
ANCHOR_LOOP = re.compile(r"^for epoch in range\(.*\):\s*$", re.M)
ANCHOR_D_STEP = re.compile(r"^(\s+)optimizer_D\.step\(\)\s*$", re.M)

SEED = '''# --- added by monitor_public_script.py: the run's seed (the script sets none) ---
import modecollapse_probe as _probe
_probe.seed()
# --- end ---
'''
SETUP = '''
# --- added by monitor_public_script.py: the monitor, as a user adds it ---
_monitor = _probe.start()
# --- end ---
'''
UPDATE = '''{ind}# --- added: one update per step, the run ends after --steps steps ---
{ind}_probe.update(_monitor, gen_imgs, d_loss, g_loss)
{ind}# --- end ---
'''

# a stand-in for the parts of torchvision the script uses, reading MNIST from IDX files; the
# script's torchvision imports are pointed at it (patch), so nothing tries to load torchvision
STANDIN = "mc_vision_standin"
TORCHVISION_IMPORT = re.compile(r"^(\s*)(import|from)(\s+)torchvision\b(.*)$", re.M)
SHIM = {
    f"{STANDIN}/__init__.py": "from . import datasets, transforms, utils  # noqa: F401\n",
    f"{STANDIN}/datasets.py": '''
import os
import torch
from modecollapse.idx import load_mnist


class MNIST(torch.utils.data.Dataset):
    def __init__(self, root, train=True, download=False, transform=None):
        self.images, self.labels = load_mnist(os.environ["MODECOLLAPSE_DATA"], "train" if train else "test")
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i]
        return (self.transform(x) if self.transform else x), int(self.labels[i])
''',
    f"{STANDIN}/transforms.py": '''
class Compose:
    def __init__(self, fns):
        self.fns = fns

    def __call__(self, x):
        for f in self.fns:
            x = f(x)
        return x


class Resize:
    """Bilinear with antialiasing to size x size, rounded back to 8-bit pixels (as PIL does)."""

    def __init__(self, size):
        self.size = int(size if isinstance(size, int) else size[0])

    def __call__(self, x):
        import torch.nn.functional as F
        if self.size == x.shape[-1]:
            return x
        y = F.interpolate(x.float()[None, None], size=(self.size, self.size), mode="bilinear", antialias=True,
                          align_corners=False)[0, 0]
        return y.round().clamp(0, 255).to(x.dtype)


class ToTensor:
    def __call__(self, x):
        return x.float().div(255).unsqueeze(0)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = float(mean[0]), float(std[0])

    def __call__(self, x):
        return (x - self.mean) / self.std
''',
    f"{STANDIN}/utils.py": "def save_image(*args, **kwargs):\n    pass\n",
}

PROBE = '''
import collections, json, os, sys, time
import torch
sys.path.insert(0, os.environ["MC_BENCH"])

STEPS = int(os.environ["MC_STEPS"])
OUT = os.environ["MC_OUT"]
MODE = os.environ["MC_MODE"]  # "truth": monitor + classifier truth; "monitor": monitor only; "plain": neither; "built": built, never updated
_state = {"step": 0, "recent": collections.deque(maxlen=16), "checks": [], "monitor_s": 0.0, "truth_s": 0.0,
          "last_check": 0, "loop_t0": None, "cpu0": None}


def seed():
    import numpy as np
    s = int(os.environ["MC_SEED"])
    torch.manual_seed(s)
    np.random.seed(s)


def start():
    import monitor_images as mi
    from modecollapse import CollapseMonitor
    if MODE == "plain":  # the same modules imported, so the timing compares the monitor's work alone
        return None
    from modecollapse.idx import load_mnist
    images, labels = load_mnist(os.environ["MODECOLLAPSE_DATA"], "train")
    if MODE == "truth":
        _state["truth"] = mi.Truth(images[50_000:], labels[50_000:])
    real = mi.real_for(int(os.environ["MC_SEED"]), images[:50_000]).reshape(-1, 1, 28, 28)  # 4,096 images in [-1, 1]
    size = getattr(getattr(sys.modules["__main__"], "opt", None), "img_size", 28)
    if size != 28:  # the script trains at another size (PyTorch-GAN's DCGAN: 32): real images as its loader gives them
        real = torch.nn.functional.interpolate(real, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    monitor = CollapseMonitor(real=real, features="mnist", check_every=100)
    if MODE == "built":  # built (real data and classifier loaded) but never updated: what its mere presence costs
        _state["built"] = monitor
        return None
    return monitor


def update(monitor, gen_imgs, d_loss, g_loss):
    if _state["loop_t0"] is None:
        _state["loop_t0"], _state["cpu0"] = time.perf_counter(), time.process_time()
    _state["step"] += 1
    step = _state["step"]
    if monitor is not None:
        t = time.perf_counter()
        report = monitor.update(step, fake=gen_imgs.detach(), d_loss=d_loss, g_loss=g_loss)
        _state["monitor_s"] += time.perf_counter() - t
        _state["overhead"] = report.overhead  # the monitor's own account of its cost (truth time included)
        if MODE == "truth":
            t = time.perf_counter()
            import monitor_images as mi
            from modecollapse.features.mnist import to_28  # the truth reads 28 x 28 digits, as features="mnist" does
            _state["recent"].append(mi.to_uint8(to_28(gen_imgs.detach()).reshape(len(gen_imgs), -1)))
            if report.check > _state["last_check"]:
                _state["last_check"] = report.check
                truth = _state["truth"].check(torch.cat(list(_state["recent"])))
                _state["checks"].append({"step": report.step, "verdict": report.verdict, "kind": report.kind,
                                         "onset": report.onset_step, "rollback": report.rollback_step,
                                         "reason": report.reason, "truth": truth})
            _state["truth_s"] += time.perf_counter() - t
    if step >= STEPS:
        params = [p.detach().flatten() for p in sys.modules["__main__"].generator.parameters()]
        with open(OUT + ".tmp", "w") as f:
            json.dump({"checks": _state["checks"], "steps": STEPS, "monitor_seconds": _state["monitor_s"],
                       "truth_seconds": _state["truth_s"], "reported_overhead": _state.get("overhead"),
                       "loop_seconds": time.perf_counter() - _state["loop_t0"],
                       "loop_cpu_seconds": time.process_time() - _state["cpu0"],
                       "generator_checksum": float(torch.cat(params).double().abs().sum())}, f)
        os.replace(OUT + ".tmp", OUT)
        raise SystemExit(0)
'''


def patch(text: str) -> str:
    """The script with the monitor's lines inserted; a clear error when an anchor is missing."""
    loop, dstep = ANCHOR_LOOP.search(text), ANCHOR_D_STEP.search(text)
    if loop is None or dstep is None:
        missing = "the 'for epoch in range(...):' loop" if loop is None else "an 'optimizer_D.step()' line"
        raise SystemExit(f"error: the script has no {missing} to add the monitor at; this runner knows "
                         f"PyTorch-GAN's implementations/gan/gan.py and scripts shaped like it")
    text = point_at_standin(text)
    dstep = ANCHOR_D_STEP.search(text)
    ind = dstep.group(1)
    text = text[:dstep.end()] + "\n" + UPDATE.format(ind=ind) + text[dstep.end():]
    loop = ANCHOR_LOOP.search(text)
    return SEED + text[:loop.start()] + SETUP + text[loop.start():]


def point_at_standin(text: str) -> str:
    """The script's torchvision import lines read from the stand-in (the line importing ``save_image`` from
    torchvision.utils now reads it from mc_vision_standin.utils); an ``import`` without
    ``as`` also binds the stand-in as ``torchvision``, for the script's ``torchvision.x`` names."""
    def swap(m: re.Match) -> str:
        ind, kw, gap, rest = m.groups()
        line = f"{ind}{kw}{gap}{STANDIN}{rest}"
        if kw == "import" and " as " not in rest:
            line += f"\n{ind}import {STANDIN} as torchvision"
        return line
    return TORCHVISION_IMPORT.sub(swap, text)


def parse_seeds(text: str) -> list[int]:
    import monitor_images as mi

    return mi.parse_seeds(text)


def summarise(name: str, rec: dict) -> dict:
    import monitor_images as mi

    checks = rec["checks"]
    steps = [c["step"] for c in checks]
    truth = mi.run_truth([c["truth"] for c in checks], steps)
    alarms = [c for c in checks if c["verdict"] in ("collapsing", "collapsed", "diverged")]
    first = alarms[0] if alarms else None
    loop = rec["loop_seconds"] - rec["truth_seconds"]  # the script's loop with the monitor, without the truth
    return {"name": name, "truth": truth, "digits": [c["truth"]["digits"] for c in checks],
            "checks": [{k: c[k] for k in ("step", "verdict", "kind")} for c in checks],
            "first_alarm": first and {"step": first["step"], "kind": first["kind"]},
            "kinds": sorted({c["kind"] for c in alarms}),
            "final": {k: checks[-1][k] for k in ("step", "verdict", "kind", "rollback", "reason")},
            "monitor_share": rec["monitor_seconds"] / max(loop, 1e-9), "loop_seconds": loop}


class Runner:
    """Runs the patched script in a temporary folder holding the torchvision stand-in."""

    def __init__(self, script: str, data: Path, steps: int, extra: list[str], out: Path) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        tmp = Path(self._tmp.name)
        for rel, body in SHIM.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(body)
        (tmp / "modecollapse_probe.py").write_text(PROBE)
        # the script makes ../../data/mnist from where it runs (its repository's layout)
        self.run_dir = tmp / "repo" / "implementations"
        self.run_dir.mkdir(parents=True)
        (self.run_dir / "script.py").write_text(script)
        self.tmp, self.data, self.steps, self.extra, self.out = tmp, data, steps, extra, out

    def __call__(self, name: str, seed: int, mode: str) -> dict:
        dest = self.out / f"{name}.json"
        if not dest.exists():
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(self.tmp), str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")]),
                   "MODECOLLAPSE_DATA": str(self.data.resolve()), "MC_BENCH": str(HERE), "MC_STEPS": str(self.steps),
                   "MC_SEED": str(seed), "MC_OUT": str(dest.resolve()), "MC_MODE": mode}
            t0 = time.time()
            with open(self.out / f"{name}.log", "w") as log:
                rc = subprocess.call([sys.executable, str(self.run_dir / "script.py"), *self.extra], cwd=self.run_dir,
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
            if rc != 0 or not dest.exists():
                raise SystemExit(f"error: {name}: the script exited with {rc}; see {self.out / (name + '.log')}")
            print(f"{name}: {time.time() - t0:.0f} s", file=sys.stderr)
        return json.loads(dest.read_text())

    def close(self) -> None:
        self._tmp.cleanup()


def overhead(run: Runner, tag: str, seeds: list[int], built: bool = False) -> dict:
    """The script without and with the monitor (no truth), alternating which goes first;
    ``built``: a third run with the monitor built but never updated (what its presence costs)."""
    rows = []
    for i, seed in enumerate(seeds):
        order = ("plain", "monitor") if i % 2 == 0 else ("monitor", "plain")
        got = {mode: run(f"{tag}-{mode}-s{seed}", seed, mode) for mode in order + (("built",) if built else ())}
        p, m = got["plain"], got["monitor"]
        rows.append({"seed": seed, "plain_wall": p["loop_seconds"], "monitor_wall": m["loop_seconds"],
                     "plain_cpu": p["loop_cpu_seconds"], "monitor_cpu": m["loop_cpu_seconds"],
                     "wall_ratio": m["loop_seconds"] / p["loop_seconds"], "cpu_ratio": m["loop_cpu_seconds"] / p["loop_cpu_seconds"],
                     "monitor_share": m["monitor_seconds"] / m["loop_seconds"],
                     "reported_overhead": m.get("reported_overhead"),
                     "same_weights": p["generator_checksum"] == m["generator_checksum"]})
        r = rows[-1]
        if built:
            r.update(built_wall=got["built"]["loop_seconds"], built_cpu=got["built"]["loop_cpu_seconds"])
        print(f"seed {seed}: plain {r['plain_wall']:.1f} s wall / {r['plain_cpu']:.1f} s CPU, monitored {r['monitor_wall']:.1f} / "
              f"{r['monitor_cpu']:.1f}: x{r['wall_ratio']:.3f} wall, x{r['cpu_ratio']:.3f} CPU; update() {r['monitor_share']:.1%} of "
              f"the monitored loop (report.overhead: {r['reported_overhead'] or 0:.1%}); final generator weights {'identical' if r['same_weights'] else 'DIFFERENT'}"
              + (f"; built, never updated: {r['built_wall']:.1f} s wall / {r['built_cpu']:.1f} s CPU" if built else ""))
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--script", type=Path, required=True, help="the user's copy of the GAN script (e.g. gan.py)")
    p.add_argument("--data", type=Path, required=True, help="folder holding the MNIST IDX files")
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0-4 or 0,3")
    p.add_argument("--steps", type=int, default=3000, help="training steps per run (default 3000)")
    p.add_argument("--out", type=Path, required=True, help="folder for the per-run results (a run already there is reused)")
    p.add_argument("--tag", default="published", help="name of this setting in the run names")
    p.add_argument("--overhead", action="store_true",
                   help="time the script without and with the monitor instead (no truth), side by side per seed")
    p.add_argument("--built", action="store_true",
                   help="with --overhead: a third run per seed with the monitor built but never updated")
    args = p.parse_args(argv)
    if not args.script.is_file():
        p.error(f"--script {args.script} is not a file")
    if args.steps < 200:
        p.error("--steps should be at least 200 (checks every 100 steps)")
    if args.steps < 1100 and not args.overhead:
        p.error("--steps should be at least 1100 for the classifier's truth, which judges the checks from step 1,000 on")
    seeds = parse_seeds(args.seeds)
    patched = patch(args.script.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    run = Runner(patched, args.data, args.steps, extra, args.out)
    try:
        if args.overhead:
            (args.out / f"{args.tag}-overhead.json").write_text(json.dumps(overhead(run, args.tag, seeds, args.built), indent=1))
            return 0
        results = []
        for seed in seeds:
            name = f"{args.tag}-s{seed}"
            r = summarise(name, run(name, seed, "truth"))
            results.append(r)
            t, fa, f = r["truth"], r["first_alarm"], r["final"]
            print(f"{name:16s} truth {t['label']:10s} {str(t['kind']):13s} onset {t['onset']}  digits {' '.join(map(str, r['digits']))}\n"
                  f"{'':16s} monitor: first alarm {fa and (fa['step'], fa['kind'])}, alarm kinds {r['kinds']}, final "
                  f"{f['verdict']}/{f['kind']} at {f['step']} (rollback {f['rollback']}); update() {r['monitor_share']:.1%} of the loop")
        import monitor_images_suite as suite  # the image suite's scoring: the first alarm from 2 checks before the onset on

        sc = suite.score(results)
        print(f"{args.tag}: {json.dumps(sc)}")
        (args.out / f"{args.tag}-summary.json").write_text(json.dumps({"score": sc, "runs": results}, indent=1))
    finally:
        run.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
