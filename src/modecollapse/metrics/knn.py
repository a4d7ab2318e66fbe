"""Exact nearest-neighbour distances in blocks: the engine behind the k-NN metrics.

Precision/recall (Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020) and the
memorisation ratio all reduce to "how far is each sample from its k-th neighbour" and "which
balls contain which samples". Both are computed here exactly, block by block, on CPU or GPU:
memory stays at a few blocks of ``chunk_size x chunk_size`` whatever N is, and no N x N
matrix is ever materialised.

**One distance per pair.** Every squared distance that a result depends on is the
*canonical* one, :func:`exact_sqdist`: the coordinate differences, squared and added in a
fixed pairwise order by element-wise operations only, in the compute precision (float64
when an input is float64, float32 otherwise). It is a pure function of the two
rows' values: the same on CPU and GPU, in any block, in either argument order, and exactly
0 between identical rows. So when a generated sample is a copy of a real one, its
distance to every real sample is bit for bit the distance that set that real sample's k-NN
radius, and identical copies get identical counts whatever ``chunk_size`` is.

Matrix products (``|x|^2 + |y|^2 - 2 x.y``, in float32 unless an input is float64; rows
shifted by a common mean first) only *screen* the pairs: with the worst-case rounding bound
of a length-d dot product, ``|G - D| <= tau (|x|^2 + |y|^2)`` with ``tau = (2d + 24) u``, a
comparison whose screened value lies farther than that bound from the threshold is decided
by it, and every other one (near-ties, copies, duplicates) by :func:`exact_sqdist`. The
k smallest distances of a row are the exact k smallest canonical values: a few spare
candidates are kept per row, and a row whose candidates might not hold them all is swept
again on its own.

**Tie rule** (that of the ``prdc`` package): a point lies inside a ball when its squared
distance to the centre is *strictly* smaller than the squared radius, and the radius of a
sample's k-NN ball is the (k+1)-th smallest distance in its row, the sample itself (0)
included. A sample at exactly the radius is outside; so is everything when the radius is 0.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..features import kernels
from ._checks import compute_dtype, resolve_device

DEFAULT_CHUNK = 2048
#: screened candidates kept per row beyond the k asked for, so that near-ties rarely need a second sweep
SPARE = 8
_PAIR_BATCH = 2048  # pairs of rows gathered at once by the exact path (2 x 16 MB at d = 2048)


def blocks(n: int, size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in steps of ``size``."""
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def prepare(
    x: torch.Tensor, *, device: torch.device, dtype: torch.dtype, chunk_size: int, shift: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x - shift`` on ``device`` in ``dtype`` (no copy when already so and no shift) and its
    squared row norms (n,)."""
    x = x.to(device=device, dtype=dtype)
    if shift is not None:
        x = torch.cat([x[a:b] - shift for a, b in blocks(len(x), chunk_size)]) if len(x) else x
    # Row norms block by block: x * x of a 50,000 x 2048 set would double the memory.
    sq = torch.cat([x[a:b].pow(2).sum(1) for a, b in blocks(len(x), chunk_size)])
    return x, sq


def common_shift(x: torch.Tensor, *, device: torch.device, dtype: torch.dtype, chunk_size: int) -> torch.Tensor:
    """The mean of the first block of ``x`` (d,): subtracting it from both sets keeps the
    screening products small (features far from the origin would otherwise widen every
    rounding bound by their norm) and leaves every distance unchanged."""
    return x[:chunk_size].to(device=device, dtype=torch.float64).mean(0).to(dtype)


class Shifted:
    """Rows of ``x`` (n, d) less a common ``shift``, in the compute ``dtype`` on ``device``,
    made block by block when asked for (no shifted copy of the set is kept), with the squared
    norms (n,) of the shifted rows. ``x`` itself is moved to ``device`` once (no copy when it
    is there), since the exact path reads its rows as they are."""

    def __init__(self, x: torch.Tensor, *, device: torch.device, dtype: torch.dtype, shift: torch.Tensor,
                 chunk_size: int) -> None:
        self.x, self.device, self.dtype, self.shift = x.to(device), device, dtype, shift
        self.sq = torch.cat([self[a:b].pow(2).sum(1) for a, b in blocks(len(x), chunk_size)])

    def __len__(self) -> int:
        return len(self.x)

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def __getitem__(self, idx: slice | torch.Tensor) -> torch.Tensor:
        rows = self.x[idx] if isinstance(idx, slice) else self.x[idx.to(self.device)]
        return rows.to(self.dtype) - self.shift


def sqdist(
    xa: torch.Tensor, sqa: torch.Tensor, xb: torch.Tensor, sqb: torch.Tensor, *, buffer: torch.Tensor | None = None
) -> torch.Tensor:
    """Screening squared Euclidean distances (a, b) between the rows of ``xa`` (a, d) and ``xb`` (b, d).

    ``buffer``: optional flat tensor of at least a * b elements to write into, so that a
    sweep over many blocks reuses one allocation instead of fragmenting the heap (the oneDNN
    product on CPU, :mod:`modecollapse.features.kernels`, writes a block of its own). Any
    summation order of the products is within the screening bound (:func:`screen_tau`).
    """
    if kernels.fused(xa):  # oneDNN's float32 product, about 1.3x MKL's on this project's (AMD) CPUs; -2 x is exact
        d2 = kernels.linear(xa, xb * -2.0, sqb)  # (a, b)
    else:
        out = None if buffer is None else buffer[: len(xa) * len(xb)].view(len(xa), len(xb))
        d2 = torch.addmm(sqb[None, :], xa, xb.T, beta=1.0, alpha=-2.0, out=out)  # (a, b)
    return d2.add_(sqa[:, None]).clamp_(min=0.0)


def block_buffer(chunk_size: int, *, like: torch.Tensor) -> torch.Tensor:
    """A flat scratch tensor for one chunk_size x chunk_size block of distances."""
    return torch.empty(chunk_size * chunk_size, dtype=like.dtype, device=like.device)


def exact_sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The canonical squared distance (p,) float64 between row i of ``a`` (p, d) and row i of ``b`` (p, d).

    Computed in the rows' own precision (float32 or float64, the same for both): the
    differences, their squares, and their sum by halving the row again and again, a fixed
    pairwise order made of element-wise additions, so that no reduction kernel can reorder
    it for another batch shape or device. Identical rows give exactly 0; swapping the
    arguments gives the same bits. The result is returned in float64.
    """
    if a.dtype != b.dtype:
        raise ValueError(f"exact_sqdist needs rows of one dtype, got {a.dtype} and {b.dtype}")
    out = []
    for s, e in blocks(len(a), _PAIR_BATCH):
        v = a[s:e] - b[s:e].to(a.device)
        v.mul_(v)
        width = 1 << max(v.shape[1] - 1, 0).bit_length()
        if width != v.shape[1]:
            v = F.pad(v, (0, width - v.shape[1]))
        while v.shape[1] > 1:
            h = v.shape[1] // 2
            v = v[:, :h].add_(v[:, h:])
        out.append(v[:, 0].to(torch.float64))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64, device=a.device)


def _pairs_exact(raw_a: torch.Tensor, ia: torch.Tensor, raw_b: torch.Tensor, ib: torch.Tensor,
                 device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Canonical distances (p,) float64 on ``device`` between rows ``raw_a[ia]`` and ``raw_b[ib]``
    taken in ``dtype`` (the compute dtype of the whole call, so every path agrees)."""
    out = []
    for s, e in blocks(len(ia), _PAIR_BATCH):
        ra = raw_a[ia[s:e].to(raw_a.device)].to(device, dtype)
        rb = raw_b[ib[s:e].to(raw_b.device)].to(device, dtype)
        out.append(exact_sqdist(ra, rb))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64, device=device)


def screen_tau(dim: int, dtype: torch.dtype) -> float:
    """``tau`` of the screening bound ``|G - D| <= tau (|x|^2 + |y|^2)`` (see the module docstring).

    ``u`` is the unit roundoff of the products: float64's, float32's, or TF32's / bfloat16's
    when ``torch.set_float32_matmul_precision`` allows them for float32 products.
    """
    if dtype == torch.float64:
        u = 2.0**-53
    else:
        u = {"highest": 2.0**-24, "high": 2.0**-11}.get(torch.get_float32_matmul_precision(), 2.0**-8)
    return (2 * dim + 24) * u


@contextlib.contextmanager
def full_precision_products() -> Iterator[None]:
    """float32 products in full float32 for the sweep (a TF32 or bfloat16 setting, as many
    training scripts make, would widen every screening bound ~8,000-fold and send nearly all
    pairs to the exact path); the caller's setting is restored afterwards."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


class _Smallest:
    """Running ``m`` smallest screened values (n, m) of each row and their column indices."""

    def __init__(self, n: int, m: int, *, dtype: torch.dtype, device: torch.device) -> None:
        self.m = m
        self.vals = torch.full((n, m), float("inf"), dtype=dtype, device=device)
        self.idx = torch.full((n, m), -1, dtype=torch.long, device=device)

    def merge(self, r0: int, r1: int, cand: torch.Tensor, col0: int) -> None:
        """Merges ``cand`` (r1 - r0, c): screened values of rows r0:r1 against columns col0:col0 + c."""
        take = min(self.m, cand.shape[1])
        v, j = torch.topk(cand, take, dim=1, largest=False, sorted=False)
        both_v = torch.cat([self.vals[r0:r1], v], dim=1)
        both_i = torch.cat([self.idx[r0:r1], j + col0], dim=1)
        v2, pos = torch.topk(both_v, self.m, dim=1, largest=False, sorted=True)
        self.vals[r0:r1] = v2
        self.idx[r0:r1] = both_i.gather(1, pos)


def _rank_smallest(rows: torch.Tensor, vals: torch.Tensor, n_rows: int, want: int) -> torch.Tensor:
    """The ``want`` smallest of ``vals`` (p,) per row id in ``rows`` (p,), ascending: (n_rows, want).
    Every row must have at least ``want`` entries."""
    order = torch.argsort(vals, stable=True)
    order = order[torch.argsort(rows[order], stable=True)]
    r, v = rows[order], vals[order]
    counts = torch.bincount(r, minlength=n_rows)
    starts = torch.cumsum(counts, 0) - counts
    pos = starts[:, None] + torch.arange(want, device=vals.device)[None, :]
    return v[pos]


def _exact_smallest(
    raw_a: torch.Tensor, xa: Shifted, sqa: torch.Tensor,
    raw_b: torch.Tensor, xb: Shifted, sqb: torch.Tensor,
    *, want: int, same: bool, chunk_size: int,
) -> torch.Tensor:
    """The ``want`` smallest canonical squared distances (n_a, want) float64 from each row of
    ``a`` to the rows of ``b`` (``same``: ``b`` is ``a``, each row's own 0 included), ascending."""
    with full_precision_products():
        return _exact_smallest_sweep(raw_a, xa, sqa, raw_b, xb, sqb, want=want, same=same, chunk_size=chunk_size)


def _exact_smallest_sweep(
    raw_a: torch.Tensor, xa: Shifted, sqa: torch.Tensor,
    raw_b: torch.Tensor, xb: Shifted, sqb: torch.Tensor,
    *, want: int, same: bool, chunk_size: int,
) -> torch.Tensor:
    na, nb, dev = len(xa), len(xb), xa.device
    keep = min(nb, want + SPARE)
    best = _Smallest(na, keep, dtype=xa.dtype, device=dev)
    buf = block_buffer(chunk_size, like=xa)
    buf_t = block_buffer(chunk_size, like=xa)
    pa, pb = blocks(na, chunk_size), blocks(nb, chunk_size)
    for bi, (i0, i1) in enumerate(pa):
        rows_a = xa[i0:i1]
        for j0, j1 in (pa[bi:] if same else pb):
            d2 = sqdist(rows_a, sqa[i0:i1], xb[j0:j1], sqb[j0:j1], buffer=buf)  # (block a, block b)
            if same and i0 == j0:
                d2.fill_diagonal_(0.0)  # the sample itself; its canonical distance is exactly 0 too
            best.merge(i0, i1, d2, j0)
            if same and j0 != i0:
                # a contiguous copy of d2.T: row-wise top-k on it is several times faster than along dim 0
                t = buf_t[: d2.numel()].view(d2.shape[1], d2.shape[0]).copy_(d2.T)
                best.merge(j0, j1, t, i0)
    return _resolve(best, want, raw_a, xa, sqa, raw_b, xb, sqb, same=same, chunk_size=chunk_size)


def _resolve(
    best: _Smallest, want: int, raw_a: torch.Tensor, xa: Shifted, sqa: torch.Tensor,
    raw_b: torch.Tensor, xb: Shifted, sqb: torch.Tensor, *, same: bool, chunk_size: int,
) -> torch.Tensor:
    """The exact ``want`` smallest canonical distances (n_a, want) from the screened candidates
    of a finished sweep: rows whose kept candidates surely hold them are settled from those,
    the others (many near-ties) are swept again on their own."""
    na, nb, dev = len(xa), len(xb), xa.device
    tau = screen_tau(xa.dim, xa.dtype)
    # every canonical value <= the want-th smallest one has a screened value <= thr
    thr = best.vals[:, want - 1].double() + 2 * tau * (sqa.double() + float(sqb.max()))  # (n_a,)
    complete = torch.full((na,), True, device=dev) if best.m == nb else best.vals[:, -1].double() > thr
    cand = (best.vals.double() <= thr[:, None]) & complete[:, None]  # (n_a, keep)
    rows, cols = cand.nonzero(as_tuple=True)
    cols = best.idx[rows, cols]
    exact = torch.zeros(len(rows), dtype=torch.float64, device=dev)
    other = cols != rows if same else torch.ones_like(rows, dtype=torch.bool)  # a row's own distance is 0
    exact[other] = _pairs_exact(raw_a, rows[other], raw_b, cols[other], dev, xa.dtype)
    out = torch.empty(na, want, dtype=torch.float64, device=dev)
    done = complete.nonzero(as_tuple=True)[0]
    if len(done):
        remap = torch.full((na,), -1, dtype=torch.long, device=dev)
        remap[done] = torch.arange(len(done), device=dev)
        out[done] = _rank_smallest(remap[rows], exact, len(done), want)
    todo = (~complete).nonzero(as_tuple=True)[0]
    if len(todo):  # many near-ties (duplicates): sweep these rows against all of b again
        for s, e in blocks(len(todo), chunk_size):
            rows_t = todo[s:e]
            rr, cc = [], []
            sub = xa[rows_t]
            for j0, j1 in blocks(nb, chunk_size):
                d2 = sqdist(sub, sqa[rows_t], xb[j0:j1], sqb[j0:j1])
                r, c = (d2.double() <= thr[rows_t, None]).nonzero(as_tuple=True)
                rr.append(r)
                cc.append(c + j0)
            r, c = torch.cat(rr), torch.cat(cc)
            exact = _pairs_exact(raw_a, rows_t[r], raw_b, c, dev, xa.dtype)
            out[rows_t] = _rank_smallest(r, exact, len(rows_t), want)
    return out


def knn_sqdist(
    x: torch.Tensor, *, k: int, chunk_size: int = DEFAULT_CHUNK, device: str | torch.device | None = None
) -> torch.Tensor:
    """Squared distances (n, k + 1) float64 from each row of ``x`` (n, d) to its ``k + 1`` nearest rows, self included.

    Ascending, so column 0 is the sample itself (exactly 0) and column ``j`` is the canonical
    squared distance (:func:`exact_sqdist`) to its ``j``-th nearest other sample: the radius
    of the k-NN ball that precision/recall and density/coverage use (the convention of the
    ``prdc`` package: the (k+1)-th smallest distance in a row that includes the sample
    itself; a duplicate of the sample counts as a neighbour at distance 0). Only the upper
    triangle of blocks is screened; each block updates both its rows and its columns.
    Independent of ``chunk_size`` and ``device``, bit for bit.
    """
    dev = resolve_device(device, x)
    dtype = compute_dtype(x)
    xs = Shifted(x, device=dev, dtype=dtype, shift=common_shift(x, device=dev, dtype=dtype, chunk_size=chunk_size),
                 chunk_size=chunk_size)
    return _exact_smallest(xs.x, xs, xs.sq, xs.x, xs, xs.sq, want=k + 1, same=True, chunk_size=chunk_size)


def nearest_sqdist(
    *, query: torch.Tensor, ref: torch.Tensor, m: int, chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """The ``m`` smallest canonical squared distances (n_query, m) float64, ascending, from each
    row of ``query`` (n_query, d) to the rows of ``ref`` (n_ref >= m, d)."""
    dev = resolve_device(device, ref)
    dtype = compute_dtype(query, ref)
    shift = common_shift(ref, device=dev, dtype=dtype, chunk_size=chunk_size)
    xq = Shifted(query, device=dev, dtype=dtype, shift=shift, chunk_size=chunk_size)
    xr = Shifted(ref, device=dev, dtype=dtype, shift=shift, chunk_size=chunk_size)
    return _exact_smallest(xq.x, xq, xq.sq, xr.x, xr, xr.sq, want=m, same=False, chunk_size=chunk_size)


@dataclass(frozen=True)
class CrossNeighbourhoods:
    """Which k-NN balls of one set contain the samples of the other.

    ``fake_in_real_balls``: (n_fake, a) long, how many real balls of radius column ``c``
    contain each fake sample; ``real_ball_counts``: (n_real, a) long, how many fake samples
    each of those real balls contains (the same comparisons, summed the other way);
    ``real_in_fake_balls``: (n_real, b) long, likewise for real samples in fake balls;
    ``real_nearest_fake``: (n_real, m_r) ascending canonical squared distances from each
    real sample to its nearest fake ones; ``fake_nearest_real``: (n_fake, m_f).
    """

    fake_in_real_balls: torch.Tensor
    real_in_fake_balls: torch.Tensor
    real_nearest_fake: torch.Tensor
    fake_nearest_real: torch.Tensor
    real_ball_counts: torch.Tensor


def cross_neighbourhoods(
    *,
    real: torch.Tensor,
    fake: torch.Tensor,
    real_radii2: torch.Tensor | None = None,
    fake_radii2: torch.Tensor | None = None,
    real_nearest: int = 0,
    fake_nearest: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device | None = None,
) -> CrossNeighbourhoods:
    """One blockwise pass over all real x fake distances.

    ``real_radii2`` (n_real, a) and ``fake_radii2`` (n_fake, b) are squared ball radii
    (several columns for several k; from :func:`knn_sqdist`, so canonical values); a point
    lies inside a ball when its canonical squared distance to the centre is **strictly
    smaller** than the squared radius (as in ``prdc``). ``real_nearest`` / ``fake_nearest``
    ask for that many smallest canonical cross distances per sample, from the same sweep.
    """
    with full_precision_products():
        return _cross_sweep(real=real, fake=fake, real_radii2=real_radii2, fake_radii2=fake_radii2,
                            real_nearest=real_nearest, fake_nearest=fake_nearest, chunk_size=chunk_size, device=device)


def _cross_sweep(
    *, real: torch.Tensor, fake: torch.Tensor, real_radii2: torch.Tensor | None, fake_radii2: torch.Tensor | None,
    real_nearest: int, fake_nearest: int, chunk_size: int, device: str | torch.device | None,
) -> CrossNeighbourhoods:
    dev = resolve_device(device, real)
    dtype = compute_dtype(real, fake)
    shift = common_shift(real, device=dev, dtype=dtype, chunk_size=chunk_size)
    xr = Shifted(real, device=dev, dtype=dtype, shift=shift, chunk_size=chunk_size)
    xf = Shifted(fake, device=dev, dtype=dtype, shift=shift, chunk_size=chunk_size)
    sqr, sqf, real, fake = xr.sq, xf.sq, xr.x, xf.x
    nr, nf = len(xr), len(xf)
    f64 = torch.float64
    rr = torch.empty(nr, 0, dtype=f64, device=dev) if real_radii2 is None else real_radii2.to(dev, f64)
    fr = torch.empty(nf, 0, dtype=f64, device=dev) if fake_radii2 is None else fake_radii2.to(dev, f64)
    fake_in = torch.zeros(nf, rr.shape[1], dtype=torch.long, device=dev)
    real_cnt = torch.zeros(nr, rr.shape[1], dtype=torch.long, device=dev)
    real_in = torch.zeros(nr, fr.shape[1], dtype=torch.long, device=dev)
    tau = screen_tau(xr.dim, dtype)
    buf = block_buffer(chunk_size, like=xr)
    buf_t = block_buffer(chunk_size, like=xr) if fake_nearest else buf
    near_r = _Smallest(nr, min(nf, real_nearest + SPARE), dtype=dtype, device=dev) if real_nearest else None
    near_f = _Smallest(nf, min(nr, fake_nearest + SPARE), dtype=dtype, device=dev) if fake_nearest else None
    if rr.shape[1] or fr.shape[1] or real_nearest or fake_nearest:
        for i0, i1 in blocks(nr, chunk_size):
            rows_r = xr[i0:i1]
            for j0, j1 in blocks(nf, chunk_size):
                d2 = sqdist(rows_r, sqr[i0:i1], xf[j0:j1], sqf[j0:j1], buffer=buf)  # (real block, fake block)
                # rows: real radii with a per-row bound; columns: fake radii with a per-column one
                tol_r = tau * (sqr[i0:i1].double() + float(sqf[j0:j1].max()))
                tol_f = tau * (sqf[j0:j1].double() + float(sqr[i0:i1].max()))
                for c in range(rr.shape[1]):
                    rad = rr[i0:i1, c]
                    fin, rcnt = _ball_counts(d2, rad - tol_r, rad + tol_r, dtype, real, fake, i0, j0, rad, True)
                    fake_in[j0:j1, c] += fin
                    real_cnt[i0:i1, c] += rcnt
                for c in range(fr.shape[1]):
                    rad = fr[j0:j1, c]
                    _, rin = _ball_counts(d2, rad - tol_f, rad + tol_f, dtype, real, fake, i0, j0, rad, False)
                    real_in[i0:i1, c] += rin
                if near_r is not None:
                    near_r.merge(i0, i1, d2, j0)
                if near_f is not None:
                    t = buf_t[: d2.numel()].view(d2.shape[1], d2.shape[0]).copy_(d2.T)
                    near_f.merge(j0, j1, t, i0)
    nearest_r = torch.empty(nr, 0, dtype=f64) if near_r is None else _resolve(
        near_r, real_nearest, real, xr, sqr, fake, xf, sqf, same=False, chunk_size=chunk_size)
    nearest_f = torch.empty(nf, 0, dtype=f64) if near_f is None else _resolve(
        near_f, fake_nearest, fake, xf, sqf, real, xr, sqr, same=False, chunk_size=chunk_size)
    return CrossNeighbourhoods(fake_in.cpu(), real_in.cpu(), nearest_r.cpu(), nearest_f.cpu(), real_cnt.cpu())


def _ball_counts(
    d2: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, dtype: torch.dtype,
    real: torch.Tensor, fake: torch.Tensor, i0: int, j0: int, rad: torch.Tensor, rows: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-column counts (b,), per-row counts (a,)) of the block's pairs strictly inside the
    balls of squared radius ``rad`` (per row when ``rows``, else per column). Screened values
    below ``lo`` are in, at or above ``hi`` out; the pairs between go to :func:`exact_sqdist`."""
    shape = (-1, 1) if rows else (1, -1)
    lo_, hi_ = lo.to(dtype).view(shape), hi.to(dtype).view(shape)
    sure = d2 < lo_
    # int32 sums of a block are exact and ~6x faster than the default int64 ones
    col_counts = sure.sum(0, dtype=torch.int32).long()
    row_counts = sure.sum(1, dtype=torch.int32).long()
    # the pairs inside the bound: one scan of the block (gathering the rows that have some cost more)
    ii, jj = (d2 < hi_).logical_xor_(sure).nonzero(as_tuple=True)
    if len(ii):
        exact = _pairs_exact(real, ii + i0, fake, jj + j0, d2.device, dtype)
        inside = exact < (rad[ii] if rows else rad[jj])
        col_counts.index_add_(0, jj[inside], torch.ones_like(jj[inside]))
        row_counts.index_add_(0, ii[inside], torch.ones_like(ii[inside]))
    return col_counts, row_counts
