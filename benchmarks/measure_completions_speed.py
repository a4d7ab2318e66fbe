"""Time `modecollapse measure --fake completions.jsonl` end to end (process start-up included) on
P prompts x n completions, as issue 34 asks (1,000 x 16 in under 30 s without embeddings).

The completions are synthetic but shaped like a policy's: each prompt has a template of
``--words`` words that its completions vary (30% of the words replaced), ending in a number
that a verifier marks correct half the time; a reference file (the "base policy") varies more.

    .venv/bin/python benchmarks/measure_completions_speed.py                 # 1,000 x 16, no embeddings
    .venv/bin/python benchmarks/measure_completions_speed.py --embedder minilm --prompts 100

Prints wall and CPU (user + sys of the child) seconds for each configuration.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_completions(path: Path, *, prompts: int, n: int, words: int, noise: float, seed: int) -> None:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(500)]
    with open(path, "w") as f:
        for p in range(prompts):
            template = [rng.choice(vocab) for _ in range(words)]
            for _ in range(n):
                text = [w if rng.random() > noise else rng.choice(vocab) for w in template]
                answer = rng.randint(1, 20)
                f.write(json.dumps({"prompt": f"question {p}: what follows {template[0]}?",
                                    "completion": " ".join(text) + f" so the answer is {answer}",
                                    "correct": answer % 2 == 0, "reward": float(answer % 2 == 0)}) + "\n")


def timed(argv: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"measure failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall, cpu, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--n", type=int, default=16, help="completions per prompt")
    ap.add_argument("--words", type=int, default=24, help="words per completion before the answer")
    ap.add_argument("--embedder", help="also time with --embedder SPEC (e.g. minilm)")
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("modecollapse"))
    with tempfile.TemporaryDirectory() as tmp:
        fake, real = Path(tmp) / "fake.jsonl", Path(tmp) / "base.jsonl"
        write_completions(fake, prompts=args.prompts, n=args.n, words=args.words, noise=0.3, seed=0)
        write_completions(real, prompts=args.prompts, n=args.n, words=args.words, noise=0.6, seed=1)
        runs = {
            "no extras": [exe, "measure", "--fake", str(fake), "--quiet"],
            "--answer last-number": [exe, "measure", "--fake", str(fake), "--answer", "last-number", "--quiet"],
            "--answer + --real (base policy)": [exe, "measure", "--fake", str(fake), "--real", str(real),
                                                "--answer", "last-number", "--quiet"],
        }
        if args.embedder:
            runs[f"--embedder {args.embedder} + --real"] = [exe, "measure", "--fake", str(fake), "--real", str(real),
                                                            "--embedder", args.embedder, "--quiet"]
        print(f"{args.prompts} prompts x {args.n} completions ({args.prompts * args.n} lines, "
              f"{fake.stat().st_size / 1e6:.1f} MB), CPU {os.cpu_count()} cores")
        print(f"{'configuration':<36} {'wall s':>8} {'CPU s':>8}")
        for name, argv in runs.items():
            wall, cpu, _ = timed(argv)
            print(f"{name:<36} {wall:>8.2f} {cpu:>8.2f}")


if __name__ == "__main__":
    main()
