"""``modecollapse bench``: a suite's runs (datasets x methods x seeds) on a process pool or Ray.

Each run is one ``modecollapse train`` run in ``OUT/<dataset>/<method>/seed-<seed>/`` with the
usual ``config.json``, ``metrics.jsonl``, ``summary.json`` and plots. The sweep can be killed
at any moment and started again with the same command:

- a run whose ``summary.json`` says it finished (status ``ok`` or ``diverged``) and whose
  ``config.json`` equals the run's resolved config is skipped, its files untouched;
- a run with a checkpoint of the same config continues from it (``train(..., resume=True)``);
- anything else starts afresh (a changed suite replaces the old run);
- a run that raises is recorded in its ``error.json`` and the sweep goes on; the next
  invocation tries it again;
- a run whose files are damaged (a ``config.json``, ``summary.json``, ``metrics.jsonl`` or
  checkpoint that does not read as its schema says) is left as it is and reported as
  ``failed: <reason>`` in the leaderboard; ``retrain_failed`` (``--retrain-failed``) trains
  it afresh. The sweep never stops for one.

Every run is checked before anything is trained: a suite with an unknown option, technique
or dataset is one sentence naming the run, before any training. The sweep holds the bench
directory's lock, and each run its run directory's lock (``train``), so two sweeps, or a
sweep and a ``train --resume``, never write one run at once.

Every file is written atomically (temporary file, then rename), ``summary.json`` last, so a
directory holds either a finished run or one to resume. The leaderboard
(``leaderboard.json``, ``leaderboard.csv``) is computed from what lies on disk, so it is the
same whichever backend ran the runs and however often the sweep was interrupted.

Backends: ``local`` (default) is a pool of worker processes, one torch thread per MLP run
(more threads slow small MLPs down sharply on shared cores). ``ray`` sends each run to a Ray
cluster as a task with the asked CPUs/GPUs (fractions of a GPU let small runs share one); the
task trains in a scratch directory on its node and returns the run's files, which the driver
writes into the same layout.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import ConfigError
from ..fileio import DirLock, Locked, atomic_write_bytes, atomic_write_text, check_out_dir, make_dir
from ..lab import rundir
from ..lab.config import TrainConfig
from ..lab.train import resolve, train
from .leaderboard import (
    ERROR_FILE,
    FINISHED,
    RunResult,
    leaderboard,
    read_result,
    read_summary,
    run_problem,
    to_csv,
    to_text,
)
from .report import write_report
from .suite import RunSpec, Suite, expand, published_rows

RAY_HINT = "--backend ray needs Ray, an optional extra: pip install 'modecollapse[ray]'."


@dataclass(frozen=True)
class BenchOptions:
    out: Path
    backend: str = "local"  # local | ray
    workers: int | None = None  # local: processes (default: CPU count); ray: CPUs of a local instance
    address: str | None = None  # ray: join this cluster instead of starting a local instance
    cpus_per_run: float = 1.0  # ray task resources
    gpus_per_run: float = 0.0
    progress: bool = True
    retrain_failed: bool = False  # train runs with damaged files afresh (else: reported failed, left alone)


# -- files ---------------------------------------------------------------------------------------
def resolved_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config a run writes to ``config.json`` (every default spelled out)."""
    # through JSON, as config.json holds it (tuples become lists)
    return json.loads(json.dumps(resolve(cfg)[0].to_dict()))


def _matches_saved(run_dir: Path, resolved: dict[str, Any]) -> bool:
    """Whether ``run_dir/config.json`` holds the run whose resolved config is ``resolved``."""
    try:
        saved = TrainConfig.load(run_dir / "config.json")
        if json.loads(json.dumps(saved.to_dict())) == resolved:
            return True
        # A file written before a defaulted field existed (or before the always-on "modes"
        # evaluator was spelled out) goes through the trainer's resolution, as the new run's
        # config did; only then, since resolving builds the dataset.
        return resolved_config(saved) == resolved
    except ConfigError:
        return False


def run_state(run_dir: Path, resolved: dict[str, Any]) -> str:
    """``done`` (skip), ``resume`` (a checkpoint of this config), ``new`` or ``damaged``
    (a file of the run does not read as its schema says: :func:`run_problem`)."""
    if run_problem(run_dir):
        return "damaged"
    if not _matches_saved(run_dir, resolved):
        return "new"
    summary = read_summary(run_dir)
    if summary is not None and summary.get("status") in FINISHED:
        return "done"
    if (run_dir / "checkpoint.pt").is_file():
        try:
            rundir.load_checkpoint(run_dir)
        except ConfigError:
            return "damaged"
        return "resume"
    return "new"


# -- one run (in a worker) -------------------------------------------------------------------------
def train_run(config: dict[str, Any], run_dir: Path, state: str, threads: int | None) -> dict[str, Any]:
    """Trains (or resumes) one run in ``run_dir``; returns its summary. Raises on failure."""
    cfg = TrainConfig.from_dict(config)
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    if state == "resume":
        try:
            return train(cfg, run_dir, resume=True, progress=False, threads=threads)
        except Locked:
            raise  # another writer has the run: leave it to them
        except ConfigError:
            pass  # a checkpoint that does not fit this config: start afresh
    return train(cfg, run_dir, overwrite=True, progress=False, threads=threads)


def error_record(err: BaseException) -> dict[str, Any]:
    text = str(err) or type(err).__name__
    return {"error": f"{type(err).__name__}: {text}" if not isinstance(err, ConfigError) else text,
            "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__))[-4000:]}


def _local_task(job: tuple[dict[str, Any], str, str, int | None]) -> dict[str, Any]:
    config, run_dir, state, threads = job
    path = Path(run_dir)
    try:
        summary = train_run(config, path, state, threads)
        return {"path": run_dir, "status": summary["status"]}
    except Exception as err:  # noqa: BLE001 - any failure of one run is recorded, the sweep goes on
        record = error_record(err)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / ERROR_FILE, json.dumps(record, indent=1) + "\n")
        return {"path": run_dir, "status": "failed", "error": record["error"]}


def _ray_task(config: dict[str, Any], files: dict[str, bytes], state: str, threads: int | None) -> dict[str, Any]:
    """Runs on a Ray worker: trains in a scratch directory, returns every file of the run."""
    with tempfile.TemporaryDirectory(prefix="modecollapse-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        for name, data in files.items():
            (run_dir / name).write_bytes(data)
        try:
            summary = train_run(config, run_dir, state, threads)
            result = {"status": summary["status"]}
        except Exception as err:  # noqa: BLE001
            result = {"status": "failed", "error_record": error_record(err)}
        result["files"] = {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
                           if p.is_file() and not p.name.startswith(".")}
        return result


def _write_returned_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """The driver's half of a Ray run: the files into the layout, ``summary.json`` last."""
    if run_dir.is_dir():
        shutil.rmtree(run_dir / "grids", ignore_errors=True)
    for name in sorted(files, key=lambda n: n == "summary.json"):
        atomic_write_bytes(run_dir / name, files[name])


# -- threads and order -------------------------------------------------------------------------
def _threads(resolved: dict[str, Any], workers: int) -> int:
    """One thread per MLP run (the fast setting on shared cores); image models share the CPUs."""
    if resolved["arch"] == "mlp":
        return 1
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def _cost(resolved: dict[str, Any]) -> float:
    # a rough size of a run, to start the longest first and not end on one long run
    return resolved["steps"] * resolved["batch_size"] * (resolved["n_critic"] + 1)


# -- the sweep -----------------------------------------------------------------------------------
@dataclass
class Job:
    spec: RunSpec
    run_dir: Path
    resolved: dict[str, Any]
    state: str


def resolve_all(specs: list[RunSpec]) -> dict[str, dict[str, Any]]:
    """Every run's resolved config by path, or one sentence naming the first run ``modecollapse
    train`` would refuse (an unknown option, technique or dataset), before anything runs."""
    resolved, bad = {}, []
    for spec in specs:
        try:
            if spec.config is None:
                raise ConfigError(spec.error.removeprefix("invalid train options: "))
            resolved[spec.path] = resolved_config(spec.config)
        except ConfigError as err:
            bad.append((spec, str(err)))
    if bad:
        spec, error = bad[0]
        more = f" (and {len(bad) - 1} more run(s))" if len(bad) > 1 else ""
        raise ConfigError(f"run {spec.path} of the suite cannot start: {error.rstrip('.')}{more}; fix the suite "
                          "(nothing was trained).")
    return resolved


def plan(specs: list[RunSpec], out: Path, *, retrain_failed: bool = False,
         resolved: dict[str, dict[str, Any]] | None = None) -> tuple[list[Job], list[RunSpec], list[RunSpec]]:
    """Splits the runs into jobs to run, runs already done, and runs left alone because
    their files are damaged (trained afresh instead with ``retrain_failed``)."""
    resolved = resolved if resolved is not None else resolve_all(specs)
    jobs, done, damaged = [], [], []
    for spec in specs:
        run_dir = out / spec.path
        state = run_state(run_dir, resolved[spec.path])
        if state == "done":
            done.append(spec)
        elif state == "damaged" and not retrain_failed:
            damaged.append(spec)
        else:
            jobs.append(Job(spec, run_dir, resolved[spec.path], "new" if state == "damaged" else state))
    jobs.sort(key=lambda j: -_cost(j.resolved))
    return jobs, done, damaged


def run_suite(suite: Suite, opts: BenchOptions, *, seeds: int | None = None, only: list[str] | None = None,
              report: bool = True) -> dict[str, Any]:
    """Runs what is missing of the suite in ``opts.out`` and returns the leaderboard."""
    check_out_dir(opts.out, "--out")
    all_specs = expand(suite, seeds)
    todo = [s for s in all_specs if s.method in only] if only else all_specs
    if only:
        suite.only(only)  # names unknown methods
    if opts.backend not in ("local", "ray"):
        raise ConfigError(f"--backend must be local or ray, got {opts.backend!r}.")
    if opts.workers is not None and opts.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {opts.workers}.")
    if opts.cpus_per_run <= 0 or opts.gpus_per_run < 0:
        raise ConfigError("--cpus-per-run must be positive and --gpus-per-run >= 0.")
    if opts.backend == "ray":
        _import_ray()
    resolved = resolve_all(todo)
    out = make_dir(opts.out, "--out")
    with DirLock(out, "bench directory"):
        jobs, done, damaged = plan(todo, out, retrain_failed=opts.retrain_failed, resolved=resolved)
        _write_sweep_file(out, suite, all_specs, opts)
        bar = _Bar(total=len(todo), done=len(done), failed=len(damaged), enabled=opts.progress)
        try:
            if jobs:
                if opts.backend == "local":
                    _run_local(jobs, opts, bar.update)
                else:
                    _run_ray(jobs, opts, bar.update)
        finally:
            bar.close()
        board = write_leaderboard(suite, all_specs, out)
        board["damaged"] = [s.path for s in damaged]  # for the command line's exit code (not in leaderboard.json)
        if report:
            write_report([out], out / "report.html")
    return board


def _write_sweep_file(out: Path, suite: Suite, specs: list[RunSpec], opts: BenchOptions) -> None:
    """``bench.json``: the suite and every run's labels and command, for the report and for people."""
    sweep = {"suite": suite.name, "description": suite.description, "source": suite.source, "backend": opts.backend,
             "baseline": suite.baseline, "published": published_rows(suite),
             "runs": [{"dataset": s.dataset, "method": s.method, "seed": s.seed, "path": s.path, "command": s.command()}
                      for s in specs]}
    atomic_write_text(out / "bench.json", json.dumps(sweep, indent=1) + "\n")


def collect(specs: Iterable[RunSpec], out: Path, *, records: bool = False) -> list[RunResult]:
    """What each run left in ``out`` (summary or error), in suite order."""
    results = []
    for s in specs:
        results.append(read_result(s.dataset, s.method, s.seed, out / s.path, records=records))
    return results


def write_leaderboard(suite: Suite, specs: list[RunSpec], out: Path) -> dict[str, Any]:
    board = leaderboard(collect(specs, out), published=published_rows(suite), baseline=suite.baseline)
    board = {"suite": suite.name, **board}
    atomic_write_text(out / "leaderboard.json", json.dumps(board, indent=1) + "\n")
    atomic_write_text(out / "leaderboard.csv", to_csv(board))
    return board


# -- progress ------------------------------------------------------------------------------------
class _Bar:
    """One bar for the sweep: runs done of all, failures, time left (tqdm's estimate)."""

    def __init__(self, total: int, done: int, failed: int, enabled: bool) -> None:
        self.failed = failed
        self.bar = tqdm(total=total, initial=done + failed, desc="bench", unit="run", disable=not enabled or None,
                        dynamic_ncols=True, bar_format="{desc}: {n}/{total} runs |{bar}| {postfix} [{elapsed}<{remaining}]")
        self._post()

    def _post(self) -> None:
        self.bar.set_postfix_str(f"{self.failed} failed")

    def update(self, result: dict[str, Any]) -> None:
        if result["status"] == "failed":
            self.failed += 1
            self.bar.write(f"failed: {result['path']}: {result.get('error', '')}".splitlines()[0][:300], file=sys.stderr)
        self._post()
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


# -- local backend -------------------------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    """Worker initializer: end this worker when the driver dies (SIGKILL leaves no chance to
    clean up), so that no orphan keeps writing into the bench directory."""
    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def _run_local(jobs: list[Job], opts: BenchOptions, on_result: Callable[[dict[str, Any]], None]) -> None:
    workers = min(opts.workers or os.cpu_count() or 1, len(jobs))
    payloads = [(j.resolved, str(j.run_dir), j.state, _threads(j.resolved, workers)) for j in jobs]
    if workers == 1:  # in this process: no pool to start
        for p in payloads:
            on_result(_local_task(p))
        return
    ctx = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state in the workers
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_watch_parent, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_local_task, p): p for p in payloads}
        try:
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except Exception as err:  # noqa: BLE001 - the worker died (e.g. killed for memory)
                    run_dir = Path(futures[fut][1])
                    record = error_record(err)
                    run_dir.mkdir(parents=True, exist_ok=True)
                    atomic_write_text(run_dir / ERROR_FILE, json.dumps(record, indent=1) + "\n")
                    result = {"path": str(run_dir), "status": "failed", "error": record["error"]}
                on_result(result)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


# -- ray backend ---------------------------------------------------------------------------------
def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_HINT) from None
    return ray


def _run_ray(jobs: list[Job], opts: BenchOptions, on_result: Callable[[dict[str, Any]], None]) -> None:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        if opts.address:
            ray.init(address=opts.address, log_to_driver=False)
        else:
            ray.init(num_cpus=opts.workers or os.cpu_count(), num_gpus=None, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=opts.cpus_per_run, num_gpus=opts.gpus_per_run)(_ray_task)
        pending = {}
        for j in jobs:
            files = {}
            if j.state == "resume":  # the run continues on whichever node gets it
                files = {n: (j.run_dir / n).read_bytes() for n in ("config.json", "metrics.jsonl", "checkpoint.pt")
                         if (j.run_dir / n).is_file()}
            threads = max(1, int(opts.cpus_per_run)) if j.resolved["arch"] != "mlp" else 1
            pending[task.remote(j.resolved, files, j.state, threads)] = j
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except Exception as err:  # noqa: BLE001 - a lost worker or node: record it, go on
                result = {"status": "failed", "error_record": error_record(err), "files": {}}
            try:
                make_dir(job.run_dir)
                with DirLock(job.run_dir):  # the driver writes the run's files: it is their writer now
                    _write_returned_files(job.run_dir, result["files"])
            except ConfigError as err:  # e.g. a `train --resume` holds the run: its files stay its own
                result = {"status": "failed", "error_record": error_record(err), "files": {}}
            if result["status"] == "failed":
                rec = result["error_record"]
                atomic_write_text(job.run_dir / ERROR_FILE, json.dumps(rec, indent=1) + "\n")
                on_result({"path": str(job.run_dir), "status": "failed", "error": rec["error"]})
            else:
                (job.run_dir / ERROR_FILE).unlink(missing_ok=True)
                on_result({"path": str(job.run_dir), "status": result["status"]})
    finally:
        if started_here:
            ray.shutdown()


def print_leaderboard(board: dict[str, Any], out: Path, *, stream=sys.stdout) -> None:
    stream.write(to_text(board) + "\n")
    stream.write(f"leaderboard: {out / 'leaderboard.json'} (and .csv)\n")
