"""Stacked MNIST on a CPU budget: the plain DCGAN-style GAN against anti-collapse techniques.

Each arm is one ``modecollapse train`` command (printed with ``--list``), run for several
seeds, ``--parallel`` at a time, one thread each; a run whose ``summary.json`` exists is not
run again, so the script can be stopped and restarted. The result is a Markdown table of
modes (out of 1,000) and reverse KL over 26,000 samples (the VEEGAN / PacGAN protocol),
mean and spread over the seeds, beside the published anchors.

    MODECOLLAPSE_DATA=../shared/data/mnist MODECOLLAPSE_CACHE=/tmp/mc/cache \\
        python benchmarks/stacked_mnist_compare.py --out runs/smnist-cpu --seeds 3 --parallel 2

The budget (6,000 steps at batch 64, 3 passes over the 128,000 images, the small DCGAN) is
what a shared 2-core CPU allows in about 8 minutes a run; the published numbers come from
far longer runs of larger networks (docs/stacked_mnist.md gives the GPU command).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

COMMON = ["--data", "stacked-mnist", "--arch", "dcgan-small", "--d-norm", "batch", "--latent-dim", "100",
          "--loss", "nonsaturating", "--lr-g", "2e-4", "--lr-d", "2e-4", "--beta1", "0.5", "--beta2", "0.999"]
ARMS = {
    "plain": [],
    "pack2": ["--pack", "m=2"],
    "pack2+mbstd": ["--pack", "m=2", "--minibatch-std"],
}
ANCHORS = [  # (method, modes, reverse KL) as published
    ("DCGAN (Metz et al. 2017 / VEEGAN)", "99", "3.40"),
    ("Unrolled GAN", "48.7", "4.32"),
    ("VEEGAN", "150", "2.95"),
    ("PacDCGAN2 (Lin et al. 2018)", "1000", "0.06"),
    ("WGAN-GP (GDPP protocol)", "995", "0.148"),
    ("R3GAN", "1000", "0.029"),
]


def command(arm: str, seed: int, out: Path, steps: int, batch: int) -> list[str]:
    return ["modecollapse", "train", *COMMON, *ARMS[arm], "--steps", str(steps), "--batch-size", str(batch),
            "--eval-every", str(max(steps // 2, 1)), "--checkpoint-every", str(max(steps // 2, 1)), "--seed", str(seed),
            "--out", str(out / f"{arm}-s{seed}"), "--json", "--quiet"]


def run_one(cmd: list[str], log: Path) -> dict | None:
    out = Path(cmd[cmd.index("--out") + 1])
    if (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    started = time.time()
    with open(log, "a") as f:
        f.write(f"{time.strftime('%H:%M:%S')} start {shlex.join(cmd)}\n")
    r = subprocess.run([sys.executable, "-m", "modecollapse", *cmd[1:], "--overwrite"], capture_output=True, text=True, env=env)
    with open(log, "a") as f:
        f.write(f"{time.strftime('%H:%M:%S')} end rc={r.returncode} {time.time() - started:.0f}s {out.name} {r.stderr[-300:]}\n")
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else None


def rescore(run_dir: Path, confidence: float) -> dict:
    """Re-evaluates a finished run's final generator, counting only samples whose three channel
    confidences all reach ``confidence`` (cached in ``rescore-<confidence>.json``)."""
    import torch

    from modecollapse.lab.config import TrainConfig
    from modecollapse.lab.rundir import load_checkpoint
    from modecollapse.lab.train import build_run, generate, load_checkpoint_state
    from modecollapse.metrics.modes import mode_stats

    cache = run_dir / f"rescore-{confidence}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    torch.set_num_threads(1)
    run = build_run(TrainConfig.load(run_dir / "config.json"))
    load_checkpoint_state(run, load_checkpoint(run_dir))
    samples = generate(run, run.cfg.eval_samples, seed=run.cfg.seed * 7919 + run.step)  # the final evaluation's samples
    run.dataset.confidence = confidence
    s = mode_stats(samples=samples, benchmark=run.dataset)
    result = {"confidence": confidence, "modes": s.modes, "hq_fraction": s.hq_fraction, "reverse_kl": s.reverse_kl}
    cache.write_text(json.dumps(result) + "\n")
    return result


def table(out: Path, arms: list[str], seeds: int, confidence: float | None = None) -> str:
    extra = f" modes, all channels confidence >= {confidence} | fraction of such samples |" if confidence else ""
    rows = ["| method | modes (of 1000) | reverse KL | seeds | minutes per run |" + extra,
            "| --- | --- | --- | --- | --- |" + (" --- | --- |" if confidence else "")]
    for arm in arms:
        sums = [json.loads(p.read_text()) for s in range(seeds) if (p := out / f"{arm}-s{s}" / "summary.json").is_file()]
        if not sums:
            rows.append(f"| ours: {arm} | not finished | | 0 | |")
            continue
        modes = [s["modes"] for s in sums]
        kl = [s["reverse_kl"] for s in sums]
        mins = statistics.mean(s["wall_seconds"] for s in sums) / 60
        spread = lambda v, f: f"{statistics.mean(v):{f}} ± {statistics.stdev(v):{f}}" if len(v) > 1 else f"{v[0]:{f}}"  # noqa: E731
        row = (f"| ours: {arm} ({sums[0]['steps']} steps) | {spread(modes, '.1f')} ({', '.join(map(str, modes))}) | "
               f"{spread(kl, '.2f')} | {len(sums)} | {mins:.1f} |")
        if confidence:
            done = [out / f"{arm}-s{s}" for s in range(seeds) if (out / f"{arm}-s{s}" / "summary.json").is_file()]
            res = [rescore(d, confidence) for d in done]
            row += f" {spread([r['modes'] for r in res], '.1f')} | {spread([r['hq_fraction'] for r in res], '.2f')} |"
        rows.append(row)
    rows += [f"| published: {m} | {a} | {b} | | |" for m, a, b in ANCHORS]
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/smnist-cpu"))
    p.add_argument("--arms", default="plain,pack2", help=f"comma-separated, from: {', '.join(ARMS)} (default plain,pack2)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--list", action="store_true", help="print the commands and exit")
    p.add_argument("--table", action="store_true", help="print the table of what has finished and exit")
    p.add_argument("--confidence", type=float, default=None,
                   help="also re-score each finished run counting only samples whose 3 digits are all this confident")
    args = p.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        p.error(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    # Seed-major order: when stopped early, every arm has the same seeds done.
    cmds = [command(a, s, args.out, args.steps, args.batch_size) for s in range(args.seeds) for a in arms]
    if args.list:
        print("\n".join(shlex.join(c) for c in cmds))
        return
    if not args.table:
        args.out.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda c: run_one(c, args.out / "log.txt"), cmds))
    print(table(args.out, arms, args.seeds, args.confidence))


if __name__ == "__main__":
    main()
