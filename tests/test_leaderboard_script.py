"""The technique leaderboard script (benchmarks/leaderboard.py): its tables and marks on
hand-made run summaries, and a two-run smoke test of the real script with a few steps."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import leaderboard as lb  # noqa: E402


def _run(entry, data, modes, hq, rkl):
    return {"entry": entry, "data": data, "modes": modes, "hq_fraction": hq, "reverse_kl": rkl,
            "wall_seconds": 1.0, "status": "ok", "steps_config": 5000}


def test_marks_against_plain_and_the_did_not_help_list():
    runs = [_run("plain", "ring", m, 0.9, 2.0 - 0.1 * m) for m in (1, 1, 2)]
    runs += [_run("pack", "ring", 8, 0.2, 0.1 + 0.01 * i) for i in range(3)]       # more modes, lower hq
    runs += [_run("replay", "ring", m, 0.9, 2.0 - 0.1 * m) for m in (1, 2, 1)]     # the same as plain
    table = lb.aggregate(runs, ["ring"])
    assert table["ring"]["pack"]["vs_plain"] == {"modes": 1, "hq_fraction": -1, "reverse_kl": 1}
    assert table["ring"]["replay"]["vs_plain"] == {"modes": 0, "hq_fraction": 0, "reverse_kl": 0}
    text = lb.markdown(table, "cmd", ["plain", "pack", "replay"])
    assert "| pack | `--pack m=4` | 5000 | 8.0 ± 0.0 |" in text
    assert "better modes, rkl; worse hq" in text
    assert "Did not restore modes on ring (neither modes nor reverse_kl better than plain): replay." in text
    combined = lb.combined_table(table, ["plain", "pack", "replay"]).splitlines()
    assert combined[0].startswith("| technique | option | ring modes | ring hq | ring rkl |")
    assert combined[3].startswith("| pack | `--pack m=4` | 8.0 ± 0.0\\* | 0.200 ± 0.000† |")


def test_script_runs_two_entries_and_reuses_them(tmp_path):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "leaderboard.py"), "--seeds", "1", "--data", "ring",
           "--only", "plain,pack", "--steps", "20", "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "res")]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    payload = json.loads((tmp_path / "res" / "leaderboard-ring.json").read_text())
    assert {r["entry"] for r in payload["runs"]} == {"plain", "pack"}
    assert all(r["steps"] == 20 for r in payload["runs"])
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "2 runs of which 2 were reused" in again.stdout


def test_unknown_entry_is_refused_in_one_line():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "leaderboard.py"), "--only", "nonsense"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown entry 'nonsense'" in proc.stderr


@pytest.mark.parametrize("entry", sorted(lb.ENTRIES))
def test_every_entry_builds_a_valid_config(entry):
    for data in ("ring", "grid"):
        cfg = lb.config_for(entry, data, seed=3)
        assert cfg.seed == 3 and cfg.data == data
