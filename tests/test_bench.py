"""modecollapse bench: suites, the local and Ray backends, kill-safe resume, failures.

The sweeps train tiny MLPs on a 4-mode ring for a few hundred steps; what is checked is the
bookkeeping (layout, skipping, resuming, aggregation), not whether the GANs learn."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modecollapse.bench.suite import builtin_suites, expand, load_suite, parse_suite
from modecollapse.bench.sweep import BenchOptions, resolved_config, run_suite
from modecollapse.cli import main
from modecollapse.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
TINY = ["--steps", "160", "--batch-size", "32", "--g-width", "16", "--d-width", "16", "--g-depth", "1", "--d-depth", "1",
        "--latent-dim", "2", "--eval-every", "40", "--eval-samples", "200", "--checkpoint-every", "40"]


def tiny_suite(path: Path, methods: str, seeds: int = 2) -> Path:
    text = f"""
name = "tiny"
seeds = {seeds}
baseline = "plain"
[defaults]
options = {json.dumps(TINY)}
[[datasets]]
name = "ring"
data = "ring"
args = {{ modes = 4, radius = 1.0 }}
{methods}
"""
    path.write_text(text)
    return path


TWO_METHODS = """
[[methods]]
name = "plain"
options = []
[[methods]]
name = "pack m=2"
options = ["--pack", "m=2"]
[methods.published]
ring = { modes = 3.9, source = "made up for the test" }
"""


def _results(board):
    """The leaderboard without the timing columns (which differ from run to run)."""
    return [{k: v for k, v in row.items() if k != "time"} for row in board["rows"]]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The tiny suite (2 methods x 2 seeds x 1 dataset) swept once by the local process pool."""
    tmp = tmp_path_factory.mktemp("local")
    suite = load_suite(str(tiny_suite(tmp / "tiny.toml", TWO_METHODS)))
    board = run_suite(suite, BenchOptions(out=tmp / "bench", workers=2, progress=False))
    return suite, tmp / "bench", board


# -- suites --------------------------------------------------------------------------------------
def test_builtin_suites_parse_and_expand():
    assert {"quick", "ring-grid", "stacked-mnist"} <= set(builtin_suites())
    quick = expand(load_suite("quick"))
    assert {(r.dataset, r.method) for r in quick} >= {("ring", "plain"), ("grid", "best")}
    assert all(r.config is not None for r in quick)
    rg = expand(load_suite("ring-grid"))
    assert len(rg) == 400  # (39 methods x 2 datasets + 2 on core-outliers) x 5 seeds
    assert rg[0].path == "ring/plain/seed-0" and rg[0].config.seed == 0
    smnist = expand(load_suite("stacked-mnist"))
    assert {r.config.data for r in smnist} == {"stacked-mnist"}


def test_ring_grid_suite_is_the_committed_leaderboard():
    """Every ring-grid run resolves to the config of the committed leaderboard's run
    (benchmarks/results/leaderboard*.json), technique lists compared as sets: the command
    line orders techniques by its registry, and execution follows each technique's order."""
    committed = {}
    for name in ("leaderboard.json", "leaderboard-core-outliers.json"):
        payload = json.loads((REPO / "benchmarks" / "results" / name).read_text())
        data = payload["runs"][0]["data"]
        committed.update({(data, e): c for e, c in payload["configs"].items()})
    from modecollapse import TrainConfig

    def canon(cfg):
        d = resolved_config(cfg)
        d["techniques"] = sorted(d["techniques"], key=lambda t: t["name"])
        return d

    checked = 0
    for run in expand(load_suite("ring-grid"), seeds=1):
        key = ("ring" if run.dataset == "grid" else run.dataset, run.method)
        old = TrainConfig.from_dict({**committed[key], "data": run.config.data})
        assert canon(run.config) == canon(old), (run.dataset, run.method)
        checked += 1
    assert checked == 80


@pytest.mark.parametrize("text, message", [
    ('name = "x"\n[[datasets]]\ndata = "ring"\n[[methods]]\nname = "a"\noptions = ["--out", "d"]', "bench sets itself"),
    ('name = "x"\n[[datasets]]\ndata = "ring"\n[[methods]]\nname = "a"\ndatasets = ["grid"]', "does not have"),
    ('name = "x"\nsteps = 3\n[[datasets]]\ndata = "ring"\n[[methods]]\nname = "a"', "unknown key 'steps'"),
    ('name = "x"\n[[datasets]]\ndata = "ring"\n[[methods]]\nname = "a b"\n[[methods]]\nname = "a_b"', "same directory name"),
])
def test_bad_suites_are_refused_in_one_sentence(tmp_path, text, message):
    import tomllib

    with pytest.raises(ConfigError, match=message):
        parse_suite(tomllib.loads(text))


def test_bench_cli_bad_input_exits_2(tmp_path, capsys, monkeypatch):
    assert main(["bench", "--suite", "nonexistent", "--out", str(tmp_path / "b")]) == 2
    assert "neither a built-in suite" in capsys.readouterr().err
    assert main(["bench", "--suite", "quick", "--only", "nope", "--out", str(tmp_path / "b")]) == 2
    assert "has no method 'nope'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["bench", "--suite", "quick", "--backend", "ray", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'modecollapse[ray]'" in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_list_prints_each_runs_train_command(capsys):
    assert main(["bench", "--suite", "quick", "--list", "--out", "runs/q", "--only", "best"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("modecollapse train --eval-every 250 --preset best --steps 5000 --data ring --seed 0 "
                        "--out runs/q/ring/best/seed-0")


# -- sweeps --------------------------------------------------------------------------------------
def test_local_sweep_layout_and_leaderboard(local_sweep):
    suite, out, board = local_sweep
    for method in ("plain", "pack_m_2"):
        for seed in (0, 1):
            run = out / "ring" / method / f"seed-{seed}"
            assert json.loads((run / "summary.json").read_text())["status"] == "ok"
            assert json.loads((run / "config.json").read_text())["seed"] == seed
    rows = {(r["method"], r["kind"]): r for r in board["rows"]}
    plain = rows[("plain", "measured")]
    assert plain["seeds"] == 2 and plain["failed"] == 0
    sums = [json.loads((out / "ring" / "plain" / f"seed-{s}" / "summary.json").read_text()) for s in (0, 1)]
    mean = (sums[0]["reverse_kl"] + sums[1]["reverse_kl"]) / 2
    assert plain["metrics"]["reverse_kl"]["mean"] == pytest.approx(mean)
    assert plain["metrics"]["reverse_kl"]["se"] == pytest.approx(abs(sums[0]["reverse_kl"] - sums[1]["reverse_kl"]) / 2)
    assert rows[("pack m=2", "published")]["metrics"]["modes"] == {"mean": 3.9, "se": None}
    assert [r["method"] for r in board["rows"]] == ["plain", "pack m=2", "pack m=2"]  # anchor beside its row
    csv_lines = (out / "leaderboard.csv").read_text().splitlines()
    assert csv_lines[0].startswith("dataset,method,kind,seeds,failed,not_ok,modes_mean,modes_se,")
    assert len(csv_lines) == 4 and ",published," in csv_lines[3]
    assert (out / "report.html").is_file()


def test_ray_backend_gives_the_local_leaderboard(local_sweep, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'modecollapse[ray]'); make test installs it")
    suite, local_out, local_board = local_sweep
    board = run_suite(suite, BenchOptions(out=tmp_path / "ray", backend="ray", workers=2, progress=False), report=False)
    assert _results(board) == _results(local_board)
    a = json.loads((local_out / "ring" / "pack_m_2" / "seed-1" / "summary.json").read_text())
    b = json.loads((tmp_path / "ray" / "ring" / "pack_m_2" / "seed-1" / "summary.json").read_text())
    assert {k: v for k, v in a.items() if k != "wall_seconds"} == {k: v for k, v in b.items() if k != "wall_seconds"}
    assert (tmp_path / "ray" / "ring" / "plain" / "seed-0" / "samples.png").is_file()


def _fingerprint(run_dir: Path) -> dict[str, tuple[int, str]]:
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in run_dir.iterdir() if p.is_file()}


def test_killed_sweep_resumes_without_repeating_finished_runs(local_sweep, tmp_path):
    suite, _, local_board = local_sweep
    suite_file = Path(suite.source)
    out = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "modecollapse", "bench", "--suite", str(suite_file), "--out", str(out),
                             "--workers", "1", "--no-report", "--quiet"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    def partial():
        return [d for d in out.glob("*/*/seed-*") if (d / "checkpoint.pt").is_file() and not (d / "summary.json").is_file()]

    deadline = time.time() + 120
    while time.time() < deadline and not (list(out.glob("*/*/*/summary.json")) and partial()):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = [p.parent for p in out.glob("*/*/*/summary.json")]
    assert 1 <= len(finished) < 4, "the sweep should be killed half-way"
    before = {d: _fingerprint(d) for d in finished}
    # the first evaluation of an interrupted run, with the wall time it was made at
    first_eval = {d: (d / "metrics.jsonl").read_text().splitlines()[0] for d in partial() if (d / "metrics.jsonl").is_file()}

    board = run_suite(suite, BenchOptions(out=out, workers=1, progress=False), report=False)
    for d, files in before.items():
        assert _fingerprint(d) == files, f"{d} was run again"
    for d, line in first_eval.items():  # resumed from its checkpoint, not restarted: the early evaluation is kept
        assert (d / "metrics.jsonl").read_text().splitlines()[0] == line
    assert len(list(out.glob("*/*/*/summary.json"))) == 4
    assert _results(board) == _results(local_board)


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path):
    methods = """
[[methods]]
name = "plain"
options = []
[[methods]]
name = "no such device"
options = ["--device", "cuda:99"]
"""
    suite = load_suite(str(tiny_suite(tmp_path / "fail.toml", methods, seeds=1)))
    out = tmp_path / "bench"
    code = main(["bench", "--suite", suite.source, "--out", str(out), "--workers", "1", "--quiet", "--no-report", "--json"])
    assert code == 1
    assert json.loads((out / "ring" / "plain" / "seed-0" / "summary.json").read_text())["status"] == "ok"
    device = json.loads((out / "ring" / "no_such_device" / "seed-0" / "error.json").read_text())
    assert "cuda" in device["error"] and not (out / "ring" / "no_such_device" / "seed-0" / "summary.json").exists()
    rows = {r["method"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    assert rows["plain"]["seeds"] == 1 and rows["plain"]["failed"] == 0
    assert rows["no such device"]["failed"] == 1 and "cuda" in rows["no such device"]["errors"][0]


def test_a_suite_train_would_refuse_trains_nothing(tmp_path, capsys):
    methods = """
[[methods]]
name = "plain"
options = []
[[methods]]
name = "bad option"
options = ["--gp", "kind=nonsense"]
"""
    suite = load_suite(str(tiny_suite(tmp_path / "fail.toml", methods, seeds=1)))
    out = tmp_path / "bench"
    code = main(["bench", "--suite", suite.source, "--out", str(out), "--workers", "1", "--quiet", "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "ring/bad_option/seed-0" in err and "kind='nonsense' is not allowed" in err and "nothing was trained" in err
    assert not out.exists()


def test_a_yaml_suite_means_the_same_as_toml(tmp_path):
    pytest.importorskip("yaml", reason="PyYAML is not installed; YAML suites need it (TOML needs nothing)")
    (tmp_path / "s.yaml").write_text("name: y\nseeds: 1\ndatasets:\n  - {name: ring, data: ring, args: {modes: 4}}\n"
                                     "methods:\n  - {name: pack, options: ['--pack', 'm=2', '--steps', '100']}\n")
    (tmp_path / "s.toml").write_text('name = "y"\nseeds = 1\n[[datasets]]\nname = "ring"\ndata = "ring"\nargs = { modes = 4 }\n'
                                     '[[methods]]\nname = "pack"\noptions = ["--pack", "m=2", "--steps", "100"]\n')
    a, b = expand(load_suite(str(tmp_path / "s.yaml"))), expand(load_suite(str(tmp_path / "s.toml")))
    assert [r.config for r in a] == [r.config for r in b]
    assert a[0].config.data_args == {"modes": 4} and a[0].config.steps == 100


def test_a_run_written_before_the_evaluators_field_still_counts_as_done(local_sweep):
    """config.json files from before a field was added (here: the always-on "modes" evaluator,
    spelled out since the evaluator refactor) resolve to today's config, so bench skips the
    run instead of training it again over its results (which it once did)."""
    from modecollapse.bench.sweep import run_state

    suite, out, _ = local_sweep
    spec = [s for s in expand(suite) if s.method == "plain" and s.seed == 0][0]
    run_dir = out / spec.path
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["evaluators"] == [{"name": "modes", "params": {}}]
    old = {k: v for k, v in saved.items() if k != "evaluators"}
    (run_dir / "config.json").write_text(json.dumps(old))
    try:
        assert run_state(run_dir, resolved_config(spec.config)) == "done"
        other = dict(old, lr_g=old["lr_g"] * 2)  # a real difference still counts as another run
        (run_dir / "config.json").write_text(json.dumps(other))
        assert run_state(run_dir, resolved_config(spec.config)) != "done"
    finally:
        (run_dir / "config.json").write_text(json.dumps(saved, indent=2))
