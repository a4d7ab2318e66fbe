"""How well CollapseMonitor detects collapse in the lab's own runs (labelled suite).

Each run of the suite is a lab training (``modecollapse.lab.train``'s public API) in a setting
chosen to collapse (full or partial collapse, mode hopping, late collapse after early
coverage, divergence) or to stay healthy, over ring, grid, highdim and Stacked MNIST,
several seeds each. At every check (every 100 steps, the monitor's default) the run's
generator draws a fresh batch; two monitors see it: one built from real data only (the
default, no known modes) and one given the known modes (the benchmark's centres, or the
digit classifier for Stacked MNIST). The truth comes from the lab's mode statistics
(:func:`modecollapse.metrics.modes.mode_stats`) on 2,500 samples at the same checks:

- a mode is *held* at a check when it holds at least 20% of its fair share of the
  samples, a sample counting for its nearest mode when it lies within half the distance
  between two modes (for Stacked MNIST's 1,000 modes: at least one sample by the digit
  classifier, compared with what 2,500 real samples hold);
- a check is *collapsed* when the run holds at most half the modes real data holds at
  that sample size, or when it diverged (non-finite samples, or fewer than 5% of the
  samples within half a mode distance of any mode);
- truth is read from step ``TRUTH_FROM`` on (500: before that every GAN is still a blob);
  a run is *collapsing* when two consecutive checks are collapsed, with onset at the
  first of them; *healthy* when every check holds at least 75% of the modes; runs in
  between (partial, 50-75% of the modes) are reported but not scored;
- an alarm is a verdict ``collapsing``, ``collapsed`` or ``diverged``. A healthy run with
  any alarm from ``TRUTH_FROM`` on is a false alarm; a collapsing run is detected when an
  alarm comes at or after two checks before the onset; the delay is the first such
  alarm's step minus the onset (negative: the monitor fired before the labels did).

Restartable: each run writes ``OUT/runs/NAME.json`` and is skipped when it exists.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/monitor_accuracy.py --out /tmp/monitor_acc
    PYTHONPATH=src python benchmarks/monitor_accuracy.py --out /tmp/monitor_acc --report benchmarks/results/monitor_accuracy
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse import CollapseMonitor, TrainConfig  # noqa: E402
from modecollapse.lab.presets import preset_values  # noqa: E402
from modecollapse.metrics.modes import mode_stats  # noqa: E402
from modecollapse.monitor import ALARMS  # noqa: E402

CHECK_EVERY = 100
TRUTH_FROM = 500
TRUTH_SAMPLES = 2500
MNIST_DIR = os.environ.get("MODECOLLAPSE_DATA", "/work/shared/data/mnist")


@dataclass(frozen=True)
class Spec:
    name: str
    setting: str  # what the setting is meant to produce (the truth is measured, not assumed)
    data: str
    values: dict[str, Any]
    steps: int
    seed: int
    switch_at: int | None = None  # late collapse: drop the techniques and speed D up here
    data_args: dict[str, Any] = field(default_factory=dict)


def _vector(preset: str, data: str, **over: Any) -> dict[str, Any]:
    values = preset_values(preset, data)
    values.update(over)
    return values


def _image(**over: Any) -> dict[str, Any]:
    values = {"data": "stacked-mnist", "arch": "dcgan-small", "latent_dim": 32, "batch_size": 64, "lr_g": 2e-4,
              "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "loss": "nonsaturating", "techniques": []}
    values.update(over)
    return values


R1 = [{"name": "gp", "params": {"kind": "r1", "weight": 1.0, "interval": 1}}]


def suite(seed_offset: int = 0) -> list[Spec]:
    """The labelled suite, ordered seed-major so that a partial suite is still balanced.

    ``seed_offset`` shifts every seed: the monitor's defaults were chosen on the suite with
    offset 0, so another offset gives a held-out suite of the same settings."""
    out: list[Spec] = []
    for index in range(8):
        seed = index + seed_offset
        for data, steps in (("ring", 1500), ("grid", 1500), ("highdim", 1200)):
            if data == "highdim" and index >= 3:
                continue
            if data == "grid" and index >= 4:
                continue
            # collapsing settings
            out.append(Spec(f"{data}-vanilla-s{seed}", "collapse", data, _vanilla_values(data), steps, seed))
            if data == "ring" and index < 4:
                out.append(Spec(f"{data}-hop-s{seed}", "mode hopping", data,
                                _vector("vanilla", data, lr_d=2e-4, lr_g=2e-4), steps, seed))
            if index < 3 or (data == "ring" and index < 4):
                out.append(Spec(f"{data}-late-s{seed}", "late collapse", data, _vector("recommended", data),
                                steps, seed, switch_at=steps * 2 // 5))
            if index < 2 and data != "highdim" or (data == "highdim" and index < 1):
                out.append(Spec(f"{data}-diverge-s{seed}", "divergence", data,
                                _vector("vanilla", data, lr_g=5e-2, lr_d=5e-2, beta1=0.9), steps, seed))
            # healthy settings
            out.append(Spec(f"{data}-r1-s{seed}", "healthy", data, _vector("recommended", data), steps, seed))
            if data != "highdim" and index < 4:
                best = _vector("best", data)
                best["techniques"] = R1
                out.append(Spec(f"{data}-best-s{seed}", "healthy", data, best, steps, seed))
        if index < 2:
            img = {"data_dir": MNIST_DIR}
            out.append(Spec(f"smnist-dcgan-s{seed}", "healthy", "stacked-mnist", _image(), 800, seed, data_args=img))
            out.append(Spec(f"smnist-collapse-s{seed}", "collapse", "stacked-mnist",
                            _image(latent_dim=2, lr_d=1e-3, lr_g=1e-4), 800, seed, data_args=img))
    return out


def _vanilla_values(data: str) -> dict[str, Any]:
    return _vector("vanilla", data)


# -- the one place that uses the lab's training API (swap for the evaluator interface later) --
def drive(spec: Spec, on_check: Callable[[int, Callable[[int, int], torch.Tensor], float, float], bool]) -> None:
    """Trains ``spec`` with the lab; calls ``on_check(step, sample, d_loss, g_loss)`` every
    CHECK_EVERY steps, where ``sample(n, seed)`` draws n generator samples; stops when it returns False."""
    from modecollapse.lab.train import build_run, generate, train_step
    from modecollapse.techniques import HookTable

    values = {**spec.values, "steps": spec.steps, "seed": spec.seed, "eval_every": CHECK_EVERY,
              "checkpoint_every": spec.steps, "data_args": dict(spec.data_args)}
    run = build_run(TrainConfig.from_dict(values))
    while run.step < spec.steps:
        d_loss, g_loss = train_step(run)
        if spec.switch_at is not None and run.step == spec.switch_at:
            run.techniques, run.hooks = [], HookTable.build([])  # the regulariser is switched off
            for group in run.opt_d.param_groups:
                group["lr"] *= 5.0  # and D gets a much faster learning rate
        if run.step % CHECK_EVERY == 0:
            if not on_check(run.step, lambda n, s: generate(run, n, s), float(d_loss), float(g_loss)):
                return
    return


# -- truth ---------------------------------------------------------------------------------
def held_modes(counts: list[int], n: int, k: int) -> int:
    if k > 100:
        return sum(c > 0 for c in counts)
    return sum(c >= 0.2 * n / k for c in counts)


def nearest_mode_counts(bench, samples: torch.Tensor) -> tuple[list[int], float]:
    """Samples per mode by nearest mode, counting those within half the smallest distance
    between two modes (so the mode is unambiguous; the lab's high-quality radius of 3 std is
    much stricter and would call an imprecise but diverse generator collapsed), and the
    fraction so counted. Stacked MNIST: the digit classifier's mode of every sample."""
    finite = torch.isfinite(samples).all(dim=1)
    x = torch.where(finite[:, None], samples, torch.zeros_like(samples))
    a = bench.assign(x)
    if bench.num_modes > 100:
        ok = finite
    else:
        c = bench.centers
        gap = torch.cdist(c, c).fill_diagonal_(float("inf")).min()
        ok = finite & (a.distance <= gap / 2)
    counts = torch.bincount(a.mode[ok], minlength=bench.num_modes)
    return [int(v) for v in counts], float(ok.double().mean())


def real_held(bench, k: int) -> int:
    if k <= 100:
        return k
    real = bench.sample(TRUTH_SAMPLES, torch.Generator().manual_seed(123))
    return held_modes(nearest_mode_counts(bench, real)[0], TRUTH_SAMPLES, k)


def monitors(bench, spec: Spec) -> tuple[CollapseMonitor, CollapseMonitor]:
    real = bench.sample(4096 if bench.dim < 2000 else 2560, torch.Generator().manual_seed(10_000 + spec.seed))
    if spec.data == "stacked-mnist":
        from modecollapse.features.mnist import mnist_features

        model = bench.classifier
        feats = lambda x: mnist_features(x, model=model, pixel_range=(-1.0, 1.0))  # noqa: E731

        def classify(x: torch.Tensor) -> torch.Tensor:
            return bench.assign(x.reshape(len(x), -1)).mode

        return (CollapseMonitor(real=real, features=feats),
                CollapseMonitor(real=real, features=feats, mode_classifier=classify, num_modes=1000))
    return CollapseMonitor(real=real), CollapseMonitor(real=real, modes=bench.centers)


def run_one(spec: Spec, out: Path) -> dict[str, Any]:
    from modecollapse.data import build_dataset

    bench = build_dataset(spec.data, spec.data_args)
    blind, known = monitors(bench, spec)
    k = bench.num_modes
    ref_held = real_held(bench, k)
    checks: list[dict[str, Any]] = []
    fakes: dict[int, torch.Tensor] = {}
    t_train = time.perf_counter()

    def on_check(step: int, sample, d_loss: float, g_loss: float) -> bool:
        fake = sample(blind.settings.batch_size, 1_000_000 + step)
        fakes[step] = fake.half()
        rb = blind.update(step, fake=fake, d_loss=d_loss, g_loss=g_loss)
        rk = known.update(step, fake=fake, d_loss=d_loss, g_loss=g_loss)
        ev = sample(TRUTH_SAMPLES, 2_000_000 + step)
        finite = bool(torch.isfinite(ev).all())
        stats = mode_stats(samples=ev, benchmark=bench)
        counts, near = nearest_mode_counts(bench, ev)
        held = held_modes(counts, TRUTH_SAMPLES, k)
        rec = {"step": step, "held": held, "modes": stats.modes, "hq": round(stats.hq_fraction, 4),
               "near": round(near, 4), "finite": finite, "diverged": (not finite) or near < 0.05, "d_loss": d_loss, "g_loss": g_loss,
               "blind": _brief(rb), "known": _brief(rk)}
        checks.append(rec)
        return finite and math.isfinite(d_loss) and math.isfinite(g_loss)

    drive(spec, on_check)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    torch.save(fakes, out / "samples" / f"{spec.name}.pt")  # for --replay after a change of the monitor
    result = {"name": spec.name, "setting": spec.setting, "data": spec.data, "seed": spec.seed, "steps": spec.steps,
              "num_modes": k, "real_held": ref_held, "switch_at": spec.switch_at, "checks": checks,
              "seconds": time.perf_counter() - t_train,
              "monitor_seconds": {"blind": blind.total_seconds, "known": known.total_seconds}}
    result["truth"] = truth(result)
    return result


def replay(spec: Spec, result: dict[str, Any], out: Path) -> dict[str, Any]:
    """Runs the current monitor again on a finished run's stored samples (the truth is kept)."""
    from modecollapse.data import build_dataset

    bench = build_dataset(spec.data, spec.data_args)
    blind, known = monitors(bench, spec)
    fakes = torch.load(out / "samples" / f"{spec.name}.pt", weights_only=True)
    for c in result["checks"]:
        fake = fakes[c["step"]].float()
        if not torch.isfinite(fake).all():
            fake = fake.masked_fill(~torch.isfinite(fake), float("nan"))
        c["blind"] = _brief(blind.update(c["step"], fake=fake, d_loss=c["d_loss"], g_loss=c["g_loss"]))
        c["known"] = _brief(known.update(c["step"], fake=fake, d_loss=c["d_loss"], g_loss=c["g_loss"]))
    result["monitor_seconds"] = {"blind": blind.total_seconds, "known": known.total_seconds}
    result["truth"] = truth(result)
    return result


def _brief(report) -> dict[str, Any]:
    keep = ("score", "recall_rel", "coverage_rel", "modes_rel", "precision_rel", "near_rel", "spread_rel", "overlap",
            "effective_modes", "mutual_info", "d_winning", "g_oscillation")
    out = {"verdict": report.verdict, "onset": report.onset_step, "seconds": round(report.seconds, 5)}
    out.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in report.numbers.items() if k in keep})
    if report.verdict in ALARMS:
        out["reason"] = report.reason
    return out


def truth(result: dict[str, Any]) -> dict[str, Any]:
    ref = result["real_held"]
    checks = [c for c in result["checks"] if c["step"] >= TRUTH_FROM or not c["finite"]]
    bad = [c["diverged"] or c["held"] <= 0.5 * ref for c in checks]
    onset = None
    for i, b in enumerate(bad):
        if b and (i + 1 < len(bad) and bad[i + 1] or i + 1 == len(bad) or checks[i]["diverged"]):
            onset = checks[i]["step"]
            break
    if onset is not None:
        label = "collapsing"
    elif checks and all(c["held"] >= 0.75 * ref for c in checks):
        label = "healthy"
    else:
        label = "partial"
    final = result["checks"][-1] if result["checks"] else None
    return {"label": label, "onset": onset, "final_held": final["held"] if final else None,
            "min_held": min((c["held"] for c in checks), default=None)}


# -- scoring -------------------------------------------------------------------------------
def score(results: list[dict[str, Any]], which: str) -> dict[str, Any]:
    detected, missed, false_alarms, clean, delays = [], [], [], [], []
    for r in results:
        t = r["truth"]
        alarms = [c for c in r["checks"] if c[which]["verdict"] in ALARMS]
        if t["label"] == "collapsing":
            ok = [c for c in alarms if c["step"] >= t["onset"] - 2 * CHECK_EVERY]
            if ok:
                detected.append(r["name"])
                delays.append(ok[0]["step"] - t["onset"])
            else:
                missed.append(r["name"])
        elif t["label"] == "healthy":
            fa = [c for c in alarms if c["step"] >= TRUTH_FROM]
            (false_alarms if fa else clean).append(r["name"])
    n_col, n_healthy = len(detected) + len(missed), len(false_alarms) + len(clean)
    return {
        "collapsing_runs": n_col, "healthy_runs": n_healthy,
        "detection_rate": len(detected) / n_col if n_col else None,
        "false_alarm_rate": len(false_alarms) / n_healthy if n_healthy else None,
        "delay_steps_median": statistics.median(delays) if delays else None,
        "delay_steps_worst": max(delays) if delays else None,
        "delay_checks_median": statistics.median(delays) / CHECK_EVERY if delays else None,
        "delay_checks_worst": max(delays) / CHECK_EVERY if delays else None,
        "missed": missed, "false_alarms": false_alarms,
    }


SIGNALS = ("score", "recall_rel", "modes_rel", "coverage_rel", "precision_rel", "spread_rel", "near_rel")


def signal_separation(results: list[dict[str, Any]], which: str) -> dict[str, dict[str, float]]:
    """Per signal: AUC of telling collapsed checks (truth) from checks of healthy runs, both
    from TRUTH_FROM on (1 = a threshold separates them perfectly, lower values = collapse;
    0.5 = chance), and the medians of each group."""
    out = {}
    for name in SIGNALS:
        bad, good = [], []
        for r in results:
            ref = r["real_held"]
            for c in r["checks"]:
                v = c[which].get(name)
                if c["step"] < TRUTH_FROM or v is None:
                    continue
                if r["truth"]["label"] == "healthy":
                    good.append(float(v))
                elif r["truth"]["label"] == "collapsing" and (c["diverged"] or c["held"] <= 0.5 * ref):
                    bad.append(float(v))
        if not bad or not good:
            continue
        g = torch.tensor(good, dtype=torch.float64)
        b = torch.tensor(bad, dtype=torch.float64)
        auc = float((g[:, None] > b[None, :]).double().mean() + 0.5 * (g[:, None] == b[None, :]).double().mean())
        out[name] = {"auc": auc, "median_healthy": float(g.median()), "median_collapsed": float(b.median()),
                     "n_healthy": len(good), "n_collapsed": len(bad)}
    return out


def report(results: list[dict[str, Any]], dest: Path) -> None:
    by_data: dict[str, list] = {}
    for r in results:
        by_data.setdefault(r["data"], []).append(r)
    summary = {"runs": len(results), "check_every": CHECK_EVERY, "truth_from": TRUTH_FROM,
               "labels": {lab: sum(r["truth"]["label"] == lab for r in results) for lab in ("collapsing", "healthy", "partial")},
               "blind": score(results, "blind"), "known": score(results, "known"),
               "per_data": {d: {"blind": score(rs, "blind"), "known": score(rs, "known")} for d, rs in by_data.items()},
               "signals": {w: signal_separation(results, w) for w in ("blind", "known")},
               "monitor_seconds_per_check": statistics.median(
                   c["blind"]["seconds"] for r in results for c in r["checks"]) if results else None}
    summary["runs_table"] = [
        {"name": r["name"], "setting": r["setting"], "label": r["truth"]["label"], "onset": r["truth"]["onset"],
         "final_held": r["truth"]["final_held"], "num_modes": r["num_modes"],
         "first_alarm_blind": next((c["step"] for c in r["checks"] if c["blind"]["verdict"] in ALARMS and c["step"] >= TRUTH_FROM - 200), None),
         "final_blind": r["checks"][-1]["blind"]["verdict"] if r["checks"] else None,
         "final_known": r["checks"][-1]["known"]["verdict"] if r["checks"] else None}
        for r in results]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")

    def pct(x): return "-" if x is None else f"{100 * x:.0f}%"

    def num(x): return "-" if x is None else f"{x:g}"
    lines = ["| scope | monitor | collapsing runs | detected | healthy runs | false alarms | delay median (steps / checks) | delay worst (steps / checks) |",
             "|---|---|---|---|---|---|---|---|"]
    scopes = [("all", summary)] + [(d, summary["per_data"][d]) for d in by_data]
    for name, s in scopes:
        for which in ("blind", "known"):
            m = s[which]
            lines.append(f"| {name} | {'no known modes' if which == 'blind' else 'known modes'} | {m['collapsing_runs']} | "
                         f"{pct(m['detection_rate'])} | {m['healthy_runs']} | {pct(m['false_alarm_rate'])} | "
                         f"{num(m['delay_steps_median'])} / {num(m['delay_checks_median'])} | "
                         f"{num(m['delay_steps_worst'])} / {num(m['delay_checks_worst'])} |")
    lines += ["", "Signals (no known modes), checks from step "
              f"{TRUTH_FROM} on: AUC of separating collapsed checks from checks of healthy runs, and medians.", "",
              "| signal | AUC | median healthy | median collapsed |", "|---|---|---|---|"]
    for name, v in summary["signals"]["blind"].items():
        lines.append(f"| {name} | {v['auc']:.3f} | {v['median_healthy']:.3f} | {v['median_collapsed']:.3f} |")
    lines += ["", f"Labels: {summary['labels']} (partial runs are not scored).", "",
              f"Missed (no known modes): {', '.join(summary['blind']['missed']) or 'none'}; false alarms: "
              f"{', '.join(summary['blind']['false_alarms']) or 'none'}.",
              f"Missed (known modes): {', '.join(summary['known']['missed']) or 'none'}; false alarms: "
              f"{', '.join(summary['known']['false_alarms']) or 'none'}.", "",
              "| run | setting | truth | onset | final modes held | first alarm (no known modes) | final verdict (no known / known) |",
              "|---|---|---|---|---|---|---|"]
    for row in summary["runs_table"]:
        lines.append(f"| {row['name']} | {row['setting']} | {row['label']} | {num(row['onset'])} | "
                     f"{num(row['final_held'])}/{row['num_modes']} | {num(row['first_alarm_blind'])} | "
                     f"{row['final_blind']} / {row['final_known']} |")
    failing = sorted(set(summary["blind"]["missed"] + summary["blind"]["false_alarms"]))
    if failing:
        lines += ["", "Runs the monitor (no known modes) gets wrong, plotted: "
                  + ", ".join(f"`{dest.name}-{n}.png`" for n in failing)]
        for r in results:
            if r["name"] in failing:
                plot_run(r, dest.parent / f"{dest.name}-{r['name']}.png")
    dest.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[: 2 + 2 * len(scopes) + 16]))


def plot_run(r: dict[str, Any], path: Path) -> None:
    """The monitor's score (both monitors) and the truth's modes held over a run's checks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [c["step"] for c in r["checks"]]
    fig, ax = plt.subplots(figsize=(6, 3))
    for which, style in (("blind", "-"), ("known", "--")):
        ax.plot(steps, [c[which].get("score", float("nan")) for c in r["checks"]], style, label=f"score ({which})")
    ax.axhline(0.7, color="grey", lw=0.8)
    ax.plot(steps, [c["held"] / r["real_held"] for c in r["checks"]], "k.", label="truth: modes held / real")
    alarms = [c["step"] for c in r["checks"] if c["blind"]["verdict"] in ALARMS]
    ax.plot(alarms, [0.02] * len(alarms), "rv", label="alarm (blind)")
    ax.set(xlabel="step", ylim=(0, 1.3), title=f"{r['name']}: truth {r['truth']['label']}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for one JSON per run (restartable)")
    ap.add_argument("--only", default="", help="comma-separated substrings: run only matching runs")
    ap.add_argument("--report", type=Path, default=None, help="write REPORT.json and REPORT.md from the runs in --out")
    ap.add_argument("--list", action="store_true", help="list the suite and exit")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="add this to every seed: a held-out suite (the defaults were chosen on offset 0)")
    ap.add_argument("--replay", action="store_true", help="re-run the current monitor on the stored samples of finished runs")
    ap.add_argument("--suite", choices=("2d", "images"), default="2d",
                    help="2d: the lab's vector and Stacked MNIST runs (below); images: MNIST GAN runs with a "
                         "classifier's truth (benchmarks/monitor_images.py)")
    ap.add_argument("--seeds", default="0-4", help="images: seeds to record or report, e.g. 0-4 or 100-104")
    ap.add_argument("--record", action="store_true", help="images: train and record the runs without a recording")
    ap.add_argument("--shard", default="0/1", help="images --record: I/N, this process takes every N-th run from the I-th")
    ap.add_argument("--modes", choices=("clusters", "classifier"), default="clusters",
                    help="images --report: the monitor's modes: its label-free k-means clusters (what "
                         "features='mnist' gives a user), or the digit classifier's digits (digit triples on "
                         "Stacked MNIST) as known modes, the classifier the truth counts with")
    ap.add_argument("--monitor-settings", default="{}", metavar="JSON",
                    help="images --report: MonitorSettings fields to change, e.g. '{\"covered_below\": 0.8}'")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.suite == "images":
        from monitor_images_suite import images_main

        images_main(args)
        return
    specs = suite(args.seed_offset)
    if args.list:
        for s in specs:
            print(s.name, s.setting, s.steps)
        print(len(specs), "runs")
        return
    runs = args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    if args.replay:
        from tqdm.auto import tqdm

        by_name = {s.name: s for s in specs}
        for path in tqdm(sorted(runs.glob("*.json")), desc="replay", unit="run"):
            result = json.loads(path.read_text())
            if result["name"] in by_name and (not args.only or any(p in result["name"] for p in args.only.split(","))):
                path.write_text(json.dumps(replay(by_name[result["name"]], result, args.out)) + "\n")
    elif args.report is None:
        from tqdm.auto import tqdm

        todo = [s for s in specs if not args.only or any(p in s.name for p in args.only.split(","))]
        for spec in tqdm(todo, desc="monitor accuracy", unit="run"):
            path = runs / f"{spec.name}.json"
            if path.exists():
                continue
            result = run_one(spec, args.out)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result) + "\n")
            tmp.replace(path)
            t = result["truth"]
            last = result["checks"][-1]
            tqdm.write(f"{spec.name}: truth {t['label']} onset {t['onset']} final {t['final_held']}/{result['num_modes']}; "
                       f"monitor {last['blind']['verdict']} / known {last['known']['verdict']} ({result['seconds']:.0f}s)")
    results = [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]
    if args.report is not None or args.replay:
        report(results, args.report or args.out / "report")


if __name__ == "__main__":
    main()
