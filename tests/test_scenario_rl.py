"""The rl-post-training scenario (issue 35): TRL's GRPOTrainer on a small GPT-2, at a size that
runs in seconds, with answers it must give: a strong KL penalty keeps the policy near the
pretrained one, TRL's KL is zero before the first update, and the recorded numbers are the
metrics layer's (and ``modecollapse measure``'s) on the completions the scenario wrote."""
import json
import subprocess
import sys

import pytest

from modecollapse.cli import main
from modecollapse.metrics.passk import pass_at_k

pytest.importorskip("trl")

#: pretrained for 200 steps (pass@1 about 0.2), then 16 GRPO steps at a high learning rate: long
#: enough for the run without KL to sharpen while beta = 1 holds the policy
SMALL = ["--width", "64", "--heads", "2", "--pretrain-steps", "200", "--pretrain-lr", "5e-3", "--steps", "16",
         "--lr", "5e-3", "--prompts-per-step", "8", "--generations", "4", "--eval-every", "8", "--eval-samples", "16",
         "--betas", "0,1", "--entropy-bonuses", ""]
#: the smallest run: for the same-seed check
TINY = ["--width", "16", "--heads", "2", "--pretrain-steps", "5", "--steps", "2", "--prompts-per-step", "2",
        "--generations", "2", "--eval-every", "1", "--eval-samples", "4", "--betas", "0.5", "--entropy-bonuses", "0.1"]


def run(tmp_path, name, options, capsys):
    assert main(["scenario", "rl-post-training", "--out", str(tmp_path / name), "--json", "--no-progress",
                 *options]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl") / "small"
    assert main(["scenario", "rl-post-training", "--out", str(out), "--no-progress", *SMALL]) == 0
    return out, json.loads((out / "result.json").read_text())


def test_it_writes_its_figures_result_and_completions(small):
    out, result = small
    assert result["name"] == "rl-post-training" and result["params"]["betas"] == [0.0, 1.0]
    assert result["figures"] == ["reward_vs_diversity.png", "rl_post_training.png"]
    assert sorted(p.name for p in out.glob("*.jsonl")) == ["completions_beta0.jsonl", "completions_beta1.jsonl",
                                                          "completions_pretrained.jsonl"]
    r = result["results"]
    assert r["ks"] == [1, 2, 4, 8, 16] and r["samples_per_prompt"] == 16 and r["possible"] == 20.5
    assert set(r) >= {"pretrained", "pretrain", "runs", "final", "claim", "prompts"}
    assert r["final"]["setting"] == ["beta=0", "beta=1"]
    for name, run_ in r["runs"].items():
        checks, train = run_["checks"], run_["train"]
        assert checks["step"] == [0, 8, 16], name
        for key in ("reward", "pass@1", "pass@16", "distinct_correct", "answer_entropy", "entropy"):
            assert len(checks[key]) == 3 and all(v is not None for v in checks[key]), (name, key)
        assert train["step"] == list(range(1, 17)) and all(e > 0 for e in train["entropy"])
        assert checks["reward"] == checks["pass@1"]  # a 0/1 verifier: its mean is pass@1
        # every run starts from the same pretrained measurement
        assert {k: checks[k][0] for k in r["pretrained"]} == r["pretrained"]
    row = r["claim"]["per_setting"]["beta=0"]
    assert set(row) >= {"reward_start", "reward_end", "distinct_correct_start", "distinct_correct_end", "held"}


def test_a_strong_kl_penalty_keeps_the_policy_near_the_pretrained_one(small):
    r = small[1]["results"]
    no_kl, kl = r["runs"]["beta=0"]["checks"], r["runs"]["beta=1"]["checks"]
    start = r["pretrained"]["entropy"]
    # seeds 0-2 measured: no KL ends at 0.30-0.48 of the start, beta = 1 at 0.88-0.96
    assert no_kl["entropy"][-1] < 0.6 * start  # without a penalty the policy sharpens
    assert kl["entropy"][-1] > 0.8 * start  # with beta = 1 it stays near where it started
    assert kl["entropy"][-1] > no_kl["entropy"][-1] + 0.5
    assert kl["distinct_correct"][-1] >= no_kl["distinct_correct"][-1]
    assert kl["answer_entropy"][-1] > no_kl["answer_entropy"][-1]


def test_trl_logs_its_kl_only_with_a_penalty_and_zero_before_the_first_update(small):
    runs = small[1]["results"]["runs"]
    assert set(runs["beta=0"]["train"]["kl"]) == {None}
    kl = runs["beta=1"]["train"]["kl"]
    assert kl[0] == 0.0 and max(kl) > 0  # the policy is its reference until it moves


def test_the_numbers_are_the_metric_functions_on_the_recorded_completions(small, capsys):
    out, result = small
    r = result["results"]
    for name, file in (("beta=0", "completions_beta0.jsonl"), ("beta=1", "completions_beta1.jsonl")):
        rows = [json.loads(line) for line in (out / file).read_text().splitlines()]
        by_prompt = {p: [x for x in rows if x["prompt"] == p] for p in r["prompts"]}
        assert all(len(g) == 16 for g in by_prompt.values())
        checks = r["runs"][name]["checks"]
        for k in r["ks"]:
            expected = sum(pass_at_k(16, sum(x["correct"] for x in g), k) for g in by_prompt.values()) / 8
            assert checks[f"pass@{k}"][-1] == pytest.approx(expected, abs=1e-12), (name, k)
        distinct = sum(len({x["completion"].split()[0] for x in g if x["correct"]}) for g in by_prompt.values()) / 8
        assert checks["distinct_correct"][-1] == pytest.approx(distinct, abs=1e-12)
        # the verifier by hand: a two-digit multiple of K, no leading zero
        for x in rows:
            k, a = int(x["prompt"][2:-1]), x["completion"].strip()
            assert x["correct"] == (len(a) == 2 and a.isdigit() and a[0] != "0" and int(a) % k == 0), x
        # and the grouped text metrics of 'modecollapse measure' agree on the same file
        assert main(["measure", "--fake", str(out / file), "--answer", "first-word", "--json"]) == 0
        measured = json.loads(capsys.readouterr().out)
        assert measured["distinct_correct"] == pytest.approx(checks["distinct_correct"][-1])
        assert measured["answer_entropy"] == pytest.approx(checks["answer_entropy"][-1])
        assert measured["pass_at_16"] == pytest.approx(checks["pass@16"][-1])


def test_the_same_seed_gives_the_same_numbers(tmp_path, capsys):
    first, second = (run(tmp_path, name, TINY, capsys) for name in ("a", "b"))
    assert first["results"] == second["results"]
    assert list(first["results"]["runs"]) == ["beta=0.5", "entropy=0.1"]
    texts = [(tmp_path / d / "completions_entropy0.1.jsonl").read_text() for d in ("a", "b")]
    assert texts[0] == texts[1]


def test_without_the_llm_extra_it_names_the_install_in_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # makes 'import trl' fail as if it were not installed
    out = tmp_path / "no-trl"
    assert main(["scenario", "rl-post-training", "--out", str(out), "--no-progress", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "pip install 'modecollapse[llm]'" in err and "trl" in err
    assert not out.exists() and not list(tmp_path.glob(".no-trl*"))


@pytest.mark.parametrize("options, words", [(["--heads", "3"], "--heads must divide --width"),
                                            (["--betas", "0,0.1,0"], "--betas lists a weight twice"),
                                            (["--entropy-bonuses", "0"], "--entropy-bonuses must be above 0"),
                                            (["--betas", "", "--entropy-bonuses", ""], "at least one setting"),
                                            (["--noise", "1"], "--noise must be below 1")])
def test_a_bad_option_is_one_sentence_and_exit_2(tmp_path, capsys, options, words):
    assert main(["scenario", "rl-post-training", "--out", str(tmp_path / "x"), *options]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


def test_the_package_imports_neither_transformers_nor_trl_until_it_runs():
    code = ("import sys; from modecollapse.experiments import SCENARIOS, load_all; load_all(); "
            "assert 'rl-post-training' in SCENARIOS; "
            "print(sorted(m for m in ('transformers', 'trl', 'datasets', 'tokenizers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_help_explains_the_scenario_and_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["scenario", "rl-post-training", "--help"])
    text = capsys.readouterr().out
    for words in ("GRPO", "--betas", "--entropy-bonuses", "KL", "modecollapse[llm]", "distinct correct"):
        assert words in text, words
