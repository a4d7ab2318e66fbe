"""Rollback and cure, measured: `--preset vanilla` on ring, with and without the monitor's rollback.

For each seed, two lab runs of the same config: plain ``--preset vanilla`` (which collapses
on ring), and the same with ``--monitor --on-collapse rollback --cure gp:kind=r1,weight=1`` (at the
first alarm the run goes back to its last checkpoint, taken while healthy, and trains on
with an R1 penalty). Prints the final modes of each and writes one JSON.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/monitor_rollback.py --seeds 0,1,2,3,4 --out /tmp/rollback
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(out: Path, seed: int, extra: list[str], steps: int) -> dict:
    cmd = [sys.executable, "-m", "modecollapse", "train", "--preset", "vanilla", "--data", "ring", "--seed", str(seed),
           "--steps", str(steps), "--out", str(out), "--overwrite", "--json", "--quiet", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain runs (the README has them)")
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--cure", default="gp:kind=r1,weight=1")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = []
    from tqdm.auto import tqdm

    for seed in tqdm([int(x) for x in args.seeds.split(",")], desc="seeds"):
        plain = None if args.no_plain else train(args.out / f"plain-s{seed}", seed, [], args.steps)
        cured = train(args.out / f"rollback-s{seed}", seed,
                      ["--monitor", "--on-collapse", "rollback", "--cure", args.cure], args.steps)
        row = {"seed": seed, "plain_modes": plain["modes"] if plain else None,
               "plain_hq": plain["hq_fraction"] if plain else None,
               "rollback_modes": cured["modes"], "rollback_hq": cured["hq_fraction"], "status": cured["status"],
               "rollbacks": cured.get("rollbacks", []), "collapse_step": cured.get("collapse_step"),
               "monitor_verdict": cured.get("monitor_verdict"), "num_modes": cured["num_modes"]}
        rows.append(row)
        tqdm.write(json.dumps(row))
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / f"rollback-{args.seeds.replace(',', '_')}.json").write_text(json.dumps(rows, indent=1) + "\n")
    for key in ("plain_modes", "rollback_modes"):
        vals = [r[key] for r in rows if r[key] is not None]
        if vals:
            print(f"{key}: {sum(vals) / len(vals):.1f} on average {vals}")


if __name__ == "__main__":
    main()
