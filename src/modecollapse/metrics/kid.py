"""Kernel Inception Distance (Binkowski, Sutherland, Arbel, Gretton 2018, "Demystifying MMD
GANs", ICLR), on any features.

The unbiased estimate of the squared maximum mean discrepancy with the cubic polynomial
kernel k(x, y) = (gamma x.y + coef0)^degree (gamma = 1/d, coef0 = 1, degree = 3 by default),
averaged over ``subsets`` random subsets of ``subset_size`` samples from each side; the
mean and the standard deviation over subsets are reported. Unlike FID it is unbiased in the
number of samples, and it can be slightly negative when the sets match. Lower is better;
dropped modes raise it.

Two exact ways to the same per-subset sums, chosen by their cost (the matrix products):

- ``subsets``: the three m x m kernel matrices of each subset, as torch-fidelity and
  torchmetrics do, the two within-set ones symmetric: on CPU through numpy's matmul, which
  calls BLAS's symmetric product (syrk) for ``z @ z.T`` (half the work; torch has none, so
  torchmetrics does the full product), on GPU by a staircase of blocks (5/8 of it).
- ``full``: the kernel between all rows in use once, block by block, each block multiplied by
  the 0/1 membership matrix of all subsets (rows x subsets): cheaper whenever the sets are
  less than about 10 x ``subset_size`` (at n = subset_size, 100 subsets cost what one does).

On CPU numpy's BLAS picks its own thread count (``OPENBLAS_NUM_THREADS``), not torch's.

Kernel values are computed in the input's precision (float32 products unless an input is
float64) and every sum is taken in float64. :class:`StreamingKID` keeps a bounded uniform
sample of each side (reservoir sampling) for ``update`` / ``compute`` / ``merge``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..errors import ConfigError
from ._checks import as_generator, check_features, check_pair, check_positive_int, compute_dtype, resolve_device
from .knn import blocks

Method = Literal["auto", "subsets", "full"]
_BLOCK = 2048  # rows per kernel block of the full method
_SYM_PARTS = 4  # GPU: a subset's within-set kernel as 4 row blocks, each from its diagonal on


@dataclass(frozen=True)
class KIDResult:
    """KID mean and standard deviation over subsets (lower is better), and the values used."""

    kid: float
    kid_std: float
    subsets: int
    subset_size: int
    degree: int
    gamma: float
    coef0: float


def subset_indices(
    n_real: int, n_fake: int, *, subsets: int, subset_size: int, seed: int | torch.Generator = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows (subsets, subset_size) long of each real and fake subset that :func:`kid` uses
    with this ``seed``: for each subset, ``randperm(n_real)[:m]`` then ``randperm(n_fake)[:m]``."""
    gen = as_generator(seed)
    rows_r, rows_f = [], []
    for _ in range(subsets):
        rows_r.append(torch.randperm(n_real, generator=gen)[:subset_size])
        rows_f.append(torch.randperm(n_fake, generator=gen)[:subset_size])
    return torch.stack(rows_r), torch.stack(rows_f)


def _gram(a: torch.Tensor, b: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
    """``a @ b.T`` (``b`` None: ``a @ a.T``) into ``out``'s storage. On CPU through numpy, whose
    matmul calls BLAS's symmetric rank-k product (syrk, half the work) for ``a @ a.T``;
    torch has none."""
    shape = (len(a), len(a) if b is None else len(b))
    dst = out[: shape[0] * shape[1]].view(shape)
    if a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64):
        an = a.contiguous().numpy()
        np.matmul(an, an.T if b is None else b.contiguous().numpy().T, out=dst.numpy())
        return dst
    return torch.mm(a, (a if b is None else b).T, out=dst)


def _kernel(a: torch.Tensor, b: torch.Tensor | None, out: torch.Tensor, *, degree: int, gamma: float, coef0: float):
    """(gamma a.b^T + coef0)^degree (len(a), len(b)) written into ``out``'s storage (``b`` None: ``a``)."""
    k = _gram(a, b, out)
    torch.add(torch.tensor(coef0, dtype=k.dtype, device=k.device), k, alpha=gamma, out=k)  # one pass: coef0 + gamma k
    return k.pow_(degree)


def _within_sum(z: torch.Tensor, buf: torch.Tensor, *, staircase: bool | None = None, **kern) -> float:
    """Sum over i != j of k(z_i, z_j) in float64: the symmetric kernel matrix at once on CPU
    (syrk), else (or with ``staircase``) by row blocks against the columns from their own start."""
    if not (z.device.type != "cpu" if staircase is None else staircase):
        k = _kernel(z, None, buf, **kern)
        return float(k.sum(dtype=torch.float64)) - float(k.diagonal().sum(dtype=torch.float64))
    edges = [round(i * len(z) / _SYM_PARTS) for i in range(_SYM_PARTS + 1)]
    total = 0.0
    for r in range(_SYM_PARTS):
        k = _kernel(z[edges[r]:edges[r + 1]], z[edges[r]:], buf, **kern)  # (rows of block r, columns >= its start)
        own = k[:, : edges[r + 1] - edges[r]]
        s, d = float(k.sum(dtype=torch.float64)), float(own.sum(dtype=torch.float64))
        total += 2.0 * (s - d) + d - float(own.diagonal().sum(dtype=torch.float64))
    return total


def _subset_sums(x: torch.Tensor, y: torch.Tensor, buf: torch.Tensor, **kern) -> tuple[float, float, float]:
    """(sum over i != j of k(x_i, x_j), the same for y, sum over all i, j of k(x_i, y_j)) in float64."""
    cross = float(_kernel(x, y, buf, **kern).sum(dtype=torch.float64))
    return _within_sum(x, buf, **kern), _within_sum(y, buf, **kern), cross


def _full_sums(
    x: torch.Tensor, y: torch.Tensor, rows_x: torch.Tensor, rows_y: torch.Tensor, **kern
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The per-subset sums of :func:`_subset_sums`, (subsets,) float64 each, from one pass over
    the kernel blocks of the rows in use: block (a, b) adds diag(C_a^T K_ab C_b), C the 0/1
    membership (rows, subsets)."""
    dev = x.device
    s = len(rows_x)

    def members(z: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        used, inverse = torch.unique(rows, return_inverse=True)  # only the rows some subset holds
        c = torch.zeros(len(used), s, dtype=torch.float64, device=dev)
        c.scatter_(0, inverse.T.to(dev), 1.0)
        return z[used.to(z.device)].to(dev), c

    x, cx = members(x, rows_x)
    y, cy = members(y, rows_y)
    buf = torch.empty(_BLOCK * _BLOCK, dtype=x.dtype, device=dev)

    def pair(k: torch.Tensor, ca: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
        return (ca * (k.to(torch.float64) @ cb)).sum(0)  # (subsets,)

    def within(z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(s, dtype=torch.float64, device=dev)
        parts = blocks(len(z), _BLOCK)
        for i, (a0, a1) in enumerate(parts):
            for b0, b1 in parts[i:]:
                if a0 == b0:
                    k = _kernel(z[a0:a1], None, buf, **kern)
                    total += pair(k, c[a0:a1], c[a0:a1]) - c[a0:a1].T @ k.diagonal().to(torch.float64)
                else:
                    total += 2.0 * pair(_kernel(z[a0:a1], z[b0:b1], buf, **kern), c[a0:a1], c[b0:b1])
        return total

    cross = torch.zeros(s, dtype=torch.float64, device=dev)
    for a0, a1 in blocks(len(x), _BLOCK):
        for b0, b1 in blocks(len(y), _BLOCK):
            cross += pair(_kernel(x[a0:a1], y[b0:b1], buf, **kern), cx[a0:a1], cy[b0:b1])
    return within(x, cx), within(y, cy), cross


def _choose(rows_r: torch.Tensor, rows_f: torch.Tensor) -> str:
    """The cheaper method by their matrix-product work (see the module docstring): all pairs of
    the rows in use, plus ~10% for the membership products, against 2 m x m products per subset."""
    s, m = rows_r.shape
    nr, nf = len(torch.unique(rows_r)), len(torch.unique(rows_f))
    full = 1.1 * ((nr * nr + nf * nf) / 2 + nr * nf)
    return "full" if full <= 2.0 * s * m * m else "subsets"


def kid(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int | None = None,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int | torch.Generator = 0,
    device: str | torch.device | None = None,
    method: Method = "auto",
) -> KIDResult:
    """KID of ``fake`` (n_fake, d) against ``real`` (n_real, d).

    ``subset_size`` defaults to min(1000, n_real, n_fake); an explicit value larger than a
    set is an error. Subsets are drawn without replacement with ``seed`` (an int or a
    ``torch.Generator``; see :func:`subset_indices`), so the same seed gives the same
    numbers. ``method``: ``"subsets"``, ``"full"`` or ``"auto"`` (the cheaper; both give the
    same values up to float rounding).
    """
    check_pair(real, fake, min_real=2, min_fake=2, why="the unbiased estimate needs 2 samples per subset")
    check_positive_int(subsets, "subsets")
    check_positive_int(degree, "degree")
    if method not in ("auto", "subsets", "full"):
        raise ConfigError(f"unknown KID method {method!r}; choose auto, subsets or full.")
    n_max = min(len(real), len(fake))
    if subset_size is None:
        subset_size = min(1000, n_max)
    check_positive_int(subset_size, "subset_size", minimum=2)
    if subset_size > n_max:
        raise ConfigError(
            f"KID subset size {subset_size} exceeds the smaller set ({n_max} samples); choose a subset size <= {n_max}."
        )
    real, fake = real.detach(), fake.detach()
    g = gamma if gamma is not None else 1.0 / real.shape[1]
    kern = {"degree": degree, "gamma": g, "coef0": coef0}
    rows_r, rows_f = subset_indices(len(real), len(fake), subsets=subsets, subset_size=subset_size, seed=seed)
    dev = resolve_device(device, real)
    dtype = compute_dtype(real, fake)
    m = subset_size
    if method == "auto":
        method = _choose(rows_r, rows_f)  # type: ignore[assignment]
    if method == "full":
        sxx, syy, sxy = _full_sums(real.to(dev, dtype), fake.to(dev, dtype), rows_r, rows_f, **kern)
        v = ((sxx + syy) / (m * (m - 1)) - 2 * sxy / (m * m)).cpu()
    else:
        buf = torch.empty(m * m, dtype=dtype, device=dev)
        values = []
        for s in range(subsets):
            x = real[rows_r[s].to(real.device)].to(dev, dtype)
            y = fake[rows_f[s].to(fake.device)].to(dev, dtype)
            a, b, c = _subset_sums(x, y, buf, **kern)
            values.append((a + b) / (m * (m - 1)) - 2 * c / (m * m))
        v = torch.tensor(values, dtype=torch.float64)
    std = float(v.std(unbiased=False)) if len(v) > 1 else 0.0
    return KIDResult(float(v.mean()), std, subsets, subset_size, degree, float(g), float(coef0))


class _Reservoir:
    """A uniform random sample of at most ``capacity`` rows of a stream (Vitter's algorithm R):
    all rows, in arrival order, while the stream fits."""

    def __init__(self, capacity: int, generator: torch.Generator) -> None:
        self.capacity = capacity
        self.gen = generator
        self.n = 0
        self.rows: torch.Tensor | None = None  # (min(n, capacity), d)

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to("cpu")
        if self.rows is None:
            self.rows = x.new_empty(0, x.shape[1])
        elif x.shape[1] != self.rows.shape[1]:
            raise ValueError(f"features have {x.shape[1]} dimensions, earlier updates had {self.rows.shape[1]}")
        if self.rows.dtype != x.dtype:
            x = x.to(self.rows.dtype)
        fill = max(0, min(len(x), self.capacity - self.n))
        if fill:
            self.rows = torch.cat([self.rows, x[:fill]])
        rest = len(x) - fill
        if rest > 0:
            seen = torch.arange(self.n + fill, self.n + len(x), dtype=torch.float64)  # 0-based stream positions
            slot = (torch.rand(rest, generator=self.gen, dtype=torch.float64) * (seen + 1)).floor().long()
            hit = slot < self.capacity
            # the later of two rows drawn for one slot wins, as in the sequential algorithm
            winner = torch.full((self.capacity,), -1, dtype=torch.long)
            winner.scatter_reduce_(0, slot[hit], torch.arange(fill, len(x))[hit], reduce="amax")
            take = winner >= 0
            self.rows[take] = x[winner[take]]
        self.n += len(x)

    def state(self) -> dict:
        return {"n": self.n, "rows": self.rows}

    @staticmethod
    def merged(states: list[dict], capacity: int, gen: torch.Generator) -> tuple[int, torch.Tensor | None]:
        """(count, rows) of the union of the streams behind ``states``: all rows in order when
        they fit, else a uniform sample of ``capacity`` (a hypergeometric split between them)."""
        states = [s for s in states if s["rows"] is not None]
        if not states:
            return 0, None
        n, rows = states[0]["n"], states[0]["rows"]
        for s in states[1:]:
            if n + s["n"] <= capacity:
                rows = torch.cat([rows, s["rows"].to(rows.dtype)])
            else:
                from_first = int((torch.randperm(n + s["n"], generator=gen)[:capacity] < n).sum())
                a = rows[torch.randperm(len(rows), generator=gen)[:from_first]]
                b = s["rows"][torch.randperm(len(s["rows"]), generator=gen)[: capacity - from_first]]
                rows = torch.cat([a, b.to(a.dtype)])
            n += s["n"]
        return n, rows


class StreamingKID:
    """KID over batches in bounded memory: ``update(real=..., fake=...)``, ``compute()``, ``reset()``,
    ``merge(other)``.

    Each side keeps at most ``max_samples`` rows (default 10,000), a uniform random sample of
    all rows seen (reservoir sampling, seeded); while a side fits, it keeps every row in
    arrival order and ``compute()`` equals :func:`kid` on the concatenated batches with the
    same parameters and ``seed``. Beyond it, KID is computed on the samples (its subsets are
    still uniform subsets of all rows seen). With ``torch.distributed`` initialised,
    ``compute()`` merges every process's samples in rank order first (see
    :mod:`~modecollapse.metrics.distributed`). ``reset(real=False)`` keeps the real side.
    """

    def __init__(
        self, *, subsets: int = 100, subset_size: int | None = None, degree: int = 3, gamma: float | None = None,
        coef0: float = 1.0, seed: int = 0, max_samples: int = 10_000, device: str | torch.device | None = None,
    ) -> None:
        check_positive_int(max_samples, "max_samples", minimum=2)
        self.params = {"subsets": subsets, "subset_size": subset_size, "degree": degree, "gamma": gamma,
                       "coef0": coef0, "seed": seed, "device": device}
        self.max_samples = max_samples
        from .distributed import world

        # each process samples with its own stream, so that the merged sample stays uniform
        self._gen = torch.Generator().manual_seed(seed + 1_000_003 * (world()[0] + 1))
        self.real = _Reservoir(max_samples, self._gen)
        self.fake = _Reservoir(max_samples, self._gen)

    def update(self, *, real: torch.Tensor | None = None, fake: torch.Tensor | None = None) -> None:
        if real is not None:
            check_features(real, "real")
            self.real.update(real)
        if fake is not None:
            check_features(fake, "fake")
            self.fake.update(fake)

    def merge(self, other: StreamingKID) -> StreamingKID:
        """Adds ``other``'s rows (as if its batches had followed this one's); returns self."""
        gen = torch.Generator().manual_seed(self.params["seed"] + 7)
        for side in ("real", "fake"):
            mine, theirs = getattr(self, side), getattr(other, side)
            mine.n, mine.rows = _Reservoir.merged([mine.state(), theirs.state()], self.max_samples, gen)
        return self

    def compute(self) -> KIDResult:
        from .distributed import gather_states

        states = gather_states({"real": self.real.state(), "fake": self.fake.state()})
        gen = torch.Generator().manual_seed(self.params["seed"] + 7)
        _, real = _Reservoir.merged([s["real"] for s in states], self.max_samples, gen)
        _, fake = _Reservoir.merged([s["fake"] for s in states], self.max_samples, gen)
        if real is None or fake is None:
            raise ValueError("StreamingKID.compute() needs real and fake samples; call update() with both first")
        return kid(real=real, fake=fake, **self.params)

    def reset(self, *, real: bool = True) -> None:
        if real:
            self.real = _Reservoir(self.max_samples, self._gen)
        self.fake = _Reservoir(self.max_samples, self._gen)
