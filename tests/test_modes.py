"""Mode metrics on hand-made sample sets with known answers."""
import math

import pytest
import torch

from modecollapse.data import build_dataset, hq_radius
from modecollapse.metrics import mode_stats


def ring():
    return build_dataset("ring")  # 8 modes, radius 2, std 0.02


def test_all_samples_on_one_mode():
    ds = ring()
    samples = ds.centers[3].repeat(2500, 1) + 0.001 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    s = mode_stats(samples=samples, benchmark=ds)
    assert s.modes == 1
    assert s.hq_fraction == 1.0
    assert s.reverse_kl == pytest.approx(math.log(8), rel=1e-9)
    assert s.counts[3] == 2500


def test_equal_counts_on_every_mode():
    ds = ring()
    samples = ds.centers.repeat_interleave(100, dim=0)
    s = mode_stats(samples=samples, benchmark=ds)
    assert s.modes == 8
    assert s.reverse_kl == pytest.approx(0.0, abs=1e-12)
    assert s.counts == (100,) * 8


def test_far_samples_are_low_quality():
    ds = ring()
    samples = torch.zeros(500, 2)  # the ring's centre: 2 away from every mode, 0.06 allowed
    s = mode_stats(samples=samples, benchmark=ds)
    assert s.hq_fraction == 0.0
    assert s.modes == 0
    assert s.reverse_kl == pytest.approx(math.log(8))  # worst case, never NaN


def test_threshold_is_three_std_in_2d():
    ds = ring()
    c = ds.centers[0]
    inside = c + torch.tensor([[0.059, 0.0]])
    outside = c + torch.tensor([[0.061, 0.0]])
    assert mode_stats(samples=inside, benchmark=ds).hq_fraction == 1.0
    assert mode_stats(samples=outside, benchmark=ds).hq_fraction == 0.0
    assert hq_radius(0.02, 2) == pytest.approx(0.06, rel=1e-9)


def test_true_samples_are_mostly_high_quality_in_every_benchmark():
    gen = torch.Generator().manual_seed(1)
    for name in ("ring", "grid", "plus", "core-outliers", "highdim", "lines"):
        ds = build_dataset(name)
        s = mode_stats(samples=ds.sample(4000, gen), benchmark=ds)
        assert s.modes == ds.num_modes, name
        # 98.9% of a Gaussian mode lies inside the radius, in 2D and in 1200D alike
        assert s.hq_fraction == pytest.approx(0.989, abs=0.015), name
        assert s.reverse_kl < 0.02, name


def test_reverse_kl_uses_true_weights_for_unequal_modes():
    ds = build_dataset("core-outliers")  # core 0.9, four outliers 0.025 each
    gen = torch.Generator().manual_seed(2)
    core_only = ds.sample_modes(torch.zeros(1000, dtype=torch.long), gen)
    s = mode_stats(samples=core_only, benchmark=ds)
    assert s.modes == 1
    assert s.reverse_kl == pytest.approx(-math.log(0.9), rel=1e-6)


def test_nan_samples_count_as_low_quality():
    ds = ring()
    samples = torch.cat([ds.centers, torch.full((8, 2), float("nan"))])
    s = mode_stats(samples=samples, benchmark=ds)
    assert s.modes == 8 and s.hq_fraction == 0.5


def test_wrong_dimension_is_rejected():
    with pytest.raises(ValueError, match="shape"):
        mode_stats(samples=torch.zeros(5, 3), benchmark=ring())


@pytest.mark.parametrize("dim", [1, 2, 3, 10, 64, 784, 1200, 3072])
def test_chi2_quantile_equals_scipy_without_importing_it(dim):
    from scipy.stats import chi2

    from modecollapse.data.base import _MASS_WITHIN_3_STD_2D, chi2_quantile

    for p in (0.05, 0.5, _MASS_WITHIN_3_STD_2D, 0.999):
        assert chi2_quantile(p, dim) == pytest.approx(chi2.ppf(p, dim), rel=1e-9)
    with pytest.raises(ValueError):
        chi2_quantile(1.0, dim)
