"""The contract every registered component keeps (the idea of diffusers' shared test mixins).

Each registered metric, evaluator, diagnostic, scenario and feature extractor is checked for
the same things: a docstring that cites where it comes from (a paper's author and year, or
"this project"), parameters that refuse a bad value with one sentence, and a run on tiny
inputs.
"""
from __future__ import annotations

import pytest


def test_components_without_parameters_share_one_record():
    """One ``NoParams``, in registry.py, for techniques, evaluators and experiments alike."""
    from modecollapse import experiments, registry
    from modecollapse.lab import config, evaluators
    from modecollapse.techniques import base

    assert base.NoParams is evaluators.NoParams is experiments.NoParams is registry.NoParams
    assert base.Technique.Params is evaluators.Evaluator.Params is experiments.Experiment.Params is registry.NoParams
    assert not hasattr(config, "EvaluatorSpec")  # an unused alias of TechniqueSpec
