"""The leaderboard of a sweep: mean and standard error over seeds, per dataset and method.

Every number in the runs' ``summary.json`` is aggregated (booleans such as ``collapsed`` as the
fraction of seeds), with the number of seeds, failed runs (an error, no summary) and runs
that did not finish cleanly (``status`` other than ``ok``). Published anchor numbers from the
suite go beside the rows whose protocol matches, marked ``published``. When the suite names
a ``baseline`` method, each other row says per headline metric whether it beats it by more
than two combined standard errors (:func:`modecollapse.bench.aggregate.versus`).
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fileio import read_json
from ..lab import rundir
from ..lab.config import TrainConfig
from .aggregate import mean_se, versus

FINISHED = ("ok", "diverged")  # a diverged run is a result (the loss blew up), not a failure to retry
ERROR_FILE = "error.json"

# headline metrics: (summary key, higher is better, digits in text tables)
HEADLINE = (("modes", True, 1), ("hq_fraction", True, 3), ("reverse_kl", False, 3))
# summary numbers that describe the run rather than its result, kept apart so that two
# backends (or machines) with the same results give the same "metrics"
TIMING = ("wall_seconds",)
NOT_AGGREGATED = ("seed",)


@dataclass
class RunResult:
    """What one run left on disk: its labels, its summary (None if it never finished) and its error."""

    dataset: str
    method: str
    seed: int
    path: Path
    summary: dict[str, Any] | None = None
    error: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl, for the report

    @property
    def failed(self) -> bool:
        return self.summary is None and bool(self.error)


def _numbers(summary: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in summary.items():
        if key in NOT_AGGREGATED or value is None:
            continue
        if isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[key] = float(value)
    return out


def _cell(values: list[float]) -> dict[str, float]:
    mean, se = mean_se(values)
    return {"mean": mean, "se": se}


def leaderboard(results: Iterable[RunResult], *, published: list[dict[str, Any]] | None = None,
                baseline: str | None = None) -> dict[str, Any]:
    """Rows in the order the (dataset, method) pairs first appear in ``results``.

    ``published``: rows ``{"dataset", "method", "numbers": {...}, "source"}`` to place after
    the measured row of the same dataset and method (or at the end of the dataset's rows)."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.dataset, r.method), []).append(r)
    rows = []
    for (dataset, method), runs in groups.items():
        done = [r for r in runs if r.summary is not None]
        if not done and not any(r.failed for r in runs):
            continue
        numbers = [_numbers(r.summary) for r in done]
        order = [h[0] for h in HEADLINE]
        keys = sorted({k for n in numbers for k in n}, key=lambda k: (order.index(k) if k in order else len(order), k))
        row: dict[str, Any] = {
            "dataset": dataset,
            "method": method,
            "kind": "measured",
            "seeds": len(done),
            "failed": sum(r.failed for r in runs),
            "not_ok": sum(r.summary.get("status") != "ok" for r in done),
            "metrics": {k: _cell([n[k] for n in numbers if k in n]) for k in keys if k not in TIMING},
            "time": {k: _cell([n[k] for n in numbers if k in n]) for k in keys if k in TIMING},
        }
        verdicts = [r.summary["verdict"] for r in done if isinstance(r.summary.get("verdict"), str)]
        if verdicts:
            row["verdicts"] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
        errors = sorted({r.error.splitlines()[0] if r.error else "" for r in runs if r.failed})
        if errors:
            row["errors"] = errors
        rows.append(row)
    if baseline:
        _mark_against(rows, groups, baseline)
    if published:
        rows = _with_published(rows, published)
    return {"baseline": baseline, "rows": rows}


def _mark_against(rows: list[dict[str, Any]], groups: dict, baseline: str) -> None:
    for row in rows:
        base = groups.get((row["dataset"], baseline))
        if row["method"] == baseline or not base:
            continue
        def vals(runs, key):
            return [float(r.summary[key]) for r in runs if r.summary is not None and key in r.summary]
        own = groups[(row["dataset"], row["method"])]
        marks = {}
        for key, higher, _ in HEADLINE:
            a, b = vals(base, key), vals(own, key)
            if len(a) >= 2 and len(b) >= 2:  # one seed has no standard error to judge a difference by
                marks[key] = versus(a, b, higher)
        row["vs_baseline"] = marks


def _with_published(rows: list[dict[str, Any]], published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(rows)
    for pub in published:
        row = {"dataset": pub["dataset"], "method": pub["method"], "kind": "published", "source": pub.get("source", ""),
               "metrics": {k: {"mean": float(v), "se": None} for k, v in pub["numbers"].items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)}}
        same = [i for i, r in enumerate(out) if r["dataset"] == pub["dataset"] and r["method"] == pub["method"]]
        ds = [i for i, r in enumerate(out) if r["dataset"] == pub["dataset"]]
        at = (same[-1] + 1) if same else ((ds[-1] + 1) if ds else len(out))
        out.insert(at, row)
    return out


# -- output --------------------------------------------------------------------------------------
def to_csv(board: dict[str, Any]) -> str:
    """One line per row: labels, counts, then ``<metric>_mean`` and ``<metric>_se`` for every metric."""
    metrics: list[str] = []
    for row in board["rows"]:
        for key in [*row["metrics"], *row.get("time", {})]:
            if key not in metrics:
                metrics.append(key)
    head = ["dataset", "method", "kind", "seeds", "failed", "not_ok"]
    head += [f"{m}_{s}" for m in metrics for s in ("mean", "se")] + ["vs_baseline", "source"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for row in board["rows"]:
        cells = {**row.get("metrics", {}), **row.get("time", {})}
        line = [row["dataset"], row["method"], row["kind"], row.get("seeds", ""), row.get("failed", ""), row.get("not_ok", "")]
        for m in metrics:
            c = cells.get(m)
            line += ["", ""] if c is None else [repr(c["mean"]), "" if c["se"] is None else repr(c["se"])]
        marks = row.get("vs_baseline", {})
        line.append(" ".join(f"{k}:{'+' if v > 0 else '-'}" for k, v in marks.items() if v))
        line.append(row.get("source", ""))
        w.writerow(line)
    return buf.getvalue()


def to_text(board: dict[str, Any]) -> str:
    """A plain-text table for the terminal: headline metrics as mean ± s.e."""
    head = ["dataset", "method", "seeds"] + [k for k, _, _ in HEADLINE] + ["failed"]
    lines = []
    for row in board["rows"]:
        cells = [row["dataset"], row["method"] + (" (published)" if row["kind"] == "published" else ""),
                 str(row.get("seeds", ""))]
        marks = row.get("vs_baseline", {})
        for key, _, digits in HEADLINE:
            c = row["metrics"].get(key)
            if c is None:
                cells.append("")
            elif c["se"] is None:
                cells.append(f"{c['mean']:.{digits}f}")
            else:
                cells.append(f"{c['mean']:.{digits}f} ± {c['se']:.{digits}f}" + {1: " +", -1: " -"}.get(marks.get(key, 0), ""))
        cells.append(str(row.get("failed", "")) if row.get("failed") else "")
        lines.append(cells)
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    text = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines]
    if board.get("baseline"):
        text.append(f"(+ / -: better / worse than {board['baseline']} by more than 2 combined standard errors)")
    return "\n".join(text)


# -- reading run directories ------------------------------------------------------------------
def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's valid ``summary.json``, or ``None`` (none, or damaged: see :func:`run_problem`)."""
    try:
        return rundir.read_summary(run_dir)
    except ConfigError:
        return None


def run_problem(run_dir: Path) -> str:
    """Why the run's files cannot be trusted ('' when they can): the first of ``config.json``,
    ``summary.json`` and ``metrics.jsonl`` that does not read as its schema says, in one
    sentence naming the file and the field. A torn last line of ``metrics.jsonl`` is not a
    problem (a resume drops it)."""
    try:
        if (run_dir / "config.json").exists():
            TrainConfig.load(run_dir / "config.json")
        rundir.read_summary(run_dir)
        rundir.read_metrics(run_dir, notice=False)
    except ConfigError as err:
        return str(err)
    return ""


def read_result(dataset: str, method: str, seed: int, run_dir: Path, *, records: bool = False) -> RunResult:
    """What the run left: its summary when finished, else its error; a run whose files are
    damaged is failed, its error ``failed: <reason>``."""
    problem = run_problem(run_dir)
    if problem:
        return RunResult(dataset, method, seed, run_dir, None, f"failed: {problem}")
    summary = read_summary(run_dir)
    error = ""
    if summary is not None and summary.get("status") not in FINISHED:
        summary = None  # interrupted: neither a result nor a failure yet
    if summary is None and (run_dir / ERROR_FILE).is_file():
        try:
            error = read_json(run_dir / ERROR_FILE).get("error", "failed")
            error = error if isinstance(error, str) and error else "failed"
        except ConfigError:
            error = "failed (unreadable error.json)"
    recs = rundir.read_metrics(run_dir, notice=False) if records else []
    return RunResult(dataset, method, seed, run_dir, summary, error, recs)
