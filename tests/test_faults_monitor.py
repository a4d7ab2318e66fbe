"""Faults fed to CollapseMonitor (issue 21, item 6): a bad saved state is refused in one
sentence before anything changes; empty real or fake tensors are refused in one sentence."""
import copy
import json

import pytest
import torch

from modecollapse import CollapseMonitor
from modecollapse.data import build_dataset
from modecollapse.errors import ConfigError


@pytest.fixture(scope="module")
def ring():
    ds = build_dataset("ring", {})
    return ds, ds.sample(2000, torch.Generator().manual_seed(0))


@pytest.fixture()
def watched(ring):
    """A monitor with a history of 4 checks, and its saved state."""
    ds, real = ring
    gen = torch.Generator().manual_seed(1)
    m = CollapseMonitor(real=real)
    for c in range(4):
        m.update((c + 1) * 100, fake=ds.sample_modes(torch.randint(8, (512,), generator=gen), gen), d_loss=0.7, g_loss=1.1)
    return m, json.loads(json.dumps(m.state_dict()))


def one_sentence(err: ConfigError) -> bool:
    text = str(err)
    return "\n" not in text and text.rstrip().endswith(".") and text.count(". ") == 0


def corrupt(state, path, value):
    bad = copy.deepcopy(state)
    target = bad
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bad


CORRUPTIONS = [
    (("checks",), "3"),
    (("checks",), -1),
    (("history",), "lots"),
    (("history", 0, "verdict"), "exploded"),
    (("history", 1), 7),
    (("bad_streak",), None),
    (("onset",), 1.5),
    (("last_healthy",), "yesterday"),
    (("warming",), "no"),
    (("next_due",), None),
    (("best",), {"modes_rel": "high"}),
    (("best",), {"no_such_signal": 1.0}),
    (("prev_hist",), [0.5, 0.5]),
    (("prev_hist",), ["a"] * 16),
    (("hops",), [1, 0]),
    (("d_recent",), [0.1, float("nan")]),
    (("g_recent",), "x"),
    (("d_first",), "x"),
    (("total_seconds",), -2.0),
    (("report",), {"verdict": "healthy"}),
    (("report", "kind"), "sideways"),
    (("report", "verdict"), "great"),
    (("report", "step"), "100"),
    (("report", "score"), "0.9"),
    (("warm_checks",), KeyError),
    (("report",), KeyError),
]


@pytest.mark.parametrize("path, value", CORRUPTIONS, ids=[".".join(map(str, p)) + "=" + repr(v)[:12] for p, v in CORRUPTIONS])
def test_a_bad_state_is_refused_in_one_sentence_and_changes_nothing(watched, path, value):
    m, state = watched
    before = json.dumps(m.state_dict())
    with pytest.raises(ConfigError) as info:
        m.load_state_dict(corrupt(state, path, value))
    assert one_sentence(info.value), str(info.value)
    assert "left unchanged" in str(info.value)
    assert json.dumps(m.state_dict()) == before  # nothing was wiped or half-loaded
    assert m.report is not None and m.report.check == 4 and len(m.history) == 4


@pytest.mark.parametrize("state", [None, [1, 2], "state", {"version": 99}, {}])
def test_states_of_the_wrong_shape_are_refused(watched, state):
    m, _ = watched
    before = json.dumps(m.state_dict())
    with pytest.raises(ConfigError):
        m.load_state_dict(state)
    assert json.dumps(m.state_dict()) == before


def test_the_good_state_still_loads(watched, ring):
    m, state = watched
    fresh = CollapseMonitor(real=ring[1])
    fresh.load_state_dict(state)
    assert json.dumps(fresh.state_dict()) == json.dumps(m.state_dict())


@pytest.mark.parametrize("real", [torch.empty(0, 2), torch.empty(0, 1, 28, 28), torch.empty(10, 0)])
def test_empty_real_data_is_refused_in_one_sentence(real):
    with pytest.raises(ConfigError, match="no real data") as info:
        CollapseMonitor(real=real)
    assert one_sentence(info.value)


def test_an_empty_fake_batch_is_refused_in_one_sentence(ring):
    ds, real = ring
    m = CollapseMonitor(real=real)
    for fake in (torch.empty(0, 2), lambda: torch.empty(0, 2)):
        with pytest.raises(ConfigError, match="empty batch") as info:
            m.update(100, fake=fake)
        assert one_sentence(info.value)
    assert m.report is None and m.checks == 0  # nothing was counted as a check
