"""CollapseMonitor on synthetic streams with known answers (no training)."""
import json

import pytest
import torch

from modecollapse import CollapseMonitor
from modecollapse.data import build_dataset
from modecollapse.errors import ConfigError
from modecollapse.monitor import ALARMS, MonitorSettings

CHANGE = 5  # the check at which the stream changes
EVERY = 100


@pytest.fixture(scope="module")
def grid():
    ds = build_dataset("grid", {})
    real = ds.sample(3000, torch.Generator().manual_seed(0))
    return ds, real


@pytest.fixture(scope="module")
def ring():
    ds = build_dataset("ring", {})
    real = ds.sample(3000, torch.Generator().manual_seed(0))
    return ds, real


def batch(ds, modes, gen, n=512, junk=0.0):
    idx = torch.tensor(modes)[torch.randint(len(modes), (n,), generator=gen)]
    x = ds.sample_modes(idx, gen)
    nj = int(n * junk)
    if nj:
        x[:nj] = torch.rand(nj, 2, generator=gen) * 12 - 6  # far-flung junk over the whole plane
    return x


def stream(monitor, ds, after, checks=10, seed=1, junk=0.0):
    """Feeds every-mode batches, then from check CHANGE on ``after(c)``'s modes; returns the reports."""
    gen = torch.Generator().manual_seed(seed)
    everything = list(range(ds.num_modes))
    reports = []
    for c in range(checks):
        modes = everything if c < CHANGE else after(c)
        reports.append(monitor.update(c * EVERY, fake=batch(ds, modes, gen, junk=junk)))
    return reports


def first_alarm(reports):
    return next((r for r in reports if r.verdict in ALARMS), None)


def test_healthy_stream_stays_healthy(ring, grid):
    for ds, real in (ring, grid):
        reports = stream(CollapseMonitor(real=real), ds, after=lambda c: list(range(ds.num_modes)), checks=12)
        assert [r.verdict for r in reports[:4]] == ["warming-up"] * 4
        assert all(r.verdict == "healthy" for r in reports[4:]), [r.verdict for r in reports]
        assert all(0.85 < r.numbers["score"] < 1.15 for r in reports)


@pytest.mark.parametrize("modes", [[12], [0, 6, 12, 18, 24]], ids=["one-mode", "five-of-25"])
def test_collapse_on_grid_is_flagged_with_onset(grid, modes):
    ds, real = grid
    m = CollapseMonitor(real=real)
    reports = stream(m, ds, after=lambda c: modes)
    alarm = first_alarm(reports)
    assert alarm is not None and alarm.check - 1 <= CHANGE + 2  # within two checks of the change
    assert alarm.onset_step == CHANGE * EVERY
    assert reports[-1].verdict == "collapsed" and m.verdict == "collapsed"
    assert reports[-1].onset_step == CHANGE * EVERY
    assert "dropping modes" in reports[-1].reason and f"step {CHANGE * EVERY}" in reports[-1].reason
    assert reports[-1].numbers["score"] < 0.5


def test_one_mode_of_ring_is_collapse(ring):
    ds, real = ring
    reports = stream(CollapseMonitor(real=real), ds, after=lambda c: [3])
    assert reports[CHANGE].verdict in ALARMS and reports[-1].verdict == "collapsed"


def test_hopping_is_flagged_and_named(ring):
    ds, real = ring
    reports = stream(CollapseMonitor(real=real), ds, after=lambda c: [c % ds.num_modes])
    alarm = first_alarm(reports)
    assert alarm is not None and alarm.check - 1 <= CHANGE + 2
    assert reports[-1].verdict == "collapsed"
    assert "hopping" in reports[-1].reason
    # a collapse that stays on one mode is not called hopping
    still = stream(CollapseMonitor(real=real), ds, after=lambda c: [2])
    assert "hopping" not in still[-1].reason


def test_noisy_stream_is_not_collapse(grid):
    """All modes plus half junk: precision falls, recall stays: not a collapse."""
    ds, real = grid
    reports = stream(CollapseMonitor(real=real), ds, after=lambda c: list(range(25)), junk=0.5)
    assert all(r.verdict in ("warming-up", "healthy") for r in reports), [r.reason for r in reports]
    assert reports[-1].numbers["precision"] < 0.6 and reports[-1].numbers["recall_rel"] > 0.9


def test_nan_is_diverged(ring):
    ds, real = ring
    m = CollapseMonitor(real=real)
    gen = torch.Generator().manual_seed(0)
    m.update(0, fake=batch(ds, list(range(8)), gen))
    bad = batch(ds, list(range(8)), gen)
    bad[3, 0] = float("nan")
    r = m.update(100, fake=bad)
    assert r.verdict == "diverged" and "non-finite" in r.reason
    r = CollapseMonitor(real=real).update(0, fake=batch(ds, [0], gen), d_loss=float("inf"))
    assert r.verdict == "diverged" and "d_loss=inf" in r.reason


def test_verdict_independent_of_order_within_a_check(grid):
    ds, real = grid
    gen = torch.Generator().manual_seed(5)
    batches = [batch(ds, list(range(25)) if c < 4 else [1, 2, 3], gen) for c in range(7)]
    a, b = CollapseMonitor(real=real), CollapseMonitor(real=real)
    for c, x in enumerate(batches):
        ra = a.update(c * EVERY, fake=x)
        rb = b.update(c * EVERY, fake=x[torch.randperm(len(x), generator=gen)])
        assert ra.verdict == rb.verdict and ra.onset_step == rb.onset_step
        assert ra.numbers["score"] == pytest.approx(rb.numbers["score"], abs=1e-9)
    # fed in small pieces between checks, the same samples give the same check
    c = CollapseMonitor(real=real)
    for i, x in enumerate(batches):
        for j, piece in enumerate(x.split(64)):
            rc = c.update(i * EVERY + j, fake=piece)
    assert rc.verdict == ra.verdict and rc.numbers["score"] == pytest.approx(ra.numbers["score"], abs=1e-9)


def test_state_dict_round_trip(ring, tmp_path):
    ds, real = ring
    gen = torch.Generator().manual_seed(2)
    xs = [batch(ds, list(range(8)) if c < 4 else [5], gen) for c in range(8)]
    whole = CollapseMonitor(real=real)
    first = CollapseMonitor(real=real)
    for c, x in enumerate(xs):
        rw = whole.update(c * EVERY, fake=x, d_loss=0.5, g_loss=1.0)
        if c < 5:
            first.update(c * EVERY, fake=x, d_loss=0.5, g_loss=1.0)
    state = json.loads(json.dumps(first.state_dict()))  # JSON-able
    torch.save(state, tmp_path / "m.pt")
    resumed = CollapseMonitor(real=real)
    resumed.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert resumed.verdict == first.verdict
    for c, x in enumerate(xs[5:], start=5):
        rr = resumed.update(c * EVERY, fake=x, d_loss=0.5, g_loss=1.0)
    assert (rr.verdict, rr.onset_step, rr.reason) == (rw.verdict, rw.onset_step, rw.reason)
    other = CollapseMonitor(real=real[:2000])
    with pytest.raises(ConfigError, match="other real data"):
        other.load_state_dict(state)


def test_check_interval_callbacks_log_and_early_stop(ring, tmp_path):
    ds, real = ring
    gen = torch.Generator().manual_seed(3)
    changes = []
    m = CollapseMonitor(real=real, check_every=50, log=tmp_path / "monitor.jsonl", stop_on=("collapsed",),
                        on_change=lambda prev, r: changes.append((prev, r.verdict, r.step)))
    calls = []
    for step in range(0, 500, 10):
        modes = list(range(8)) if step < 250 else [0]
        r = m.update(step, fake=lambda: calls.append(step) or batch(ds, modes, gen))
        if m.should_stop:
            break
    assert calls == list(range(0, step + 1, 50))  # the sampler runs only when a check is due
    assert m.verdict == "collapsed" and r.step == step and step <= 350
    assert [c[1] for c in changes] == ["healthy", "collapsing", "collapsed"] or [c[1] for c in changes] == ["healthy", "collapsed"]
    lines = [json.loads(line) for line in (tmp_path / "monitor.jsonl").read_text().splitlines()]
    assert len(lines) == len(calls) and lines[-1]["verdict"] == "collapsed" and "score" in lines[-1]


def test_known_modes_and_bad_input(ring):
    ds, real = ring
    m = CollapseMonitor(real=real, modes=ds.centers)
    assert m.reference.bins == 8
    reports = stream(m, ds, after=lambda c: [0, 1])
    assert reports[-1].verdict == "collapsed" and "2.0 modes" in reports[-1].reason
    with pytest.raises(ConfigError, match="at least"):
        CollapseMonitor(real=real[:50])
    with pytest.raises(ConfigError, match="num_modes"):
        CollapseMonitor(real=real, mode_classifier=lambda x: x[:, 0].long())
    with pytest.raises(ConfigError, match="collapsed_below"):
        CollapseMonitor(real=real, settings=MonitorSettings(collapsed_below=0.9))
    with pytest.raises(ConfigError, match="shaped like the real"):
        CollapseMonitor(real=real).update(0, fake=torch.zeros(64, 3))
