"""Anti-collapse techniques: the mechanics of each, and for every registered technique that it
is deterministic and survives checkpoint/resume bit for bit."""
import copy
import dataclasses
import json
import math
import re

import pytest
import torch
from torch import nn

from modecollapse import TechniqueSpec, TrainConfig, build_run
from modecollapse.cli import main
from modecollapse.errors import ConfigError
from modecollapse.lab.rundir import load_checkpoint
from modecollapse.lab.train import d_step, g_step, train, train_step
from modecollapse.techniques import TECHNIQUES, library_order
from modecollapse.techniques.batch_aware import MinibatchDiscrimination, MinibatchStd, Packed
from modecollapse.techniques.generator_objectives import kl_entropy, latent_output_ratio
from modecollapse.techniques.mixture import MixtureGenerator, split_latent
from modecollapse.techniques.penalties import penalty

TINY = TrainConfig(data="ring", steps=6, batch_size=16, g_width=16, d_width=16, g_depth=1, d_depth=1,
                   eval_every=3, eval_samples=100, checkpoint_every=3, seed=5)

# Parameters that make the generic tests exercise each technique's state and randomness.
EXERCISE = {
    "gp": ({"kind": "wgan-gp", "interval": 2}, {}),
    "spectral-norm": ({"where": "both"}, {}),
    "mixture": ({"k": 3, "classifier": 0.5}, {}),
    "unrolled": ({"k": 2}, {}),
    "replay": ({"p": 0.5, "size": 20, "keep": 8}, {}),
    "curriculum": ({"end": 0.9}, {"data": "core-outliers"}),
    "minibatch-std": ({"group": 4}, {}),
    "label-flip": ({"p": 0.3}, {}),
}


def cfg_with(name: str, params: dict | None = None, **overrides) -> TrainConfig:
    default_params, default_overrides = EXERCISE.get(name, ({}, {}))
    spec = TechniqueSpec(name, default_params if params is None else params)
    return dataclasses.replace(TINY, techniques=[spec], **{**default_overrides, **overrides})


@pytest.fixture(autouse=True)
def _no_plots(monkeypatch):
    # PNGs cost more than these tiny trainings; their content is tested elsewhere.
    import modecollapse.lab.plots as plots

    monkeypatch.setattr(plots, "scatter_samples", lambda *a, **k: None)
    monkeypatch.setattr(plots, "modes_over_training", lambda *a, **k: None)


def assert_same_checkpoint(a, b):
    sa, sb = load_checkpoint(a), load_checkpoint(b)
    for key in ("G", "D"):
        assert sa[key].keys() == sb[key].keys()
        for k in sa[key]:
            assert torch.equal(sa[key][k], sb[key][k]), (key, k)
    for x, y in zip(sa["extra_d"] + sa["extra_g"], sb["extra_d"] + sb["extra_g"]):
        assert torch.equal(x, y)
    assert sa["step"] == sb["step"]
    assert repr(sa["techniques"]) == repr(sb["techniques"])


# -- every registered technique ----------------------------------------------------------------
ALL = TECHNIQUES.names()


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_result(name, tmp_path):
    cfg = cfg_with(name)
    s1 = train(cfg, tmp_path / "a", progress=False)
    s2 = train(cfg, tmp_path / "b", progress=False)
    assert s1["status"] == s2["status"] == "ok"
    assert s1["counts"] == s2["counts"]
    assert_same_checkpoint(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("name", ALL)
def test_resume_gives_the_uninterrupted_weights(name, tmp_path):
    cfg = cfg_with(name)
    full = train(cfg, tmp_path / "full", progress=False)
    part = train(cfg, tmp_path / "part", progress=False, stop_after=3)
    assert part["status"] == "interrupted"
    resumed = train(cfg, tmp_path / "part", resume=True, progress=False)
    assert resumed["status"] == "ok" and resumed["counts"] == full["counts"]
    assert_same_checkpoint(tmp_path / "full", tmp_path / "part")


@pytest.mark.parametrize("name", ALL)
def test_every_technique_is_documented_and_has_a_flag(name, capsys):
    cls = TECHNIQUES.get(name)
    assert cls.summary and cls.__module__.startswith("modecollapse.techniques.")
    doc = __import__(cls.__module__, fromlist=["_"]).__doc__
    # the docstring names the technique and cites a paper: authors and a year, e.g. "(Lin et al. 2018"
    assert f"``{name}``" in doc or name.replace("-", " ") in doc.lower(), name
    assert re.search(r"[A-Z][a-zà-ÿ]+( et al\.| & [A-Z][a-zà-ÿ]+)?,? \(?(19|20)\d\d", doc), name
    code = main(["train", f"--{name}", "", "--dry-run"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and name in [t["name"] for t in out["techniques"]]


def _weights_after(cfg: TrainConfig, steps: int = 3):
    """The resolved config and G, D (and extra) weights after ``steps`` steps, or the error."""
    from modecollapse.lab.train import resolve

    try:
        resolved = resolve(cfg)[0].to_dict()
        run = build_run(cfg)
    except ConfigError as err:
        return str(err), None
    for _ in range(steps):
        train_step(run)
    return resolved, [t.detach().clone() for t in (*run.G.state_dict().values(), *run.D.state_dict().values(),
                                                   *run.extra_d_params, *run.extra_g_params)]


PAIR_TINY = dataclasses.replace(TINY, g_width=8, d_width=8, batch_size=8)
PAIR_PARAMS = {**{k: v[0] for k, v in EXERCISE.items()}, "pack": {"m": 2}, "minibatch-std": {"group": 2},
               "mixture": {"k": 2, "classifier": 0.5}, "unrolled": {"k": 1}, "replay": {"p": 0.5, "size": 8, "keep": 4}}
PAIRS = [(a, b) for i, a in enumerate(ALL) for b in ALL[i + 1:]]


@pytest.mark.parametrize("first,second", PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_every_pair_gives_the_same_run_in_either_list_order(first, second):
    """The library fixes the order techniques run in, never the user's list: both orders give
    the same resolved config and bit-identical weights after 3 steps (or the same refusal)."""
    specs = [TechniqueSpec(n, dict(PAIR_PARAMS.get(n, {}))) for n in (first, second)]
    data = {"data": "core-outliers"} if "curriculum" in (first, second) else {}
    one = _weights_after(dataclasses.replace(PAIR_TINY, techniques=specs, **data))
    two = _weights_after(dataclasses.replace(PAIR_TINY, techniques=specs[::-1], **data))
    assert one[0] == two[0]
    if one[1] is None:
        return  # the same ConfigError either way (an impossible combination)
    assert [t["name"] for t in one[0]["techniques"]] == [t.name for t in library_order(
        [TECHNIQUES.get(n)(None) for n in (first, second)])]
    assert len(one[1]) == len(two[1]) and all(torch.equal(x, y) for x, y in zip(one[1], two[1]))


@pytest.mark.parametrize("other", ["pack", "minibatch-disc", "minibatch-std", "mixture", "spectral-norm"])
@pytest.mark.parametrize("first", [True, False])
def test_weight_clipping_bounds_every_d_weight_whatever_the_order(other, first):
    """Reproduced bug: [weight-clip, pack] cached D's parameters before packing replaced D and
    clipped nothing (largest weight 0.50 after 3 steps). Every parameter D has, after every
    other technique changed D, lies in [-clip, clip]."""
    specs = [TechniqueSpec("weight-clip", {"clip": 0.01}), TechniqueSpec(other, PAIR_PARAMS.get(other, {}))]
    run = build_run(dataclasses.replace(TINY, loss="wgan", techniques=specs if first else specs[::-1]))
    for _ in range(3):
        train_step(run)
    largest = max(float(p.detach().abs().max()) for p in run.D.parameters())
    assert largest <= 0.01 + 1e-9
    assert largest == pytest.approx(0.01)  # Adam's first steps (lr 1e-3) push some weight to the bound


def test_techniques_see_a_narrow_context_not_the_run():
    from modecollapse.techniques import TechniqueContext

    run = build_run(cfg_with("pack"))
    ctx = run.ctx
    assert isinstance(ctx, TechniqueContext) and ctx.D is run.D and ctx.step == run.step
    with pytest.raises(AttributeError):
        _ = ctx.hooks  # the trainer's internals are not part of the interface
    with pytest.raises(RuntimeError, match="setup only"):
        ctx.replace_discriminator(nn.Linear(2, 1))  # after set-up the optimisers hold D's parameters


# -- discriminator constraints ---------------------------------------------------------------
def _linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_d_norm_spectral_is_the_spectral_norm_technique_on_d():
    from modecollapse.lab.train import resolve
    cfg = resolve(dataclasses.replace(TINY, d_norm="spectral"))[0]
    assert cfg.d_norm == "none"
    assert [(t.name, t.params["where"]) for t in cfg.techniques] == [("spectral-norm", "d")]
    run = build_run(dataclasses.replace(TINY, d_norm="spectral"))
    assert any(hasattr(m, "parametrizations") or hasattr(m, "weight_orig") for m in run.D.modules())


def test_spectral_norm_makes_top_singular_value_one():
    run = build_run(cfg_with("spectral-norm", {"where": "d"}, d_width=32))
    for _ in range(5):
        train_step(run)
    layers = _linears(run.D)
    assert len(layers) == 2
    for layer in layers:
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2) == pytest.approx(1.0, abs=0.02)
    assert not any(hasattr(m, "parametrizations") for m in _linears(run.G))
    both = build_run(cfg_with("spectral-norm", {"where": "both"}))
    assert all(hasattr(m, "parametrizations") for m in _linears(both.G) + _linears(both.D))


def _linear_critic(w):
    lin = nn.Linear(len(w), 1, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([w]))
    return lambda x: lin(x).squeeze(-1)


@pytest.mark.parametrize("kind", ["wgan-gp", "dragan"])
def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic(kind):
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 2, generator=gen), torch.randn(64, 2, generator=gen) + 3
    unit = _linear_critic([0.6, 0.8])
    assert float(penalty(unit, kind, real, fake, gen).detach()) == pytest.approx(0.0, abs=1e-10)
    steep = _linear_critic([1.2, 1.6])  # gradient norm 2: penalty (2 - 1)^2
    assert float(penalty(steep, kind, real, fake, gen).detach()) == pytest.approx(1.0, rel=1e-5)


def _packed_linear_critic(w, m):
    """A critic judging packs of m samples: a linear map of the m * dim packed coordinates."""
    lin = nn.Linear(len(w), 1, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([w]))
    return lambda x: lin(x.reshape(x.shape[0] // m, m * x.shape[1])).squeeze(-1)


@pytest.mark.parametrize("kind,expected", [("wgan-gp", 0.0), ("dragan", 0.0), ("r1", 0.5), ("r2", 0.5)])
def test_penalties_take_the_gradient_norm_per_pack(kind, expected):
    """A critic on packs of 2 with weight (0.6, 0, 0, 0.8) is 1-Lipschitz in the pack: the
    gradient of each verdict has norm 1 over the pack's 4 coordinates. Per unpacked row the
    norms would be 0.6 and 0.8, giving wgan-gp / dragan (0.4^2 + 0.2^2) / 2 = 0.1 and R1 / R2
    0.5 * (0.36 + 0.64) / 2 = 0.25 instead of 0 and 0.5."""
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 2, generator=gen), torch.randn(64, 2, generator=gen) + 3
    critic = _packed_linear_critic([0.6, 0.0, 0.0, 0.8], 2)
    assert float(penalty(critic, kind, real, fake, gen, group=2).detach()) == pytest.approx(expected, abs=1e-6)
    per_row = {"wgan-gp": 0.1, "dragan": 0.1, "r1": 0.25, "r2": 0.25}[kind]
    assert float(penalty(critic, kind, real, fake, gen, group=1).detach()) == pytest.approx(per_row, abs=1e-6)


def test_gp_with_packing_in_training_uses_the_pack_norm():
    run = build_run(dataclasses.replace(TINY, techniques=[TechniqueSpec("gp", {"kind": "r1", "weight": 1.0}),
                                                          TechniqueSpec("pack", {"m": 4})]))
    from modecollapse.techniques.base import DBatch

    real = run.sample_real(16)
    tech = next(t for t in run.techniques if t.name == "gp")
    term = float(tech.d_terms(run.ctx, DBatch(real, real, run.D(real), run.D(real)))["gp_r1"].detach())
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(run.D(x).sum(), x)
    assert term == pytest.approx(float(0.5 * grad.reshape(4, 8).norm(dim=1).pow(2).mean()), rel=1e-5)


@pytest.mark.parametrize("kind", ["r1", "r2"])
def test_r1_r2_are_half_the_squared_gradient_norm(kind):
    gen = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 2, generator=gen), torch.randn(64, 2, generator=gen)
    assert float(penalty(_linear_critic([0.6, 0.8]), kind, real, fake, gen).detach()) == pytest.approx(0.5)
    assert float(penalty(_linear_critic([0.0, 0.0]), kind, real, fake, gen).detach()) == 0.0


def test_lazy_penalty_applies_every_interval_scaled():
    run = build_run(cfg_with("gp", {"kind": "r1", "weight": 2.0, "interval": 3}))
    tech = run.techniques[0]
    real = run.sample_real(16)
    from modecollapse.techniques.base import DBatch

    batch = DBatch(real, real, run.D(real), run.D(real))
    terms = [tech.d_terms(run.ctx, batch) for _ in range(6)]
    assert [bool(t) for t in terms] == [True, False, False, True, False, False]
    plain = penalty(run.D, "r1", real, real, run.noise_gen)
    assert float(terms[0]["gp_r1"].detach()) == pytest.approx(float(2.0 * 3 * plain.detach()), rel=1e-5)


# -- batch-aware discriminators ---------------------------------------------------------------
def test_minibatch_discrimination_measures_closeness_to_the_rest_of_the_batch():
    layer = MinibatchDiscrimination(feature_dim=4, kernels=3, kernel_dim=2)
    same = torch.ones(5, 4)
    assert torch.allclose(layer(same), torch.full((5, 3), 4.0))  # exp(0) for each of the 4 others
    apart = torch.arange(5.0)[:, None].repeat(1, 4) * 1000
    assert layer(apart).abs().max() < 1e-6  # far apart: nothing close


def test_minibatch_discrimination_fast_path_matches_and_gp_gets_the_double_backward_one():
    torch.manual_seed(0)
    fast = MinibatchDiscrimination(feature_dim=6, kernels=3, kernel_dim=2, double_backward=False)
    exact = copy.deepcopy(fast)
    exact.double_backward = True
    f = torch.randn(7, 6)
    assert torch.allclose(fast(f), exact(f), atol=1e-6)
    assert not build_run(cfg_with("minibatch-disc")).D.head.stats[0].double_backward
    for other in (TechniqueSpec("gp", {"kind": "r1"}), TechniqueSpec("unrolled", {"k": 1})):
        run = build_run(dataclasses.replace(TINY, techniques=[TechniqueSpec("minibatch-disc"), other]))
        assert run.D.head.stats[0].double_backward, other.name
        train_step(run)  # differentiates through the minibatch layer's backward


def test_minibatch_std_is_the_mean_feature_std():
    stat = MinibatchStd(group=0)
    f = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0], [6.0, 1.0]])
    expected = (f[:, 0].var(unbiased=False).sqrt() + 0.0) / 2
    assert torch.allclose(stat(f), torch.full((4, 1), float(expected)), atol=1e-3)
    grouped = MinibatchStd(group=2)(f)  # groups {0, 2} and {1, 3}: std 2 in the first feature
    assert torch.allclose(grouped, torch.full((4, 1), 1.0), atol=1e-3)


def test_batch_aware_verdicts_depend_on_the_batch():
    for name in ("minibatch-disc", "minibatch-std"):
        run = build_run(cfg_with(name))
        x = torch.randn(8, 2)
        alone = run.D(x)[:4]
        with_others = run.D(torch.cat([x[:4], x[:4] + 5]))[:4]
        assert not torch.allclose(alone, with_others), name


def test_packing_judges_m_samples_as_one_example():
    run = build_run(cfg_with("pack", {"m": 4}))
    assert isinstance(run.D, Packed) and run.D.inner.in_dim == 8
    x = torch.randn(8, 2)
    out = run.D(x)
    assert out.shape == (2,)
    assert torch.allclose(out[1], run.D.inner(x[4:].reshape(1, 8))[0])
    assert run.D.features(x).shape == (2, run.D.feature_dim)


def test_packing_keeps_a_minibatch_head():
    run = build_run(dataclasses.replace(TINY, techniques=[TechniqueSpec("minibatch-std"), TechniqueSpec("pack", {"m": 2})]))
    assert isinstance(run.D, Packed) and len(run.D.head.stats) == 1
    train_step(run)


def test_impossible_combinations_are_refused():
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_run(dataclasses.replace(cfg_with("pack", {"m": 4}), batch_size=30))
    for name in ("label-smoothing", "label-flip"):
        with pytest.raises(ConfigError, match="does not use"):
            build_run(cfg_with(name, loss="wgan-gp"))
    with pytest.raises(ConfigError, match="pack"):
        build_run(dataclasses.replace(TINY, techniques=[TechniqueSpec("mixture", {"classifier": 1.0}), TechniqueSpec("pack")]))
    with pytest.raises(ConfigError, match="must divide"):
        build_run(cfg_with("minibatch-std", {"group": 3}))
    with pytest.raises(ConfigError, match="where"):
        build_run(cfg_with("spectral-norm", {"where": "x"}))


# -- generator objectives ---------------------------------------------------------------------
def test_feature_matching_replaces_the_adversarial_loss_with_a_feature_mean_match():
    run = build_run(cfg_with("feature-matching", d_depth=0))  # features are the inputs themselves
    tech = run.techniques[0]
    assert run.g_adv_weight == 0.0
    from modecollapse.techniques.base import GBatch

    fake = torch.randn(16, 2)
    state = run.data_gen.get_state()
    term = tech.g_terms(run, GBatch(torch.zeros(16, 2), fake, fake, torch.zeros(16)))["feature_matching"]
    run.data_gen.set_state(state)
    real = run.sample_real(16)
    assert float(term) == pytest.approx(float((real.mean(0) - fake.mean(0)).pow(2).sum()), rel=1e-5)


def test_mode_seeking_ratio_and_collapse():
    z = torch.randn(10, 3)
    assert torch.allclose(latent_output_ratio(z, 2 * z), torch.full((5,), 2.0))
    run = build_run(cfg_with("mode-seeking"))
    from modecollapse.techniques.base import GBatch

    collapsed = torch.zeros(16, 2)
    term = run.techniques[0].g_terms(run, GBatch(torch.randn(16, 2), collapsed, collapsed, torch.zeros(16)))
    assert float(term["mode_seeking"]) == pytest.approx(1e5)  # weight / eps: a collapsed G pays most
    ds = build_run(cfg_with("mode-seeking", {"kind": "dsgan", "tau": 0.5}))
    spread = 10 * torch.randn(16, 2)
    term = ds.techniques[0].g_terms(ds, GBatch(torch.randn(16, 2), spread, spread, torch.zeros(16)))
    assert float(term["mode_seeking"]) == pytest.approx(-0.5)  # clamped at tau


def test_kozachenko_leonenko_entropy_known_answers():
    gen = torch.Generator().manual_seed(0)
    gauss = torch.randn(3000, 2, generator=gen)
    assert float(kl_entropy(gauss, k=3)) == pytest.approx(math.log(2 * math.pi * math.e), abs=0.1)
    uniform = torch.rand(3000, 2, generator=gen)
    assert float(kl_entropy(uniform, k=3)) == pytest.approx(0.0, abs=0.1)
    # doubling the scale adds d * log 2
    assert float(kl_entropy(2 * gauss) - kl_entropy(gauss)) == pytest.approx(2 * math.log(2), abs=1e-4)


# -- game dynamics ----------------------------------------------------------------------------
def test_unrolling_zero_steps_is_exactly_the_plain_step(tmp_path):
    train(dataclasses.replace(TINY), tmp_path / "plain", progress=False)
    train(cfg_with("unrolled", {"k": 0}), tmp_path / "k0", progress=False)
    a, b = load_checkpoint(tmp_path / "plain"), load_checkpoint(tmp_path / "k0")
    for key in ("G", "D"):
        for k in a[key]:
            assert torch.equal(a[key][k], b[key][k])


def test_unrolled_critic_is_d_after_k_real_adam_steps_and_leaves_d_alone():
    run = build_run(cfg_with("unrolled", {"k": 1}, d_norm="none"))
    train_step(run)  # Adam has moments now
    tech = run.techniques[0]
    before = copy.deepcopy(run.D.state_dict())
    fake = run.G(run.sample_z(16)).detach()
    data_state = run.data_gen.get_state()
    critic = tech.g_critic(run, run.D, fake)
    x = torch.randn(32, 2)
    looked_ahead = critic(x)
    for k, v in run.D.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the same step taken for real on a copy of D and its optimiser
    run.data_gen.set_state(data_state)
    real = run.sample_real(16)
    D = copy.deepcopy(run.D)
    opt = torch.optim.Adam(D.parameters(), lr=run.cfg.lr_d, betas=(run.cfg.beta1, run.cfg.beta2))
    opt.load_state_dict(run.opt_d.state_dict())
    loss = run.loss.d_loss(D(real), D(fake), 1.0, 0.0)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.allclose(looked_ahead, D(x), atol=1e-5)
    assert not torch.allclose(looked_ahead, run.D(x), atol=1e-5)


def test_unrolled_gradient_flows_through_the_lookahead():
    run = build_run(cfg_with("unrolled", {"k": 2}))
    train_step(run)
    z = run.sample_z(16)
    fake = run.G(z)
    critic = run.techniques[0].g_critic(run, run.D, fake)
    direct = torch.autograd.grad(run.loss.g_loss(run.D(fake)), list(run.G.parameters()), retain_graph=True)
    unrolled = torch.autograd.grad(run.loss.g_loss(critic(fake)), list(run.G.parameters()))
    assert any(not torch.allclose(a, b) for a, b in zip(direct, unrolled))


def test_replay_shows_stored_samples():
    run = build_run(cfg_with("replay", {"p": 1.0, "size": 12, "keep": 8}))
    tech = run.techniques[0]
    real = torch.zeros(8, 2)
    first = torch.randn(8, 2)
    _, shown = tech.d_inputs(run, real, first)
    assert torch.equal(shown, first)  # empty buffer: nothing to replay yet
    second = torch.randn(8, 2) + 100
    _, shown = tech.d_inputs(run, real, second)
    assert all(any(torch.equal(row, f) for f in first) for row in shown)  # p=1: all from the past
    assert tech.filled == 12 and tech.pos == 4  # the ring wrapped: 16 pushed into 12 places
    assert torch.equal(tech.buffer[:4], second[4:8])


def test_replay_probability():
    run = build_run(cfg_with("replay", {"p": 0.3, "size": 5000, "keep": 1000}))
    tech = run.techniques[0]
    tech.d_inputs(run, torch.zeros(1000, 2), torch.zeros(1000, 2))
    _, shown = tech.d_inputs(run, torch.zeros(1000, 2), torch.ones(1000, 2))
    assert float((shown == 0).all(1).float().mean()) == pytest.approx(0.3, abs=0.05)


def test_n_critic_and_two_time_scales_are_trainer_options():
    run = build_run(dataclasses.replace(TINY, n_critic=3, lr_d=4e-3, lr_g=1e-3))
    train_step(run)
    train_step(run)
    step_of = lambda opt: int(next(iter(opt.state.values()))["step"])  # noqa: E731
    assert step_of(run.opt_d) == 6 and step_of(run.opt_g) == 2
    assert run.opt_d.param_groups[0]["lr"] == 4 * run.opt_g.param_groups[0]["lr"]


# -- structure --------------------------------------------------------------------------------
def test_split_latent_is_uniform_and_keeps_a_standard_normal():
    z = torch.randn(40000, 2, generator=torch.Generator().manual_seed(1))
    idx, z2 = split_latent(z, 4)
    share = torch.bincount(idx, minlength=4).float() / len(idx)
    assert torch.allclose(share, torch.full((4,), 0.25), atol=0.01)
    for k in range(4):  # the latent a generator receives is standard normal
        assert float(z2[idx == k, 0].mean()) == pytest.approx(0.0, abs=0.03)
        assert float(z2[idx == k, 0].std()) == pytest.approx(1.0, abs=0.03)
    assert torch.equal(z2[:, 1], z[:, 1])


def test_mixture_assigns_each_sample_to_one_generator():
    run = build_run(cfg_with("mixture", {"k": 3}))
    assert isinstance(run.G, MixtureGenerator) and len(run.G.generators) == 3
    z = run.sample_z(64)
    out = run.G(z)
    idx, z2 = split_latent(z, 3)
    for i in range(64):
        own = run.G.generators[int(idx[i])](z2[i : i + 1])[0]
        assert torch.allclose(out[i], own, atol=1e-6)
        others = [run.G.generators[k](z2[i : i + 1])[0] for k in range(3) if k != int(idx[i])]
        assert all(not torch.allclose(out[i], o) for o in others)


def test_mixture_classifier_is_trained_with_d():
    run = build_run(cfg_with("mixture", {"k": 2, "classifier": 1.0}))
    tech = run.techniques[0]
    assert len(run.extra_d_params) == 2  # the classifier head's weight and bias
    before = [p.detach().clone() for p in run.extra_d_params]
    d_step(run)
    assert any(not torch.equal(a, p) for a, p in zip(before, run.extra_d_params))
    g_step(run)
    assert tech.classifier.out_features == 2


# -- data side --------------------------------------------------------------------------------
def test_instance_noise_is_annealed():
    run = build_run(cfg_with("instance-noise", {"std": 0.5, "until": 0.5}))
    tech = run.techniques[0]
    assert tech.sigma(0.0) == 0.5 and tech.sigma(0.25) == 0.25 and tech.sigma(0.5) == 0.0 and tech.sigma(0.9) == 0.0
    x = torch.zeros(20000, 2)
    real, fake = tech.d_inputs(run, x, x)
    assert float(real.std()) == pytest.approx(0.5, abs=0.02) and not torch.equal(real, fake)
    assert float(tech.g_input(run, x).std()) == pytest.approx(0.5, abs=0.02)
    run.step = run.cfg.steps  # annealed away: inputs untouched
    assert torch.equal(tech.g_input(run, x), x)


def test_one_sided_label_smoothing_and_label_flips():
    run = build_run(cfg_with("label-smoothing", {"smoothing": 0.2}))
    assert run.techniques[0].d_targets(run, 1.0, 0.0, 16) == (0.8, 0.0)
    run = build_run(cfg_with("label-flip", {"p": 0.25}))
    real_t, fake_t = run.techniques[0].d_targets(run, 1.0, 0.0, 20000)
    assert float((real_t == 0).float().mean()) == pytest.approx(0.25, abs=0.02)
    assert float((fake_t == 1).float().mean()) == pytest.approx(0.25, abs=0.02)


def test_label_smoothing_and_flipping_commute():
    """Flipping swaps targets, smoothing maps every 1 to 1 - s and keeps every 0: in either
    order a flipped fake is trained towards 1 - s, a flipped real towards 0, the rest towards
    1 - s (real) and 0 (fake)."""
    specs = [TechniqueSpec("label-smoothing", {"smoothing": 0.2}), TechniqueSpec("label-flip", {"p": 0.3})]
    run = build_run(dataclasses.replace(TINY, techniques=specs))
    by_name = {t.name: t for t in run.techniques}
    smooth, flip = by_name["label-smoothing"], by_name["label-flip"]
    state = run.noise_gen.get_state()
    a = smooth.d_targets(run, *flip.d_targets(run, 1.0, 0.0, 1000), 1000)
    run.noise_gen.set_state(state)
    b = flip.d_targets(run, *smooth.d_targets(run, 1.0, 0.0, 1000), 1000)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    keep = torch.tensor(0.8)
    assert bool(((a[0] == 0) | (a[0] == keep)).all()) and bool(((a[1] == 0) | (a[1] == keep)).all())
    assert float((a[1] > 0).float().mean()) == pytest.approx(0.3, abs=0.05)


def test_label_flip_with_packing_gives_one_target_per_verdict():
    run = build_run(dataclasses.replace(TINY, techniques=[TechniqueSpec("pack", {"m": 4}), TechniqueSpec("label-flip")]))
    assert torch.isfinite(d_step(run))


def test_curriculum_starts_on_the_core_of_core_outliers():
    run = build_run(cfg_with("curriculum", {"core": 0.5, "start": 0.0, "end": 0.5}, data="core-outliers", steps=100))
    early = run.sample_real(2000)
    assert bool((run.dataset.assign(early).mode == 0).all())
    run.step = 25  # half-way through the blend
    mid = run.dataset.assign(run.sample_real(4000)).mode
    assert 0.03 < float((mid != 0).float().mean()) < 0.07  # half of the outliers' 10%
    run.step = 60
    assert run.techniques[0].sample_real(run, 10) is None  # the data's own weights


# -- precision aids over time ------------------------------------------------------------------
def test_ema_generator_samples_with_the_averaged_weights():
    from modecollapse.lab.train import generate
    from modecollapse.techniques.schedules import EMAGenerator

    run = build_run(cfg_with("ema", {"decay": 0.9}))
    assert isinstance(run.G, EMAGenerator)
    live = run.G.live
    manual = {n: p.detach().clone() for n, p in live.named_parameters()}
    for step in range(4):
        run.step = step
        train_step(run)
        decay = min(0.9, (1 + step) / (10 + step))
        manual = {n: manual[n] * decay + p.detach() * (1 - decay) for n, p in live.named_parameters()}
    for n, v in run.G.averaged().items():
        assert torch.allclose(v, manual[n], atol=1e-6), n
    z = torch.randn(5, 2)
    run.G.eval()
    assert torch.allclose(run.G(z), torch.func.functional_call(live, manual, (z,)), atol=1e-6)
    run.G.train()
    assert torch.equal(run.G(z), live(z))  # training uses the live weights
    samples = generate(run, 10, seed=0)
    assert torch.allclose(samples, torch.func.functional_call(live, manual, (torch.randn(10, 2, generator=torch.Generator().manual_seed(0)),)), atol=1e-6)


def test_ema_keeps_a_mixture_reachable():
    run = build_run(dataclasses.replace(TINY, techniques=[TechniqueSpec("mixture", {"k": 2, "classifier": 1.0}), TechniqueSpec("ema")]))
    train_step(run)
    assert run.G.assign(torch.zeros(3, 2)).shape == (3,)


def test_lr_decay_schedule_reaches_the_optimisers():
    run = build_run(cfg_with("lr-decay", {"final": 0.1, "start": 0.5, "shape": "linear"}, steps=10, lr_g=1e-3, lr_d=2e-3))
    tech = run.techniques[0]
    assert tech.factor(0.0) == tech.factor(0.5) == 1.0
    assert tech.factor(0.75) == pytest.approx(0.55) and tech.factor(1.0) == pytest.approx(0.1)
    for _ in range(8):
        train_step(run)
    # step 8 of 0..9 runs at progress 0.8: factor 1 - 0.9 * (0.8 - 0.5) / 0.5
    assert run.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.46)
    assert run.opt_d.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.46)
    cosine = build_run(cfg_with("lr-decay", {"final": 0.1, "start": 0.0, "shape": "cosine"})).techniques[0]
    assert cosine.factor(0.5) == pytest.approx(0.55)
