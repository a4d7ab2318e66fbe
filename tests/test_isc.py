"""Inception Score: known answers and torch-fidelity's isc_features_to_metric."""
from __future__ import annotations

import math

import pytest
import torch

from modecollapse.errors import ConfigError
from modecollapse.metrics import isc


def test_uniform_predictions_score_one():
    r = isc(logits=torch.zeros(40, 7), splits=4)
    assert r.isc == pytest.approx(1.0, abs=1e-12) and r.isc_std == pytest.approx(0.0, abs=1e-12)


def test_confident_balanced_classes_score_the_class_count_and_dropped_classes_lower():
    k, per = 10, 20
    labels = torch.arange(k).repeat(per)  # each split of the shuffled rows holds ~all classes
    logits = torch.full((k * per, k), -60.0)
    logits[torch.arange(k * per), labels] = 60.0
    r = isc(logits=logits, splits=1)
    assert r.isc == pytest.approx(k, rel=1e-9)
    collapsed = logits[labels < 3]  # the generator dropped 7 of 10 classes
    assert isc(logits=collapsed, splits=1).isc == pytest.approx(3, rel=1e-9)


def test_equals_torch_fidelity_and_shuffle_seed_matters():
    from reference_impls import torch_fidelity

    tf = torch_fidelity()
    logits = torch.randn(103, 1008, generator=torch.Generator().manual_seed(0)) * 3
    for splits in (1, 10):
        theirs = tf.isc_features_to_metric(logits, splits=splits, shuffle=True, rng_seed=2020)
        mine = isc(logits=logits, splits=splits)
        assert mine.isc == pytest.approx(theirs["inception_score_mean"], rel=1e-10)
        assert mine.isc_std == pytest.approx(theirs["inception_score_std"], rel=1e-10, abs=1e-15)
    unshuffled = tf.isc_features_to_metric(logits, splits=10, shuffle=False)
    assert isc(logits=logits, splits=10, seed=None).isc == pytest.approx(unshuffled["inception_score_mean"], rel=1e-10)
    assert isc(logits=logits, splits=10, seed=None).isc != isc(logits=logits, splits=10).isc


def test_bad_input():
    with pytest.raises(ConfigError, match="at least 10 samples"):
        isc(logits=torch.zeros(5, 3))
    with pytest.raises(ConfigError, match="logits"):
        isc(logits=torch.zeros(5))
    bad = torch.zeros(20, 3)
    bad[0, 0] = math.nan
    with pytest.raises(ConfigError, match="NaN"):
        isc(logits=bad)
