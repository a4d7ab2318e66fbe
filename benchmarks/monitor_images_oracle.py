"""What an online rule that knows the digits could reach on the image suite (issue 19).

Reads the recorded MNIST runs of ``monitor_accuracy.py --suite images`` (``--out DIR``) and
applies, at every check, a rule that sees the truth's own digit shares (the same classifier,
1,024 samples a check), not the monitor's label-free clusters: an alarm when ``need`` digits
hold under ``share`` of an even share (10%), over the last ``window`` checks pooled. It
scores the rule like the suite (a dropping run is caught by an alarm from two checks before
its onset on) and counts a healthy run's alarms from step 0, 500 and 1,000. It shows that
before step 1,000, where the truth starts judging, healthy runs still learning look like the
plain GAN's mild drops even to the truth's classifier.

    PYTHONPATH=src python benchmarks/monitor_images_oracle.py --out /tmp/mi2 --seeds 0-2,100-103
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import monitor_images as mi  # noqa: E402


def rule_alarms(shares: torch.Tensor, steps: list[int], window: int, share: float, need: int) -> list[int]:
    """Steps at which ``need`` digits hold under ``share`` x 10% of the samples, pooled over the
    last ``window`` checks (shares: (checks, 10))."""
    out = []
    for i, step in enumerate(steps):
        if i + 1 < window:
            continue
        pooled = shares[i + 1 - window:i + 1].mean(0)
        if int((pooled < share * 0.1).sum()) >= need:
            out.append(step)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="the folder given to monitor_accuracy.py --suite images --record")
    ap.add_argument("--seeds", default="0-2,100-103")
    args = ap.parse_args()
    folder = args.out / "images"
    specs = [s for s in mi.image_suite(mi.parse_seeds(args.seeds))
             if s.name.startswith("mnist-") and (folder / f"{s.name}.pt").exists()]
    if not specs:
        raise SystemExit(f"no recorded MNIST runs under {folder}; record them with monitor_accuracy.py --suite images --record.")
    truth = None
    runs = []
    for s in specs:
        if truth is None and not (folder / f"{s.name}.cache.pt").exists():
            from modecollapse.idx import load_mnist

            images, labels = load_mnist(mi.MNIST_DIR, "train")
            truth = mi.Truth(images[50_000:], labels[50_000:])
        rec = mi.load_recording(folder, s.name, truth)
        runs.append((rec["steps"], torch.tensor([c["share"] for c in rec["truth_checks"]]),
                     mi.run_truth(rec["truth_checks"], rec["steps"])))
    dropping = [r for r in runs if r[2]["label"] == "collapsing" and r[2]["kind"] in ("dropped-modes", "hopping")]
    healthy = [r for r in runs if r[2]["label"] == "healthy"]
    print(f"{len(runs)} MNIST runs: {len(dropping)} dropping modes, {len(healthy)} healthy\n")
    print("| window | share | digits | dropping runs caught | healthy runs alarmed from step 0 / 500 / 1,000 |")
    print("|---|---|---|---|---|")
    for window, share, need in itertools.product((1, 3), (0.3, 0.5), (1, 2)):
        caught = sum(any(a >= t["onset"] - 2 * mi.CHECK_EVERY for a in rule_alarms(sh, st, window, share, need))
                     for st, sh, t in dropping)
        alarmed = [sum(any(a >= start for a in rule_alarms(sh, st, window, share, need)) for st, sh, _ in healthy)
                   for start in (0, 500, 1000)]
        print(f"| {window} | {share:.0%} | {need} | {caught} of {len(dropping)} | "
              f"{' / '.join(str(a) for a in alarmed)} of {len(healthy)} |")


if __name__ == "__main__":
    main()
