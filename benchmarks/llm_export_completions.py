"""Writes the probe completions of one check of a recorded GRPO run (benchmarks/llm/grpo_suite.py)
as a completions JSONL file for `modecollapse measure --fake FILE.jsonl`: one line per completion,
with its prompt, the verifier's `correct` and the run's `reward`.

    .venv/bin/python benchmarks/llm_export_completions.py /work/rec/grpo/collapse-lr-s0 0 base.jsonl
    .venv/bin/python benchmarks/llm_export_completions.py /work/rec/grpo/collapse-lr-s0 last tuned.jsonl
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a run folder holding checks.jsonl")
    ap.add_argument("step", help="the check's step, or 'last'")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    checks = [json.loads(line) for line in (args.run / "checks.jsonl").read_text().splitlines() if line.strip()]
    check = checks[-1] if args.step == "last" else next(c for c in checks if c["step"] == int(args.step))
    with open(args.out, "w") as f:
        for p, cs, ok, rs in zip(check["prompts"], check["completions"], check["correct"], check["rewards"]):
            for c, k, r in zip(cs, ok, rs):
                f.write(json.dumps({"prompt": p, "completion": c, "correct": k, "reward": r}) + "\n")
    print(f"step {check['step']}: {sum(len(cs) for cs in check['completions'])} completions -> {args.out}")


if __name__ == "__main__":
    main()
