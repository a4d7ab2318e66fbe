"""FID (eigendecomposition square root, streaming) and KID."""
import numpy as np
import pytest
import scipy.linalg
import torch

from modecollapse.errors import ConfigError
from modecollapse.metrics import GaussianMoments, StreamingFID, fid, kid, trace_sqrt_product


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _scipy_fid(real, fake):
    r, f = real.double().numpy(), fake.double().numpy()
    mu1, mu2 = r.mean(0), f.mean(0)
    s1, s2 = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def test_fid_matches_scipy_sqrtm_on_full_rank_data():
    g = _gen(0)
    mix = torch.randn(24, 24, generator=g, dtype=torch.float64)
    real = torch.randn(400, 24, generator=g, dtype=torch.float64)
    fake = torch.randn(300, 24, generator=g, dtype=torch.float64) @ mix * 0.3 + 0.5
    ours, ref = fid(real=real, fake=fake).fid, _scipy_fid(real, fake)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert fid(real=fake, fake=real).fid == pytest.approx(ours, rel=1e-12)


def test_fid_of_identical_sets_is_zero():
    x = torch.randn(300, 16, generator=_gen(1))
    assert fid(real=x, fake=x.clone()).fid == pytest.approx(0.0, abs=1e-8)


def test_fid_finite_on_rank_deficient_collapsed_data():
    g = _gen(2)
    real = torch.randn(200, 64, generator=g)
    collapsed = torch.randn(1, 64, generator=g).repeat(200, 1)  # every sample the same: covariance 0
    low_rank = torch.randn(200, 3, generator=g) @ torch.randn(3, 64, generator=g)
    few = torch.randn(10, 64, generator=g)  # n < d: rank 9
    for fake in (collapsed, low_rank, few):
        value = fid(real=real, fake=fake).fid
        assert np.isfinite(value) and value > 0
    # a point mass: FID = |mu_r - x|^2 + tr(S_r) exactly
    mu, cov = real.double().mean(0), torch.cov(real.double().T)
    expected = float((mu - collapsed[0].double()).pow(2).sum() + torch.trace(cov))
    assert fid(real=real, fake=collapsed).fid == pytest.approx(expected, rel=1e-9)


def test_trace_sqrt_product_of_commuting_matrices():
    a = torch.diag(torch.tensor([4.0, 9.0, 0.0], dtype=torch.float64))
    b = torch.diag(torch.tensor([1.0, 4.0, 5.0], dtype=torch.float64))
    assert trace_sqrt_product(a, b) == pytest.approx(2.0 + 6.0 + 0.0)


def test_streaming_fid_equals_one_shot():
    g = _gen(3)
    real = torch.randn(517, 12, generator=g) * 3 + 100.0  # a large mean must not cancel the covariance
    fake = torch.randn(301, 12, generator=g) * 2.5 + 100.5
    stream = StreamingFID()
    for part in torch.split(real, 100):
        stream.update(real=part)
    for part in torch.split(fake, 7):
        stream.update(fake=part)
    one = fid(real=real.double(), fake=fake.double()).fid
    assert stream.compute().fid == pytest.approx(one, rel=1e-9)
    stream.reset(real=False)
    stream.update(fake=real)
    assert stream.compute().fid == pytest.approx(0.0, abs=1e-7)
    stream.reset()
    assert stream.real.n == 0 and stream.fake.n == 0


def test_moments_do_not_depend_on_chunk_size():
    x = torch.randn(333, 5, generator=_gen(4), dtype=torch.float64)
    ref = GaussianMoments()
    ref.update(x, chunk_size=1000)
    for chunk in (1, 50):
        m = GaussianMoments()
        m.update(x, chunk_size=chunk)
        assert torch.allclose(m.compute()[1], ref.compute()[1], atol=1e-12)
    assert torch.allclose(ref.compute()[1], torch.cov(x.T), atol=1e-12)


def test_kid_near_zero_for_same_distribution_and_positive_when_modes_differ():
    g = _gen(5)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same = kid(real=a, fake=b, subsets=20, subset_size=200)
    assert abs(same.kid) < 3 * same.kid_std + 1e-3
    shifted = kid(real=a, fake=b[:, :] + torch.tensor([2.0] + [0.0] * 7), subsets=20, subset_size=200)
    assert shifted.kid > 10 * max(abs(same.kid), same.kid_std)
    assert kid(real=a, fake=b, subsets=5, seed=1) == kid(real=a, fake=b, subsets=5, seed=1)
    assert kid(real=a, fake=b, subsets=5).subset_size == 400  # default min(1000, n)


def test_kid_unbiased_estimate_matches_direct_formula():
    g = _gen(6)
    x, y = torch.randn(50, 4, generator=g, dtype=torch.float64), torch.randn(50, 4, generator=g, dtype=torch.float64)
    r = kid(real=x, fake=y, subsets=1, subset_size=50)
    k = lambda a, b: (a @ b.T / 4 + 1) ** 3  # noqa: E731
    m = 50
    off = lambda t: (t.sum() - t.diagonal().sum()) / (m * (m - 1))  # noqa: E731
    expected = float(off(k(x, x)) + off(k(y, y)) - 2 * k(x, y).mean())
    assert r.kid == pytest.approx(expected, rel=1e-9)


def test_kid_subset_larger_than_a_set_is_an_error():
    with pytest.raises(ConfigError, match="subset size 50 exceeds"):
        kid(real=torch.randn(40, 3), fake=torch.randn(60, 3), subset_size=50)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kid_methods_agree_and_use_the_seeds_subsets(dtype):
    """The per-subset products and the one pass over all kernel blocks give the same values;
    both use exactly the subsets subset_indices draws for the seed."""
    import importlib

    kid_module = importlib.import_module("modecollapse.metrics.kid")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(230, 9, generator=g, dtype=dtype).abs()
    y = torch.randn(190, 9, generator=g, dtype=dtype).abs() * 1.2
    a = kid(real=x, fake=y, subsets=6, subset_size=50, seed=2, method="subsets")
    b = kid(real=x, fake=y, subsets=6, subset_size=50, seed=2, method="full")
    assert a.kid == pytest.approx(b.kid, rel=1e-6 if dtype == torch.float32 else 1e-12)
    assert a.kid_std == pytest.approx(b.kid_std, rel=1e-5 if dtype == torch.float32 else 1e-10)
    rows_x, rows_y = kid_module.subset_indices(230, 190, subsets=6, subset_size=50, seed=2)
    xd, yd = x.double(), y.double()
    values = []
    for rx, ry in zip(rows_x, rows_y):
        kxx, kyy = (xd[rx] @ xd[rx].T / 9 + 1) ** 3, (yd[ry] @ yd[ry].T / 9 + 1) ** 3
        kxy = (xd[rx] @ yd[ry].T / 9 + 1) ** 3
        values.append(float((kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (50 * 49) - 2 * kxy.mean()))
    assert a.kid == pytest.approx(sum(values) / 6, rel=1e-5 if dtype == torch.float32 else 1e-12)
    # the GPU's staircase of blocks sums the same within-set kernel as the CPU's symmetric product
    buf = torch.empty(230 * 230, dtype=dtype)
    kern = {"degree": 3, "gamma": 1 / 9, "coef0": 1.0}
    assert kid_module._within_sum(x, buf, staircase=True, **kern) == pytest.approx(
        kid_module._within_sum(x, buf, staircase=False, **kern), rel=1e-6 if dtype == torch.float32 else 1e-13)
