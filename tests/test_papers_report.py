"""benchmarks/papers_report.py: each technique against the plain GAN of its own group on the
same protocol, on a hand-made bench directory (two groups share one dataset)."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import papers_report  # noqa: E402

SUITE = {
    "name": "papers", "seeds": 3,
    "datasets": [{"name": "ring-x", "data": "ring", "args": {"modes": 8}, "per_run": "1 s"}],
    "methods": [
        {"name": "long/plain", "datasets": ["ring-x"]},
        {"name": "long/pack4", "datasets": ["ring-x"]},
        {"name": "short/plain", "datasets": ["ring-x"], "published": {"ring-x": {"modes": 6.3, "modes_se": 0.5, "source": "T1"}}},
        {"name": "short/pack4", "datasets": ["ring-x"]},
    ],
}


def _write(out, method, seed, modes, status="ok", dip=None):
    d = out / "ring-x" / method.replace("/", "_") / f"seed-{seed}"
    d.mkdir(parents=True)
    rec = {"step": 100, "modes": modes, "hq_fraction": 0.9, "reverse_kl": 0.1}
    # step 50 is in the first half (not counted by "fewest modes, 2nd half"), step 75 in the second
    early, late = {**rec, "step": 50, "modes": 0}, {**rec, "step": 75, "modes": modes if dip is None else dip}
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (early, late, rec)))
    (d / "summary.json").write_text(json.dumps({"status": status, "steps": 100, "wall_seconds": 2.0, **rec}))
    (d / "config.json").write_text(json.dumps({"steps": 200}))


def test_gain_is_taken_against_the_plain_gan_of_the_same_group(tmp_path, monkeypatch):
    out = tmp_path / "bench"
    for seed in range(3):
        _write(out, "long/plain", seed, 2)
        _write(out, "long/pack4", seed, 8)
        _write(out, "short/plain", seed, 8, dip=3)
        _write(out, "short/pack4", seed, 8 if seed < 2 else 7)
    _write(out, "short/pack4", 3, 1, status="interrupted")  # seed outside --seeds: not read
    monkeypatch.setattr(papers_report, "RESULTS", tmp_path / "results")
    papers_report.write_report(SUITE, out, seeds=3)
    md = (tmp_path / "results" / "papers.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| `")}
    assert "modes +6.0\\*" in rows["`long/pack4`"]      # 8 vs long/plain's 2, marked better
    assert "modes -0.3" in rows["`short/pack4`"]        # 7.67 vs short/plain's 8, not long/plain's 2
    assert "late min +4.7\\*" in rows["`short/pack4`"]  # 7.67 vs the plain GAN's dips to 3 (step 0's 0 not counted)
    assert "| 8.0 ± 0.0 | 3.0 ± 0.0 |" in rows["`short/plain`"]
    assert "modes 6.3 ± 0.5; T1" in rows["`short/plain`"]
    data = json.loads((tmp_path / "results" / "papers.json").read_text())
    assert [len(r["runs"]) for r in data["rows"]] == [3, 3, 3, 3]
