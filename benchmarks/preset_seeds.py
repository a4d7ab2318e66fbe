"""Presets over seeds: the README's vanilla-vs-recommended table (mean ± standard error).

    .venv/bin/python benchmarks/preset_seeds.py --data ring --presets vanilla,recommended --seeds 5

Each run is `modecollapse train --preset P --seed S` on the default benchmark parameters,
two runs at a time with one thread each. Per-run summaries land in --out.
"""
from __future__ import annotations

import argparse
import json
import sys
from multiprocessing import Pool
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse import TrainConfig
from modecollapse.bench.aggregate import summary_table  # noqa: E402
from modecollapse.lab.presets import preset_values  # noqa: E402
from modecollapse.lab.train import train  # noqa: E402


def one(job: tuple[str, str, int, str]) -> tuple[str, dict]:
    preset, data, seed, out = job
    torch.set_num_threads(1)
    values = preset_values(preset, data)
    values["seed"] = seed
    summary = train(TrainConfig.from_dict(values), Path(out) / f"{data}-{preset}-s{seed}", overwrite=True, progress=False)
    print(f"{preset} seed {seed}: {summary['modes']}/{summary['num_modes']} modes, hq {summary['hq_fraction']:.3f}, "
          f"rkl {summary['reverse_kl']:.3f}, modes_ever {summary['modes_ever']}, "
          f"dominant-mode changes {summary['dominant_mode_changes']}, {summary['wall_seconds']:.0f}s", flush=True)
    return preset, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="ring")
    ap.add_argument("--presets", default="vanilla,recommended")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/preset-seeds")
    args = ap.parse_args()
    presets = args.presets.split(",")
    jobs = [(p, args.data, s, args.out) for p in presets for s in range(args.seeds)]
    groups: dict[str, list[dict]] = {p: [] for p in presets}
    with Pool(args.workers) as pool:
        for preset, summary in pool.imap_unordered(one, jobs):
            groups[preset].append(summary)
    print(f"\n{args.data}, default parameters, {args.seeds} seeds (mean ± standard error):\n")
    print(summary_table({f"--preset {p}": g for p, g in groups.items()}, ("modes", "hq_fraction", "reverse_kl", "modes_ever")))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"{args.data}-summaries.json").write_text(json.dumps(groups, indent=1))


if __name__ == "__main__":
    main()
