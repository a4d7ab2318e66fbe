"""The technique leaderboard on the 2D mixtures: which technique restores the modes.

For ``ring`` and ``grid`` (default parameters) and each seed, trains the plain GAN (the
``vanilla`` preset: non-saturating loss, MLPs of 3 x 128, latent 16, Adam lr-g 2e-4,
lr-d 8e-4, betas (0.5, 0.9), batch 256, 5,000 steps), the same GAN with each technique alone
on top (the parameters in ENTRIES; the plain GAN already gives D a 4x larger learning rate,
so the two time-scale row removes that), and the best combination (``--preset best``, which
has its own base settings). Reports mean ± standard error over seeds of modes, hq_fraction
and reverse_kl (the VEEGAN / PacGAN protocol on 2,500 samples).

    .venv/bin/python benchmarks/leaderboard.py --seeds 5              # everything (restartable)
    .venv/bin/python benchmarks/leaderboard.py --seeds 2 --only plain,pack,best --data ring
    .venv/bin/python benchmarks/leaderboard.py --data core-outliers --only plain,curriculum

Two runs at a time, one thread each (the 2-core budget). Each run's directory is kept under
--out; a run whose summary.json exists for the same config is not trained again, so an
interrupted leaderboard continues where it stopped. Writes benchmarks/results/leaderboard.json
(every run's summary and the aggregates) and leaderboard.md (the tables).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any, Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse import TrainConfig, train  # noqa: E402
from modecollapse.aggregate import mean_se, versus  # noqa: E402
from modecollapse.presets import preset_values  # noqa: E402
from modecollapse.train import resolve  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _tech(name: str, **params: Any) -> dict[str, Any]:
    return {"techniques": [{"name": name, "params": params}]}


# name -> (option as a user types it, changes to the plain GAN's config)
ENTRIES: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "plain": ("(none)", lambda d: {}),
    "spectral-norm d": ("--spectral-norm", lambda d: _tech("spectral-norm", where="d")),
    "spectral-norm both": ("--spectral-norm where=both", lambda d: _tech("spectral-norm", where="both")),
    "gp wgan-gp": ("--gp kind=wgan-gp,weight=10", lambda d: _tech("gp", kind="wgan-gp", weight=10.0)),
    "gp r1": ("--gp kind=r1,weight=1", lambda d: _tech("gp", kind="r1", weight=1.0)),
    "gp r2": ("--gp kind=r2,weight=1", lambda d: _tech("gp", kind="r2", weight=1.0)),
    "gp dragan": ("--gp kind=dragan,weight=10", lambda d: _tech("gp", kind="dragan", weight=10.0)),
    "minibatch-disc": ("--minibatch-disc", lambda d: _tech("minibatch-disc")),
    "minibatch-std": ("--minibatch-std", lambda d: _tech("minibatch-std")),
    "pack": ("--pack m=4", lambda d: _tech("pack", m=4)),
    "feature-matching": ("--feature-matching", lambda d: _tech("feature-matching")),
    "mode-seeking": ("--mode-seeking", lambda d: _tech("mode-seeking")),
    "entropy": ("--entropy weight=0.1", lambda d: _tech("entropy", weight=0.1)),
    "unrolled": ("--unrolled k=5", lambda d: _tech("unrolled", k=5)),
    "replay": ("--replay", lambda d: _tech("replay")),
    "n-critic": ("--n-critic 5", lambda d: {"n_critic": 5}),
    # the plain GAN already runs D 4x faster than G (TTUR's ratio); this row removes that
    "equal lr (no ttur)": ("--lr-g 2e-4 --lr-d 2e-4", lambda d: {"lr_g": 2e-4, "lr_d": 2e-4}),
    "mixture": ("--mixture k=4", lambda d: _tech("mixture", k=4)),
    "mixture+classifier": ("--mixture k=4,classifier=1", lambda d: _tech("mixture", k=4, classifier=1.0)),
    "instance-noise": ("--instance-noise std=0.1", lambda d: _tech("instance-noise", std=0.1)),
    "label-smoothing": ("--label-smoothing smoothing=0.1", lambda d: _tech("label-smoothing", smoothing=0.1)),
    "label-flip": ("--label-flip p=0.05", lambda d: _tech("label-flip", p=0.05)),
    "large batch": ("--batch-size 1024", lambda d: {"batch_size": 1024}),
    "d-norm batch": ("--d-norm batch", lambda d: {"d_norm": "batch"}),
    "d-norm layer": ("--d-norm layer", lambda d: {"d_norm": "layer"}),
    "d-norm instance": ("--d-norm instance", lambda d: {"d_norm": "instance"}),
    # the other adversarial losses in place of the non-saturating one (the loss's own implied
    # technique comes with it: weight clipping for wgan, the lambda-10 penalty for wgan-gp)
    "loss minimax": ("--loss minimax", lambda d: {"loss": "minimax"}),
    "loss lsgan": ("--loss lsgan", lambda d: {"loss": "lsgan"}),
    "loss hinge": ("--loss hinge", lambda d: {"loss": "hinge"}),
    "loss wgan": ("--loss wgan", lambda d: {"loss": "wgan"}),
    "loss wgan-gp": ("--loss wgan-gp", lambda d: {"loss": "wgan-gp"}),
    "ema": ("--ema", lambda d: _tech("ema")),
    "lr-decay": ("--lr-decay", lambda d: _tech("lr-decay")),
    "curriculum": ("--curriculum", lambda d: _tech("curriculum")),
    "best": ("--preset best", lambda d: preset_values("best", d)),
    # what makes `best` work: its base settings, and its techniques on the plain GAN's base
    "best base alone": ("--preset best, no techniques", lambda d: {**preset_values("best", d), "techniques": []}),
    "best without r1": ("--preset best, no --gp", lambda d: _without(preset_values("best", d), "gp")),
    "best techniques on plain": ("--gp kind=r1 --lr-decay shape=cosine --ema", lambda d: {"techniques": preset_values("best", d)["techniques"]}),
    # unrolling on a base whose D does not learn 4x faster: the library's defaults (no preset)
    "default base": ("(no preset: lr 1e-3 both, latent 2, 2 x 128)", lambda d: _defaults(d)),
    "unrolled on default base": ("--unrolled k=5 (no preset)", lambda d: {**_defaults(d), **_tech("unrolled", k=5)}),
}


def _defaults(data: str) -> dict[str, Any]:
    """TrainConfig's own defaults for every setting the vanilla preset fixes."""
    base = TrainConfig(data=data)
    return {key: getattr(base, key) for key in preset_values("vanilla", data) if key != "data"} | {"techniques": []}


def _without(values: dict[str, Any], name: str) -> dict[str, Any]:
    return {**values, "techniques": [t for t in values["techniques"] if t["name"] != name]}


# Entries that change nothing on some benchmarks: the curriculum starts on the heaviest modes,
# and every mode of ring and grid weighs the same. Measured on core-outliers instead.
NOOP = {"curriculum": ("ring", "grid")}

PUBLISHED = [
    # Lin et al. 2018 (PacGAN), Table 1; their protocol: 2,500 samples, a mode is captured with
    # at least one sample within 3 std, hq within 3 std, reverse KL of the mode histogram.
    ("PacGAN4 (Lin et al. 2018, Table 1)", {"ring": (7.8, 0.959, 0.07), "grid": (24.8, 0.936, 0.04)}),
    ("VEEGAN (Srivastava et al. 2017, via PacGAN Table 1)", {"ring": (8.0, 0.529, None), "grid": (24.6, 0.40, None)}),
]


def config_for(entry: str, data: str, seed: int, steps: int | None = None) -> TrainConfig:
    values = preset_values("vanilla", data)
    values.update(ENTRIES[entry][1](data))
    values["seed"] = seed
    values.setdefault("eval_every", 1000)
    if steps:
        values.update(steps=steps, eval_every=min(values["eval_every"], steps))
    return TrainConfig.from_dict(values)


def run_one(job: tuple[str, str, int, str, int | None]) -> dict[str, Any]:
    entry, data, seed, out, steps = job
    torch.set_num_threads(1)
    cfg = config_for(entry, data, seed, steps)
    run_dir = Path(out) / data / entry.replace(" ", "_") / f"s{seed}"
    resolved = resolve(cfg)[0].to_dict()
    done = run_dir / "summary.json"
    if done.is_file() and json.loads((run_dir / "config.json").read_text()) == resolved:
        summary = json.loads(done.read_text())
        summary["reused"] = True
    else:
        summary = train(cfg, run_dir, overwrite=True, progress=False)
    summary.update(entry=entry, steps_config=cfg.steps, batch_size=cfg.batch_size)
    print(f"{data:5s} {entry:20s} seed {seed}: {summary['modes']:2d}/{summary['num_modes']} modes, "
          f"hq {summary['hq_fraction']:.3f}, rkl {summary['reverse_kl']:.3f}, {summary['wall_seconds']:.0f}s", flush=True)
    return summary


METRICS = (("modes", True), ("hq_fraction", True), ("reverse_kl", False))  # name, higher is better


def aggregate(runs: list[dict[str, Any]], datas: list[str]) -> dict[str, dict[str, Any]]:
    """Per dataset and entry: mean ± s.e. of each metric and, for every entry but ``plain``,
    ``vs_plain``: per metric +1 better than the plain GAN, -1 worse, 0 within 2 combined s.e."""
    table: dict[str, dict[str, Any]] = {}
    for data in datas:
        table[data] = {}
        groups = {e: [r for r in runs if r["data"] == data and r["entry"] == e] for e in ENTRIES}
        for entry, rows in groups.items():
            if not rows:
                continue
            cell = {k: mean_se([float(r[k]) for r in rows]) for k in ("modes", "hq_fraction", "reverse_kl", "wall_seconds")}
            cell.update(seeds=len(rows), steps=rows[0]["steps_config"], option=ENTRIES[entry][0],
                        diverged=sum(r["status"] != "ok" for r in rows))
            if entry != "plain" and groups["plain"]:
                cell["vs_plain"] = {k: versus([float(r[k]) for r in groups["plain"]], [float(r[k]) for r in rows], hib)
                                    for k, hib in METRICS}
            table[data][entry] = cell
    return table


def _verdict_text(v: dict[str, int]) -> str:
    short = {"modes": "modes", "hq_fraction": "hq", "reverse_kl": "rkl"}
    better = [short[k] for k, s in v.items() if s > 0]
    worse = [short[k] for k, s in v.items() if s < 0]
    parts = ([f"better {', '.join(better)}"] if better else []) + ([f"worse {', '.join(worse)}"] if worse else [])
    return "; ".join(parts) or "no clear difference"


def combined_table(table: dict[str, dict[str, Any]], entries: list[str]) -> str:
    """One row per technique, ring and grid side by side (the README's table); ``*`` marks a
    metric better than the plain GAN's by more than 2 combined s.e., ``†`` one that is worse."""
    datas = [d for d in ("ring", "grid") if d in table]
    head = "| technique | option | " + " | ".join(f"{d} modes | {d} hq | {d} rkl" for d in datas) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(datas))]
    for entry in ENTRIES:
        if entry not in entries:
            continue
        cells = [entry, f"`{ENTRIES[entry][0]}`"]
        for data in datas:
            if data in NOOP.get(entry, ()) or entry not in table[data]:
                cells += ["no-op", "", ""]
                continue
            c = table[data][entry]
            marks = c.get("vs_plain", {})
            for key, digits in (("modes", 1), ("hq_fraction", 3), ("reverse_kl", 3)):
                m, se = c[key]
                mark = {1: "\\*", -1: "†"}.get(marks.get(key, 0), "")
                cells.append(f"{m:.{digits}f} ± {se:.{digits}f}{mark}")
        lines.append("| " + " | ".join(cells) + " |")
    for name, pub in PUBLISHED:
        cells = [name, "published"]
        for data in datas:
            m, h, k = pub.get(data, ("", "", None))
            cells += [str(m), f"{h:.3f}" if h != "" else "", "" if k is None else str(k)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(table: dict[str, dict[str, Any]], command: str, entries: list[str]) -> str:
    lines = [f"Command: `{command}`", "",
             "*vs plain*: a metric counts as better or worse when the means differ by more than two "
             "combined standard errors (a rough screen over 5 seeds, not a significance test).", ""]
    for data, cells in table.items():
        lines += [f"### {data}", "",
                  "| technique | option | steps | modes | hq_fraction | reverse_kl | vs plain | mean run time (s) |",
                  "|---|---|---|---|---|---|---|---|"]
        no_help = []
        for entry in ENTRIES:
            if entry not in entries:
                continue
            if data in NOOP.get(entry, ()):
                lines.append(f"| {entry} | `{ENTRIES[entry][0]}` | | no-op: all modes of {data} weigh the same | | | | |")
                continue
            c = cells[entry]
            (m, ms), (h, hs), (k, ks), (w, _) = c["modes"], c["hq_fraction"], c["reverse_kl"], c["wall_seconds"]
            note = f" ({c['diverged']} of {c['seeds']} diverged)" if c["diverged"] else ""
            verdict = c.get("vs_plain")
            if verdict and verdict["modes"] <= 0 and verdict["reverse_kl"] <= 0:
                no_help.append(entry)
            lines.append(f"| {entry}{note} | `{c['option']}` | {c['steps']} | {m:.1f} ± {ms:.1f} | {h:.3f} ± {hs:.3f} | "
                         f"{k:.3f} ± {ks:.3f} | {_verdict_text(verdict) if verdict else ''} | {w:.0f} |")
        for name, pub in PUBLISHED:
            if data in pub:
                m, h, k = pub[data]
                lines.append(f"| {name} | published | | {m} | {h:.3f} | {'-' if k is None else k} | | |")
        lines.append("")
        if no_help:
            lines += [f"Did not restore modes on {data} (neither modes nor reverse_kl better than plain): "
                      + ", ".join(no_help) + ".", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--data", default="ring,grid")
    ap.add_argument("--only", default="", help="comma-separated entries (default all): " + ", ".join(ENTRIES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="override every entry's steps (a smoke test, not the leaderboard)")
    ap.add_argument("--out", type=Path, default=Path("runs/leaderboard"))
    ap.add_argument("--results", default=str(RESULTS), help="where leaderboard.json/.md go ('' to skip)")
    args = ap.parse_args()
    entries = [e.strip() for e in args.only.split(",") if e.strip()] or list(ENTRIES)
    unknown = [e for e in entries if e not in ENTRIES]
    if unknown:
        ap.error(f"unknown entry {unknown[0]!r}; choose from: {', '.join(ENTRIES)}")
    datas = args.data.split(",")
    # the slowest entries first, so the pool's last minutes are not spent on one long run
    slow = ("best", "best base alone", "best without r1", "unrolled on default base", "unrolled", "minibatch-disc", "n-critic", "large batch")
    entries.sort(key=lambda e: (e not in slow, slow.index(e) if e in slow else 0))
    jobs = [(e, d, s, str(args.out), args.steps) for e in entries for d in datas for s in range(args.seeds) if d not in NOOP.get(e, ())]
    started = time.time()
    with Pool(args.workers) as pool:
        runs = list(pool.imap_unordered(run_one, jobs))
    wall = time.time() - started
    table = aggregate(runs, datas)
    command = "python benchmarks/leaderboard.py " + " ".join(sys.argv[1:])
    text = markdown(table, command, entries)
    if {"ring", "grid"} & set(datas):
        text += "\n### ring and grid side by side\n\n" + combined_table(table, entries) + "\n"
    print(text)
    reused = sum(bool(r.get("reused")) for r in runs)
    timing = (f"This invocation: {wall / 60:.1f} min of wall time, {len(jobs)} runs of which {reused} were "
              f"reused from earlier invocations, {args.workers} workers.")
    print(timing)
    if args.results:  # '' skips writing (Path('') would mean the current directory)
        args.results = Path(args.results)
        args.results.mkdir(parents=True, exist_ok=True)
        payload = {"command": command, "seeds": args.seeds, "wall_minutes": wall / 60, "table": table,
                   "configs": {e: config_for(e, datas[0], 0, args.steps).to_dict() for e in entries},
                   "published": {n: p for n, p in PUBLISHED}, "runs": runs}
        suffix = "" if set(entries) == set(ENTRIES) and datas == ["ring", "grid"] else "-" + "-".join(datas)
        (args.results / f"leaderboard{suffix}.json").write_text(json.dumps(payload, indent=1) + "\n")
        (args.results / f"leaderboard{suffix}.md").write_text(text + "\n" + timing + "\n")


if __name__ == "__main__":
    main()
