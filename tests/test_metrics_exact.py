"""k-NN metrics where collapse and memorisation live: exact copies, ties and chunk sizes.

A generator that copies real samples, or that emits the same sample again and again, puts
points at distance exactly 0 from real ones and at exactly the k-NN radius of others. The
metrics must then follow their definition (strictly inside a ball; radius = (k+1)-th
smallest distance, the sample itself included), not the rounding of one block's matrix
product, and the ``prdc`` package (Naeem et al. 2020's reference code) is the judge.
"""
import contextlib
import io

import numpy as np
import pytest
import torch

from modecollapse.metrics import cross_neighbourhoods, knn_sqdist, memorisation, prdc
from modecollapse.metrics.knn import exact_sqdist

prdc_package = pytest.importorskip("prdc")

DTYPES = [torch.float32, torch.float64]


def _modes(n, dim, *, modes=10, scale=0.5, seed=0):
    """``modes`` Gaussian modes in ``dim`` dimensions, float32 numpy (n, dim)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((modes, dim)).astype(np.float32) * scale
    return (rng.standard_normal((n, dim)).astype(np.float32) + centres[rng.integers(0, modes, n)]).astype(np.float32)


def _reference(real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample counts
        return {key: float(v) for key, v in prdc_package.compute_prdc(
            real_features=real, fake_features=fake, nearest_k=k).items()}


def _ours(real, fake, k, dtype, chunk_size=2048):
    r = prdc(real=torch.from_numpy(real).to(dtype), fake=torch.from_numpy(fake).to(dtype), pr_k=k, dc_k=k,
             chunk_size=chunk_size)
    return {"precision": r.precision, "recall": r.recall, "density": r.density, "coverage": r.coverage}


def test_identical_rows_are_exactly_zero_apart_in_any_batch_and_order():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 513, generator=g) * 7 + 100, torch.randn(300, 513, generator=g)
    d = exact_sqdist(a, b)
    assert torch.equal(exact_sqdist(b, a), d)
    assert torch.equal(exact_sqdist(a[17:18], b[17:18]), d[17:18])  # one pair alone: the same bits
    assert torch.equal(exact_sqdist(a, a.clone()), torch.zeros(300, dtype=torch.float64))
    x = torch.cat([a[:50], a[:50], a[50:]])  # 50 rows twice
    knn = knn_sqdist(x, k=3, chunk_size=64)
    assert torch.equal(knn[:100, :2], torch.zeros(100, 2, dtype=torch.float64))  # itself and its twin
    assert bool((knn[100:, 1] > 0).all())


@pytest.mark.parametrize("dtype", DTYPES)
def test_five_copies_of_a_real_sample_equal_the_prdc_package(dtype):
    """The memorising generator of issue 20: fake = 5 copies of real[0], 10 modes in 512-D,
    5,000 real rows, k = 3. The old blockwise code gave density 1.27 (float32) and recall
    0.0002 (float64, a fake radius of rounding noise) where prdc gives 1.0 and 0."""
    real = _modes(5000, 512)
    fake = np.repeat(real[:1], 5, axis=0)
    ref = _reference(real, fake, 3)
    assert ref == {"precision": 1.0, "recall": 0.0, "density": 1.0, "coverage": 0.0006}
    assert _ours(real, fake, 3, dtype) == ref


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_fakes_get_identical_counts_whatever_the_blocks(dtype):
    real = torch.from_numpy(_modes(700, 64, seed=1)).to(dtype)
    picks = torch.tensor([0, 5, 123, 699])
    fake = real[picks].repeat_interleave(9, dim=0)  # 36 rows, copies straddling every block edge
    radii = knn_sqdist(real, k=3)[:, 3:4]
    base = None
    for chunk in (7, 16, 100, 4096):
        counts = cross_neighbourhoods(real=real, fake=fake, real_radii2=radii, chunk_size=chunk).fake_in_real_balls[:, 0]
        per_copy = counts.view(4, 9)
        assert bool((per_copy == per_copy[:, :1]).all()), f"copies counted differently at chunk_size={chunk}"
        base = counts if base is None else base
        assert torch.equal(counts, base)


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_do_not_depend_on_chunk_size_with_copies_and_duplicates(dtype):
    """Duplicated real rows, fakes that copy real rows and near-copies: every metric equal
    bit for bit across chunk sizes, and equal to prdc."""
    g = torch.Generator().manual_seed(2)
    base_rows = torch.from_numpy(_modes(400, 128, seed=2))
    # 60 real rows twice and one 20 times (more ties than a row keeps candidates: a second sweep)
    real = torch.cat([base_rows, base_rows[:60], base_rows[399:].repeat(19, 1)])
    fake = torch.cat([base_rows[torch.randint(0, 400, (150,), generator=g)],
                      base_rows[:40] + 1e-3 * torch.randn(40, 128, generator=g),
                      torch.from_numpy(_modes(120, 128, seed=3))])
    runs = [_ours(real.numpy(), fake.numpy(), 3, dtype, chunk_size=c) for c in (13, 64, 257, 2048)]
    assert all(r == runs[0] for r in runs[1:]), runs
    ref = _reference(real.numpy(), fake.numpy(), 3)
    assert runs[0] == pytest.approx(ref, abs=1e-12)


def test_tie_rule_is_strict_and_a_zero_radius_holds_nothing():
    """1-D points far from the origin (float32 products there are off by whole units):
    real at 0, 1, 2, 10 with k = 1 have radii 1, 1, 1, 8. A fake at a real point lies in
    that point's ball only (distance exactly 1 is outside the neighbours' balls); a fake at
    0.5 lies in two. Three copies of one fake have radius 0: no real point is inside."""
    off = 4096.0
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]]) + off
    fake = torch.tensor([[1.0], [1.0], [1.0], [0.5]]) + off
    radii = knn_sqdist(real, k=1)[:, 1:2]
    assert radii.flatten().tolist() == [1.0, 1.0, 1.0, 64.0]
    cross = cross_neighbourhoods(real=real, fake=fake, real_radii2=radii,
                                 fake_radii2=knn_sqdist(fake, k=1)[:, 1:2])
    assert cross.fake_in_real_balls[:, 0].tolist() == [1, 1, 1, 2]
    assert cross.real_ball_counts[:, 0].tolist() == [1, 4, 0, 0]
    assert cross.real_in_fake_balls[:, 0].tolist() == [0, 0, 0, 0]  # fake radii: 0, 0, 0 and 0.5
    r = prdc(real=real, fake=fake, pr_k=1, dc_k=1)
    assert (r.precision, r.recall, r.density, r.coverage) == (1.0, 0.0, 5 / 4, 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_copies_are_memorised(dtype):
    real = torch.from_numpy(_modes(500, 256, seed=4)).to(dtype) + 50.0
    m = memorisation(real=real, fake=real[:100].clone(), baseline=False)
    assert m.memorisation == 1.0 and m.count == 100


def test_a_tf32_setting_is_lifted_for_the_sweep_and_restored():
    """Training scripts often allow TF32 products; the sweep runs in full float32 anyway (its
    screening bound assumes it) and leaves the caller's setting as it was."""
    real = torch.from_numpy(_modes(300, 32, seed=5))
    fake = real[:20].clone()
    before = torch.get_float32_matmul_precision()
    try:
        expected = prdc(real=real, fake=fake)
        torch.set_float32_matmul_precision("high")
        assert prdc(real=real, fake=fake) == expected
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)
