"""A TRL GRPO script with CollapseCallback added in three lines, as a user would write it, and its
overhead: the same training with and without the callback, alternated in one process.

The policy is the suite's pretrained GPT-2 (benchmarks/llm/pretrain.py: "k=K,T:" -> a two-digit
multiple of K) and the reward a verifier, with no KL penalty and a learning rate that makes the
n completions of a prompt converge to one answer within a couple of hundred steps.

    .venv/bin/python benchmarks/llm_callback_example.py --base /work/rec/grpo/base            # the example
    .venv/bin/python benchmarks/llm_callback_example.py --base /work/rec/grpo/base --overhead 2 --steps 100

``--overhead R`` runs R rounds of (plain, with the callback at its default cadence) with
``stop_on`` empty, so both train the same steps, and prints each run's wall and CPU seconds, the
callback's own probe seconds and the ratio.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent / "llm"))

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from task import correct, multiples_prompts  # noqa: E402
from transformers import AutoTokenizer, PrinterCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from modecollapse import CollapseCallback  # noqa: E402


def reward(prompts, completions, **_):
    return [float(correct(p, c)) for p, c in zip(prompts, completions)]


def train(base: str, out: str, *, steps: int, callback: CollapseCallback | None, seed: int = 0) -> GRPOTrainer:
    args = GRPOConfig(output_dir=out, use_cpu=True, report_to=[], max_steps=steps, learning_rate=3e-4, beta=0.0,
                      per_device_train_batch_size=128, num_generations=8, max_completion_length=6, logging_steps=5,
                      save_strategy="no", disable_tqdm=True, seed=seed)
    trainer = GRPOTrainer(model=base, reward_funcs=reward, args=args,
                          train_dataset=Dataset.from_dict({"prompt": multiples_prompts() * 64}),
                          processing_class=AutoTokenizer.from_pretrained(base))
    trainer.remove_callback(PrinterCallback)  # TRL's dict of scalars at every log: left out to keep the output short
    if callback is not None:
        callback.attach(trainer)
    trainer.train()
    return trainer


def example(base: str, steps: int) -> None:
    probe = multiples_prompts()[::2]  # 16 prompts, two per k
    callback = CollapseCallback(probe, n=8, check_every=25, generation={"max_new_tokens": 6}, verifier=correct,
                                stop_on=("collapsed",),
                                on_change=lambda old, r: print(f"step {r.step}: {old} -> {r.verdict}: {r.reason}"))
    t0 = time.perf_counter()
    trainer = train(base, "/tmp/llm_callback_example", steps=steps, callback=callback)
    print(f"stopped at step {trainer.state.global_step} of {steps}; collapse began at step "
          f"{callback.report.onset_step} ({time.perf_counter() - t0:.0f} s)")


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def overhead(base: str, steps: int, rounds: int) -> None:
    probe = multiples_prompts()[::2]
    rows = []
    for r in range(rounds):
        for with_cb in (False, True):
            cb = CollapseCallback(probe, n=8, generation={"max_new_tokens": 6}, verifier=correct) if with_cb else None
            w0, c0 = time.perf_counter(), cpu()
            train(base, f"/tmp/llm_overhead_{r}_{int(with_cb)}", steps=steps, callback=cb, seed=r)
            rows.append((r, with_cb, time.perf_counter() - w0, cpu() - c0, cb.probe_seconds if cb else 0.0))
            print(f"round {r} {'callback' if with_cb else 'plain   '}: {rows[-1][2]:.1f} s wall, {rows[-1][3]:.1f} s CPU"
                  + (f", probe {rows[-1][4]:.2f} s ({cb.monitor.checks} checks)" if cb else ""), flush=True)
    plain = sum(x[2] for x in rows if not x[1])
    with_cb = sum(x[2] for x in rows if x[1])
    cpu_plain = sum(x[3] for x in rows if not x[1])
    cpu_cb = sum(x[3] for x in rows if x[1])
    probe_s = sum(x[4] for x in rows)
    print(f"with / without the callback: wall {with_cb / plain:.3f}, CPU {cpu_cb / cpu_plain:.3f}; the probe's "
          f"share of the wall time of the runs with it: {probe_s / with_cb:.1%} (check_every 25, 16 prompts x 8 "
          f"completions, {steps} steps; on a loaded machine the wall ratio moves with the load, the probe's share "
          "and the CPU ratio less)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="/work/rec/grpo/base", help="the pretrained model folder")
    ap.add_argument("--steps", type=int, default=250)
    ap.add_argument("--overhead", type=int, metavar="ROUNDS", help="measure the overhead instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.overhead:
        overhead(args.base, args.steps, args.overhead)
    else:
        example(args.base, args.steps)


if __name__ == "__main__":
    main()
