"""Issue 13: the VAE, diffusion-memorisation and self-supervised scenarios in reduced form,
with known-direction checks, and known answers for the metrics they added (effective rank,
embedding std, posterior measures)."""
import math

import pytest
import torch

from modecollapse.errors import ConfigError
from modecollapse.experiments import SCENARIOS, run_experiment
from modecollapse.metrics.effective_rank import effective_rank
from modecollapse.metrics.embedding_std import embedding_std
from modecollapse.metrics.posterior import active_units, gaussian_kl_per_dim, posterior_mutual_info


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- effective rank and embedding std: known answers ------------------------------------------
def test_effective_rank_of_isotropic_gaussian_is_about_d_and_of_rank_one_data_is_one():
    d = 16
    x = torch.randn(20000, d, generator=_gen())
    assert effective_rank(embeddings=x).effective_rank == pytest.approx(d, rel=0.01)
    line = torch.randn(500, 1, generator=_gen(1)) * torch.randn(1, d, generator=_gen(2))  # rank 1
    assert effective_rank(embeddings=line).effective_rank == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(embeddings=line, center=True).effective_rank == pytest.approx(1.0, abs=1e-6)
    point = torch.ones(100, d) * 3.0  # complete collapse onto one point
    assert effective_rank(embeddings=point).effective_rank == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_counts_equal_energy_directions_and_ignores_chunking():
    k, d = 5, 12
    rows = torch.cat([torch.eye(d)[:k] * s for s in (1.0, -1.0)]).repeat(10, 1)  # +-e_1..e_k, equal energy
    assert effective_rank(embeddings=rows).effective_rank == pytest.approx(k, abs=1e-9)
    x = torch.randn(301, 7, generator=_gen(3)) * torch.tensor([5.0, 3, 1, 1, 0.5, 0.1, 0.01])
    assert effective_rank(embeddings=x, chunk_size=17).effective_rank == pytest.approx(
        effective_rank(embeddings=x).effective_rank, rel=1e-9)
    with pytest.raises(ConfigError, match="undefined"):
        effective_rank(embeddings=torch.zeros(10, 3))
    with pytest.raises(ConfigError, match="NaN"):
        effective_rank(embeddings=torch.full((4, 3), float("nan")))


def test_embedding_std_known_scales_dead_dimensions_and_normalisation():
    scales = torch.tensor([2.0, 1.0, 0.5, 0.0])
    x = torch.randn(50000, 4, generator=_gen(4)) * scales + 7.0
    r = embedding_std(embeddings=x)
    assert r.embedding_std == pytest.approx(float(scales.mean()), rel=0.02)
    assert r.embedding_std_min == 0.0 and r.embedding_std_max == pytest.approx(2.0, rel=0.02)
    assert r.dead_fraction == 0.25
    rows = torch.rand(100, 1, generator=_gen(5)) + 0.5  # different norms, one direction
    collapsed = embedding_std(embeddings=rows * torch.randn(1, 8, generator=_gen(12)), normalize=True)
    assert collapsed.embedding_std < 1e-6  # every row points the same way: std 0 after L2 normalisation
    iso = embedding_std(embeddings=torch.randn(20000, 64, generator=_gen(6)), normalize=True)
    assert iso.embedding_std == pytest.approx(64 ** -0.5, rel=0.03)  # SimSiam's healthy 1/sqrt(d)


def test_posterior_measures_known_answers():
    n, d = 3000, 4
    mean = torch.randn(n, d, generator=_gen(7)) * torch.tensor([3.0, 3.0, 0.05, 0.0])
    logvar = torch.zeros(n, d)
    au = active_units(mean=mean)
    assert au.active_units == 2 and au.activity[0] == pytest.approx(9.0, rel=0.08)
    kl = gaussian_kl_per_dim(mean=torch.zeros(5, 2), logvar=torch.full((5, 2), math.log(0.01)))
    assert kl.tolist() == pytest.approx([0.5 * (0.01 - 1 - math.log(0.01))] * 2)  # grows like -log sigma
    # q(z|x) = N(m(x), 1) with m ~ N(0, s^2): I = sum_j 0.5 log(1 + s_j^2) = log(10) + tiny
    mi = posterior_mutual_info(mean=mean, logvar=logvar, generator=_gen(8)).mutual_info
    exact = 2 * 0.5 * math.log(10.0) + 0.5 * math.log(1 + 0.05**2)
    assert mi == pytest.approx(exact, rel=0.1)
    same = posterior_mutual_info(mean=torch.zeros(100, d), logvar=logvar[:100], generator=_gen(9))
    assert same.mutual_info == pytest.approx(0.0, abs=1e-12)  # z ignores x


# -- the scenarios, reduced --------------------------------------------------------------------
def test_vae_posterior_collapse_drops_active_units_and_mi_and_free_bits_recovers(tmp_path, monkeypatch):
    monkeypatch.delenv("MODECOLLAPSE_DATA", raising=False)
    params = {"data": "auto", "train_size": 2000, "steps": 300, "z_dim": 4, "hidden": 32, "fixed_stds": [0.01],
              "eval_size": 400, "samples": 400, "beta_collapse": 30.0, "free_bits": 0.5}
    result = run_experiment(SCENARIOS, "vae", tmp_path / "vae", params=params, seed=0, progress=False)
    r = result["results"]
    assert r["data"] == "ring"  # the data-free fallback
    v = r["variants"]
    ref, col, fb, det = v["reference"], v["collapse"], v["free-bits"], v["fixed-std-0.01"]
    assert col["active_units"] == 0 and col["mutual_info"] < 0.1
    assert ref["active_units"] >= 1 and ref["mutual_info"] > 1.0
    assert fb["active_units"] >= 1 and fb["mutual_info"] > 0.5  # free bits keep the latent in use
    assert col["modes"] < ref["modes"]  # the collapsed decoder draws (nearly) one point
    assert det["kl_total"] > ref["kl_total"] + 5  # the deterministic limit: KL contains -log sigma
    assert sorted(result["figures"]) == ["vae_samples.png", "vae_summary.png"]


def test_diffusion_tiny_set_memorises_far_more_than_a_large_set(tmp_path, monkeypatch):
    monkeypatch.delenv("MODECOLLAPSE_DATA", raising=False)
    params = {"sizes": [4, 512], "steps": 600, "eval_every": 300, "samples": 300, "held_out": 500,
              "timesteps": 50, "mnist_sizes": []}
    result = run_experiment(SCENARIOS, "diffusion-memorisation", tmp_path / "d", params=params, seed=0, progress=False)
    r = result["results"]["two_d"]
    tiny, large = r["4"]["memorisation"], r["512"]["memorisation"]
    assert tiny > 0.4 and tiny > large + 0.3, (tiny, large)  # measured: 0.55 vs 0.03
    assert r["512"]["coverage"] > r["4"]["coverage"]
    assert [rec["step"] for rec in r["4"]["over_training"]] == [300, 600]
    assert result["results"]["largest_memorising_size"] == 4


def _digit_like_images(n, gen):
    """n (n, 1, 28, 28) images in [0, 1]: one of 10 fixed random blob templates plus noise, and labels."""
    templates = torch.nn.functional.avg_pool2d(torch.rand(10, 1, 28, 28, generator=gen), 5, stride=1, padding=2)
    templates = (templates - templates.amin((2, 3), keepdim=True)) / templates.amax((2, 3), keepdim=True)
    labels = torch.randint(10, (n,), generator=gen)
    return (templates[labels] + 0.1 * torch.rand(n, 1, 28, 28, generator=gen)).clamp(0, 1), labels


def test_self_supervised_invariance_collapses_and_vicreg_stays_spread():
    from modecollapse.scenarios.self_supervised import train_ssl
    from modecollapse.scenarios.self_supervised.model import Encoder

    torch.manual_seed(0)
    x, _ = _digit_like_images(512, _gen(10))
    probe = x[:256]
    final = {}
    d = 4
    for method in ("invariance", "vicreg"):
        torch.manual_seed(1)
        model = Encoder(rep_dim=16, emb_dim=d, hidden=32)
        rec = train_ssl(model, method, x, probe, steps=150, batch_size=64, lr=2e-3, eval_every=150,
                        generator=_gen(11), device=torch.device("cpu"))
        final[method] = rec[-1]
    inv, vic = final["invariance"], final["vicreg"]
    assert inv["effective_rank_embedding"] < 1.5, inv
    assert vic["effective_rank_embedding"] > 0.7 * d, vic
    assert inv["embedding_std_normalized"] < 0.2 * vic["embedding_std_normalized"]
    assert vic["embedding_std_min"] > 0.5  # VICReg's hinge holds every dimension near std 1


def test_scenarios_listed_and_bad_options_exit_2(capsys, monkeypatch, tmp_path):
    from modecollapse.cli import main

    monkeypatch.delenv("MODECOLLAPSE_DATA", raising=False)
    for argv in (["self-supervised"], ["vae", "--data", "mnist"]):
        assert main(["scenario", *argv, "--out", str(tmp_path / "x")]) == 2
        assert "--data-dir" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

    assert main(["scenario", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("vae", "diffusion-memorisation", "self-supervised"):
        assert name in listed
    assert main(["scenario", "self-supervised", "--methods", "bogus", "--data-dir", "/nonexistent"]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert main(["scenario", "diffusion-memorisation", "--sizes", "1,8"]) == 2


# -- modecollapse measure: the new metrics on the user's own embeddings -----------------------
def test_measure_cli_lists_and_computes_effective_rank_and_embedding_std(tmp_path, capsys):
    import json

    import numpy as np

    from modecollapse.cli import main

    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    help_text = capsys.readouterr().out
    assert "effective_rank" in help_text and "embedding_std" in help_text
    line = (torch.randn(200, 1, generator=_gen(13)) * torch.randn(1, 6, generator=_gen(14))).numpy()  # rank 1
    iso = torch.randn(4000, 6, generator=_gen(15)).numpy()
    np.save(tmp_path / "fake.npy", line)
    np.save(tmp_path / "real.npy", iso)
    code = main(["measure", "--fake", str(tmp_path / "fake.npy"), "--real", str(tmp_path / "real.npy"),
                 "--metrics", "effective_rank,embedding_std", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0
    assert r["effective_rank"] == pytest.approx(1.0, abs=1e-5)
    assert r["effective_rank_real"] == pytest.approx(6.0, rel=0.02)
    assert r["embedding_std"] == pytest.approx(float(np.std(line, axis=0, ddof=1).mean()), rel=1e-5)
    assert r["higher_is_better"] == {"effective_rank": True, "embedding_std": True}
