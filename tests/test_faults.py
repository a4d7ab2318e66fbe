"""Fault injection on run directories (issue 21): each reproduction of the issue with the
outcome promised for it, kill -9 of ``train`` at random moments followed by ``--resume``,
and a seeded fuzz of corrupted run directories fed to ``train --resume``, ``bench`` and
``report``.

The commands run in-process through ``modecollapse.cli.main`` (no interpreter start per
call); a few run in subprocesses, where a traceback could only show on stderr.
``MODECOLLAPSE_FAULT_TRIES`` (default 2) sets the kill -9 tries and ``MODECOLLAPSE_FUZZ``
(default 200) the corrupted copies.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from modecollapse.cli import main
from modecollapse.fileio import LOCK_NAME, DirLock

REPO = Path(__file__).resolve().parents[1]
# a 200-step ring run with a checkpoint every 10 steps: about a second on one thread
QUICK = ["--data", "ring", "--data-arg", "modes=4", "--steps", "200", "--batch-size", "32", "--g-width", "16",
         "--d-width", "16", "--g-depth", "1", "--d-depth", "1", "--eval-every", "50", "--eval-samples", "200",
         "--checkpoint-every", "10", "--seed", "3", "--quiet", "--threads", "1"]
SUITE = f"""
name = "faults"
seeds = 2
[defaults]
options = {json.dumps(QUICK[4:-5])}
[[datasets]]
name = "ring"
data = "ring"
args = {{ modes = 4 }}
[[methods]]
name = "plain"
options = []
"""


def cli(*argv: str) -> tuple[int, str]:
    """``modecollapse ARGV`` in this process: (exit code, stderr). An exception escaping
    ``main`` fails the test (it would be a traceback on the command line)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, err.getvalue()


def steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def result_of(run: Path) -> dict:
    """What a finished run holds, without its timings: summary, records, samples, final G."""
    summary = json.loads((run / "summary.json").read_text())
    summary.pop("wall_seconds")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for r in records:
        r.pop("wall_seconds")
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    return {"summary": summary, "records": records, "samples": np.load(run / "samples.npy").tolist(),
            "G": {k: v.tolist() for k, v in state["G"].items()}, "step": state["step"]}


SPAN: dict[str, float] = {}  # seconds the finished run took in this process, from its folder to its summary


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 200-step ring run (R in the issue)."""
    run = tmp_path_factory.mktemp("faults") / "R"
    started = time.perf_counter()
    code, err = cli("train", *QUICK, "--out", run)
    SPAN["run"] = time.perf_counter() - started
    assert code == 0, err
    return run


@pytest.fixture
def R(finished, tmp_path) -> Path:
    shutil.copytree(finished, tmp_path / "R")
    return tmp_path / "R"


def _sweep(tmp: Path, seeds: int) -> tuple[Path, Path]:
    (tmp / "suite.toml").write_text(SUITE)
    code, err = cli("bench", "--suite", tmp / "suite.toml", "--out", tmp / "bench", "--seeds", seeds, "--workers", "1",
                    "--quiet")
    assert code == 0, err
    return tmp / "suite.toml", tmp / "bench"


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> tuple[Path, Path]:
    """(suite file, bench directory) of a finished two-seed sweep of the quick run."""
    return _sweep(tmp_path_factory.mktemp("faults-bench"), 2)


@pytest.fixture(scope="module")
def one_seed_bench(bench_dir, tmp_path_factory) -> tuple[Path, Path]:
    """The same sweep with its first seed only (seed-1 removed, bench.json and leaderboard rewritten)."""
    suite, bench = bench_dir
    out = tmp_path_factory.mktemp("faults-bench1") / "bench"
    shutil.copytree(bench, out)
    shutil.rmtree(out / "ring" / "plain" / "seed-1")
    code, err = cli("bench", "--suite", suite, "--out", out, "--seeds", "1", "--workers", "1", "--quiet")
    assert code == 0, err
    return suite, out


@pytest.fixture
def B(bench_dir, tmp_path) -> tuple[Path, Path]:
    suite, bench = bench_dir
    shutil.copytree(bench, tmp_path / "bench")
    return suite, tmp_path / "bench"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def one_sentence(err: str) -> bool:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("modecollapse: note:")]
    return len(lines) == 1 and "Traceback" not in err


# -- 1. two writers ------------------------------------------------------------------------------
def test_two_resumes_at_once_one_refused_naming_the_holder(R):
    """Issue 21 #1: a second ``--resume`` while one runs exits 2 naming the first's PID; the
    run's metrics hold each step once."""
    a = subprocess.Popen([sys.executable, "-m", "modecollapse", "train", "--resume", str(R), "--steps", "400",
                          "--quiet", "--threads", "1"], env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while a.poll() is None and f'"pid": {a.pid}' not in _read(R / LOCK_NAME):
        time.sleep(0.005)  # until the first holds the lock (its PID is in the lock file)
    code, err = cli("train", "--resume", R, "--steps", "400")
    a_err = a.communicate(timeout=300)[1]
    assert a.returncode == 0, a_err
    assert code == 2 and one_sentence(err) and f"process {a.pid} is writing" in err, err
    assert steps(R) == list(range(50, 401, 50))
    assert not (R / LOCK_NAME).exists()  # released on exit


def test_a_held_lock_refuses_every_writer_and_a_dead_holders_lock_is_taken_over(R, B):
    with DirLock(R):
        code, err = cli("train", "--resume", R, "--steps", "250")
        assert code == 2 and one_sentence(err) and f"process {os.getpid()} is writing" in err
        code, err = cli("train", *QUICK, "--out", R, "--overwrite")
        assert code == 2 and f"process {os.getpid()}" in err
    assert steps(R)[-1] == 200
    # a lock file left by a killed writer (its PID gone): the next writer takes it over
    dead = subprocess.Popen(["true"])
    dead.wait()
    (R / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    code, err = cli("train", "--resume", R, "--steps", "250")
    assert code == 0, err
    assert f"took over the lock of process {dead.pid}" in err and steps(R)[-1] == 250
    # bench's workers: a run held by another writer fails, the rest of the sweep goes on
    suite, bench = B
    run2 = bench / "ring" / "plain" / "seed-2"
    run2.mkdir()
    with DirLock(run2):
        code, err = cli("bench", "--suite", suite, "--out", bench, "--seeds", "3", "--workers", "1", "--quiet", "--no-report")
    assert code == 1
    board = json.loads((bench / "leaderboard.json").read_text())["rows"][0]
    assert board["seeds"] == 2 and board["failed"] == 1 and "is in use" in board["errors"][0]


# -- 2. killed after the last step, before summary.json -------------------------------------------
def test_a_run_killed_after_its_last_checkpoint_completes_on_resume(R, finished):
    for name in ("summary.json", "samples.npy", "samples.png", "modes.png"):
        (R / name).unlink()
    before = (R / "checkpoint.pt").read_bytes()
    code, err = cli("train", "--resume", R)
    assert code == 0, err
    assert (R / "checkpoint.pt").read_bytes() == before  # nothing trained
    assert result_of(R) == result_of(finished)
    assert (R / "samples.png").is_file() and (R / "modes.png").is_file()
    code, err = cli("train", "--resume", R)  # complete now: nothing to do, as before
    assert code == 2 and "already has 200 steps" in err


def test_a_run_killed_before_its_first_checkpoint_starts_again_on_resume(R, finished):
    for path in R.iterdir():
        if path.name != "config.json":
            path.unlink()
    code, err = cli("train", "--resume", R)
    assert code == 0 and "has no checkpoint yet" in err, err
    assert result_of(R) == result_of(finished)


# -- 3. a torn last line of metrics.jsonl -------------------------------------------------------
def test_a_torn_last_metrics_line_is_dropped_and_rewritten(R, finished, tmp_path):
    with open(R / "metrics.jsonl", "a") as f:
        f.write('{"step": 300, "mo')
    code, err = cli("train", "--resume", R, "--steps", "250")
    assert code == 0, err
    assert "dropped a torn last line" in err and len(err.splitlines()) == 1
    shutil.copytree(finished, tmp_path / "clean")
    assert cli("train", "--resume", tmp_path / "clean", "--steps", "250")[0] == 0
    assert result_of(R) == result_of(tmp_path / "clean")
    assert (R / "metrics.jsonl").read_text().endswith("}\n") and steps(R) == [50, 100, 150, 200, 250]


def test_a_bad_metrics_line_inside_the_file_is_one_sentence(R):
    lines = (R / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1][:20]
    (R / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    code, err = cli("train", "--resume", R, "--steps", "250")
    assert code == 2 and one_sentence(err) and "metrics.jsonl line 2 is not valid JSON" in err
    (R / "metrics.jsonl").write_text('{"step": "fifty"}\n')
    code, err = cli("train", "--resume", R, "--steps", "250")
    assert code == 2 and one_sentence(err) and "'step' must be an integer" in err


# -- 4. one bad file never stops a sweep --------------------------------------------------------
def test_a_bad_summary_is_a_failed_run_and_the_sweep_goes_on(B, tmp_path):
    suite, bench = B
    bad = bench / "ring" / "plain" / "seed-0"
    (bad / "summary.json").write_text("[1,2]")
    before = {p.name: p.read_bytes() for p in bad.iterdir()}
    code, err = cli("bench", "--suite", suite, "--out", bench, "--seeds", "3", "--workers", "1", "--quiet")
    assert code == 2 and one_sentence(err) and "seed-0" in err and "--retrain-failed" in err
    assert {p.name: p.read_bytes() for p in bad.iterdir()} == before  # left alone
    assert (bench / "ring" / "plain" / "seed-2" / "summary.json").is_file()  # the sweep went on
    row = json.loads((bench / "leaderboard.json").read_text())["rows"][0]
    assert row["seeds"] == 2 and row["failed"] == 1
    assert row["errors"][0].startswith("failed: ") and "summary.json must hold an object" in row["errors"][0]
    page = (bench / "report.html").read_text()
    assert "summary.json must hold an object" in page and '<tr class="failed">' in page
    code, err = cli("bench", "--suite", suite, "--out", bench, "--seeds", "3", "--workers", "1", "--quiet",
                    "--retrain-failed")
    assert code == 0, err
    assert json.loads((bad / "summary.json").read_text())["status"] == "ok"


@pytest.mark.parametrize("damage", ["modes", "truncate"])
def test_report_shows_a_damaged_run_as_failed(B, tmp_path, damage):
    _, bench = B
    run = bench / "ring" / "plain" / "seed-1"
    if damage == "modes":
        s = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**s, "modes": "many"}))
    else:  # cut in the middle of a line: a torn last line, dropped
        text = (run / "metrics.jsonl").read_text()
        (run / "metrics.jsonl").write_text(text[: len(text) // 2 + 7])  # (the half is a line boundary)
    code, err = cli("report", bench, "--out", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text()
    if damage == "modes":
        assert "&#x27;modes&#x27; must be an integer" in page and "1 failed" in page
    else:
        assert "0 failed" in page


# -- 5. wrong types in config.json ----------------------------------------------------------------
BAD_VALUES = [("lr_g", [1, 2], "lr_g must be a number"), ("steps", "200", "steps must be an integer"),
              ("seed", 1.5, "seed must be an integer"), ("data_args", [4], "data_args must be an object"),
              ("device", None, "device must be a string"), ("beta1", True, "beta1 must be a number"),
              ("techniques", [{"name": "gp", "params": {"weight": "x"}}], "weight must be a number"),
              ("evaluators", "modes", "evaluators must be a list"),
              ("data_args", {"modes": "many"}, "modes must be an integer")]


@pytest.mark.parametrize("key,value,message", BAD_VALUES)
def test_a_wrong_type_in_config_json_is_one_sentence(R, key, value, message):
    config = json.loads((R / "config.json").read_text())
    (R / "config.json").write_text(json.dumps({**config, key: value}))
    for argv in (["--resume", R, "--steps", "250"], ["--config", R / "config.json", "--out", R.parent / "new", "--quiet"]):
        code, err = cli("train", *argv)
        assert code == 2 and one_sentence(err) and message in err, err
    assert not (R.parent / "new").exists()


# -- 7. a suite train would refuse ----------------------------------------------------------------
@pytest.mark.parametrize("bad", ['options = ["--no-such-option"]', 'options = ["--no-such-technique", "m=2"]',
                                 'options = ["--gp", "kind=nonsense"]', "data"])
def test_an_invalid_suite_fails_before_training_anything(tmp_path, bad):
    text = SUITE + ('[[methods]]\nname = "bad"\n' + bad + "\n" if bad != "data" else "")
    if bad == "data":
        text += '[[datasets]]\nname = "nope"\ndata = "no-such-dataset"\n'
    (tmp_path / "s.toml").write_text(text)
    code, err = cli("bench", "--suite", tmp_path / "s.toml", "--out", tmp_path / "bench", "--workers", "1", "--quiet")
    assert code == 2 and one_sentence(err) and "nothing was trained" in err, err
    assert not (tmp_path / "bench").exists()


# -- 8. report on garbage, and every --out ---------------------------------------------------------
def test_report_on_garbage_and_bad_out_paths_are_one_sentence(B, tmp_path):
    _, bench = B
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "bench.json").write_text('{"suite": "x"}')
    (tmp_path / "file").write_text("x")
    cases = [
        (["report", garbage, "--out", tmp_path / "r.html"], "has no 'runs'"),
        (["report", tmp_path / "file", "--out", tmp_path / "r.html"], "is not a directory"),
        (["report", bench, "--out", tmp_path], "is a folder"),
        (["report", bench, "--out", "/proc/nope/r.html"], "cannot create files in /proc"),
        (["report", bench, "--out", tmp_path / "file" / "r.html"], "which is a file"),
        (["diagnose", "fid-blind-spot", "--out", "/proc/nope"], "cannot create files in /proc"),
        (["diagnose", "fid-blind-spot", "--out", tmp_path / "file" / "x"], "which is a file"),
        (["scenario", "vae", "--out", tmp_path / "file"], "is a file"),
        (["train", *QUICK, "--out", tmp_path / "file" / "run"], "which is a file"),
        (["train", *QUICK, "--out", "/proc/nope"], "cannot create files in /proc"),
        (["bench", "--suite", "quick", "--out", tmp_path / "file"], "is a file"),
    ]
    for argv, message in cases:
        code, err = cli(*argv)
        assert code == 2 and one_sentence(err) and message in err, (argv, err)
    assert not (tmp_path / "r.html").exists()


def test_experiment_folders_get_the_users_umask(tmp_path):
    """diagnose / scenario write through ``run_experiment``, whose staging folder (mkdtemp)
    was 0700; a one-line experiment in a registry of its own shows the mode it ends with."""
    from modecollapse.experiments import Experiment, run_experiment
    from modecollapse.registry import Registry

    registry = Registry("diagnostic")

    @registry.register("tiny")
    class Tiny(Experiment):
        name, summary = "tiny", "writes one number"

        def run(self, p, ctx):
            return {"x": 1}

    old = os.umask(0o022)
    try:
        run_experiment(registry, "tiny", tmp_path / "d")
    finally:
        os.umask(old)
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
    assert json.loads((tmp_path / "d" / "result.json").read_text())["results"] == {"x": 1}


def test_no_traceback_reaches_the_command_line(R):
    """A damaged run resumed in a real process: one line on stderr, exit 2, no traceback
    (the in-process tests above catch what ``main`` lets escape; this is what a shell sees)."""
    config = json.loads((R / "config.json").read_text())
    (R / "config.json").write_text(json.dumps({**config, "lr_g": [1, 2]}))
    proc = subprocess.run([sys.executable, "-m", "modecollapse", "train", "--resume", str(R), "--steps", "250"],
                          env={**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and one_sentence(proc.stderr), proc.stderr
    assert "lr_g must be a number" in proc.stderr


# -- kill -9 at a random moment, then --resume -------------------------------------------------------
def test_kill_9_at_a_random_moment_then_resume_gives_the_unbroken_run(finished, tmp_path):
    tries = int(os.environ.get("MODECOLLAPSE_FAULT_TRIES", "2"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "modecollapse", "train", *QUICK]
    # how long a run lives once it has made its folder (what a kill can damage): first the
    # in-process run's time, then the shortest time a killed try had already finished in
    span = SPAN["run"]
    expected = result_of(finished)
    rng = random.Random(21)
    outcomes = []
    for i in range(tries):
        run = tmp_path / f"k{i}"
        proc = subprocess.Popen([*command, "--out", str(run)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while not run.exists() and proc.poll() is None:
            time.sleep(0.002)
        t0, at = time.perf_counter(), rng.uniform(0, span)
        while time.perf_counter() - t0 < at and not (run / "summary.json").exists():
            time.sleep(0.002)
        if (run / "summary.json").exists():
            span = min(span, time.perf_counter() - t0)
        proc.kill()
        proc.wait()
        state = ("summary" if (run / "summary.json").exists() else "checkpoint" if (run / "checkpoint.pt").exists()
                 else "config" if (run / "config.json").exists() else "empty")
        if (run / "config.json").exists():
            code, err = cli("train", "--resume", run)
        else:  # killed before anything was written: the same command again
            code, err = cli("train", *QUICK, "--out", run)
        assert code == 0 or (code == 2 and "already has 200 steps" in err and state == "summary"), (i, state, err)
        assert result_of(run) == expected, (i, state)
        assert not [p for p in run.rglob(".*")], (i, list(run.rglob(".*")))  # no temporary file, no lock left
        outcomes.append(state)
    print(f"kill -9 tries: {tries}, state found after the kill: {outcomes}")


# -- fuzz: corrupted copies of a real bench and run directory -----------------------------------------
def _wrong_value(rng: random.Random):
    return rng.choice([None, True, "x", [1, 2], {"a": 1}, -1, 1e308, 3.5, ""])


def corrupt(bench: Path, rng: random.Random) -> str:
    """Damages one file of the bench directory at random; returns what was done."""
    files = sorted(p for p in bench.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".pt", ".npy", ".png", ".csv", ".html"))
    path = rng.choice(files)
    data = path.read_bytes()
    how = rng.choice(["truncate", "flip", "types", "delete"])
    if how == "types" and path.suffix not in (".json", ".jsonl"):
        how = "flip"
    if how == "truncate":
        path.write_bytes(data[: rng.randrange(max(len(data), 1))])
    elif how == "flip":
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if buf:
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(buf))
    elif how == "delete":
        path.unlink()
    else:
        lines = data.decode().splitlines() if path.suffix == ".jsonl" else [data.decode()]
        k = rng.randrange(len(lines))
        obj = json.loads(lines[k])
        if isinstance(obj, dict) and obj:
            key = rng.choice(sorted(obj))
            obj[key] = _wrong_value(rng)
        else:
            obj = _wrong_value(rng)
        lines[k] = json.dumps(obj)
        path.write_text("\n".join(lines) + "\n")
    return f"{how} {path.relative_to(bench)}"


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _whole(path: Path) -> bool:
    """Whether a file a command wrote is complete: it reads as what it is."""
    from modecollapse.fileio import read_json
    from modecollapse.lab import rundir

    if path.name == "metrics.jsonl":
        rundir.read_metrics(path.parent, notice=False)
        return path.read_bytes().endswith(b"\n") or path.stat().st_size == 0
    if path.suffix == ".json":
        read_json(path)
    elif path.suffix == ".pt":
        torch.load(path, weights_only=True)
    elif path.suffix == ".npy":
        np.load(path)
    elif path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            im.load()
    elif path.suffix == ".html":
        return path.read_text().rstrip().endswith("</html>")
    elif path.suffix == ".csv":
        path.read_text()
    return True


def test_fuzz_corrupted_directories_never_give_a_traceback(one_seed_bench, tmp_path):
    suite, clean = one_seed_bench
    n = int(os.environ.get("MODECOLLAPSE_FUZZ", "200"))
    rng = random.Random(2021)
    codes: dict[str, list[int]] = {"train": [], "bench": [], "report": []}
    for i in range(n):
        base = tmp_path / f"c{i}"
        shutil.copytree(clean, base)
        what = corrupt(base, rng)
        command = rng.choice(["train", "bench", "report"])
        run = base / "ring" / "plain" / "seed-0"
        more = [] if rng.random() < 0.8 else ["--steps", "210"]  # complete it, or now and then extend it
        argv = {"train": ["train", "--resume", run, "--quiet", "--threads", "1", *more],
                "bench": ["bench", "--suite", suite, "--out", base, "--seeds", "1", "--workers", "1", "--quiet",
                          "--no-report"],
                "report": ["report", base, "--out", base / "report.html"]}[command]
        before = _snapshot(base)
        code, err = cli(*argv)
        assert code in (0, 2), (i, what, command, code, err)
        assert "Traceback" not in err and (code == 0 or one_sentence(err)), (i, what, command, err)
        after = _snapshot(base)
        written = [p for p, b in after.items() if before.get(p) != b]
        assert not [p for p in after if p.name.startswith(".")], (i, what, command)  # no temp file, no lock
        for p in written:
            assert _whole(p), (i, what, command, p)
        codes[command].append(code)
        shutil.rmtree(base)
    print({k: f"{len(v)} runs, exit 0: {v.count(0)}, exit 2: {v.count(2)}" for k, v in codes.items()})
