"""k-NN metrics: precision/recall, density/coverage, memorisation, and the blockwise engine."""
import numpy as np
import pytest
import torch

from modecollapse.data import build_dataset
from modecollapse.errors import ConfigError
from modecollapse.metrics import density_coverage, fid, knn_sqdist, memorisation, prdc, precision_recall


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _ring(n, seed=0, modes=None):
    bench = build_dataset("ring")
    g = _gen(seed)
    if modes is None:
        return bench.sample(n, g)
    return bench.sample_modes(torch.tensor(modes)[torch.randint(len(modes), (n,), generator=g)], g)


def _reference_prdc(real, fake, k):
    """Full-matrix definitions of the prdc package, in float64 numpy."""
    r, f = real.double().numpy(), fake.double().numpy()
    d = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    rr = np.sort(d(r, r), axis=1)[:, k]
    ff = np.sort(d(f, f), axis=1)[:, k]
    rf = d(r, f)
    return dict(
        precision=(rf < rr[:, None]).any(0).mean(),
        recall=(rf < ff[None, :]).any(1).mean(),
        density=(rf < rr[:, None]).sum(0).mean() / k,
        coverage=(rf.min(1) < rr).mean(),
    )


def test_identical_sets_score_one():
    x = _ring(400)
    pr = precision_recall(real=x, fake=x.clone())
    dc = density_coverage(real=x, fake=x.clone())
    assert pr.precision == pr.recall == 1.0
    assert dc.coverage == 1.0
    assert fid(real=x, fake=x.clone()).fid == pytest.approx(0.0, abs=1e-9)


def test_one_cluster_of_the_mixture_has_high_precision_low_recall_and_coverage():
    real = _ring(800, seed=1)
    fake = _ring(800, seed=2, modes=[0])
    r = prdc(real=real, fake=fake)
    assert r.precision > 0.9
    assert r.recall < 0.2
    assert r.coverage < 0.2


def test_swapping_real_and_fake_swaps_precision_and_recall():
    real = _ring(600, seed=3)
    fake = _ring(600, seed=4, modes=[0, 1, 2])
    a = precision_recall(real=real, fake=fake)
    b = precision_recall(real=fake, fake=real)
    assert a.precision == b.recall and a.recall == b.precision
    assert a.precision > 0.9 > a.recall  # which set is "real" matters


def test_plus_counterexample_fid_blind_while_recall_and_coverage_fall():
    """Two clusters stretched along y, with the plus's mean and covariance: FID ~ 0, modes missed."""
    g = _gen(5)
    n = 1000
    real = build_dataset("plus").sample(n, g)  # clusters at (+-2, 0), (0, +-2), std 0.1
    var = 2.0**2 / 2 + 0.1**2  # per-axis variance of the plus
    sx = 0.1
    a = (var - sx * sx) ** 0.5  # cluster offset: x-variance a^2 + sx^2 = var
    side = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    std = torch.tensor([sx, var**0.5])  # inflated along y to match the y-variance
    fake = torch.stack([side * a, torch.zeros(n)], 1) + torch.randn(n, 2, generator=g) * std
    same = build_dataset("plus").sample(n, g)
    blind = fid(real=real, fake=fake).fid
    assert blind < 0.1  # FID of a trace-4 distribution: essentially a match
    r, ref = prdc(real=real, fake=fake), prdc(real=real, fake=same)
    assert ref.recall > 0.95 and ref.coverage > 0.9
    assert r.recall < 0.3 and r.coverage < 0.3


@pytest.mark.parametrize("k", [1, 3, 5])
def test_blockwise_matches_full_matrix_reference(k):
    g = _gen(6)
    real = torch.randn(150, 5, generator=g, dtype=torch.float64)
    fake = torch.randn(130, 5, generator=g, dtype=torch.float64) * 1.2 + 0.2
    ref = _reference_prdc(real, fake, k)
    for chunk in (1000, 64, 17, 4):
        r = prdc(real=real, fake=fake, pr_k=k, dc_k=k, chunk_size=chunk)
        assert r.precision == pytest.approx(ref["precision"], abs=1e-12)
        assert r.recall == pytest.approx(ref["recall"], abs=1e-12)
        assert r.density == pytest.approx(ref["density"], abs=1e-12)
        assert r.coverage == pytest.approx(ref["coverage"], abs=1e-12)


def test_knn_radii_do_not_depend_on_chunk_size():
    x = torch.randn(203, 7, generator=_gen(7), dtype=torch.float64)
    full = knn_sqdist(x, k=4, chunk_size=1000)
    assert torch.equal(full[:, 0], torch.zeros(203, dtype=torch.float64))
    for chunk in (50, 13, 3):
        assert torch.allclose(knn_sqdist(x, k=4, chunk_size=chunk), full, rtol=0, atol=1e-12)
    brute = torch.cdist(x, x).pow(2).sort(dim=1).values[:, :5]
    assert torch.allclose(full, brute, atol=1e-9)


def test_float32_result_independent_of_chunk_size():
    real, fake = _ring(500, seed=8), _ring(450, seed=9, modes=[0, 1, 2, 3, 4])
    base = prdc(real=real, fake=fake, chunk_size=4096)
    for chunk in (100, 33):
        assert prdc(real=real, fake=fake, chunk_size=chunk) == base


def test_precomputed_real_knn_gives_the_same_result():
    real, fake = _ring(300, seed=10), _ring(300, seed=11, modes=[1, 2])
    knn = knn_sqdist(real, k=5)
    assert prdc(real=real, fake=fake, real_knn=knn) == prdc(real=real, fake=fake)


def test_density_is_about_one_for_matching_sets():
    real, fake = _ring(2000, seed=12), _ring(2000, seed=13)
    r = density_coverage(real=real, fake=fake)
    assert 0.85 < r.density < 1.15 and r.coverage > 0.9


def test_memorisation_detects_copies_and_not_fresh_samples():
    g = _gen(14)
    train = torch.randn(200, 32, generator=g)
    copies = train[:100] + 1e-3 * torch.randn(100, 32, generator=g)
    fresh = torch.randn(100, 32, generator=g)
    assert memorisation(real=train, fake=copies).memorisation == 1.0
    m = memorisation(real=train, fake=fresh)
    assert m.memorisation == 0.0 and m.real_baseline == 0.0
    half = memorisation(real=train, fake=torch.cat([copies[:50], fresh[:50]]))
    assert half.memorisation == 0.5 and half.count == 50


def test_memorisation_baseline_in_two_dimensions_is_ratio_squared():
    real = torch.rand(4000, 2, generator=_gen(15))
    base = memorisation(real=real, fake=real[:10], baseline=True).real_baseline
    assert base == pytest.approx(1 / 9, abs=0.03)


def test_bad_inputs_raise_one_sentence():
    x = torch.randn(10, 3)
    with pytest.raises(ConfigError, match="at least 4 are needed"):
        precision_recall(real=x[:3], fake=x)
    with pytest.raises(ConfigError, match="different feature dimensions"):
        prdc(real=x, fake=torch.randn(10, 4))
    bad = x.clone()
    bad[2, 0] = float("nan")
    bad[5, 1] = float("inf")
    with pytest.raises(ConfigError, match="2 of 10 rows"):
        density_coverage(real=x, fake=bad, k=2)


def test_onednn_and_mkl_products_give_the_same_counts_with_copies_and_ties(monkeypatch):
    """The screening product runs on oneDNN on CPU where PyTorch has it, on MKL (addmm) elsewhere:
    the exact comparisons decide every near-tie, so the four metrics are the same bits either way,
    with copies of real samples and duplicates among them."""
    from modecollapse.features import kernels

    if not kernels.ONEDNN:
        pytest.skip("this PyTorch has no oneDNN fused operators")
    g = torch.Generator().manual_seed(3)
    real = torch.randn(600, 64, generator=g) + 4 * torch.randint(0, 5, (600, 1), generator=g).float()
    real[50:53] = real[7]  # duplicates: balls of radius 0
    fake = torch.cat([real[:40], torch.randn(300, 64, generator=g) + 4.0])  # copies and fresh samples
    fused = prdc(real=real, fake=fake, pr_k=3, dc_k=5, chunk_size=128)
    monkeypatch.setattr(kernels, "ONEDNN", False)
    plain = prdc(real=real, fake=fake, pr_k=3, dc_k=5, chunk_size=128)
    assert fused == plain
    assert torch.equal(knn_sqdist(real, k=5, chunk_size=128), knn_sqdist(real, k=5, chunk_size=200))
