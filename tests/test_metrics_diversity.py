"""Vendi, NDB, birthday support, mutual information and mode statistics."""
import math

import pytest
import torch

from modecollapse.data import build_dataset
from modecollapse.errors import ConfigError
from modecollapse.metrics import ClassifierModes, StreamingVendi, birthday, mode_stats, mutual_information, ndb, vendi


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _orthogonal_clusters(k, per, d=16, noise=0.01, seed=0):
    g = _gen(seed)
    centres = torch.eye(d)[:k] * 10
    return (centres.repeat_interleave(per, 0) + noise * torch.randn(k * per, d, generator=g))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_vendi_of_k_separated_equal_clusters_is_k(k):
    x = _orthogonal_clusters(k, 40)  # n > d: dual route for k*40 > 16
    assert vendi(samples=x).vendi == pytest.approx(k, rel=0.02)
    for q in (0.5, 2.0, math.inf):
        assert vendi(samples=x, order=q).vendi == pytest.approx(k, rel=0.03)


def test_vendi_rbf_counts_ring_modes():
    bench = build_dataset("ring", {"std": 0.001})
    x = bench.sample(400, _gen(1))
    assert vendi(samples=x, kernel="rbf", bandwidth=0.05).vendi == pytest.approx(8.0, rel=0.02)
    collapsed = bench.sample_modes(torch.randint(0, 2, (400,), generator=_gen(2)), _gen(3))
    assert vendi(samples=collapsed, kernel="rbf", bandwidth=0.05).vendi == pytest.approx(2.0, rel=0.02)


def test_vendi_dual_equals_primal_and_orders_are_ordered():
    x = torch.randn(30, 50, generator=_gen(4), dtype=torch.float64)  # n < d: primal route
    primal = vendi(samples=x)
    assert primal.method == "primal"
    dual = StreamingVendi()
    for part in torch.split(x, 7):
        dual.update(part)
    assert dual.compute().vendi == pytest.approx(primal.vendi, rel=1e-9)
    scores = [vendi(samples=x, order=q).vendi for q in (0.0, 0.5, 1.0, 2.0, math.inf)]
    assert scores[0] == pytest.approx(30.0)
    assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:]))
    # linear kernel: exp entropy of the eigenvalues of X X^T / n, here through those of X^T X (the dual)
    ev = torch.linalg.eigvalsh(x.T @ x).clamp_min(0)
    p = ev[ev > 1e-12] / ev.sum()
    assert vendi(samples=x, kernel="linear").vendi == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-9)


def test_vendi_rbf_needs_a_bandwidth_and_subsets_large_sets():
    x = torch.randn(60, 2, generator=_gen(5))
    with pytest.raises(ConfigError, match="bandwidth"):
        vendi(samples=x, kernel="rbf")
    r = vendi(samples=x, kernel="rbf", bandwidth=0.5, max_exact=40, seed=3)
    assert r.method == "subset" and r.n_used == 40
    assert r == vendi(samples=x, kernel="rbf", bandwidth=0.5, max_exact=40, seed=3)


def test_ndb_low_for_matching_sets_and_high_when_modes_dropped():
    bench = build_dataset("ring")
    real, same = bench.sample(1500, _gen(6)), bench.sample(1500, _gen(7))
    half = bench.sample_modes(torch.randint(0, 4, (1500,), generator=_gen(8)), _gen(9))
    good = ndb(real=real, fake=same, bins=16)
    bad = ndb(real=real, fake=half, bins=16)
    assert good.ndb <= 0.25 and good.js < 0.02
    assert bad.ndb >= 0.9 and bad.js > 0.2
    assert good == ndb(real=real, fake=same, bins=16)  # seeded


def test_birthday_support_halves_when_half_the_modes_are_dropped():
    bench = build_dataset("ring")
    real = bench.sample(4096, _gen(10))
    half = bench.sample_modes(torch.randint(0, 4, (4096,), generator=_gen(11)), _gen(12))
    r = birthday(real=real, fake=half, quantile=0.01, batch_size=128)
    assert r.support_real == pytest.approx(100, rel=0.1)  # 1 / quantile by construction
    assert r.support / r.support_real == pytest.approx(0.5, rel=0.2)
    explicit = birthday(real=real, fake=half, threshold=r.threshold, batch_size=128)
    assert explicit.support == r.support
    distinct = birthday(real=real, fake=real * 0 + torch.arange(4096.0)[:, None], threshold=0.5)
    assert distinct.support is None and distinct.duplicate_rate == 0.0


def test_mutual_information_of_correlated_gaussians():
    g = _gen(13)
    n, rho = 1500, 0.9
    z = torch.randn(n, 1, generator=g)
    x = rho * z + math.sqrt(1 - rho**2) * torch.randn(n, 1, generator=g)
    truth = -0.5 * math.log(1 - rho**2)
    assert mutual_information(latent=z, samples=x).mutual_info == pytest.approx(truth, abs=0.08)
    indep = mutual_information(latent=z, samples=torch.randn(n, 1, generator=g)).mutual_info
    assert abs(indep) < 0.05
    with pytest.raises(ConfigError, match="row i of each"):
        mutual_information(latent=z[:10], samples=x)


def test_mode_stats_from_a_classifier_reuses_the_protocol():
    bench = build_dataset("ring")
    x = bench.sample_modes(torch.randint(0, 3, (300,), generator=_gen(14)), _gen(15))
    clf = ClassifierModes(lambda b: -torch.cdist(b, bench.centers), dim=2)  # logits: nearest centre
    st = mode_stats(samples=x, benchmark=clf)
    assert st.modes == 3 and st.num_modes == 8 and st.hq_fraction == 1.0
    assert st.modes == mode_stats(samples=x, benchmark=bench).modes
    labels = ClassifierModes(lambda b: torch.cdist(b, bench.centers).argmin(1), dim=2, num_modes=8)
    assert mode_stats(samples=x, benchmark=labels).counts == st.counts
