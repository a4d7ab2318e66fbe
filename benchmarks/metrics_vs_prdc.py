"""Precision, recall, density and coverage: modecollapse's blockwise k-NN vs the ``prdc`` package.

Each (implementation, N) case runs in a fresh subprocess on the same data (seeded numpy
float32, generated in the worker without a float64 copy), so the peak resident memory read
from ``resource.getrusage`` belongs to that case alone (torch allocates outside Python's
heap, which tracemalloc would miss). Times cover the metric computation only, not data
generation or imports: wall seconds and CPU seconds (user + sys of all the process's threads).
With ``--rounds R`` the two implementations alternate R times at each N (their order swapped
every round), so a load that other jobs put on the machine falls on both; the speed-ups are
ratios of the summed times. ``--threads T`` gives both T threads (torch's for ours, the BLAS
and OpenMP threads of numpy and scikit-learn for prdc); by default each uses its library's. ``prdc`` (Naeem et al. 2020's reference code) is not a project
dependency: ``pip install prdc`` to compare; without it only our rows are printed. At
N = 50,000 prdc is not run: its three N x N distance matrices alone need ~30 GB.

The data: ``clusters`` Gaussian clusters in ``dim`` dimensions; the fake set drops half of
them, so recall and coverage are far from 1 and precision is not trivially 0 or 1.

    .venv/bin/python benchmarks/metrics_vs_prdc.py                 # N = 10,000 and 50,000, d = 2048
    .venv/bin/python benchmarks/metrics_vs_prdc.py --sizes 10000 --rounds 2   # the issue's 10k x 10k x 2048 case
    .venv/bin/python benchmarks/metrics_vs_prdc.py --sizes 2000 --dim 256   # a quick look
    .venv/bin/python benchmarks/metrics_vs_prdc.py --copies        # the memorising generator, below

``--copies``: the case where collapse and memorisation live. The fake set is ``copies``
exact copies of ``real[0]`` (10 Gaussian modes in 512 dimensions, 5,000 real rows, k = 3),
scored by prdc and by modecollapse in float32 and float64 at several ``chunk_size``; every
row must equal prdc's (distances between copies are exactly 0, a sample at exactly a ball's
radius is outside it, and no count depends on the blocks).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

KEYS = ("precision", "recall", "density", "coverage")


def make_data(n: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(real, fake), each (n, dim) float32; fake samples only the first half of the clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32) * 2.0
    out = []
    for which in (clusters, max(1, clusters // 2)):
        x = np.empty((n, dim), dtype=np.float32)
        for a in range(0, n, 4096):  # in blocks: no n x dim float64 temporary
            b = min(a + 4096, n)
            rng.standard_normal((b - a, dim), dtype=np.float32, out=x[a:b])
            x[a:b] += centres[rng.integers(0, which, b - a)]
        out.append(x)
    return out[0], out[1]


def worker(impl: str, n: int, dim: int, k: int, clusters: int, seed: int, chunk: int) -> dict:
    real, fake = make_data(n, dim, clusters, seed)
    if impl == "prdc":
        from prdc import compute_prdc

        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
            values = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        import torch

        from modecollapse.metrics import prdc

        r, f = torch.from_numpy(real), torch.from_numpy(fake)  # shares the numpy memory
        t0, c0 = time.perf_counter(), time.process_time()
        res = prdc(real=r, fake=f, pr_k=k, dc_k=k, chunk_size=chunk)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        values = {key: getattr(res, key) for key in KEYS}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    data_mb = (real.nbytes + fake.nbytes) / 2**20
    return {"impl": impl, "n": n, "dim": dim, "k": k, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_mb,
            "data_mb": data_mb, **{key: float(values[key]) for key in KEYS}}


def summed(cases: list[dict]) -> dict:
    """One row for several runs of a case: times summed (and their count), values of the last."""
    row = dict(cases[-1])
    row["seconds"] = sum(c["seconds"] for c in cases)
    row["cpu_seconds"] = sum(c["cpu_seconds"] for c in cases)
    row["peak_rss_mb"] = max(c["peak_rss_mb"] for c in cases)
    row["runs"] = len(cases)
    return row


def run_case(impl: str, args: argparse.Namespace, n: int) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", impl, "--n", str(n), "--dim", str(args.dim), "--k", str(args.k),
           "--clusters", str(args.clusters), "--seed", str(args.seed), "--chunk-size", str(args.chunk_size)]
    env = dict(os.environ)
    if args.threads:
        cmd += ["--threads", str(args.threads)]
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(args.threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(f"{impl} N={n} failed:\n{proc.stderr[-2000:]}\n")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def copies_table(copies: int, seed: int) -> None:
    import torch
    from prdc import compute_prdc

    from modecollapse.metrics import prdc as ours

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((10, 512)).astype(np.float32) * 0.5
    real = (rng.standard_normal((5000, 512)).astype(np.float32) + centres[rng.integers(0, 10, 5000)]).astype(np.float32)
    fake = np.repeat(real[:1], copies, axis=0)
    with contextlib.redirect_stdout(io.StringIO()):
        ref = compute_prdc(real_features=real, fake_features=fake, nearest_k=3)
    print(f"fake = {copies} copies of real[0]; 10 modes in 512-D, 5,000 real rows, k = 3 (seed {seed})\n")
    print("| implementation | dtype | chunk_size | precision | recall | density | coverage | equals prdc |")
    print("|---|---|---|---|---|---|---|---|")
    print("| prdc 0.2 | float32 | - | " + " | ".join(f"{float(ref[k]):.4g}" for k in KEYS) + " | |")
    for dtype in (torch.float32, torch.float64):
        for chunk in (512, 2048):
            r = ours(real=torch.from_numpy(real).to(dtype), fake=torch.from_numpy(fake).to(dtype), pr_k=3, dc_k=3,
                     chunk_size=chunk)
            vals = [getattr(r, k) for k in KEYS]
            same = all(v == float(ref[k]) for v, k in zip(vals, KEYS))
            print(f"| modecollapse | {str(dtype).split('.')[-1]} | {chunk} | " + " | ".join(f"{v:.4g}" for v in vals)
                  + f" | {'yes' if same else 'NO'} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,50000", help="comma-separated N (real = fake = N)")
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--k", type=int, default=5, help="nearest_k, the same for all four metrics (prdc's convention)")
    p.add_argument("--clusters", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk-size", type=int, default=2048)
    p.add_argument("--prdc-max-n", type=int, default=10000, help="largest N given to prdc (it needs N x N matrices)")
    p.add_argument("--copies", type=int, nargs="?", const=5, default=None, metavar="C",
                   help="print the table of C (default 5) exact copies of one real sample instead")
    p.add_argument("--rounds", type=int, default=1, help="times each implementation runs at each N, alternating")
    p.add_argument("--threads", type=int, default=None, help="threads for both (default: each library's own)")
    p.add_argument("--worker", choices=["ours", "prdc"], help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        if args.threads and args.worker == "ours":
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(worker(args.worker, args.n, args.dim, args.k, args.clusters, args.seed, args.chunk_size)))
        return
    if args.copies is not None:
        copies_table(args.copies, args.seed)
        return
    try:
        import prdc  # noqa: F401

        have_prdc = True
    except ImportError:
        have_prdc = False
        sys.stderr.write("prdc is not installed (pip install prdc): printing modecollapse's rows only.\n")
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        impls = ["ours"] + (["prdc"] if have_prdc and n <= args.prdc_max_n else [])
        got: dict[str, list[dict]] = {i: [] for i in impls}
        for r in range(args.rounds):
            for impl in (impls if r % 2 == 0 else impls[::-1]):
                case = run_case(impl, args, n)
                if case is not None:
                    got[impl].append(case)
                    print(f"N = {n:,} round {r + 1}: {impl:<5} {case['seconds']:.1f} s wall, {case['cpu_seconds']:.1f} s CPU",
                          file=sys.stderr, flush=True)
        ours, theirs = (summed(got[i]) if got.get(i) else None for i in ("ours", "prdc"))
        rows.append((n, ours, theirs))
    print(f"d = {args.dim}, k = {args.k}, {args.clusters} clusters (fake keeps half), real = fake = N, "
          f"float32 features, {args.chunk_size}-row blocks, {args.rounds} round(s) (times summed), threads: "
          f"{args.threads or 'each library its own'}, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| N | implementation | time (s) | CPU (s) | peak RSS (MB) | data (MB) | precision | recall | density | coverage "
          "| max abs diff | speed-up (wall) | speed-up (CPU) | memory ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, ours, theirs in rows:
        for r in (ours, theirs):
            if r is None:
                continue
            diff = speed = speed_cpu = mem = ""
            if r is ours and theirs is not None and ours is not None:
                diff = f"{max(abs(ours[k] - theirs[k]) for k in KEYS):.1e}"
                speed = f"{theirs['seconds'] / ours['seconds']:.2f}x"
                speed_cpu = f"{theirs['cpu_seconds'] / ours['cpu_seconds']:.2f}x"
                mem = f"{ours['peak_rss_mb'] / theirs['peak_rss_mb']:.2f}"
            name = "modecollapse" if r["impl"] == "ours" else "prdc 0.2"
            print(f"| {n:,} | {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                  f"{r['data_mb']:.0f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['density']:.4f} | "
                  f"{r['coverage']:.4f} | {diff} | {speed} | {speed_cpu} | {mem} |")
        if theirs is None and have_prdc and n > args.prdc_max_n:
            print(f"| {n:,} | prdc 0.2 | not run | | ~{3 * n * n * 4 / 2**30:.0f} GB of distance matrices | | | | | | | | | |")


if __name__ == "__main__":
    main()
