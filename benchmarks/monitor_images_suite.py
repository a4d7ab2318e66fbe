"""Scoring and reporting of the image suite (``monitor_accuracy.py --suite images``); the runs
and the truth are in :mod:`monitor_images`."""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import monitor_images as mi  # noqa: E402


def images_main(args) -> None:
    folder = args.out / "images"
    specs = mi.image_suite(mi.parse_seeds(args.seeds))
    if args.only:
        specs = [s for s in specs if any(p in s.name for p in args.only.split(","))]
    if args.record:
        i, n = (int(v) for v in args.shard.split("/"))
        mi.record_all(specs, folder, (i, n))
        return
    if args.report is None:
        raise SystemExit("--suite images needs --record (train and record) or --report DEST (replay and score).")
    from modecollapse.monitor import MonitorSettings

    try:
        changes = json.loads(args.monitor_settings)
        settings = MonitorSettings(**changes).validate()
    except (ValueError, TypeError) as err:
        raise SystemExit(f"--monitor-settings must be a JSON object of MonitorSettings fields: {err}") from None
    results = replay_all(specs, folder, settings, modes=args.modes)
    write_report(results, args.report, args.seeds, note=f"modes: {args.modes}; settings changed: {changes or 'none'}")


ALARMS = ("collapsing", "collapsed", "diverged")
CHECK_EVERY = mi.CHECK_EVERY


def replay_all(specs, folder: Path, settings=None, modes: str = "clusters") -> list[dict[str, Any]]:
    """Replays every recorded spec with the current monitor; specs without a recording are
    skipped. ``modes``: "clusters" (label-free) or "classifier" (the truth's digits as known modes)."""
    from modecollapse.features.mnist import mnist_features
    from modecollapse.idx import load_mnist
    from modecollapse.models.classifier import load_or_train

    images, labels = load_mnist(mi.MNIST_DIR, "train")
    truth = None
    real_cache: dict[int, torch.Tensor] = {}
    model = load_or_train()
    labeller = mi.digit_modes(model) if modes == "classifier" else None
    results = []
    for spec in specs:
        if not (folder / f"{spec.name}.pt").exists():
            continue
        if truth is None and not (folder / f"{spec.name}.cache.pt").exists():
            truth = mi.Truth(images[50_000:], labels[50_000:])
        rec = mi.load_recording(folder, spec.name, truth)
        key = (spec.seed, int(spec.options.get("channels", 1)))
        if key not in real_cache:
            real = mi.real_for(spec.seed, images[:50_000], channels=key[1])
            real_cache[key] = mnist_features(real, model=model, pixel_range=(-1.0, 1.0))
        checks = mi.replay(rec, real_cache[key], settings, mode_classifier=labeller)
        for c, t in zip(checks, rec["truth_checks"]):
            c["truth"] = t
        results.append({"name": spec.name, "setting": spec.setting, "trainer": spec.trainer, "seed": spec.seed,
                        "steps": rec["steps"], "checks": checks, "truth": mi.run_truth(rec["truth_checks"], rec["steps"]),
                        "train_wall_seconds": rec["wall_seconds"], "train_cpu_seconds": rec["cpu_seconds"]})
    return results


def first_alarm_from(r: dict[str, Any], step: int) -> dict[str, Any] | None:
    return next((c for c in r["checks"] if c["verdict"] in ALARMS and c["step"] >= step), None)


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Detection, false alarms, delay and the kind confusion matrix (truth kind x the monitor's
    kind at its first alarm from two checks before the onset on)."""
    kinds = ("dropped-modes", "hopping", "within-mode", "none")
    confusion = {t: {} for t in kinds}
    dropped, dropped_named, within, within_named, healthy, false_alarms, delays = [], [], [], [], [], [], []
    false_alarms_late = []  # ... counted only from the truth's line (TRUTH_FROM), as the 2D suite counts them
    missed = []
    for r in results:
        t = r["truth"]
        if t["label"] == "collapsing":
            alarm = first_alarm_from(r, t["onset"] - 2 * CHECK_EVERY)
            got = alarm["kind"] if alarm else "none"
            confusion[t["kind"]][got] = confusion[t["kind"]].get(got, 0) + 1
            if alarm:
                delays.append((alarm["step"] - t["onset"]) / CHECK_EVERY)
            else:
                missed.append(r["name"])
            if t["kind"] in ("dropped-modes", "hopping"):
                dropped.append(r["name"])
                if got in ("dropped-modes", "hopping"):
                    dropped_named.append(r["name"])
            else:
                within.append(r["name"])
                if got == "within-mode":
                    within_named.append(r["name"])
        elif t["label"] == "healthy":
            healthy.append(r["name"])
            alarm = first_alarm_from(r, 0)
            got = alarm["kind"] if alarm else "none"
            confusion["none"][got] = confusion["none"].get(got, 0) + 1
            if alarm:
                false_alarms.append(f"{r['name']}@{alarm['step']}")
            late = first_alarm_from(r, mi.TRUTH_FROM)
            if late:
                false_alarms_late.append(f"{r['name']}@{late['step']}")

    def rate(a, b):
        return len(a) / len(b) if b else None
    return {"dropping_runs": len(dropped), "dropped_flagged_as_dropped": rate(dropped_named, dropped),
            "within_runs": len(within), "within_told_apart": rate(within_named, within),
            "healthy_runs": len(healthy), "false_alarm_rate": rate(false_alarms, healthy),
            "false_alarm_rate_from_truth": rate(false_alarms_late, healthy), "false_alarms_from_truth": false_alarms_late,
            "delay_checks_median": statistics.median(delays) if delays else None,
            "delay_checks_worst": max(delays) if delays else None,
            "missed": missed, "false_alarms": false_alarms,
            "not_named": sorted(set(dropped) - set(dropped_named)) + sorted(set(within) - set(within_named)),
            "confusion": confusion}


def write_report(results: list[dict[str, Any]], dest: Path, seeds: str, note: str = "") -> dict[str, Any]:
    summary = {"suite": "images", "seeds": seeds, "runs": len(results), "check_every": CHECK_EVERY, "monitor": note,
               "truth_from": mi.TRUTH_FROM,
               "labels": {lab: sum(r["truth"]["label"] == lab for r in results) for lab in ("collapsing", "healthy", "partial")},
               "all": score(results),
               "per_trainer": {t: score([r for r in results if r["trainer"] == t]) for t in ("user", "lab")},
               "per_data": {d: score([r for r in results if r["name"].startswith(d + "-")]) for d in ("mnist", "smnist")},
               "monitor_seconds_per_check": statistics.median(c["seconds"] for r in results for c in r["checks"])
               if results else None,
               "runs_table": [{"name": r["name"], "setting": r["setting"], **{k: r["truth"][k] for k in
                               ("label", "kind", "onset", "digits")},
                               "first_alarm": (lambda a: a and {"step": a["step"], "kind": a["kind"]})(first_alarm_from(r, 0)),
                               "final": r["checks"][-1]["verdict"] + "/" + r["checks"][-1]["kind"]} for r in results]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"  # one decimal: 94.7% is not 95%
    lines = [f"Image suite (MNIST and Stacked MNIST, seeds {seeds}): {len(results)} runs, a check every {CHECK_EVERY} steps, "
             f"truth from step {mi.TRUTH_FROM} by the digit classifier; labels {summary['labels']} (partial runs are not scored)."
             + (f" Monitor: {note}." if note else ""), "",
             "| scope | runs dropping modes | flagged dropped-modes / hopping | within-mode runs | told apart | healthy runs "
             f"| false alarms (any alarm, any step) | ... from step {mi.TRUTH_FROM} | delay median / worst (checks) |",
             "|---|---|---|---|---|---|---|---|---|"]
    scopes = ([("all", summary["all"])] + [("MNIST", summary["per_data"]["mnist"]), ("Stacked MNIST", summary["per_data"]["smnist"])]
              + [(f"{t} loop" if t == "user" else "lab DCGAN", summary["per_trainer"][t]) for t in ("user", "lab")])
    for name, s in scopes:
        lines.append(f"| {name} | {s['dropping_runs']} | {pct(s['dropped_flagged_as_dropped'])} | {s['within_runs']} | "
                     f"{pct(s['within_told_apart'])} | {s['healthy_runs']} | {pct(s['false_alarm_rate'])} | "
                     f"{pct(s['false_alarm_rate_from_truth'])} | "
                     f"{s['delay_checks_median'] if s['delay_checks_median'] is not None else '-'} / "
                     f"{s['delay_checks_worst'] if s['delay_checks_worst'] is not None else '-'} |")
    cols = ("dropped-modes", "hopping", "within-mode", "off-data", "diverged", "none")
    lines += ["", "Kind confusion (rows: the truth; columns: the monitor's kind at its first alarm from two checks "
              "before the onset on, for healthy runs at any step; none = no alarm):", "",
              "| truth \\ monitor | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for t, row in summary["all"]["confusion"].items():
        lines.append(f"| {t} | " + " | ".join(str(row.get(c, 0)) for c in cols) + " |")
    lines += ["", f"Missed: {', '.join(summary['all']['missed']) or 'none'}; kind not named: "
              f"{', '.join(summary['all']['not_named']) or 'none'}; false alarms: "
              f"{', '.join(summary['all']['false_alarms']) or 'none'}.", "",
              f"| run | setting | truth | onset | digits covered (Stacked MNIST: modes held) per check from step {mi.TRUTH_FROM} "
              "| first alarm | final |",
              "|---|---|---|---|---|---|---|"]
    for row in summary["runs_table"]:
        fa = row["first_alarm"]
        lines.append(f"| {row['name']} | {row['setting']} | {row['label']} {row['kind']} | {row['onset'] or '-'} | "
                     f"{' '.join(map(str, row['digits']))} | {fa['step'] if fa else '-'} {fa['kind'] if fa else ''} | {row['final']} |")
    dest.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:17 + len(cols)]))
    return summary
