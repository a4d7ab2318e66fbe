"""Rollback and cure, measured: `--preset vanilla` on ring, with and without the monitor's rollback.

For each seed, two lab runs of the same config: plain ``--preset vanilla`` (which collapses
on ring), and the same with ``--monitor --on-collapse rollback --cure gp:kind=r1`` (at the
first alarm the run goes back to its last checkpoint, taken while healthy, and trains on
with an R1 penalty). Prints the final modes of each and writes one JSON.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/monitor_rollback.py --seeds 5 --out /tmp/rollback
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
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--cure", default="gp:kind=r1")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = []
    from tqdm.auto import tqdm

    for seed in tqdm(range(args.seeds), desc="seeds"):
        plain = train(args.out / f"plain-s{seed}", seed, [], args.steps)
        cured = train(args.out / f"rollback-s{seed}", seed,
                      ["--monitor", "--on-collapse", "rollback", "--cure", args.cure], args.steps)
        row = {"seed": seed, "plain_modes": plain["modes"], "plain_hq": plain["hq_fraction"],
               "rollback_modes": cured["modes"], "rollback_hq": cured["hq_fraction"], "status": cured["status"],
               "rollbacks": cured.get("rollbacks", []), "collapse_step": cured.get("collapse_step"),
               "monitor_verdict": cured.get("monitor_verdict"), "num_modes": cured["num_modes"]}
        rows.append(row)
        tqdm.write(json.dumps(row))
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "rollback.json").write_text(json.dumps(rows, indent=1) + "\n")
    mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
    print(f"plain vanilla: {mean('plain_modes'):.1f} modes on average ({[r['plain_modes'] for r in rows]}); "
          f"with rollback + {args.cure}: {mean('rollback_modes'):.1f} ({[r['rollback_modes'] for r in rows]})")


if __name__ == "__main__":
    main()
