"""The feedback-loop scenarios (issue 14) in reduced form, each with its known direction."""
import json

import pytest
import torch

from modecollapse.cli import main
from modecollapse.experiments import SCENARIOS, load_all, run_experiment
from modecollapse.scenarios.model_collapse.gaussian import run_chains, theory_ml_variance


def test_the_four_are_registered():
    load_all()
    for name in ("model-collapse", "fine-tuning", "profile-search", "evolution"):
        assert name in SCENARIOS


def test_gaussian_variance_shrinks_as_theory_says_without_real_data_and_holds_with_it():
    def final(policy):
        return run_chains(policy, n_samples=25, generations=30, chains=4000, real_share=0.3,
                          generator=torch.Generator().manual_seed(0))

    replace = final("replace")
    theory = theory_ml_variance(25, 30)  # 0.96^n: 0.29 at n = 30
    assert len(replace["variance_mean"]) == 31 and replace["variance_mean"][0] == 1.0
    # standard error of the mean over 4000 chains is about 4% here
    assert replace["variance_mean"][10] == pytest.approx(theory[10], rel=0.1)
    assert replace["variance_mean"][-1] == pytest.approx(theory[-1], rel=0.15)
    assert replace["variance_median"][-1] < theory[-1]  # most chains are below the mean
    assert replace["tail_mass_median"][-1] < 0.2 * replace["tail_mass_median"][0]
    for policy in ("keep-real", "accumulate"):
        held = final(policy)["variance_mean"][-1]
        assert held > 0.6 and held > 2 * replace["variance_mean"][-1], policy


def test_model_collapse_runs_end_to_end_with_the_gan(tmp_path):
    params = dict(samples=10, generations=5, chains=50, mixture_samples=40, mixture_generations=3, mixture_chains=1,
                  gan_samples=64, gan_generations=1, gan_first_steps=20, gan_steps=5, eval_samples=200)
    r = run_experiment(SCENARIOS, "model-collapse", tmp_path / "mc", params=params, progress=False)
    assert r["figures"] == ["gan.png", "gaussian.png", "mixture.png"]
    res = r["results"]
    for part in ("mixture", "gan"):
        for policy in ("replace", "keep-real", "accumulate"):
            assert len(res[part]["policies"][policy]["modes"]) == res[part]["generations"] + 1
    assert res["mixture"]["policies"]["replace"]["modes"][0] >= 6  # EM finds the ring before recursion starts


def test_reward_rises_and_diversity_falls_less_with_a_kl_penalty(tmp_path):
    params = dict(pretrain_steps=300, steps=80, batch=64, kl_weights=(0.0, 0.3), eval_every=40, eval_samples=200)
    res = run_experiment(SCENARIOS, "fine-tuning", tmp_path / "ft", params=params, progress=False)["results"]
    pre, no_kl, kl = res["pretrained"], res["runs"]["beta=0"], res["runs"]["beta=0.3"]
    assert no_kl["reward"][-1] > pre["reward"] + 0.2
    assert no_kl["distinct_4"][-1] < 0.5 * pre["distinct_4"]
    assert no_kl["self_bleu"][-1] > pre["self_bleu"]
    assert kl["distinct_4"][-1] > no_kl["distinct_4"][-1] and kl["unique"][-1] > no_kl["unique"][-1]
    assert kl["reward"][-1] > pre["reward"]


def test_unsafeguarded_profile_search_loses_subfamilies_the_safeguarded_keeps(tmp_path):
    params = dict(background=500, iterations=5, replicates=2)
    res = run_experiment(SCENARIOS, "profile-search", tmp_path / "ps", params=params, progress=False)["results"]
    none, safe = res["policies"]["none"], res["policies"]["all three"]
    assert safe["kept"][-1] == res["subfamilies"] - 1
    assert none["kept"][-1] <= safe["kept"][-1] - 1
    assert none["subfamily_recall"][-1][0] == 1.0  # the seed's own subfamily is always found
    # the stricter threshold admits fewer decoys than weighting alone at the loose one
    assert safe["decoys"][-1] < res["policies"]["weighting"]["decoys"][-1]


def test_henikoff_weights_and_pseudocounts_known_answers():
    from modecollapse.scenarios.profile_search.search import SearchPolicy, henikoff_weights, profile

    hits = torch.tensor([[0, 0], [0, 0], [1, 1]])
    # per column: r = 2 residues; the two copies get 1 / (2 * 2), the odd one 1 / (2 * 1)
    assert henikoff_weights(hits).tolist() == pytest.approx([0.25, 0.25, 0.5])
    plain = profile(hits, SearchPolicy(0.0, False, 0.0))
    assert plain[0, 0] == pytest.approx((2 / 3 + 1e-4) / (1 + 20e-4)) and plain[0, 5] < 1e-3  # unseen: only the floor
    smoothed = profile(hits, SearchPolicy(0.0, True, 5.0))
    assert smoothed[0, 0] == pytest.approx(smoothed[0, 1]) and smoothed[0, 5] > 0.005
    assert torch.allclose(smoothed.sum(1), torch.ones(2, dtype=torch.float64))


def test_plain_selection_ends_on_one_peak_and_niching_keeps_several(tmp_path, capsys):
    assert main(["scenario", "evolution", "--out", str(tmp_path / "ev"), "--json", "--no-progress",
                 "--generations", "120", "--runs", "2", "--population", "80"]) == 0
    methods = json.loads(capsys.readouterr().out)["results"]["methods"]
    assert methods["plain"]["final_peaks_per_run"] == [1, 1]
    assert min(methods["sharing"]["final_peaks_per_run"]) >= 2
    assert min(methods["crowding"]["final_peaks_per_run"]) >= 3
    assert methods["sharing"]["vendi"][-1] > methods["plain"]["vendi"][-1]


def test_bad_scenario_option_is_exit_2(tmp_path, capsys):
    assert main(["scenario", "evolution", "--out", str(tmp_path / "x"), "--min-share", "0"]) == 2
    assert "--min-share" in capsys.readouterr().err
