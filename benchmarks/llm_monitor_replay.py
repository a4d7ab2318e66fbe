"""Replays the text monitor (and the entropy baseline a TRL user has today) on recorded GRPO runs
(benchmarks/llm/grpo_suite.py) and scores both against the ground truth.

The truth of a run, from its truth samples (32 completions of every task prompt at each check,
apart from the probe the monitor reads): a check is *collapsed* when the distinct correct
answers per prompt fall under half of the pretrained model's (step 0); a run collapses when its
last check is collapsed, and its onset is the first check of that final collapsed stretch. The
kind it should get is the one its setting was built to cause (answer-collapse for the verifier
settings, template-collapse, repetition). A run that does not collapse should get no alarm.

The monitor reads, at each recorded check, the probe's completions with the verifier's
``correct`` (``--no-verifier``: without it), the rewards, the truncation flags (a completion as
long as ``max_completion_length``) and the logged scalars; it is flagged when any check raised
an alarm (``collapsing`` or worse). The baseline alarms at the first logged step whose token
``entropy`` is under ``--entropy-share`` of its value at step 1.

    .venv/bin/python benchmarks/llm_monitor_replay.py --runs /work/rec/grpo --seeds 0-4
    .venv/bin/python benchmarks/llm_monitor_replay.py --runs /work/rec/grpo --seeds 100-104 \\
        --report benchmarks/results/llm_monitor_heldout

Prints the table per setting and the summary (detection, false alarms, median delay in checks,
kind confusion) for the monitor and the baseline; ``--report`` also writes PATH.md and PATH.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse.monitor.text import TextCollapseMonitor, TextMonitorSettings  # noqa: E402

KIND_OF = {"template": "template-collapse", "repetition": "repetition"}  # the rest: answer-collapse
COLLAPSED_BELOW = 0.5


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def load_run(folder: Path) -> dict | None:
    if not (folder / "done").exists():
        return None
    cfg = json.loads((folder / "config.json").read_text())
    checks = [json.loads(x) for x in (folder / "checks.jsonl").read_text().splitlines() if x.strip()]
    logs = [json.loads(x) for x in (folder / "logs.jsonl").read_text().splitlines() if x.strip()] \
        if (folder / "logs.jsonl").exists() else []
    return {"name": folder.name, "setting": cfg["setting"]["name"], "seed": cfg["seed"], "config": cfg,
            "checks": checks, "logs": logs}


def truth(run: dict) -> dict:
    """Per check: collapsed or not (distinct correct answers per prompt under half of step 0's)."""
    ref = run["checks"][0]["truth"]["mean"]["distinct_correct"]
    rel = [c["truth"]["mean"]["distinct_correct"] / ref for c in run["checks"]]
    collapsed = [r < COLLAPSED_BELOW for r in rel]
    onset = None
    if collapsed[-1]:
        onset = len(collapsed) - 1
        while onset > 0 and collapsed[onset - 1]:
            onset -= 1
    kind = KIND_OF.get(run["setting"], "answer-collapse")
    return {"rel": rel, "collapses": collapsed[-1], "onset": onset, "kind": kind,
            "final_rel": rel[-1], "final_pass1": run["checks"][-1]["truth"]["mean"]["pass@1"]}


def replay(run: dict, settings: TextMonitorSettings, *, verifier: bool) -> dict:
    limit = run["config"]["setting"]["max_completion_length"]
    m = TextCollapseMonitor(settings=settings, check_every=run["config"]["setting"]["check_every"])
    out = []
    for c in run["checks"]:
        r = m.update(c["step"], prompts=c["prompts"], completions=c["completions"],
                     correct=c["correct"] if verifier else None, rewards=c["rewards"],
                     truncated=[[len(x) >= limit for x in g] for g in c["completions"]], logs=c.get("logs") or None)
        out.append({"step": c["step"], "verdict": r.verdict, "kind": r.kind, "reason": r.reason})
    alarms = [i for i, x in enumerate(out) if x["verdict"] in ("collapsing", "collapsed", "diverged")]
    first = alarms[0] if alarms else None
    kinds = [x["kind"] for x in out if x["verdict"] in ("collapsing", "collapsed", "diverged")]
    kind = Counter(kinds).most_common(1)[0][0] if kinds else "none"
    return {"checks": out, "first_alarm": first, "kind": kind, "final": out[-1]["verdict"]}


def baseline(run: dict, share: float) -> dict:
    """The first check index at or after the first logged step with entropy < share x step 1's."""
    logs = [x for x in run["logs"] if isinstance(x.get("entropy"), (int, float))]
    if not logs:
        return {"first_alarm": None}
    start = logs[0]["entropy"]
    step = next((x["step"] for x in logs if x["entropy"] < share * start), None)
    if step is None:
        return {"first_alarm": None}
    steps = [c["step"] for c in run["checks"]]
    return {"first_alarm": next((i for i, s in enumerate(steps) if s >= step), len(steps) - 1),
            "step": step}


def score(rows: list[dict], key: str) -> dict:
    pos = [r for r in rows if r["truth"]["collapses"]]
    neg = [r for r in rows if not r["truth"]["collapses"]]
    flagged = [r for r in pos if r[key]["first_alarm"] is not None]
    delays = [r[key]["first_alarm"] - r["truth"]["onset"] for r in flagged]
    out = {"collapsing_runs": len(pos), "flagged": len(flagged),
           "detection": len(flagged) / len(pos) if pos else None,
           "healthy_runs": len(neg), "false_alarms": sum(r[key]["first_alarm"] is not None for r in neg),
           "median_delay_checks": statistics.median(delays) if delays else None,
           "delays": delays}
    out["false_alarm_rate"] = out["false_alarms"] / len(neg) if neg else None
    if key == "monitor":
        right = [r for r in flagged if r["monitor"]["kind"] == r["truth"]["kind"]]
        out["kind_right"] = len(right) / len(flagged) if flagged else None
        out["confusion"] = dict(Counter(f"{r['truth']['kind']} -> {r['monitor']['kind']}" for r in flagged))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("/work/rec/grpo"))
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--settings", default="{}", help="TextMonitorSettings fields as JSON")
    ap.add_argument("--no-verifier", action="store_true", help="replay without the verifier's correct flags")
    ap.add_argument("--entropy-share", type=float, default=0.5, help="baseline: alarm when entropy < share x start")
    ap.add_argument("--report", type=Path, help="write PATH.md and PATH.json")
    ap.add_argument("--show", action="store_true", help="print every run's verdicts")
    args = ap.parse_args()
    settings = TextMonitorSettings(**json.loads(args.settings)).validate()
    seeds = set(parse_seeds(args.seeds))
    rows = []
    for folder in sorted(p for p in args.runs.iterdir() if p.is_dir()):
        run = load_run(folder)
        if run is None or run["seed"] not in seeds:
            continue
        rows.append({"name": run["name"], "setting": run["setting"], "seed": run["seed"], "truth": truth(run),
                     "monitor": replay(run, settings, verifier=not args.no_verifier),
                     "baseline": baseline(run, args.entropy_share)})
    if not rows:
        sys.exit(f"no finished runs for seeds {args.seeds} in {args.runs}")
    lines = [f"runs: {len(rows)} (seeds {args.seeds}), verifier: {not args.no_verifier}, settings: "
             f"{json.dumps({k: v for k, v in asdict(settings).items() if v != getattr(TextMonitorSettings(), k)})}, "
             f"baseline: entropy under {args.entropy_share} of step 1's", "",
             "| run | truth | truth onset | final distinct-correct rel | monitor first alarm | monitor kind | final verdict "
             "| baseline first alarm |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, m, b = r["truth"], r["monitor"], r["baseline"]
        lines.append(f"| {r['name']} | {t['kind'] if t['collapses'] else 'healthy'} | {t['onset']} | "
                     f"{t['final_rel']:.2f} | {m['first_alarm']} | {m['kind']} | {m['final']} | {b['first_alarm']} |")
        if args.show:
            print(r["name"], [(x["step"], x["verdict"][:6], x["kind"][:8]) for x in m["checks"]])
    summary = {"monitor": score(rows, "monitor"), "baseline": score(rows, "baseline")}
    lines += ["", "| detector | collapsing runs flagged | false alarms (healthy runs) | median delay (checks) | kind right |",
              "|---|---|---|---|---|"]
    for key in ("monitor", "baseline"):
        s = summary[key]
        det = f"{s['flagged']} of {s['collapsing_runs']}" + (f" ({s['detection']:.0%})" if s["detection"] is not None else "")
        fa = f"{s['false_alarms']} of {s['healthy_runs']}" + (
            f" ({s['false_alarm_rate']:.0%})" if s["false_alarm_rate"] is not None else "")
        kind = f"{s['kind_right']:.0%}" if s.get("kind_right") is not None else "n/a"
        lines.append(f"| {key} | {det} | {fa} | {s['median_delay_checks']} | {kind} |")
    lines += ["", f"kind confusion (truth -> monitor): {summary['monitor']['confusion']}"]
    text = "\n".join(lines)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.with_suffix(".md").write_text(text + "\n")
        args.report.with_suffix(".json").write_text(json.dumps({"summary": summary, "runs": rows, "args": {
            "seeds": args.seeds, "settings": asdict(settings), "verifier": not args.no_verifier,
            "entropy_share": args.entropy_share}}, indent=1))


if __name__ == "__main__":
    main()
