"""KID: modecollapse against torchmetrics and torch-fidelity on the same subsets, side by side.

All three compute the unbiased MMD^2 of the cubic polynomial kernel over the same
``--subsets`` subsets of ``--subset-size`` rows (drawn once with
:func:`modecollapse.metrics.kid.subset_indices`) of the same float32 features, one after the
other in this process, on one thread; the script prints each one's CPU and wall seconds,
the ratio of the others' time to ours (above 1: ours is faster), and the largest
difference between the KID values. Features are Inception-like: non-negative, ``--dim``
wide, the fake set slightly shifted.

torchmetrics' per-subset function (``torchmetrics.image.kid.poly_mmd``) and torch-fidelity's
(``torch_fidelity.metric_kid.kernel_mmd``, numpy) are called directly: their metric classes
need an image feature extractor, and torch-fidelity's package ``__init__`` imports
torchvision, which does not import beside this torch, so its metric module is loaded on
its own, from where ``make test`` installs it (``.venv/refs``, see
``tests/reference_impls.py``). Neither is a project dependency; torchmetrics comes with the
test extra:

    .venv/bin/python benchmarks/kid_speed.py                          # n = 1,000, 5,000 and 20,000
    .venv/bin/python benchmarks/kid_speed.py --sizes 2000 --subsets 20   # a quick look
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # numpy's BLAS too: one thread for everyone
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from reference_impls import load_torch_fidelity  # noqa: E402  (the test suite's loader)


def load_torchmetrics_kid():
    try:
        from torchmetrics.image.kid import poly_mmd
    except ImportError:
        return None
    return poly_mmd


def features(n: int, dim: int, seed: int, shift: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=g).abs() + shift).float()


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    value = fn()
    return value, time.process_time() - c0, time.perf_counter() - w0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000], help="rows per set")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--subsets", type=int, default=100)
    ap.add_argument("--subset-size", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from modecollapse.metrics.kid import kid, subset_indices

    poly_mmd, tf_kid = load_torchmetrics_kid(), load_torch_fidelity()
    print(f"dim {args.dim}, {args.subsets} subsets of {args.subset_size}, {args.threads} thread(s); "
          f"torch {torch.__version__}, numpy {np.__version__}")
    header = f"{'n':>7} {'implementation':<28} {'cpu s':>8} {'wall s':>8} {'cpu ratio':>10} {'kid':>14} {'|diff|':>9}"
    print(header)
    for n in args.sizes:
        m = min(args.subset_size, n)
        real, fake = features(n, args.dim, 0, 0.0), features(n, args.dim, 1, 0.02)
        rows_r, rows_f = subset_indices(n, n, subsets=args.subsets, subset_size=m, seed=0)
        runs = {}
        for method in ("auto", "subsets"):
            r, c, w = timed(lambda: kid(real=real, fake=fake, subsets=args.subsets, subset_size=m, seed=0,
                                        method=method))
            runs[f"modecollapse ({method})"] = (r.kid, c, w)
        if poly_mmd is not None:
            v, c, w = timed(lambda: float(torch.stack(
                [poly_mmd(real[rows_r[s]], fake[rows_f[s]]) for s in range(args.subsets)]).mean()))
            runs["torchmetrics poly_mmd"] = (v, c, w)
        if tf_kid is not None:
            rn, fn = real.numpy(), fake.numpy()
            kw = {"kid_kernel": "poly", "kid_kernel_poly_degree": 3, "kid_kernel_poly_gamma": None,
                  "kid_kernel_poly_coef0": 1}
            v, c, w = timed(lambda: float(np.mean(
                [tf_kid.kernel_mmd(rn[rows_r[s].numpy()], fn[rows_f[s].numpy()], **kw) for s in range(args.subsets)])))
            runs["torch-fidelity kernel_mmd"] = (v, c, w)
        ours_cpu = runs["modecollapse (auto)"][1]
        ref = runs["modecollapse (auto)"][0]
        for name, (v, c, w) in runs.items():
            print(f"{n:>7} {name:<28} {c:>8.2f} {w:>8.2f} {c / ours_cpu:>10.2f} {v:>14.8g} {abs(v - ref):>9.2g}")
        others = [runs[k][1] / ours_cpu for k in runs if not k.startswith("modecollapse")]
        if others:
            print(f"{n:>7} others' CPU time / ours (auto): " + ", ".join(f"{x:.2f}x" for x in others)
                  + "; subsets method alone: " + ", ".join(
                      f"{runs[k][1] / runs['modecollapse (subsets)'][1]:.2f}x" for k in runs
                      if not k.startswith("modecollapse")), flush=True)


if __name__ == "__main__":
    main()
