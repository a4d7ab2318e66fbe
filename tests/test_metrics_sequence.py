"""Sequence diversity metrics: known answers on tiny sets."""
import json
import math
import random

import pytest

from modecollapse.errors import ConfigError
from modecollapse.metrics.sequence import (
    bleu,
    bleu_against,
    distinct_n,
    ngram_coverage,
    ngram_entropy,
    self_bleu,
    sequence_diversity,
)

LINE = "the cat sat on a mat".split()


def test_distinct_n_identical_lines_is_one_over_number_of_lines():
    for m in (1, 2, 5):
        for n in (1, 2, 3):
            assert distinct_n([LINE] * m, n) == pytest.approx(1 / m)


def test_distinct_n_all_different_is_one_and_repeats_count():
    seqs = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert distinct_n(seqs, 1) == 1.0 and distinct_n(seqs, 2) == 1.0
    # 4 unigrams a a a b: 2 unique / 4 total
    assert distinct_n([["a", "a"], ["a", "b"]], 1) == 0.5


def test_ngram_entropy_known_values():
    assert ngram_entropy([["x"] * 5], 1) == 0.0
    assert ngram_entropy([[1, 2, 3, 4]], 1) == pytest.approx(math.log(4))
    assert ngram_entropy([[1, 2, 3, 4]], 2) == pytest.approx(math.log(3))


def test_self_bleu_identical_is_one_and_disjoint_is_zero():
    assert self_bleu([LINE] * 4) == pytest.approx(1.0)
    disjoint = [[f"w{i}_{j}" for j in range(6)] for i in range(4)]
    assert self_bleu(disjoint) == 0.0  # Texygen / NLTK: no unigram shared is 0
    # the observed-orders definition smooths every precision to 0.1 / count instead
    expected = math.exp(sum(math.log(0.1 / (6 - n + 1)) for n in range(1, 5)) / 4)
    assert self_bleu(disjoint, definition="observed-orders") == pytest.approx(expected)


def test_self_bleu_equals_the_pairwise_loop():
    rng = random.Random(0)
    seqs = [[rng.randrange(6) for _ in range(rng.randrange(2, 9))] for _ in range(25)]
    brute = sum(bleu(hypothesis=s, references=seqs[:i] + seqs[i + 1:]) for i, s in enumerate(seqs)) / len(seqs)
    assert self_bleu(seqs) == pytest.approx(brute, rel=1e-12)
    old = sum(bleu(hypothesis=s, references=seqs[:i] + seqs[i + 1:], definition="observed-orders")
              for i, s in enumerate(seqs)) / len(seqs)
    assert self_bleu(seqs, definition="observed-orders") == pytest.approx(old, rel=1e-12)


def test_bleu_brevity_penalty_and_clipping():
    ref = [["a", "b", "c", "d"]]
    assert bleu(hypothesis=["a", "b", "c", "d"], references=ref) == pytest.approx(1.0)
    # "a a a a": unigram precision clipped to 1/4
    assert bleu(hypothesis=["a"] * 4, references=ref, max_n=1) == pytest.approx(0.25)
    # short hypothesis: exp(1 - 4/2) brevity penalty, precisions 1, 1 and orders 3, 4 smoothed to 0.1
    assert bleu(hypothesis=["a", "b"], references=ref) == pytest.approx(math.exp(-1.0) * 0.1**0.5)
    # ... or left out, in the observed-orders definition
    assert bleu(hypothesis=["a", "b"], references=ref, definition="observed-orders") == pytest.approx(math.exp(-1.0))


def test_comparisons_with_a_real_set():
    real = [[1, 2, 3], [4, 5, 6]]
    assert ngram_coverage(real=real, fake=[[1, 2, 3]], n=2) == 0.5
    assert bleu_against(real=real, fake=[[4, 5, 6]], max_n=3) == pytest.approx(1.0)
    assert bleu_against(real=real, fake=[[4, 5, 6]]) == pytest.approx(0.1**0.25)  # BLEU-4 of 3 tokens
    d = sequence_diversity(fake=[[1, 2, 3]] * 3, real=real, max_n=3).values
    # identical 3-token lines: BLEU-4 has no 4-gram, smoothed to 0.1 (Texygen / NLTK)
    assert d["distinct_1"] == pytest.approx(1 / 3) and d["self_bleu"] == pytest.approx(0.1**0.25)
    assert d["ngram_coverage_1"] == 0.5 and "distinct_4" not in d


def test_bad_input_is_a_config_error():
    with pytest.raises(ConfigError, match="smaller n"):
        distinct_n([["a"]], 2)
    with pytest.raises(ConfigError, match="at least 2"):
        self_bleu([LINE])
    with pytest.raises(ConfigError, match="not one string"):
        distinct_n("a b c", 1)


# -- modecollapse measure on sequence files ------------------------------------------------------
def _measure(args, capsys):
    import json

    from modecollapse.cli import main

    rc = main(["measure", *args])
    captured = capsys.readouterr()
    return rc, (json.loads(captured.out) if rc == 0 and "--json" in args else captured.out), captured.err


def test_measure_text_file_without_real(tmp_path, capsys):
    fake = tmp_path / "generations.txt"
    fake.write_text("the cat sat on a mat\n\nthe cat sat on a mat\nthe cat sat on a mat\n")
    rc, out, _ = _measure(["--fake", str(fake), "--json"], capsys)
    assert rc == 0
    assert out["distinct_1"] == pytest.approx(1 / 3) and out["distinct_4"] == pytest.approx(1 / 3)
    assert out["self_bleu"] == pytest.approx(1.0) and out["entropy_1"] == pytest.approx(math.log(6))
    assert out["n_fake"] == 3 and out["n_real"] is None and "bleu" not in out
    assert out["higher_is_better"]["self_bleu"] is False
    rc, text, _ = _measure(["--fake", str(fake), "--out", str(tmp_path / "m.json")], capsys)
    assert rc == 0 and "distinct_1" in text
    written = json.loads((tmp_path / "m.json").read_text())
    assert {k: v for k, v in written.items() if k != "seconds"} == {k: v for k, v in out.items() if k != "seconds"}


def test_measure_sequences_with_real_tokens_and_embeddings(tmp_path, capsys):
    import numpy as np

    real, fake = tmp_path / "real.npy", tmp_path / "fake.npy"
    np.save(real, np.array([[1, 2, 3], [4, 5, 6]]))
    np.save(fake, np.array([[1, 2, 3, -1], [1, 2, 3, -1]]))  # -1: padding
    emb = tmp_path / "emb.npy"
    np.save(emb, np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    rc, out, _ = _measure(["--fake", str(fake), "--real", str(real), "--tokens", "--max-n", "3",
                           "--fake-embeddings", str(emb), "--json"], capsys)
    assert rc == 0
    # BLEU-4 of a 3-token copy of a real line: no 4-gram, smoothed to 0.1 (Texygen / NLTK)
    assert out["distinct_3"] == 0.5 and out["ngram_coverage_1"] == 0.5 and out["bleu"] == pytest.approx(0.1**0.25)
    assert out["vendi"] == pytest.approx(2.0)  # two orthogonal embeddings
    assert "distinct_4" not in out


def test_measure_sequence_bad_input_is_exit_2(tmp_path, capsys):
    fake = tmp_path / "g.txt"
    fake.write_text("a b\nc d\n")
    assert _measure(["--fake", str(fake), "--metrics", "bleu"], capsys)[2].count("--real") == 1
    rc, _, err = _measure(["--fake", str(fake), "--real", str(tmp_path / "x.npy")], capsys)
    assert rc == 2 and "must too" in err
    rc, _, err = _measure(["--fake", str(fake), "--modes-from", "ring"], capsys)
    assert rc == 2 and "--modes-from applies to feature arrays" in err
    (tmp_path / "empty.txt").write_text("\n\n")
    rc, _, err = _measure(["--fake", str(tmp_path / "empty.txt")], capsys)
    assert rc == 2 and "no non-empty sample" in err
    assert not list(tmp_path.glob("*.json"))


def test_measure_help_lists_the_sequence_metrics(capsys):
    from modecollapse.cli import main

    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    text = capsys.readouterr().out
    for name in ("distinct", "self_bleu", "ngram_coverage", "--tokens", "--fake-embeddings", "--bleu-definition",
                 "texygen", "observed-orders", "smoothing method 1"):
        assert name in text


# -- the Texygen definition, against NLTK itself ----------------------------------------------------
def _nltk_self_bleu(seqs):
    score = pytest.importorskip("nltk.translate.bleu_score")
    smooth = score.SmoothingFunction().method1
    return sum(score.sentence_bleu([list(r) for r in seqs[:i] + seqs[i + 1:]], list(s), weights=(0.25,) * 4,
                                   smoothing_function=smooth) for i, s in enumerate(seqs)) / len(seqs)


def _corpus(rng, lines, lo, hi, vocab):
    return [[f"w{rng.randrange(vocab)}" for _ in range(rng.randrange(lo, hi + 1))] for _ in range(lines)]


@pytest.mark.parametrize("lo,hi", [(1, 3), (1, 6), (8, 20)])
def test_self_bleu_equals_nltk_sentence_bleu_with_method1(lo, hi):
    """Texygen's self-BLEU is NLTK's sentence_bleu of each line against all the others,
    uniform 4-gram weights, smoothing method 1: short lines (fewer than 4 tokens), mixed
    and long ones, with repeats."""
    rng = random.Random(lo * 100 + hi)
    seqs = _corpus(rng, 41, lo, hi, 12)
    seqs += [seqs[0], ["unseen", "words"]]  # an exact repeat, and a short line sharing no word
    assert self_bleu(seqs) == pytest.approx(_nltk_self_bleu(seqs), rel=1e-12, abs=1e-15)


def test_bleu_against_equals_nltk_and_a_line_sharing_no_word_is_zero():
    score = pytest.importorskip("nltk.translate.bleu_score")
    smooth = score.SmoothingFunction().method1
    rng = random.Random(7)
    real, fake = _corpus(rng, 30, 1, 9, 10), _corpus(rng, 20, 1, 9, 14)
    expected = sum(score.sentence_bleu(real, h, smoothing_function=smooth) for h in fake) / len(fake)
    assert bleu_against(real=real, fake=fake) == pytest.approx(expected, rel=1e-12)
    lonely = [["the", "cat"], ["a", "dog", "ran"], ["a", "dog", "sat", "down"]]
    assert bleu(hypothesis=lonely[0], references=lonely[1:]) == 0.0
    assert bleu(hypothesis=lonely[0], references=lonely[1:], definition="observed-orders") > 0.01


def test_bleu_definition_is_checked_and_chosen_on_the_command_line(tmp_path, capsys):
    with pytest.raises(ConfigError, match="texygen, observed-orders"):
        self_bleu([LINE, LINE], definition="sacrebleu")
    fake = tmp_path / "g.txt"
    fake.write_text("the cat\na dog ran\na dog sat down\n")
    rc, default, _ = _measure(["--fake", str(fake), "--metrics", "self_bleu", "--json"], capsys)
    assert rc == 0 and default["params"]["bleu_definition"] == "texygen"
    seqs = [ln.split() for ln in fake.read_text().splitlines()]
    assert default["self_bleu"] == pytest.approx(self_bleu(seqs))
    rc, old, _ = _measure(["--fake", str(fake), "--metrics", "self_bleu", "--bleu-definition", "observed-orders",
                           "--json"], capsys)
    assert rc == 0 and old["self_bleu"] == pytest.approx(self_bleu(seqs, definition="observed-orders"))
    assert old["self_bleu"] > default["self_bleu"]


def test_sequence_metrics_dispatch_through_their_registry(monkeypatch):
    """measure_sequences runs whatever SEQUENCE_METRICS holds, and each spec's needs and
    direction are what the defaults, the checks and the result's higher_is_better read."""
    from modecollapse.measure.sequences import (
        SEQUENCE_METRICS,
        SequenceMetricSpec,
        measure_sequences,
        sequence_metric_names,
    )

    spec = SequenceMetricSpec("lines", False, "number of fake lines (this test's)", ("real",),
                              lambda s: {"lines": float(len(s.fake))})
    monkeypatch.setitem(SEQUENCE_METRICS._items, "lines", spec)  # registered for this test only
    out = measure_sequences(fake=[LINE, LINE], real=[LINE], metrics=["lines", "distinct"])
    assert out["lines"] == 2.0 and out["higher_is_better"] == {"lines": False, "distinct": True}
    assert "lines" in sequence_metric_names(None, has_real=True, has_embeddings=False)[0]
    assert "lines" not in sequence_metric_names(None, has_real=False, has_embeddings=False)[0]
    with pytest.raises(ConfigError, match="'lines' compares with real samples"):
        measure_sequences(fake=[LINE], metrics=["lines"])
