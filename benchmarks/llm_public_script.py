"""CollapseCallback added to TRL's own GRPO training script, which this project did not write.

The script is ``trl/scripts/grpo.py`` as installed (TRL's CLI script, what ``trl grpo`` runs;
written against TRL 1.16.0 with transformers 5.25.0). It is copied at run time into a
work folder (nothing of it ships here) with the three lines a user adds before
``trainer.train(...)``: the import, the callback built with the probe prompts and the task's
verifier, ``attach(trainer)`` (:data:`ADDED`). The patch needs exactly one
``trainer = GRPOTrainer(`` and one ``trainer.train(resume_from_checkpoint=...)`` line, and
stops with one sentence when TRL's script no longer has them. It then runs in a subprocess
as a TRL user runs it::

    python grpo.py --model_name_or_path /work/rec/grpo/base --dataset_name WORK/data \\
        --reward_funcs rewards.verifier --output_dir WORK/SETTING --use_cpu --report_to none ...

with the project's pretrained 2-layer GPT-2 (``benchmarks/llm/pretrain.py``), a JSONL folder of
the task's 32 prompts ("k=7,a:" -> a two-digit multiple of 7) and the task's verifier as the
reward (``benchmarks/llm/rewards.py``, loaded by TRL's script from its dotted path). Nothing of
TRL's script is changed beyond the three lines; every setting is a command-line argument.
Checkpoints are saved at every check (``--save_steps``, model only) so that the truth can be
measured afterwards at each check: distinct correct answers per prompt and pass@k from 32
samples of each of the task's 32 prompts (``benchmarks/llm/sampling.py``), which the callback
never sees. The callback's reports are read from its JSONL log (``log=``), and the trainer's
``log_history`` in the last checkpoint shows whether ``collapse/*`` reached the trainer's logs.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/llm_public_script.py [--settings no-kl,kl,low-lr]

Prints, per setting, the callback's verdict at every check (step, verdict, kind, the truth,
the reason) and its final verdict with the wall time; writes everything to
``benchmarks/results/llm_public_script.json``. One process, one thread, one run at a time.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LLM = HERE / "llm"

# where the user's lines go: before the one call that trains, after the one trainer it builds
ANCHOR_TRAINER = re.compile(r"^[ \t]+trainer = GRPOTrainer\($", re.MULTILINE)
ANCHOR_TRAIN = re.compile(r"^(?P<ind>[ \t]+)trainer\.train\(resume_from_checkpoint=training_args\.resume_from_checkpoint\)"
                          r"[ \t]*$", re.MULTILINE)
ADDED = '''{ind}# --- added by llm_public_script.py: modecollapse's CollapseCallback, the three lines a user adds ---
{ind}from modecollapse import CollapseCallback; from task import correct, probe_for
{ind}collapse = CollapseCallback(list(probe_for("multiples").probe), n=8, check_every={check_every}, verifier=correct, generation={{"max_new_tokens": {max_new_tokens}}}, log={log!r})
{ind}collapse.attach(trainer)
{ind}# --- end ---
'''


@dataclass(frozen=True)
class Setting:
    """One run of TRL's script: the arguments that differ, and what the run is meant to show."""

    name: str
    learning_rate: float
    beta: float
    meant: str  # "collapse" or "keep" (its diversity)
    steps: int = 200


SETTINGS = {s.name: s for s in (
    Setting("no-kl", learning_rate=3e-4, beta=0.0, meant="collapse"),
    Setting("kl", learning_rate=3e-4, beta=0.5, meant="keep"),
    Setting("low-lr", learning_rate=3e-5, beta=0.0, meant="keep"),
)}
CHECK_EVERY = 10
MAX_LEN = 6  # completion length limit, characters (one token each)
TRUTH_N = 32  # samples per prompt for the truth
TRUTH_SEED = 1234


def trl_script() -> Path:
    """TRL's GRPO script as installed."""
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: TRL is not installed: pip install 'modecollapse[llm]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "scripts" / "grpo.py"
    if not path.is_file():
        raise SystemExit(f"error: TRL's GRPO script is not at {path}; this runner was written against TRL 1.16.0")
    return path


def patch(text: str, *, log: str, check_every: int = CHECK_EVERY, max_new_tokens: int = MAX_LEN) -> str:
    """TRL's script with the callback's three lines inserted before ``trainer.train(...)``; one
    sentence (SystemExit) when the script no longer has the one trainer and the one train call."""
    trainers, trains = ANCHOR_TRAINER.findall(text), list(ANCHOR_TRAIN.finditer(text))
    if len(trainers) != 1 or len(trains) != 1 or ANCHOR_TRAINER.search(text).start() > trains[0].start():
        raise SystemExit(
            "error: TRL's GRPO script changed shape: it should build one 'trainer = GRPOTrainer(' and then call "
            f"'trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)' once (found {len(trainers)} "
            f"and {len(trains)}); this runner was written against TRL 1.16.0, update its anchors")
    m = trains[0]
    lines = ADDED.format(ind=m.group("ind"), check_every=check_every, max_new_tokens=max_new_tokens, log=log)
    return text[:m.start()] + lines + text[m.start():]


def command(script: Path, s: Setting, *, base: Path, data: Path, out: Path, seed: int) -> list[str]:
    """How a TRL user runs the script: every setting an argument, the model and data local paths."""
    return [sys.executable, str(script), "--model_name_or_path", str(base), "--dataset_name", str(data),
            "--reward_funcs", "rewards.verifier", "--output_dir", str(out), "--use_cpu", "--report_to", "none",
            "--max_steps", str(s.steps), "--learning_rate", str(s.learning_rate), "--lr_scheduler_type", "constant",
            "--beta", str(s.beta), "--num_generations", "8", "--per_device_train_batch_size", "128",
            "--max_completion_length", str(MAX_LEN), "--logging_steps", "1", "--bf16", "false", "--seed", str(seed),
            "--save_strategy", "steps", "--save_steps", str(CHECK_EVERY), "--save_only_model", "true"]


def write_dataset(folder: Path) -> Path:
    """The task's 32 prompts as ``train.jsonl``, a folder ``datasets.load_dataset`` reads offline."""
    from task import multiples_prompts

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in multiples_prompts()))
    return folder


def truth(model_dir: Path, tokenizer) -> dict:
    """Distinct correct answers per prompt and pass@k from TRUTH_N samples of every task prompt."""
    from sampling import sample_completions, truth_of
    from task import probe_for
    from transformers import AutoModelForCausalLM

    prompts = list(probe_for("multiples").truth)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    comps = sample_completions(model, tokenizer, prompts, TRUTH_N, max_new_tokens=MAX_LEN, seed=TRUTH_SEED)
    m = truth_of(prompts, comps)["mean"]
    return {k: round(m[k], 3) for k in ("distinct_correct", "possible", "distinct", "pass@1", "pass@8", "pass@32")}


def logs_reached(out: Path, reports: list[dict], last: int) -> dict:
    """Whether each check's verdict reached the trainer's own log_history (the last checkpoint's
    trainer_state.json): a check at step s > 0 in the log of step s, the reference in the first log."""
    from modecollapse.monitor.report import VERDICTS

    state = out / f"checkpoint-{last}" / "trainer_state.json"
    if not state.is_file():
        return {"ok": False, "why": f"no {state}"}
    history = json.loads(state.read_text())["log_history"]
    logged = {h["step"]: h for h in history if "collapse/verdict" in h}
    wrong = []
    for r in reports:
        h = logged.get(max(r["step"], 1))
        if h is None or h["collapse/verdict"] != VERDICTS.index(r["verdict"]):
            wrong.append(r["step"])
    return {"ok": not wrong, "checks_logged": len(logged), "checks": len(reports), "missing_or_wrong_at": wrong,
            "keys": sorted(k for k in history[0] if k.startswith("collapse/")) if history else []}


def run(s: Setting, script: Path, *, base: Path, data: Path, work: Path, seed: int, tokenizer, base_truth: dict) -> dict:
    out = work / s.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    log = out / "collapse.jsonl"
    patched = work / f"grpo-{s.name}.py"
    patched.write_text(patch(script.read_text(), log=str(log)))
    argv = command(patched, s, base=base, data=data, out=out / "trainer", seed=seed)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(LLM), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    print(f"\n== {s.name} (meant to {s.meant}) ==\n$ {' '.join(argv)}", flush=True)
    t0 = time.perf_counter()
    with open(out / "stdout.log", "w") as fh:
        rc = subprocess.call(argv, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if rc != 0 or not log.is_file():
        raise SystemExit(f"error: {s.name}: TRL's script exited with {rc}; see {out / 'stdout.log'}")
    reports = [json.loads(line) for line in log.read_text().splitlines()]
    trainer_dir = out / "trainer"
    saved = json.loads((trainer_dir / f"checkpoint-{s.steps}" / "collapse_monitor.json").read_text())
    t1 = time.perf_counter()
    checks = []
    for r in reports:
        step = r["step"]
        ckpt = trainer_dir / f"checkpoint-{step}"
        t = base_truth if step == 0 else (truth(ckpt, tokenizer) if ckpt.is_dir() else None)
        checks.append({"step": step, "verdict": r["verdict"], "kind": r["kind"], "onset_step": r["onset_step"],
                       "rollback_step": r["rollback_step"], "reason": r["reason"],
                       "numbers": {k: r.get(k) for k in ("distinct", "distinct_correct", "diversity", "correct_diversity",
                                                          "diversity_rel", "correct_rel", "prompt_dep_rel", "pass1",
                                                          "passk", "logged_entropy")},
                       "truth": t})
        print(f"step {step:4d}  {r['verdict']:10s} {r['kind']:16s} truth: distinct correct "
              f"{t['distinct_correct'] if t else float('nan'):5.1f}, pass@1 {t['pass@1'] if t else float('nan'):.2f}"
              f"\n           {r['reason']}", flush=True)
    truth_s = time.perf_counter() - t1
    alarms = [c for c in checks if c["verdict"] in ("collapsing", "collapsed", "diverged")]
    final = checks[-1]
    reached = logs_reached(trainer_dir, reports, s.steps)
    steps = [c["step"] for c in checks]
    result = {"setting": asdict(s), "command": argv, "wall_seconds": round(wall, 1),
              "probe_seconds": round(saved["probe_seconds"], 1), "truth_seconds": round(truth_s, 1),
              "check_steps": steps, "steps_as_expected": steps == list(range(0, s.steps + 1, CHECK_EVERY)),
              "first_alarm": alarms[0] if alarms else None, "final": final, "logs_reached": reached,
              "truth_start": checks[0]["truth"], "truth_end": final["truth"], "checks": checks}
    first = alarms[0] if alarms else None
    print(f"{s.name}: final {final['verdict']}/{final['kind']} at step {final['step']}; first alarm "
          f"{(first['step'], first['verdict'], first['kind']) if first else None}; truth distinct correct "
          f"{checks[0]['truth']['distinct_correct']:.1f} -> {final['truth']['distinct_correct']:.1f} "
          f"(of {final['truth']['possible']:.1f}), pass@1 {checks[0]['truth']['pass@1']:.2f} -> "
          f"{final['truth']['pass@1']:.2f}; wall {wall:.0f} s (probe {saved['probe_seconds']:.1f} s); "
          f"collapse/* in the trainer's logs at every check: {reached['ok']}; checks at steps "
          f"{'0, 10, ... ' + str(s.steps) if result['steps_as_expected'] else steps}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, of {', '.join(SETTINGS)}")
    p.add_argument("--base", type=Path, default=Path("/work/rec/grpo/base"), help="the pretrained model folder")
    p.add_argument("--work", type=Path, default=Path("/tmp/modecollapse-llm-public"),
                   help="folder for the patched script, the dataset and the runs (replaced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help=f"override every setting's steps (a multiple of {CHECK_EVERY})")
    p.add_argument("--out", type=Path, default=HERE / "results" / "llm_public_script.json")
    args = p.parse_args(argv)
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        p.error(f"unknown setting {unknown[0]!r}: choose from {', '.join(SETTINGS)}")
    if args.steps is not None and (args.steps < CHECK_EVERY or args.steps % CHECK_EVERY):
        p.error(f"--steps must be a positive multiple of {CHECK_EVERY} (the checks' cadence), got {args.steps}")
    if not (args.base / "config.json").is_file():
        p.error(f"no pretrained model at {args.base}: run benchmarks/llm/pretrain.py --out {args.base} first")
    os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: the model and data are local paths
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(LLM))
    import torch
    import transformers
    import trl
    from transformers import AutoTokenizer

    torch.set_num_threads(1)
    script = trl_script()
    args.work.mkdir(parents=True, exist_ok=True)
    data = write_dataset(args.work / "data")
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    base_truth = truth(args.base, tokenizer)
    settings = [SETTINGS[n] if args.steps is None else replace(SETTINGS[n], steps=args.steps) for n in names]
    runs = [run(s, script, base=args.base, data=data, work=args.work, seed=args.seed, tokenizer=tokenizer,
                base_truth=base_truth) for s in settings]
    added = ADDED.format(ind="    ", check_every=CHECK_EVERY, max_new_tokens=MAX_LEN, log="WORK/SETTING/collapse.jsonl")
    doc = {"script": "trl/scripts/grpo.py", "versions": {"trl": trl.__version__, "transformers": transformers.__version__,
                                                         "torch": torch.__version__},
           "added_lines": added.splitlines(), "truth": f"{TRUTH_N} samples of each of the task's 32 prompts",
           "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, args.out)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
