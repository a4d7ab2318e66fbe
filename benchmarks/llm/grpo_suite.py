"""Record real GRPO runs with ground truth, for replaying a text collapse monitor offline.

Each run is (setting, seed): TRL's ``GRPOTrainer`` on the pretrained model of ``pretrain.py``
in one of the settings of ``settings.py`` (some meant to collapse in a known way, some meant
to keep their diversity, one where sharpening is learning). ``recorder.CheckRecorder`` writes
what a monitor would see and the truth at every check to ``OUT/RUN/checks.jsonl`` (and
TRL's logged scalars at every step to ``OUT/RUN/logs.jsonl``); the run's
resolved options go to ``OUT/RUN/config.json`` (the setting, the seed and TRL's full
``GRPOConfig``) and ``OUT/RUN/done`` marks a finished run.

Restartable: a run with ``done`` is skipped; a run folder without it is removed and the run
starts again. One process, one torch thread: runs go one after another, all settings of a
seed before the next seed, in the order the seeds are given.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/llm/pretrain.py --out /work/rec/grpo/base
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/llm/grpo_suite.py --out /work/rec/grpo \\
        --settings all --seeds 0-4,100-104
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from recorder import CheckRecorder  # noqa: E402
from rewards import reward_for  # noqa: E402
from settings import SETTINGS, Setting  # noqa: E402
from task import multiples_prompts, probe_for, sums_prompts  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402
from transformers.trainer_callback import PrinterCallback, ProgressCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402


def run_name(setting: str, seed: int) -> str:
    return f"{setting}-s{seed}"


def grpo_config(s: Setting, seed: int, trainer_dir: Path) -> GRPOConfig:
    return GRPOConfig(
        output_dir=str(trainer_dir), use_cpu=True, report_to=[], seed=seed, data_seed=seed,
        max_steps=s.steps, learning_rate=s.learning_rate, lr_scheduler_type="constant",
        warmup_steps=0, beta=s.beta, entropy_coef=s.entropy_coef,
        per_device_train_batch_size=s.prompts_per_step * s.num_generations,
        num_generations=s.num_generations, max_completion_length=s.max_completion_length,
        temperature=s.temperature, logging_steps=1, save_strategy="no", disable_tqdm=True,
        dataloader_num_workers=0, bf16=False, fp16=False)


def run_one(s: Setting, seed: int, base: Path, out: Path) -> dict:
    """Train and record one run into ``out`` (created here); returns its final truth."""
    out.mkdir(parents=True)
    torch.manual_seed(seed)
    args = grpo_config(s, seed, out / "trainer")
    reward = reward_for(s.reward, max_len=s.max_completion_length)
    prompts = multiples_prompts() if s.task == "multiples" else sums_prompts()
    probe = probe_for(s.task)
    config = {"setting": asdict(s), "seed": seed, "base": str(base), "probe": list(probe.probe),
              "truth": list(probe.truth), "train_prompts": prompts,
              "grpo_config": json.loads(args.to_json_string())}
    tmp = out / "config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, out / "config.json")
    recorder = CheckRecorder(out / "checks.jsonl", out / "logs.jsonl", probe=list(probe.probe), truth=list(probe.truth),
                             check_every=s.check_every, probe_n=s.probe_n, truth_n=s.truth_n,
                             max_new_tokens=s.max_completion_length, temperature=s.temperature,
                             reward=reward, seed=seed)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    # The model goes in by path: with beta > 0 GRPOTrainer builds its reference model from it.
    trainer = GRPOTrainer(model=str(base), reward_funcs=reward, args=args,
                          train_dataset=Dataset.from_dict({"prompt": prompts}),
                          processing_class=tokenizer, callbacks=[recorder])
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    trainer.train()
    shutil.rmtree(out / "trainer", ignore_errors=True)
    return recorder.last_truth["mean"]


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/work/rec/grpo"))
    ap.add_argument("--base", type=Path, default=None, help="pretrained model (default OUT/base)")
    ap.add_argument("--settings", default="all", help="comma-separated names, or all")
    ap.add_argument("--seeds", default="0-4,100-104", help="e.g. 0-4,100-104")
    ap.add_argument("--steps", type=int, default=None, help="override every setting's steps")
    ap.add_argument("--list", action="store_true", help="print the settings and exit")
    args = ap.parse_args()
    if args.list:
        for s in SETTINGS.values():
            print(json.dumps(asdict(s)))
        return
    names = list(SETTINGS) if args.settings == "all" else args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        sys.exit(f"unknown setting(s) {', '.join(unknown)}: choose from {', '.join(SETTINGS)} or all")
    base = args.base or args.out / "base"
    if not (base / "config.json").exists():
        sys.exit(f"no pretrained model at {base}: run benchmarks/llm/pretrain.py --out {base} first")
    torch.set_num_threads(1)
    for seed in parse_seeds(args.seeds):
        for name in names:
            s = SETTINGS[name] if args.steps is None else replace(SETTINGS[name], steps=args.steps)
            out = args.out / run_name(name, seed)
            if (out / "done").exists():
                continue
            if out.exists():
                shutil.rmtree(out)
            start = time.perf_counter()
            final = run_one(s, seed, base, out)
            seconds = time.perf_counter() - start
            tmp = out / "done.tmp"
            tmp.write_text(json.dumps({"seconds": seconds, "final": final}))
            os.replace(tmp, out / "done")
            print(f"{name:16s} seed {seed:3d}  {seconds:6.1f}s  pass@1 {final['pass@1']:.2f}  "
                  f"distinct correct {final['distinct_correct']:.1f}  distinct {final['distinct']:.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
