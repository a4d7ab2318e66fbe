"""`modecollapse diagnose`: each diagnostic in a reduced form against a known answer."""
import json
import math
from types import SimpleNamespace

import pytest
import torch

from modecollapse.cli import main
from modecollapse.experiments import DIAGNOSTICS, load_all, run_experiment

NINE = {"vanishing-gradients", "game-dynamics", "gradient-noise", "batchnorm-leak", "fid-blind-spot",
        "precision-recall", "latent-interpolation", "colorization", "diversity-tradeoff"}


def _run(tmp_path, name, **params):
    return run_experiment(DIAGNOSTICS, name, tmp_path / name, params=params, seed=0, progress=False)


def test_vanishing_gradients_closed_form_and_trained(tmp_path):
    from modecollapse.diagnostics.vanishing_gradients import optimal_gradient

    for a in (0.1, 1.0, 8.0):
        assert optimal_gradient("wgan", a, 0.5) == pytest.approx(1.0, abs=1e-12)  # the 1-Lipschitz critic
        assert optimal_gradient("wgan", a, 0.0) == pytest.approx(1.0, abs=1e-12)
        assert optimal_gradient("minimax", a, 0.0) == 0.0  # Diracs: D* flat at a
    assert optimal_gradient("minimax", 8.0, 0.5) < 1e-3 * optimal_gradient("wgan", 8.0, 0.5)
    # the non-saturating loss under D*: |d/da| = a / std^2 * E[sigmoid(-logit)] -> a / std^2 far away
    assert optimal_gradient("nonsaturating", 8.0, 0.5) == pytest.approx(8.0 / 0.25, rel=1e-3)
    r = _run(tmp_path, "vanishing-gradients", a_values=[1.0, 8.0], d_steps=100, d_width=32, lines_steps=0)["results"]
    t = r["trained"]["gaussian"]
    assert t["minimax"][1] < 1e-2 * t["wgan"][1]  # trained D: the minimax gradient has all but vanished at a = 8
    assert 0.3 < t["wgan"][1] < 3  # the trained critic's gradient stays of order 1
    assert set(r["at"]) == {"1.0", "8.0"}


def test_game_dynamics_dirac_eigenvalues(tmp_path):
    r = _run(tmp_path, "game-dynamics", steps=50, mixture_steps=0)["results"]["dirac"]
    plain = r["plain"]["eigenvalues"]
    assert all(abs(re) < 1e-6 and abs(abs(im) - 0.5) < 1e-6 for re, im in plain)  # +-i f'(0), f'(0) = 1/2
    assert all(re < -0.1 for re, _ in r["r1"]["eigenvalues"])
    assert all(re < 0 for re, _ in r["instance-noise"]["eigenvalues"])
    assert r["plain"]["simultaneous"]["spectral_radius"] == pytest.approx(math.sqrt(1 + 0.2**2 / 4), abs=1e-6)
    assert r["plain"]["alternating"]["spectral_radius"] == pytest.approx(1.0, abs=1e-6)
    assert r["r1"]["simultaneous"]["spectral_radius"] < 1
    assert not r["wgan-gp"]["stationary_at_origin"]


def test_game_dynamics_curvature_matches_finite_differences(tmp_path):
    c = _run(tmp_path, "game-dynamics", steps=5, mixture_steps=30, probe=64, random_directions=1)["results"]["curvature"]
    for name in ("spread", "concentrate"):
        d = c["directions"][name]
        assert d["curvature_fd"] == pytest.approx(d["curvature"], rel=0.25, abs=1e-3)


def test_gradient_noise_scale_estimator_and_cosine():
    from modecollapse.diagnostics.gradient_noise import mean_pairwise_cosine, noise_scale

    g2, trace = 4.0, 40.0  # |G|^2 and tr(Sigma): B_simple = 10
    ns = noise_scale(sq_small=g2 + trace / 8, sq_big=g2 + trace / 1024, b_small=8, b_big=1024)
    assert ns["b_simple"] == pytest.approx(10.0) and ns["grad_sq"] == pytest.approx(g2)
    # batches of per-sample gradients G + N(0, sigma^2 I): cosine ~ 1 / (1 + B_simple / B)
    gen = torch.Generator().manual_seed(0)
    dim, sigma = 400, 0.1
    G = torch.zeros(dim)
    G[0] = 1.0  # B_simple = dim sigma^2 / |G|^2 = 4
    for b in (2, 4, 32):
        grads = G + sigma * torch.randn(64, dim, generator=gen) / math.sqrt(b)
        assert mean_pairwise_cosine(grads) == pytest.approx(1 / (1 + 4 / b), abs=0.05)


def test_gradient_noise_runs(tmp_path):
    r = _run(tmp_path, "gradient-noise", batch_sizes=[8, 1024], repeats=3, mid_steps=3)["results"]
    for key in ("init", "mid"):
        assert r[key]["cosine"][1] > r[key]["cosine"][0]
        assert r[key]["cosine"][1] > 0.9


def test_batchnorm_leak_per_sample_norms_exactly_zero(tmp_path):
    r = _run(tmp_path, "batchnorm-leak", steps=10, batch=32, eval_every=5, probe=8, draws=2)["results"]
    for v in ("none", "layer", "instance", "spectral"):
        assert r[v]["fake_change"] == 0.0 and r[v]["real_change"] == 0.0, v
    assert r["batch-mixed"]["fake_change"] > 1e-4 and r["batch-mixed"]["real_change"] > 1e-4
    assert r["batch-separate"]["fake_change"] == 0.0 and r["batch-separate"]["real_change"] > 1e-4


def test_fid_blind_spot(tmp_path):
    c = _run(tmp_path, "fid-blind-spot", samples=600, sweep=2)["results"]["constructions"]
    assert c["matched pair (exact)"]["fid"] < 1e-6
    assert c["matched pair (population)"]["fid"] < 0.05
    inflated = c["two modes, inflated in y"]
    assert inflated["modes"] == 2 and 0.4 < inflated["recall"] < 0.6
    assert c["two modes"]["coverage"] == pytest.approx(0.5, abs=0.08)
    assert c["one mode"]["fid"] > 10 * inflated["fid"]


def test_precision_recall_three_generators(tmp_path):
    g = _run(tmp_path, "precision-recall", samples=500)["results"]["generators"]
    assert g["collapsed"]["precision"] > 0.9 and g["collapsed"]["recall"] < 0.35 and g["collapsed"]["modes"] == 1
    assert g["noisy"]["precision"] < 0.7 and g["noisy"]["recall"] > 0.9
    assert g["good"]["precision"] > 0.9 and g["good"]["recall"] > 0.9


def test_latent_walks_and_mutual_information():
    from modecollapse.data import build_dataset
    from modecollapse.diagnostics.latent_interpolation import Params, analyse, walk

    z0, z1 = torch.randn(3, 4), torch.randn(3, 4)
    ts = torch.linspace(0, 1, 5)
    for kind in ("line", "great-circle"):
        w = walk(z0, z1, ts, kind)
        assert torch.allclose(w[:, 0], z0, atol=1e-5) and torch.allclose(w[:, -1], z1, atol=1e-5)
    ds = build_dataset("ring")

    class ByAngle(torch.nn.Module):  # z in 2D -> the mode at z's angle: every mode, I(Z; mode) = log 8
        def forward(self, z):
            k = ((torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)) / (2 * math.pi / 8) + 0.5).floor().long() % 8
            return ds.centers[k]

    p = Params(paths=8, points=21, mi_samples=2000)
    make = lambda G: SimpleNamespace(G=G, dataset=ds, cfg=SimpleNamespace(latent_dim=2), device=torch.device("cpu"))  # noqa: E731
    healthy = analyse(make(ByAngle()), p, torch.Generator().manual_seed(0))
    assert healthy["mi_latent_mode"] == pytest.approx(math.log(8), abs=0.02)
    assert healthy["line"]["between_fraction"] == 0.0 and healthy["great-circle"]["switches_per_walk"] > 0
    class Constant(torch.nn.Module):  # every z -> mode 0: collapsed, I(Z; mode) = 0
        def forward(self, z):
            return ds.centers[:1].expand(len(z), 2)

    constant = analyse(make(Constant()), p, torch.Generator().manual_seed(0))
    assert constant["mi_latent_mode"] == 0.0 and constant["line"]["switches_per_walk"] == 0.0


def test_latent_interpolation_reads_a_run_directory(tmp_path, tiny_cfg):
    from modecollapse.lab.train import train

    train(tiny_cfg, tmp_path / "run", progress=False)
    r = _run(tmp_path, "latent-interpolation", run=str(tmp_path / "run"), paths=4, points=5, mi_samples=50)["results"]
    assert list(r["generators"]) == ["run"] and r["generators"]["run"]["latent_dim"] == tiny_cfg.latent_dim


def test_colorization_l2_predicts_the_mean_colour():
    from modecollapse.diagnostics.colorization import ColourToy, Params, evaluate, train_method

    p = Params(inputs=2, colours=3, steps=1500, batch=512)
    toy = ColourToy(p)
    assert torch.allclose(toy.mean, toy.greys[:, None].expand(2, 3), atol=1e-6)  # the mean colour is the grey
    G = train_method("l2", toy, p, torch.Generator().manual_seed(0))
    r = evaluate(G, toy, p, torch.Generator().manual_seed(1), n=50)
    assert r["max_error_vs_mean_colour"] < 1e-2
    assert r["colours_produced_mean"] == 0  # the mean is none of the valid colours


def test_diversity_tradeoff_is_seeded_and_applies_the_bonus(tmp_path):
    params = dict(lambdas=[0.0, 1.0], steps=20, samples=200)
    a = _run(tmp_path / "a", "diversity-tradeoff", **params)["results"]
    b = _run(tmp_path / "b", "diversity-tradeoff", **params)["results"]
    assert a == b  # same seed, same numbers
    assert a["sweep"][0]["spread"] != a["sweep"][1]["spread"]  # the bonus changes the generator
    assert a["lambda"] == [0.0, 1.0]
    # lambda = 0 is the plain GAN: its scores are those of a plain run of the diagnostic's settings
    from modecollapse.diagnostics._common import TrainConfig, generate, scores, train_gan

    plain, _ = train_gan(TrainConfig(data="ring", loss="nonsaturating", latent_dim=2, g_width=128, d_width=128, lr_g=2e-4,
                                     lr_d=8e-4, beta2=0.9, batch_size=256, steps=20, seed=0))
    real = plain.dataset.sample(200, torch.Generator().manual_seed(5))  # the experiment's ctx.generator(5) at seed 0
    expected = scores(real=real, fake=generate(plain, 200, seed=101), benchmark=plain.dataset)
    assert {k: a["sweep"][0][k] for k in expected} == expected


def test_cli_list_json_and_bad_option(tmp_path, capsys):
    load_all()
    assert NINE <= set(DIAGNOSTICS.names())
    assert main(["diagnose", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert NINE <= listed
    out = tmp_path / "pr"
    assert main(["diagnose", "precision-recall", "--samples", "100", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "result.json").read_text())
    assert printed["figures"] == ["precision_recall.png"]
    assert main(["diagnose", "precision-recall", "--junk", "2", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk" in err[0] and not (tmp_path / "bad").exists()
