"""``fine-tuning``: reward fine-tuning narrows a language model; a KL penalty limits it.

A GRU language model is pretrained by maximum likelihood on a synthetic language with many
valid sequences (:mod:`.task`), then fine-tuned by policy gradient (REINFORCE with a batch-mean
baseline) toward a fixed reward, as in RLHF: maximise E[r(x)] - beta KL(pi || pi_ref), with
the KL to the pretrained model pi_ref as the per-sequence penalty
beta (log pi(x) - log pi_ref(x)) folded into the reward (Ziegler et al. 2019, "Fine-Tuning
Language Models from Human Preferences"; Stiennon et al. 2020, "Learning to summarize from
human feedback"). Without the penalty the optimum is the single reward-maximising sequence;
with it the optimum is pi_ref(x) exp(r(x) / beta) / Z, which keeps diversity. Kirk et al.
(2024, "Understanding the Effects of RLHF on LLM Generalisation and Diversity", ICLR) measure
this loss of output diversity in real LLMs.

Diversity is measured on the generations with the project's sequence metrics
(:mod:`modecollapse.metrics.sequence`: distinct-n, self-BLEU) and the share of unique
sequences; for each beta the reward and diversity curves and the final reward-diversity
point (the frontier over beta). The final generations of each model are written as text
(``generations_pretrained.txt``, ``generations_beta0.txt`` ...), one per line, the input of
``modecollapse measure --fake FILE``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ...errors import ConfigError  # noqa: E402
from ...experiments import Context, Experiment, register_scenario  # noqa: E402
from ...metrics.sequence import distinct_n, self_bleu  # noqa: E402
from .task import GRULM, is_valid, reward, sample_language  # noqa: E402


@dataclass
class FineTuningParams:
    vocab: int = field(default=10, metadata={"help": "symbols of the synthetic language"})
    length: int = field(default=8, metadata={"help": "tokens per sequence"})
    move: int = field(default=2, metadata={"help": "largest step between consecutive tokens"})
    hidden: int = field(default=64, metadata={"help": "GRU width"})
    pretrain_steps: int = field(default=600, metadata={"help": "likelihood steps on the language"})
    steps: int = field(default=300, metadata={"help": "policy-gradient steps per KL weight"})
    batch: int = field(default=128, metadata={"help": "sequences per step"})
    lr: float = field(default=3e-3, metadata={"help": "Adam learning rate (pretraining and fine-tuning)"})
    kl_weights: tuple[float, ...] = field(default=(0.0, 0.01, 0.03, 0.1, 0.3),
                                          metadata={"help": "KL penalty weights beta to compare (0: none)"})
    eval_every: int = field(default=25, metadata={"help": "steps between diversity measurements"})
    eval_samples: int = field(default=400, metadata={"help": "generations per measurement"})

    def validate(self) -> None:
        for key in ("vocab", "length", "move", "hidden", "pretrain_steps", "steps", "batch", "eval_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {getattr(self, key)}.")
        if self.vocab < 2 or self.length < 2:
            raise ConfigError("--vocab and --length must be at least 2.")
        if self.eval_samples < 2:
            raise ConfigError("--eval-samples must be at least 2 (self-BLEU needs two sequences).")
        if not self.kl_weights or any(not b >= 0 for b in self.kl_weights):
            raise ConfigError("--kl-weights needs one or more weights >= 0, e.g. 0,0.01,0.1.")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}.")


def diversity(model: GRULM, p: FineTuningParams, generator: torch.Generator) -> dict[str, float]:
    """Reward, validity and diversity of ``eval_samples`` generations."""
    x = model.sample(p.eval_samples, p.length, generator)
    seqs = x.tolist()
    return {
        "reward": float(reward(x, vocab=p.vocab, step=p.move).mean()),
        "valid": float(is_valid(x, p.move).float().mean()),
        "distinct_2": distinct_n(seqs, 2),
        "distinct_4": distinct_n(seqs, 4),
        "self_bleu": self_bleu(seqs),
        "unique": len(set(map(tuple, seqs))) / len(seqs),
    }


def pretrain(p: FineTuningParams, generator: torch.Generator, bar=None) -> GRULM:
    torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))  # model initialisation
    model = GRULM(p.vocab, p.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)
    for _ in range(p.pretrain_steps):
        x = sample_language(p.batch, vocab=p.vocab, length=p.length, step=p.move, generator=generator)
        loss = -model.log_prob(x).mean() / p.length
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
    return model


def fine_tune(ref: GRULM, beta: float, p: FineTuningParams, generator: torch.Generator, eval_seed: int,
              bar=None) -> tuple[dict[str, list[float]], GRULM]:
    """REINFORCE on r(x) - beta (log pi(x) - log pi_ref(x)); returns the curves measured every
    ``eval_every`` steps (and at step 0), each measured on the same evaluation seed, and the
    fine-tuned model."""
    model = copy.deepcopy(ref)
    for param in model.parameters():
        param.requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=p.lr)
    curves: dict[str, list[float]] = {"step": []}

    def record(step: int) -> None:
        d = diversity(model, p, torch.Generator().manual_seed(eval_seed + step))
        curves["step"].append(step)
        for k, v in d.items():
            curves.setdefault(k, []).append(v)

    record(0)
    for step in range(1, p.steps + 1):
        x = model.sample(p.batch, p.length, generator)
        logp = model.log_prob(x)
        with torch.no_grad():
            score = reward(x, vocab=p.vocab, step=p.move)
            if beta > 0:
                score = score - beta * (logp.detach() - ref.log_prob(x))
            advantage = score - score.mean()
        loss = -(advantage * logp).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % p.eval_every == 0 or step == p.steps:
            record(step)
        if bar is not None:
            bar.update(1)
    return curves, model


def write_generations(path, model: GRULM, p: FineTuningParams, seed: int) -> None:
    """``eval_samples`` generations, one per line, tokens as space-separated ids: the input
    ``modecollapse measure --fake FILE`` takes."""
    x = model.sample(p.eval_samples, p.length, torch.Generator().manual_seed(seed))
    path.write_text("".join(" ".join(map(str, row)) + "\n" for row in x.tolist()))


def figure(path, result: dict) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    runs = result["runs"]
    cmap = plt.get_cmap("viridis")
    for i, (name, c) in enumerate(runs.items()):
        colour = cmap(i / max(len(runs) - 1, 1))
        axes[0].plot(c["step"], c["reward"], color=colour, label=name)
        axes[1].plot(c["step"], c["distinct_4"], color=colour, label=name)
    axes[0].set(xlabel="fine-tuning step", ylabel="mean reward", title="reward")
    axes[1].set(xlabel="fine-tuning step", ylabel="distinct-4", title="diversity of generations")
    axes[0].legend(fontsize=7)
    f = result["frontier"]
    ax = axes[2]
    ax.plot(f["reward"], f["distinct_4"], "o-", color="k")
    for b, r, d in zip(f["beta"], f["reward"], f["distinct_4"]):
        ax.annotate(f"beta={b:g}", (r, d), fontsize=7, textcoords="offset points", xytext=(3, 3))
    pre = result["pretrained"]
    ax.plot([pre["reward"]], [pre["distinct_4"]], "s", color="tab:red", label="pretrained")
    ax.set(xlabel="final reward", ylabel="final distinct-4", title="reward-diversity frontier over beta")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


@register_scenario
class FineTuning(Experiment):
    """Reward fine-tuning of a small GRU language model by policy gradient, with and without a
    KL penalty to the pretrained model (Ziegler et al. 2019; Stiennon et al. 2020): reward
    rises, diversity (distinct-n, self-BLEU, unique share) falls, less so with the penalty
    (Kirk et al. 2024). Reports the curves and the reward-diversity frontier over the weights."""

    name = "fine-tuning"
    summary = "RLHF-style reward fine-tuning of a GRU LM: diversity falls; a KL penalty trades reward back for it"
    Params = FineTuningParams

    def run(self, p: FineTuningParams, ctx: Context) -> dict:
        with ctx.bar(p.pretrain_steps + p.steps * len(p.kl_weights), "pretrain + fine-tune") as bar:
            ref = pretrain(p, ctx.generator(1), bar)
            for param in ref.parameters():
                param.requires_grad_(False)
            pre = diversity(ref, p, torch.Generator().manual_seed(ctx.seed + 17))
            # the same samples as the last measurement of each model, so that 'measure' on these
            # files reproduces the numbers of result.json
            write_generations(ctx.path("generations_pretrained.txt"), ref, p, ctx.seed + 17)
            runs = {}
            for i, b in enumerate(p.kl_weights):
                runs[f"beta={b:g}"], tuned = fine_tune(ref, b, p, ctx.generator(10 + i), ctx.seed + 17, bar)
                write_generations(ctx.path(f"generations_beta{b:g}.txt"), tuned, p, ctx.seed + 17 + p.steps)
        frontier = {"beta": list(p.kl_weights)}
        for key in ("reward", "distinct_2", "distinct_4", "self_bleu", "unique", "valid"):
            frontier[key] = [c[key][-1] for c in runs.values()]
        result = {"pretrained": pre, "runs": runs, "frontier": frontier,
                  "max_reward": 1.0, "language": {"vocab": p.vocab, "length": p.length, "move": p.move}}
        figure(ctx.path("fine_tuning.png"), result)
        return result

    def describe(self, result: dict) -> str:
        pre, f = result["pretrained"], result["frontier"]
        lines = [f"pretrained: reward {pre['reward']:.3f}, distinct-4 {pre['distinct_4']:.3f}, "
                 f"self-BLEU {pre['self_bleu']:.3f}, unique {pre['unique']:.2f}",
                 "after fine-tuning (beta = KL weight):"]
        for i, b in enumerate(f["beta"]):
            lines.append(f"  beta={b:<6g} reward {f['reward'][i]:.3f}  distinct-4 {f['distinct_4'][i]:.3f}  "
                         f"self-BLEU {f['self_bleu'][i]:.3f}  unique {f['unique'][i]:.2f}  valid {f['valid'][i]:.2f}")
        return "\n".join(lines)
