"""The scenario's two figures: the curves of every setting over GRPO steps, and reward against
diversity (the seeds' claim: more fine-tuning, higher reward, less diversity)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PALETTE = ("tab:red", "tab:orange", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def colours(names: list[str]) -> dict[str, str]:
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def _smooth(values: list[float | None], width: int) -> list[float | None]:
    """Running mean over the last ``width`` finite values (the logged scalars are per batch)."""
    out, window = [], []
    for v in values:
        if v is not None:
            window = (window + [v])[-width:]
        out.append(sum(window) / len(window) if window else None)
    return out


def curves(path: Path, result: dict, smooth: int) -> None:
    runs, pre = result["runs"], result["pretrained"]
    colour = colours(list(runs))
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.6))
    (a_rew, a_p1, a_pk), (a_dc, a_ent, a_tok) = axes
    n, ks = result["samples_per_prompt"], result["ks"]
    for name, r in runs.items():
        c, t = r["checks"], r["train"]
        a_rew.plot(t["step"], _smooth(t["reward"], smooth), color=colour[name], label=name)
        a_p1.plot(c["step"], c["pass@1"], color=colour[name], label=name)
        a_pk.plot(ks, [c[f"pass@{k}"][-1] for k in ks], "o-", color=colour[name], label=name, ms=3)
        a_dc.plot(c["step"], c["distinct_correct"], color=colour[name], label=name)
        a_ent.plot(c["step"], c["answer_entropy"], color=colour[name], label=name)
        a_tok.plot(t["step"], _smooth(t["entropy"], smooth), color=colour[name], label=name)
    a_pk.plot(ks, [pre[f"pass@{k}"] for k in ks], "s--", color="k", label="pretrained", ms=3)
    for ax, key in ((a_p1, "pass@1"), (a_dc, "distinct_correct"), (a_ent, "answer_entropy")):
        ax.axhline(pre[key], color="k", ls="--", lw=0.8, label="pretrained")
    a_rew.set(xlabel="GRPO step", ylabel="mean reward", title=f"training reward (TRL's log, mean of {smooth} steps)")
    a_p1.set(xlabel="GRPO step", ylabel="pass@1", title=f"pass@1 ({n} samples per prompt)")
    a_pk.set(xlabel="k", ylabel="pass@k", title="pass@k at the last step", xscale="log")
    a_pk.set_xticks(ks, [str(k) for k in ks])
    a_dc.set(xlabel="GRPO step", ylabel="distinct correct answers",
             title=f"distinct correct answers per prompt (of {n}; {result['possible']:.1f} exist)")
    a_ent.set(xlabel="GRPO step", ylabel="nats", title="entropy of the answers per prompt")
    a_tok.set(xlabel="GRPO step", ylabel="nats", title=f"token entropy (TRL's log, mean of {smooth} steps)")
    a_pk.legend(fontsize=8, loc="lower right")  # the corner a pass@k curve never reaches
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def reward_vs_diversity(path: Path, result: dict) -> None:
    runs, pre = result["runs"], result["pretrained"]
    colour = colours(list(runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "distinct_correct", "distinct correct answers per prompt"),
                           (axes[1], "entropy", "token entropy (nats, TRL's log)")):
        for name, r in runs.items():
            c = r["checks"]
            pairs = [(x, y) for x, y in zip(c["reward"], c[key]) if y is not None]
            ax.plot([p[0] for p in pairs], [p[1] for p in pairs], "-", color=colour[name], alpha=0.5, lw=1)
            ax.plot([pairs[-1][0]], [pairs[-1][1]], "o", color=colour[name], ms=8, label=name)
        if pre.get(key) is not None:
            ax.plot([pre["reward"]], [pre[key]], "s", color="k", ms=8, label="pretrained")
        ax.set(xlabel="mean reward on the probe (= pass@1)", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_title("from the pretrained model (square) to the last step (dot)")
    axes[1].set_title("the same for the token entropy")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
