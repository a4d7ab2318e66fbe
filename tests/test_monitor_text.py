"""TextCollapseMonitor on synthetic completion streams with known answers: one answer per prompt,
one shared template, growing repetition, healthy sharpening, a verifier's view, divergence,
state round trips."""
import json
import math
import random

import pytest

from modecollapse.errors import ConfigError
from modecollapse.monitor.text import TextCollapseMonitor, TextMonitorSettings, classify, text_signals

PROMPTS = [f"k={k}:" for k in range(2, 10)]
N = 8


def multiples(k):
    return [str(m) for m in range(10, 100) if m % k == 0]


def diverse(rng, k):
    return [rng.choice(multiples(k)) for _ in range(N)]


def stream(kind, checks=6, seed=0):
    """Completions per prompt at each check: the first check is the diverse reference."""
    rng = random.Random(seed)
    out = []
    for c in range(checks):
        t = c / (checks - 1)
        groups = []
        for k in range(2, 10):
            if c == 0 or kind == "healthy":
                g = diverse(rng, k)
                if kind == "healthy" and c > 0:  # mild sharpening: a quarter of the samples on the favourite
                    g[: N // 4] = [multiples(k)[0]] * (N // 4)
            elif kind == "answer":
                g = [multiples(k)[0]] * N if t > 0.3 else diverse(rng, k)[: N // 2] + [multiples(k)[0]] * (N // 2)
            elif kind == "template":
                g = ["42"] * N if t > 0.3 else diverse(rng, k)
            elif kind == "repetition":
                g = [" ".join(["ha"] * int(2 + 20 * t)) for _ in range(N)] if t > 0.3 else diverse(rng, k)
            groups.append(g)
        out.append(groups)
    return out


def run(kind, **kw):
    m = TextCollapseMonitor(check_every=10, **kw)
    reports = [m.update(10 * c, prompts=PROMPTS, completions=groups) for c, groups in enumerate(stream(kind))]
    return m, reports


def test_answer_collapse_is_found_with_its_onset_and_rollback():
    m, reports = run("answer")
    assert reports[0].verdict == "warming-up" and "reference" in reports[0].reason
    verdicts = [r.verdict for r in reports]
    assert verdicts[1] == "healthy"  # half the samples on one answer: 4.x distinct of 8, over half the spread
    assert verdicts[2:] == ["collapsing", "collapsed", "collapsed", "collapsed"], verdicts
    last = reports[-1]
    assert last.kind == "answer-collapse" and last.onset_step == 20 and last.rollback_step == 10
    assert "hold 1.0 distinct answers" in last.reason and "roll back to the checkpoint of step 10" in last.reason


def test_one_shared_template_is_template_collapse():
    _, reports = run("template")
    assert reports[-1].kind == "template-collapse" and reports[-1].verdict == "collapsed"
    assert reports[-1].numbers["prompt_dep"] == 0.0
    assert "barely depend on the prompt" in reports[-1].reason


def test_growing_repetition_is_repetition():
    _, reports = run("repetition")
    assert reports[-1].kind == "repetition" and reports[-1].verdict == "collapsed"
    assert "repeat" in reports[-1].reason


def test_a_healthy_stream_that_sharpens_mildly_raises_no_alarm():
    _, reports = run("healthy")
    assert [r.verdict for r in reports[1:]] == ["healthy"] * 5


def _single_answer_stream(seed=0):
    """Prompts with one correct answer: a policy that learns it (sharpens onto it)."""
    rng = random.Random(seed)
    prompts = [f"s={a}+{b}:" for a, b in [(1, 2), (3, 4), (2, 5), (6, 1), (4, 4), (7, 2)]]
    truth = [str(eval(p[2:-1])) for p in prompts]
    checks = []
    for c in range(5):
        p_right = 0.4 + 0.15 * c
        groups = [[t if rng.random() < p_right else str(rng.randint(0, 18)) for _ in range(N)] for t in truth]
        correct = [[x == t for x in g] for g, t in zip(groups, truth)]
        checks.append((groups, correct))
    return prompts, checks


def test_with_a_verifier_sharpening_onto_the_one_right_answer_is_learning():
    prompts, checks = _single_answer_stream()
    with_v = TextCollapseMonitor(check_every=1)
    without = TextCollapseMonitor(check_every=1)
    for c, (groups, correct) in enumerate(checks):
        rv = with_v.update(c, prompts=prompts, completions=groups, correct=correct)
        rn = without.update(c, prompts=prompts, completions=groups)
    assert rv.verdict == "healthy" and rv.numbers["pass1"] > 0.8, rv.reason
    assert rn.kind == "answer-collapse"  # without a verifier the narrowing looks like collapse


def test_pass1_up_passk_down_is_named():
    m = TextCollapseMonitor(check_every=1)
    ref = [["a", "b", "c", "d"], ["e", "f", "g", "h"], ["i", "j", "k", "l"]]
    half = [[True, True, False, False]] * 3
    m.update(0, completions=ref, correct=half)  # pass@1 0.5, pass@4 1, 2 distinct correct answers a prompt
    r = m.update(1, completions=[["a"] * 4, ["e"] * 4, ["k"] * 4], correct=[[True] * 4, [True] * 4, [False] * 4])
    assert r.kind == "answer-collapse" and "pass@1 up, pass@k down" in r.reason
    assert r.numbers["pass1"] == pytest.approx(2 / 3) and r.numbers["passk"] == pytest.approx(2 / 3)
    assert r.numbers["sharpening"] == 1


def test_a_given_reference_replaces_the_first_check():
    ref = [diverse(random.Random(1), k) for k in range(2, 10)]
    m = TextCollapseMonitor(check_every=5, reference=ref)
    r = m.update(5, prompts=PROMPTS, completions=[[multiples(k)[0]] * N for k in range(2, 10)])
    assert r.verdict == "collapsing" and "in the reference" in r.reason


def test_flat_rl_batch_input_equals_grouped_input():
    groups = stream("answer")[3]
    flat_p = [p for p, g in zip(PROMPTS, groups) for _ in g]
    flat_c = [t for g in groups for t in g]
    a, b = TextCollapseMonitor(check_every=1), TextCollapseMonitor(check_every=1)
    ref = stream("answer")[0]
    a.update(0, prompts=PROMPTS, completions=ref)
    b.update(0, prompts=[p for p, g in zip(PROMPTS, ref) for _ in g], completions=[t for g in ref for t in g])
    ra = a.update(1, prompts=PROMPTS, completions=groups)
    rb = b.update(1, prompts=flat_p, completions=flat_c)
    assert ra.verdict == rb.verdict and dict(ra.numbers) == dict(rb.numbers)


def test_non_finite_loss_or_reward_is_diverged():
    m = TextCollapseMonitor(check_every=1)
    m.update(0, prompts=PROMPTS, completions=stream("healthy")[0])
    r = m.update(1, loss=float("nan"))
    assert r.verdict == "diverged" and r.kind == "diverged" and "loss=nan" in r.reason and r.rollback_step is None
    m = TextCollapseMonitor(check_every=1)
    r = m.update(0, prompts=["p"], completions=[["a", "b"]], rewards=[[1.0, float("inf")]])
    assert r.verdict == "diverged"


def test_cadence_and_state_round_trip():
    m, _ = run("answer")
    state = json.loads(json.dumps(m.state_dict()))
    n = TextCollapseMonitor(check_every=10)
    n.load_state_dict(state)
    assert n.verdict == m.verdict and n.checks == m.checks and n.report.onset_step == m.report.onset_step
    nxt = stream("answer", checks=7)[6]
    assert n.due(60) and not n.due(55)
    assert n.update(60, prompts=PROMPTS, completions=nxt).verdict == m.update(60, prompts=PROMPTS, completions=nxt).verdict
    for broken in [{}, {**state, "version": 9}, {**state, "bad_streak": "x"}, {**state, "reference": {"a": 1}},
                   {**state, "report": {"verdict": "fine"}}]:
        with pytest.raises(ConfigError, match="left unchanged"):
            n.load_state_dict(broken)


def test_bad_input_is_one_sentence():
    m = TextCollapseMonitor(check_every=1)
    with pytest.raises(ConfigError, match="at least 2 completions"):
        m.update(0, completions=[["only one"]])
    with pytest.raises(ConfigError, match="one prompt per completion"):
        m.update(0, prompts=["p"], completions=["a", "b"])
    with pytest.raises(ConfigError, match="completions' shape"):
        m.update(0, completions=[["a", "b"]], correct=[[True]])
    with pytest.raises(ConfigError, match="answer_below must be a number"):
        TextCollapseMonitor(settings=TextMonitorSettings(answer_below=-1))
    with pytest.raises(ConfigError, match="unknown answer extractor"):
        TextCollapseMonitor(answer="final")


def test_signals_known_values():
    sig = text_signals([["a", "a", "b", "c"], ["d", "d", "d", "d"]], normalise=str,
                       correct=[[True, True, False, False], [True, True, True, True]])
    assert sig.distinct == 2.0 and sig.unique == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert sig.distinct_correct == 1.0 and sig.pass1 == pytest.approx(0.75) and sig.k == 4 and sig.passk == 1.0
    assert sig.pooled_unique == 4 / 8
    # prompt dependence over tokens: the two prompts share no token
    assert sig.prompt_dep == pytest.approx(math.log(2))
    f = classify(sig, sig, TextMonitorSettings())
    assert f.kind == "none" and f.diversity_rel == 1.0


def test_the_callback_without_the_llm_extra_is_one_sentence_naming_it():
    import subprocess
    import sys

    code = ("import sys; sys.modules['transformers'] = None\n"
            "from modecollapse.errors import ConfigError\n"
            "try:\n    from modecollapse import CollapseCallback\nexcept ConfigError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "pip install 'modecollapse[llm]'" in r.stdout and "Traceback" not in r.stderr


def test_an_embedder_sees_answers_that_differ_only_in_wording():
    """Every completion a different string (exact match sees full diversity), but later ones all
    mean the same thing: an embedder that maps them to one direction drives Vendi to 1."""
    import torch

    def embed(texts):  # reference texts spread over 8 directions (by their last digit); "same ..." texts all on one
        return torch.stack([torch.eye(8)[0] if t.startswith("same") else torch.eye(8)[int(t[-1]) % 8] for t in texts])

    m = TextCollapseMonitor(check_every=1, embedder=embed)
    ref = [[f"a reply for {p}, variant {j}" for j in range(8)] for p in range(4)]
    m.update(0, completions=ref)
    r = m.update(1, completions=[[f"same reply for {p}, variant {j}" for j in range(8)] for p in range(4)])
    assert r.numbers["diversity"] == 1.0 and r.numbers["vendi"] == pytest.approx(1.0)
    assert r.kind == "answer-collapse" and "embedding Vendi of 1.00" in r.reason
