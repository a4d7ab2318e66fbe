"""``rl-post-training``: GRPO with a verifiable reward narrows a language model onto few answers.

The real stack of language-model post-training: a small GPT-2 (transformers' own classes, a
character tokenizer built locally) is pretrained on a task with many correct answers per
prompt ("k=K:" -> any two-digit multiple of K, :mod:`.task`), then trained with TRL's
``GRPOTrainer`` (Shao et al. 2024, "DeepSeekMath") on a 0/1 verifier reward, once per setting:
a KL penalty to the pretrained model of each weight in ``betas`` (0: none), and TRL's entropy
bonus (``entropy_coef``) of each weight in ``entropy_bonuses`` without a KL penalty.

Measured every ``eval_every`` steps on ``eval_samples`` completions of each of the 8 prompts
(:mod:`.probe`, the project's metrics layer): mean reward, pass@1 and pass@k for k up to the
samples per prompt (Chen et al. 2021), distinct correct answers per prompt, the answers'
entropy, and TRL's own logged token ``entropy`` at every step. The seeds' claim, that more
fine-tuning gives higher reward and less diversity (Kirk et al. 2024, "Understanding the
Effects of RLHF on LLM Generalisation and Diversity"; Yue et al. 2025 for pass@k), is measured
per setting in ``claim``. The last measurement's completions of each setting are written as
``completions_<setting>.jsonl`` (and ``completions_pretrained.jsonl``), the input of
``modecollapse measure --fake FILE --answer first-word``.

Needs the ``llm`` extra (transformers, TRL); without it the scenario stops with one sentence.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...experiments import Context, Experiment, register_scenario
from ...metrics.passk import default_ks
from . import plots
from .llm import llm_session
from .task import correctness, prompts

DIVERSITY = ("distinct_correct", "answer_entropy", "unique_ratio", "prompt_dependence")


def _p(default: Any, help: str, *, least: float | None = None, above: float | None = None,
       below: float | None = None) -> Any:
    """A parameter with its help and its bounds (``least`` <= value, ``above`` < value,
    value < ``below``; for a list, each item), checked in one place by ``validate``."""
    return field(default=default, metadata={"help": help, "least": least, "above": above, "below": below})


@dataclass
class RLPostTrainingParams:
    width: int = _p(128, "width of the GPT-2 (n_embd)", least=8)
    layers: int = _p(1, "transformer blocks", least=1)
    heads: int = _p(4, "attention heads (they divide --width)", least=1)
    pretrain_steps: int = _p(600, "likelihood steps on the noisy task data", least=1)
    pretrain_batch: int = _p(64, "texts per pretraining step", least=1)
    pretrain_lr: float = _p(2e-3, "peak AdamW learning rate of pretraining (linear warm-up, cosine decay)", above=0)
    noise: float = _p(0.5, "share of pretraining answers that are random digit strings", least=0, below=1)
    steps: int = _p(60, "GRPO steps per setting", least=1)
    lr: float = _p(1.5e-3, "GRPO learning rate (constant)", above=0)
    prompts_per_step: int = _p(16, "prompts per GRPO step", least=1)
    generations: int = _p(8, "completions per prompt in a GRPO group", least=2)
    betas: tuple[float, ...] = _p((0.0, 0.1, 0.5), "KL weights to compare, one run each (0: no KL penalty)", least=0)
    entropy_bonuses: tuple[float, ...] = _p((0.2,), "entropy-bonus weights (TRL's entropy_coef), one run each "
                                                     "without a KL penalty; empty for none", above=0)
    eval_every: int = _p(10, "GRPO steps between measurements", least=1)
    eval_samples: int = _p(32, "completions per prompt at each measurement (pass@k up to this k)", least=2)
    max_new_tokens: int = _p(4, "longest completion in tokens (an answer is two digits and an end token)", least=3)
    temperature: float = _p(1.0, "sampling temperature of training and measurement", above=0)
    threads: int = _p(1, "torch CPU threads (a model this small gains nothing from more)", least=1)

    def validate(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            flag = "--" + f.name.replace("_", "-")
            value = getattr(self, f.name)
            items = value if typing.get_origin(hints[f.name]) is tuple else (value,)
            least, above, below = (f.metadata[k] for k in ("least", "above", "below"))
            for v in items:
                if least is not None and not v >= least:
                    raise ConfigError(f"{flag} must be at least {least:g}, got {v:g}.")
                if above is not None and not v > above:
                    raise ConfigError(f"{flag} must be above {above:g}, got {v:g}.")
                if below is not None and not v < below:
                    raise ConfigError(f"{flag} must be below {below:g}, got {v:g}.")
        if self.width % self.heads:
            raise ConfigError(f"--heads must divide --width, got {self.heads} heads for width {self.width}.")
        for flag, values in (("--betas", self.betas), ("--entropy-bonuses", self.entropy_bonuses)):
            if len(set(values)) != len(values):
                raise ConfigError(f"{flag} lists a weight twice: {','.join(f'{v:g}' for v in values)}.")
        if not self.betas and not self.entropy_bonuses:
            raise ConfigError("give at least one setting: --betas or --entropy-bonuses.")


def settings(p: RLPostTrainingParams) -> list:
    from .grpo import Setting

    return ([Setting(f"beta={b:g}", b, 0.0) for b in p.betas]
            + [Setting(f"entropy={e:g}", 0.0, e) for e in p.entropy_bonuses])


def _columns(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def _window_mean(steps: list[int], values: list[float | None], lo: int, hi: int) -> float | None:
    """Mean of the logged values of the steps in (lo, hi]; None when none is finite."""
    inside = [v for s, v in zip(steps, values) if lo < s <= hi and v is not None]
    return statistics.fmean(inside) if inside else None


def _write_completions(path: Path, prompt_texts: list[str], groups: list[list[str]]) -> None:
    rows = [{"prompt": p, "completion": c, "correct": ok, "reward": float(ok)}
            for p, g, oks in zip(prompt_texts, groups, correctness(prompt_texts, groups)) for c, ok in zip(g, oks)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _claim(runs: dict[str, dict]) -> dict[str, Any]:
    """Per setting, the start and end of reward and of each diversity number, and whether the
    claim held: reward rose and distinct correct answers fell (``held``); whether the answers'
    and the tokens' entropies fell beside it."""
    per = {}
    for name, r in runs.items():
        c = r["checks"]
        row: dict[str, Any] = {}
        for key in ("reward", *DIVERSITY, "entropy"):
            row[f"{key}_start"], row[f"{key}_end"] = c[key][0], c[key][-1]
        row["distinct_correct_peak"] = max(c["distinct_correct"])
        row["reward_rose"] = c["reward"][-1] > c["reward"][0]
        row["diversity_fell"] = c["distinct_correct"][-1] < c["distinct_correct"][0]
        # the entropies as second opinions: a count of distinct correct answers also rises
        # when more of the samples are correct, while the answers concentrate
        row["answer_entropy_fell"] = c["answer_entropy"][-1] < c["answer_entropy"][0]
        row["token_entropy_fell"] = (None if c["entropy"][0] is None or c["entropy"][-1] is None
                                     else c["entropy"][-1] < c["entropy"][0])
        row["held"] = row["reward_rose"] and row["diversity_fell"]
        per[name] = row
    names = list(runs)
    final = {n: (runs[n]["checks"]["reward"][-1], runs[n]["checks"]["distinct_correct"][-1]) for n in names}
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if final[a][0] != final[b][0]]
    # across settings: the one with the higher final reward has fewer distinct correct answers
    trading = sum((final[a][0] > final[b][0]) == (final[a][1] < final[b][1]) for a, b in pairs)
    return {"statement": "more fine-tuning gives higher reward and less diversity (distinct correct answers)",
            "per_setting": per, "held_in": [n for n in names if per[n]["held"]],
            "not_held_in": [n for n in names if not per[n]["held"]],
            "pairs_trading_reward_for_diversity": trading, "pairs": len(pairs)}


@register_scenario
class RLPostTraining(Experiment):
    """GRPO post-training of a small GPT-2 with TRL on a verifiable task with many correct answers
    per prompt (Shao et al. 2024; Kirk et al. 2024 on diversity after RLHF): reward and pass@1
    rise while distinct correct answers and token entropy fall without a KL penalty; a KL
    penalty or an entropy bonus keeps answers. Writes rl_post_training.png (reward, pass@1,
    pass@k, distinct correct answers, answer and token entropy per setting over steps),
    reward_vs_diversity.png, the last completions of each setting as JSONL, and result.json:
    results.pretrained, results.runs[SETTING].checks (step, reward, pass@K, distinct_correct,
    answer_entropy, unique_ratio, prompt_dependence, entropy) and .train (TRL's per-step reward,
    entropy, kl), results.final (per setting), results.claim. Needs pip install
    'modecollapse[llm]'."""

    name = "rl-post-training"
    summary = "GRPO (TRL) on a small GPT-2: reward up, distinct correct answers down; KL and entropy bonus"
    Params = RLPostTrainingParams

    def run(self, p: RLPostTrainingParams, ctx: Context) -> dict:
        with llm_session(p.threads):
            return self._run(p, ctx)

    def _run(self, p: RLPostTrainingParams, ctx: Context) -> dict:
        from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

        from . import grpo
        from .pretrain import pretrain

        runs_to_do = settings(p)
        probe_prompts = prompts()
        probe = grpo.Probe(tuple(probe_prompts), p.eval_samples, p.eval_every, p.max_new_tokens, p.temperature,
                           seed=ctx.seed * 1_000_003 + 500_009)
        # every setting trains under the same seed (the same first batch), so they differ only
        # in their KL weight and entropy bonus
        train_seed = ctx.seed * 1_000_003 + 11
        # each prompt as often as a step needs, so a step's prompts are distinct where they can be
        train_prompts = probe_prompts * max(1, -(-p.prompts_per_step // len(probe_prompts)))
        with tempfile.TemporaryDirectory(prefix="rl-post-training-") as work, \
                ctx.bar(p.pretrain_steps + p.steps * len(runs_to_do), "pretrain + GRPO") as bar:
            policy = Path(work) / "policy"
            losses = pretrain(policy, width=p.width, layers=p.layers, heads=p.heads, steps=p.pretrain_steps,
                              batch=p.pretrain_batch, lr=p.pretrain_lr, noise=p.noise, generator=ctx.generator(1),
                              tick=lambda: bar.update(1))
            numbers, groups = probe.run(GPT2LMHeadModel.from_pretrained(policy),
                                        PreTrainedTokenizerFast.from_pretrained(policy), 0)
            _write_completions(ctx.path("completions_pretrained.jsonl"), probe_prompts, groups)
            runs: dict[str, dict] = {}
            for i, s in enumerate(runs_to_do):
                bar.set_description(f"GRPO {s.name}")
                rec = grpo.run(s, policy=policy, work=Path(work) / f"trainer{i}", train_prompts=train_prompts,
                               probe=probe, steps=p.steps, lr=p.lr, prompts_per_step=p.prompts_per_step,
                               generations=p.generations, seed=train_seed,
                               tick=lambda: bar.update(1))
                checks = _columns([{"step": 0, **numbers}] + rec.checks)
                t = rec.logs
                # entropy at a check: TRL's logged token entropy over the steps since the last
                # one; at step 0 the first step's, computed before the first update
                bounds = [(-1, 1)] + list(zip(checks["step"][:-1], checks["step"][1:]))
                checks["entropy"] = [_window_mean(t["step"], t["entropy"], lo, hi) for lo, hi in bounds]
                runs[s.name] = {"beta": s.beta, "entropy_coef": s.entropy_coef, "checks": checks, "train": t}
                _write_completions(ctx.path(f"completions_{s.name.replace('=', '')}.jsonl"), probe_prompts,
                                   rec.last_groups)
        ks = default_ks(p.eval_samples)
        first = next(iter(runs.values()))["checks"]
        pre = {**numbers, "entropy": first["entropy"][0]}
        final: dict[str, list] = {"setting": list(runs), "beta": [r["beta"] for r in runs.values()],
                                  "entropy_coef": [r["entropy_coef"] for r in runs.values()]}
        for key in ("reward", *(f"pass@{k}" for k in ks), *DIVERSITY, "entropy"):
            final[key] = [r["checks"][key][-1] for r in runs.values()]
        result = {"pretrained": pre, "pretrain": {"steps": p.pretrain_steps, "loss_first": losses[0],
                                                  "loss_last": statistics.fmean(losses[-20:])},
                  "runs": runs, "final": final, "claim": _claim(runs), "ks": ks,
                  "samples_per_prompt": p.eval_samples, "possible": numbers["possible"], "prompts": probe_prompts}
        plots.curves(ctx.path("rl_post_training.png"), result, smooth=p.eval_every)
        plots.reward_vs_diversity(ctx.path("reward_vs_diversity.png"), result)
        return result

    def describe(self, result: dict) -> str:
        pre, f, claim = result["pretrained"], result["final"], result["claim"]
        n, kmax = result["samples_per_prompt"], result["ks"][-1]
        k_mid = result["ks"][min(2, len(result["ks"]) - 1)]

        def row(name: str, d: dict, i: int | None = None) -> str:
            get = (lambda k: d[k]) if i is None else (lambda k: d[k][i])
            ent = get("entropy")
            return (f"  {name:<12}{get('reward'):9.3f}{get(f'pass@{k_mid}'):9.3f}{get(f'pass@{kmax}'):9.3f}"
                    f"{get('distinct_correct'):9.2f}{get('answer_entropy'):9.3f}"
                    + (f"{'-':>9}" if ent is None else f"{ent:9.3f}"))

        lines = [(f"{n} samples per prompt ({result['possible']:.1f} correct answers exist per prompt on average); "
                  "the reward is the 0/1 verifier, so its mean is pass@1"),
                 (f"  {'':<12}{'reward':>9}{f'pass@{k_mid}':>9}{f'pass@{kmax}':>9}{'distinct':>9}{'answer':>9}"
                  f"{'token':>9}"),
                 f"  {'':<12}{'':>9}{'':>9}{'':>9}{'correct':>9}{'entropy':>9}{'entropy':>9}",
                 row("pretrained", pre)]
        lines += [row(name, f, i) for i, name in enumerate(f["setting"])]
        per = claim["per_setting"]
        held, not_held = claim["held_in"], claim["not_held_in"]
        answer = [n for n in per if per[n]["answer_entropy_fell"]]
        token = [n for n in per if per[n]["token_entropy_fell"]]
        lines.append(f"claim ({claim['statement']}): held in {', '.join(held) or 'none'}"
                     + (f"; not in {', '.join(not_held)}" if not_held else "") + ".")
        lines.append(f"  the answers' entropy fell in {len(answer)} of {len(per)} settings, the token entropy in "
                     f"{len(token)}; across settings {claim['pairs_trading_reward_for_diversity']} of "
                     f"{claim['pairs']} pairs trade final reward for distinct correct answers.")
        return "\n".join(lines)
