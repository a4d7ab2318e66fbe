"""benchmarks/leaderboard.py, the Markdown layer over ``modecollapse bench``: its tables and
marks on a hand-made leaderboard, and the real script on a two-run suite (run, then reused)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import leaderboard as lb  # noqa: E402
from modecollapse.bench.leaderboard import RunResult, leaderboard  # noqa: E402
from modecollapse.bench.suite import load_suite  # noqa: E402


def _run(method, modes, hq, rkl, seed):
    summary = {"status": "ok", "modes": modes, "num_modes": 8, "hq_fraction": hq, "reverse_kl": rkl, "steps": 5000,
               "wall_seconds": 1.0, "seed": seed}
    return RunResult("ring", method, seed, Path("."), summary)


def test_marks_against_plain_and_the_did_not_help_list():
    runs = [_run("plain", m, 0.9, 2.0 - 0.1 * m, i) for i, m in enumerate((1, 1, 2))]
    runs += [_run("pack", 8, 0.2, 0.1 + 0.01 * i, i) for i in range(3)]          # more modes, lower hq
    runs += [_run("replay", m, 0.9, 2.0 - 0.1 * m, i) for i, m in enumerate((1, 2, 1))]  # the same as plain
    suite = load_suite("ring-grid")
    published = [{"dataset": "ring", "method": "pack", "numbers": {"modes": 7.8, "hq_fraction": 0.959}, "source": "PacGAN4"}]
    board = leaderboard(runs, published=published, baseline="plain")
    rows = {(r["method"], r["kind"]): r for r in board["rows"]}
    assert rows[("pack", "measured")]["vs_baseline"] == {"modes": 1, "hq_fraction": -1, "reverse_kl": 1}
    assert rows[("replay", "measured")]["vs_baseline"] == {"modes": 0, "hq_fraction": 0, "reverse_kl": 0}
    text = lb.markdown(board, suite, "cmd")
    assert "| pack | `--pack m=4` | 5000 | 3 | 8.0 ± 0.0\\* | 0.200 ± 0.000† |" in text
    assert "better modes, rkl; worse hq" in text
    assert "| pack (PacGAN4) | published | | | 7.8 | 0.959 | - | | |" in text
    assert "Did not restore modes on ring (neither modes nor reverse_kl better than plain): replay." in text


def test_script_runs_a_suite_through_bench_and_reuses_its_runs(tmp_path):
    suite = tmp_path / "two.toml"
    suite.write_text("""
name = "two"
baseline = "plain"
[defaults]
options = ["--steps", "20", "--batch-size", "32", "--g-width", "16", "--d-width", "16", "--eval-every", "10",
           "--eval-samples", "200"]
[[datasets]]
name = "ring"
data = "ring"
[[methods]]
name = "plain"
options = []
[[methods]]
name = "pack"
options = ["--pack", "m=4"]
""")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "leaderboard.py"), "--suite", str(suite), "--seeds", "1",
           "--workers", "1", "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res"), "--no-report"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    payload = json.loads((tmp_path / "res" / "leaderboard-two.json").read_text())
    assert {r["entry"] for r in payload["runs"]} == {"plain", "pack"} and all(r["steps"] == 20 for r in payload["runs"])
    assert "| pack | `--pack m=4` | 20 | 1 |" in (tmp_path / "res" / "leaderboard-two.md").read_text()
    summary = tmp_path / "runs" / "ring" / "pack" / "seed-0" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and summary.stat().st_mtime_ns == stamp  # reused, not trained again


def test_unknown_method_is_refused_in_one_line():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "leaderboard.py"), "--only", "nonsense"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "has no method 'nonsense'" in proc.stderr and proc.stderr.count("\n") == 1


def test_technique_cost_times_the_suite_methods_against_plain():
    """benchmarks/technique_cost.py builds its runs from the ring-grid suite (it imported a
    table leaderboard.py no longer has); a ratio of plain to itself is 1 by construction."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "technique_cost.py"), "--rounds", "1", "--steps", "1",
                          "--only", "gp r1", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {r["entry"]: r for r in json.loads(out.stdout)["rows"]}
    assert set(rows) == {"plain", "gp r1"}
    assert rows["plain"]["ratio"] == 1.0 and rows["gp r1"]["option"] == "--preset vanilla --gp kind=r1,weight=1"
    assert rows["gp r1"]["ms_per_step"] > 0
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "technique_cost.py"), "--only", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "no method 'nope' in the ring-grid suite" in bad.stderr and "Traceback" not in bad.stderr
