"""Trains the Stacked MNIST mode classifier with the default settings and reports its test
accuracy and training time (the numbers in docs/stacked_mnist.md).

    MODECOLLAPSE_DATA=../shared/data/mnist python benchmarks/train_classifier.py --threads 1 \
        --cache-dir /tmp/mc-cache --json

Trains only when the cache holds no classifier for these settings; pass a fresh
``--cache-dir`` to measure the training time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform

import torch

from modecollapse.models.classifier import ClassifierSettings, load_or_train_info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="MNIST folder (default $MODECOLLAPSE_DATA)")
    p.add_argument("--cache-dir", default=None, help="classifier cache (default $MODECOLLAPSE_CACHE or ~/.cache/modecollapse)")
    p.add_argument("--epochs", type=int, default=ClassifierSettings.epochs)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    info = load_or_train_info(ClassifierSettings(epochs=args.epochs), data_dir=args.data_dir, cache_dir=args.cache_dir, progress=True)
    out = {"test_accuracy": info.test_accuracy, "train_seconds": info.train_seconds, "path": str(info.path),
           "threads": args.threads, "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "torch": torch.__version__}
    print(json.dumps(out) if args.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
