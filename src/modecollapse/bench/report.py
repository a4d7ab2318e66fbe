"""``modecollapse report``: one self-contained HTML page from bench or run directories.

The page needs no network: every image is a PNG embedded as a data URI and the only script
(sorting the leaderboard by a column) is inline. It shows

- the leaderboard (mean ± standard error over seeds, failures, published anchors marked),
  sortable by clicking a column head;
- for each dataset, a modes / high-quality-fraction scatter of every run (one colour per
  method): collapse sits at the bottom left, a cure at the top right;
- for each method, its final samples across seeds (the runs' ``samples.png``) and its modes
  and hq over training (``metrics.jsonl``), one line per seed;
- every run's status, error and, when the collapse monitor ran, its verdict, reason and
  collapse step (``summary.json`` keys ``verdict``, ``reason``, ``collapse_step``).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import ConfigError
from ..fileio import atomic_write_text, check_fields, read_json
from ..lab.config import TrainConfig
from ..lab.plots import plt  # pyplot on the Agg backend, which lab.plots selects
from .leaderboard import HEADLINE, RunResult, leaderboard, read_result, read_summary

THUMB = 300  # pixels: the width of a sample plot on the page (keeps a 400-run page a few MB)


# -- finding runs --------------------------------------------------------------------------------
def discover(dirs: list[Path]) -> tuple[list[RunResult], list[dict[str, Any]], str | None, str]:
    """Runs under ``dirs`` with their labels, the published rows and baseline of any bench
    directory among them, and a title. A bench directory (``bench.json``) labels its runs by
    dataset and method; other run directories are grouped by dataset, loss and techniques."""
    results: list[RunResult] = []
    published: list[dict[str, Any]] = []
    baseline = None
    names = []
    seen: set[Path] = set()
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"{d} is not a directory; give bench directories or run directories.")
        sweep_file = d / "bench.json"
        if sweep_file.is_file():
            sweep = read_sweep(sweep_file)
            names.append(sweep.get("suite", d.name))
            published += [p for p in sweep.get("published", []) if p not in published]
            baseline = baseline or sweep.get("baseline")
            for r in sweep["runs"]:
                path = (d / r["path"]).resolve()
                if path in seen:
                    continue
                seen.add(path)
                if (d / r["path"]).is_dir():  # runs not started (e.g. left out by --only) are not shown
                    results.append(read_result(r["dataset"], r["method"], r["seed"], d / r["path"], records=True))
            continue
        names.append(d.name)
        for summary_path in sorted({*d.rglob("summary.json")} | ({d / "summary.json"} if (d / "summary.json").is_file() else set())):
            run_dir = summary_path.parent
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            results.append(read_result(*_labels(run_dir), run_dir, records=True))
    if not results:
        raise ConfigError(f"no runs found under {', '.join(map(str, dirs))} (no bench.json or summary.json).")
    return results, published, baseline, ", ".join(names)


def read_sweep(path: Path) -> dict[str, Any]:
    """``bench.json`` checked against what ``bench`` writes: one sentence naming the field otherwise."""
    sweep = read_json(path)
    check_fields(sweep, {"suite": (str,), "runs": (list,), "published": (list,), "baseline": (str, type(None))},
                 str(path), required=("runs",))
    for i, r in enumerate(sweep["runs"]):
        if not isinstance(r, dict):
            raise ConfigError(f"{path}: runs[{i}] must be an object.")
        check_fields(r, {"dataset": (str,), "method": (str,), "seed": (int,), "path": (str,)}, f"{path} runs[{i}]",
                     required=("dataset", "method", "seed", "path"))
        if Path(r["path"]).is_absolute() or ".." in Path(r["path"]).parts:
            raise ConfigError(f"{path}: runs[{i}] path {r['path']!r} must lie inside the bench directory.")
    for i, p in enumerate(sweep.get("published", [])):
        if not isinstance(p, dict):
            raise ConfigError(f"{path}: published[{i}] must be an object.")
        check_fields(p, {"dataset": (str,), "method": (str,), "numbers": (dict,), "source": (str,)},
                     f"{path} published[{i}]", required=("dataset", "method", "numbers"))
    return sweep


def _labels(run_dir: Path) -> tuple[str, str, int]:
    """(dataset, method, seed) of a run directory outside a bench: from its summary, else its
    config.json, else ("?", the folder's name, 0) (a damaged run is still listed, as failed)."""
    s = read_summary(run_dir)
    if s is None:
        try:
            cfg = TrainConfig.load(run_dir / "config.json")
            s = {"data": cfg.data, "loss": cfg.loss, "techniques": [t.name for t in cfg.techniques], "seed": cfg.seed}
        except ConfigError:
            return "?", run_dir.name, 0
    method = "+".join(([s["loss"]] if s.get("loss") not in (None, "nonsaturating") else []) + list(s.get("techniques", []))) or "plain"
    return str(s.get("data", "?")), method, int(s.get("seed", 0))


# -- images --------------------------------------------------------------------------------------
def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _thumbnail(path: Path) -> str | None:
    """The PNG at ``path`` shrunk to THUMB pixels wide, as a data URI (None if unreadable)."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            if img.width > THUMB:
                img = img.resize((THUMB, round(img.height * THUMB / img.width)), Image.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
            return _data_uri(buf.getvalue())
    except Exception:  # noqa: BLE001 - a damaged PNG (Pillow raises OSError, SyntaxError ...) is just not shown
        return None


def _figure_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return _data_uri(buf.getvalue())


def _training_plot(runs: list[RunResult]) -> str | None:
    """Modes (solid, left axis) and hq fraction (dashed, right axis) over training, one colour per seed."""
    runs = [r for r in runs if r.records]
    if not runs:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 2.8), dpi=90)
    hq = ax.twinx()
    num_modes = 0
    for i, r in enumerate(runs):
        color = plt.cm.tab10(i % 10)
        steps = [rec["step"] for rec in r.records]
        if "modes" in r.records[0]:
            ax.plot(steps, [rec.get("modes") for rec in r.records], color=color, lw=1.4, label=f"seed {r.seed}")
            num_modes = max(num_modes, max(rec.get("num_modes", 0) for rec in r.records))
        if "hq_fraction" in r.records[0]:
            hq.plot(steps, [rec.get("hq_fraction") for rec in r.records], color=color, lw=1, ls="--")
    if num_modes:
        ax.axhline(num_modes, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0, num_modes * 1.08)
    hq.set_ylim(0, 1.05)
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("modes (solid)", fontsize=8)
    hq.set_ylabel("hq fraction (dashed)", fontsize=8)
    ax.tick_params(labelsize=7)
    hq.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _figure_uri(fig)


def _scatter(runs: list[RunResult], methods: list[str]) -> str | None:
    """Every finished run of one dataset: fraction of modes captured against hq fraction."""
    done = [r for r in runs if r.summary and "modes" in r.summary and "hq_fraction" in r.summary]
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 4.0), dpi=90)
    palette = plt.cm.tab10 if len(methods) <= 10 else plt.cm.tab20
    for i, m in enumerate(methods):
        pts = [r for r in done if r.method == m]
        if pts:
            ax.scatter([r.summary["modes"] for r in pts], [r.summary["hq_fraction"] for r in pts], s=28,
                       color=palette(i % palette.N), label=m, alpha=0.85, edgecolor="black", linewidth=0.3)
    num = max(r.summary.get("num_modes", 0) for r in done)
    if num:
        ax.set_xlim(-0.03 * num, num * 1.05)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(f"modes captured (of {num})" if num else "modes captured", fontsize=8)
    ax.set_ylabel("high-quality fraction", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return _figure_uri(fig)


# -- HTML ----------------------------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}td.l,th.l{text-align:left}
tr.published td{color:#666;font-style:italic}tr.failed td{color:#b00}
.better{color:#0a6d2a;font-weight:600}.worse{color:#b00}
.grid{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;font-size:11px;text-align:center}figure img{display:block;border:1px solid #ddd}
.muted{color:#777;font-size:12px}.v-collapsed,.v-diverged{color:#b00;font-weight:600}.v-collapsing{color:#c60}.v-healthy{color:#0a6d2a}
"""

_SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === 'asc' ? -1 : 1;
      th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        if (isNaN(nx) && isNaN(ny)) return dir * String(x).localeCompare(String(y));
        if (isNaN(nx)) return 1;
        if (isNaN(ny)) return -1;
        return dir * (nx - ny);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _leaderboard_html(board: dict[str, Any]) -> str:
    heads = [("dataset", "l"), ("method", "l"), ("seeds", "")] + [(k, "") for k, _, _ in HEADLINE] + [("failed", ""), ("mean run time (s)", ""), ("source", "l")]
    out = ['<table class="sortable" id="leaderboard"><thead><tr>']
    out += [f'<th class="{c}">{_e(h)}</th>' for h, c in heads]
    out.append("</tr></thead><tbody>")
    for row in board["rows"]:
        published = row["kind"] == "published"
        cls = "published" if published else ("failed" if row.get("failed") and not row.get("seeds") else "measured")
        cells = [f'<td class="l" data-v="{_e(row["dataset"])}">{_e(row["dataset"])}</td>',
                 f'<td class="l" data-v="{_e(row["method"])}">{_e(row["method"])}{" <em>(published)</em>" if published else ""}</td>',
                 f'<td data-v="{row.get("seeds", "")}">{row.get("seeds", "")}</td>']
        marks = row.get("vs_baseline", {})
        for key, _, digits in HEADLINE:
            c = row["metrics"].get(key)
            if c is None:
                cells.append('<td data-v=""></td>')
                continue
            text = f"{c['mean']:.{digits}f}" + ("" if c["se"] is None else f" ± {c['se']:.{digits}f}")
            mark = {1: ' class="better" title="better than the baseline by > 2 s.e."',
                    -1: ' class="worse" title="worse than the baseline by > 2 s.e."'}.get(marks.get(key, 0), "")
            cells.append(f'<td data-v="{c["mean"]!r}"{mark}>{_e(text)}</td>')
        failed = row.get("failed", "")
        title = f' title="{_e("; ".join(row.get("errors", [])))}"' if row.get("errors") else ""
        cells.append(f'<td data-v="{failed}"{title}>{failed or ""}</td>')
        t = row.get("time", {}).get("wall_seconds")
        seconds = f"{t['mean']:.0f}" if t else ""
        cells.append(f'<td data-v="{t["mean"] if t else ""}">{seconds}</td>')
        cells.append(f'<td class="l" data-v="{_e(row.get("source", ""))}">{_e(row.get("source", ""))}</td>')
        out.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if board.get("baseline"):
        out.append(f'<p class="muted">Green / red: better / worse than <b>{_e(board["baseline"])}</b> by more than two '
                   "combined standard errors (a rough screen over a few seeds, not a test). Published rows come from the "
                   "papers' own protocols and networks. Click a column head to sort.</p>")
    return "".join(out)


def _verdict(summary: dict[str, Any] | None) -> str:
    if not summary or not summary.get("verdict"):
        return ""
    v = str(summary["verdict"])
    step = summary.get("collapse_step")
    extra = f" at step {step}" if step is not None else ""
    return f'<span class="v-{_e(v)}">{_e(v)}</span>{_e(extra)}'


def _run_caption(r: RunResult) -> str:
    if r.summary is None:
        return f"seed {r.seed}: " + ("failed" if r.failed else "not finished")
    s = r.summary
    parts = [f"seed {r.seed}"]
    if "modes" in s:
        parts.append(f"{s['modes']}/{s.get('num_modes', '?')} modes")
    if "hq_fraction" in s:
        parts.append(f"hq {s['hq_fraction']:.2f}")
    return ", ".join(parts)


def _runs_table(results: list[RunResult]) -> str:
    with_verdict = any(r.summary and r.summary.get("verdict") for r in results)
    heads = ["dataset", "method", "seed", "status", "modes", "hq_fraction", "reverse_kl"]
    heads += ["monitor verdict", "reason"] if with_verdict else []
    heads += ["error / message", "directory"]
    out = ['<table class="sortable" id="runs"><thead><tr>'] + [f'<th class="l">{h}</th>' for h in heads] + ["</tr></thead><tbody>"]
    for r in results:
        s = r.summary or {}
        status = s.get("status", "failed" if r.failed else "not finished")
        cells = [r.dataset, r.method, r.seed, status]
        vals = [s.get("modes", ""), f"{s['hq_fraction']:.3f}" if "hq_fraction" in s else "",
                f"{s['reverse_kl']:.3f}" if "reverse_kl" in s else ""]
        tds = [f'<td class="l" data-v="{_e(c)}">{_e(c)}</td>' for c in cells]
        tds += [f'<td data-v="{_e(v)}">{_e(v)}</td>' for v in vals]
        if with_verdict:
            tds += [f'<td class="l" data-v="{_e(s.get("verdict", ""))}">{_verdict(s)}</td>',
                    f'<td class="l" data-v="">{_e(s.get("reason", ""))}</td>']
        msg = r.error or s.get("message", "")
        tds += [f'<td class="l" data-v="">{_e(msg)}</td>', f'<td class="l" data-v="">{_e(r.path)}</td>']
        out.append(f'<tr class="{"failed" if r.failed else ""}">' + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render(results: list[RunResult], board: dict[str, Any], title: str) -> str:
    datasets: list[str] = []
    methods: dict[str, list[str]] = {}
    for r in results:
        if r.dataset not in datasets:
            datasets.append(r.dataset)
        if r.method not in methods.setdefault(r.dataset, []):
            methods[r.dataset].append(r.method)
    n_done = sum(r.summary is not None for r in results)
    n_failed = sum(r.failed for r in results)
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="muted">{len(results)} runs: {n_done} finished, {n_failed} failed, '
            f"{len(results) - n_done - n_failed} not finished. Mean ± standard error over seeds.</p>",
            "<h2>Leaderboard</h2>", _leaderboard_html(board)]
    for d in datasets:
        runs = [r for r in results if r.dataset == d]
        body.append(f'<h2 id="ds-{_e(d)}">{_e(d)}</h2>')
        scatter = _scatter(runs, methods[d])
        if scatter:
            body.append(f'<figure><img class="plot" src="{scatter}" alt="modes against hq fraction, every run on {_e(d)}">'
                        "<figcaption>every run: modes captured against the high-quality fraction</figcaption></figure>")
        for m in methods[d]:
            mruns = sorted((r for r in runs if r.method == m), key=lambda r: r.seed)
            body.append(f"<h3>{_e(m)}</h3><div class=\"grid\">")
            for r in mruns:
                uri = _thumbnail(r.path / "samples.png") if r.summary is not None else None
                verdict = _verdict(r.summary)
                caption = _e(_run_caption(r)) + (f"<br>monitor: {verdict}" if verdict else "")
                if uri:
                    body.append(f'<figure><img class="sample" width="{THUMB}" src="{uri}" alt="final samples, seed {r.seed}">'
                                f"<figcaption>{caption}</figcaption></figure>")
                else:
                    body.append(f'<figure><div style="width:{THUMB}px;padding:20px 0" class="muted">{caption}</div></figure>')
            plot = _training_plot(mruns)
            if plot:
                body.append(f'<figure><img class="plot" src="{plot}" alt="modes and hq over training">'
                            "<figcaption>modes and hq over training</figcaption></figure>")
            body.append("</div>")
    body += ["<h2>Runs</h2>", _runs_table(results)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
            + "\n".join(body) + f"\n<script>{_SORT_SCRIPT}</script>\n</body></html>\n")


def write_report(dirs: list[Path], out: Path, *, title: str | None = None) -> int:
    """Writes the HTML report of the runs under ``dirs`` to ``out``; returns the number of runs."""
    results, published, baseline, names = discover([Path(d) for d in dirs])
    board = leaderboard(results, published=published, baseline=baseline)
    page = render(results, board, title or f"modecollapse report: {names}")
    atomic_write_text(Path(out), page)
    return len(results)
