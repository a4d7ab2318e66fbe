"""``modecollapse measure``: output, parameters recorded, real-stats reuse, inputs, error paths."""
import json
import pickle

import numpy as np
import pytest
import torch

from modecollapse.cli import main
from modecollapse.data import build_dataset

FAST = ["--kid-subsets", "3", "--ndb-bins", "8", "--birthday-batch-size", "64"]


@pytest.fixture()
def ring_files(tmp_path):
    bench = build_dataset("ring")
    g = torch.Generator().manual_seed(0)
    real = bench.sample(300, g)
    fake = bench.sample_modes(torch.randint(0, 4, (300,), generator=g), g)
    np.save(tmp_path / "real.npy", real.numpy())
    np.save(tmp_path / "fake.npy", fake.numpy())
    return tmp_path


def _run(capsys, *argv):
    code = main(["measure", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_metric_keys_directions_and_params(ring_files, capsys):
    d = ring_files
    code, out, _ = _run(capsys, "--real", d / "real.npy", "--fake", d / "fake.npy", "--json", "--modes-from", "ring",
                        "--nearest-k", "4", "--vendi-kernel", "rbf", "--vendi-bandwidth", "0.1", "--vendi-order", "inf",
                        *FAST)
    assert code == 0
    r = json.loads(out)
    for key in ("precision", "recall", "density", "coverage", "fid", "kid", "kid_std", "vendi", "vendi_real", "ndb",
                "ndb_js", "birthday", "birthday_real", "memorisation", "memorisation_real", "modes", "reverse_kl"):
        assert key in r, key
    assert r["modes"] == 4 and r["num_modes"] == 8
    assert r["recall"] < 0.7 < r["precision"]
    assert r["params"]["precision"] == {"k": 4} and r["params"]["coverage"] == {"k": 4}
    assert r["params"]["kid"]["subsets"] == 3 and r["params"]["kid"]["subset_size"] == 300
    assert r["params"]["vendi"]["order"] == "inf" and r["params"]["vendi"]["kernel"] == "rbf"
    assert r["params"]["ndb"]["bins"] == 8
    assert r["higher_is_better"]["recall"] is True and r["higher_is_better"]["fid"] is False


def test_human_output_and_out_file(ring_files, capsys):
    d = ring_files
    code, out, _ = _run(capsys, "--real", d / "real.npy", "--fake", d / "fake.npy", "--metrics", "recall,fid",
                        "--out", d / "result.json")
    assert code == 0
    assert "recall" in out and "higher is better" in out and "lower is better" in out
    saved = json.loads((d / "result.json").read_text())
    assert set(saved["params"]) == {"recall", "fid"}


def test_real_stats_are_saved_and_reused(ring_files, capsys):
    d = ring_files
    args = ["--real", d / "real.npy", "--fake", d / "fake.npy", "--metrics", "precision,coverage,fid", "--json",
            "--real-stats", d / "real.stats"]
    code, first, _ = _run(capsys, *args)
    assert code == 0 and (d / "real.stats").is_file()
    code, second, _ = _run(capsys, *args)
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k != "seconds"}  # noqa: E731
    assert code == 0 and strip(first) == strip(second)
    code, fid_only, _ = _run(capsys, "--fake", d / "fake.npy", "--metrics", "fid", "--json", "--real-stats", d / "real.stats")
    assert code == 0 and json.loads(fid_only)["fid"] == pytest.approx(json.loads(first)["fid"])
    np.save(d / "other.npy", np.load(d / "real.npy")[:200])
    code, _, err = _run(capsys, *(["--real", d / "other.npy"] + args[2:]))
    assert code == 2 and "other real data" in err


def test_tensor_npz_and_image_folder_inputs(tmp_path, capsys):
    from PIL import Image

    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, 6, generator=g)
    torch.save(x, tmp_path / "real.pt")
    np.savez(tmp_path / "fake.npz", features=x.numpy()[::-1].copy(), other=np.zeros(3))
    code, out, _ = _run(capsys, "--real", tmp_path / "real.pt", "--fake", tmp_path / "fake.npz", "--metrics",
                        "precision,recall", "--json")
    assert code == 0 and json.loads(out)["precision"] == 1.0
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(12):
            pixels = (torch.rand(8, 8, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    code, out, _ = _run(capsys, "--real", tmp_path / "a", "--fake", tmp_path / "b", "--metrics", "fid,coverage", "--json")
    assert code == 0 and json.loads(out)["dim"] == 8 * 8 * 3
    code, out, _ = _run(capsys, "--real", tmp_path / "a", "--fake", tmp_path / "b", "--metrics", "coverage", "--json",
                        "--extractor", "torch.nn.functional:normalize")
    assert code == 0
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(tmp_path / "b" / "odd.png")
    code, _, err = _run(capsys, "--real", tmp_path / "a", "--fake", tmp_path / "b", "--metrics", "fid")
    assert code == 2 and "--image-size" in err
    code, out, _ = _run(capsys, "--real", tmp_path / "a", "--fake", tmp_path / "b", "--metrics", "fid", "--json",
                        "--image-size", "4", "--image-mode", "L")
    assert code == 0 and json.loads(out)["dim"] == 16


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_extractor_and_mode_classifier(ring_files, capsys):
    d = ring_files
    bench = build_dataset("ring")

    class Nearest(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("centres", bench.centers.clone())

        def forward(self, x):
            return -torch.cdist(x, self.centres)

    torch.jit.save(torch.jit.script(Nearest()), str(d / "clf.pt"))
    code, out, _ = _run(capsys, "--real", d / "real.npy", "--fake", d / "fake.npy", "--metrics", "modes", "--json",
                        "--mode-classifier", d / "clf.pt")
    assert code == 0 and json.loads(out)["modes"] == 4
    code, out, _ = _run(capsys, "--real", d / "real.npy", "--fake", d / "fake.npy", "--metrics", "vendi", "--json",
                        "--extractor", d / "clf.pt")
    assert code == 0 and json.loads(out)["dim"] == 8
    np.save(d / "centres.npy", bench.centers.numpy())
    code, out, _ = _run(capsys, "--fake", d / "fake.npy", "--metrics", "modes", "--json",
                        "--modes-centres", d / "centres.npy", "--modes-std", "0.02")
    assert code == 0 and json.loads(out)["modes"] == 4


def test_mutual_info_with_latent(tmp_path, capsys):
    g = torch.Generator().manual_seed(2)
    z = torch.randn(400, 2, generator=g)
    np.save(tmp_path / "z.npy", z.numpy())
    np.save(tmp_path / "x.npy", (z * 2 + 0.05 * torch.randn(400, 2, generator=g)).numpy())
    code, out, _ = _run(capsys, "--fake", tmp_path / "x.npy", "--latent", tmp_path / "z.npy", "--metrics", "mutual_info",
                        "--json")
    assert code == 0 and json.loads(out)["mutual_info"] > 2.0


def _bad_files(d):
    np.save(d / "small.npy", np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32))
    nan = np.load(d / "real.npy")
    nan[[1, 5, 9], 0] = np.nan
    nan[7, 1] = np.inf
    np.save(d / "nan.npy", nan)
    np.save(d / "wide.npy", np.zeros((300, 5), np.float32))
    (d / "empty.npy").write_bytes(b"")
    (d / "junk.npy").write_bytes(b"not an array at all")
    np.save(d / "norows.npy", np.zeros((0, 2), np.float32))
    (d / "pickled.pt").write_bytes(pickle.dumps({"x": complex(1, 2)}))  # refused by weights_only


@pytest.mark.parametrize("extra, needle", [
    (["--fake", "nan.npy"], "4 of 300 rows with NaN or infinite"),
    (["--fake", "wide.npy"], "different feature dimensions (2 vs 5)"),
    (["--fake", "small.npy", "--metrics", "precision"], "at least 4 are needed"),
    (["--fake", "empty.npy"], "is empty"),
    (["--fake", "junk.npy"], "cannot read"),
    (["--fake", "norows.npy"], "holds no samples"),
    (["--fake", "pickled.pt"], "cannot read"),
    (["--fake", "missing.npy"], "no such file"),
    (["--fake", "fake.npy", "--metrics", "precison"], "unknown metric 'precison' (did you mean 'precision'?)"),
    (["--fake", "fake.npy", "--metrics", "vendi", "--vendi-kernel", "rbf"], "bandwidth"),
    (["--fake", "fake.npy", "--metrics", "vendi", "--vendi-kernel", "gauss"], "unknown Vendi kernel"),
    (["--fake", "fake.npy", "--metrics", "kid", "--kid-subset-size", "500"], "exceeds the smaller set"),
    (["--fake", "fake.npy", "--metrics", "mutual_info"], "--latent"),
    (["--fake", "fake.npy", "--metrics", "modes"], "--modes-from"),
    (["--fake", "fake.npy", "--nearest-k", "0"], "must be an integer >= 1"),
    (["--fake", "fake.npy", "--device", "cuda:7"], "device"),
    (["--fake", "fake.npy", "--modes-from", "ring", "--modes-arg", "spokes=3"], "no parameter 'spokes'"),
    (["--fake", "fake.npy", "--extractor", "nosuchmodule:f"], "cannot import module"),
    (["--fake", "fake.npy", "--threads", "0"], "--threads must be >= 1"),
])
def test_every_error_path_exits_2_with_one_line_and_no_output_file(ring_files, capsys, extra, needle):
    d = ring_files
    _bad_files(d)
    argv = ["--real", d / "real.npy", "--out", d / "out.json"]
    argv += [str(d / a) if a.endswith((".npy", ".pt")) else a for a in extra]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0], lines[0]
    assert not (d / "out.json").exists()


def test_malformed_option_exits_2_with_one_line(ring_files, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["measure", "--real", str(ring_files / "real.npy"), "--fake", str(ring_files / "fake.npy"),
              "--vendi-order", "x"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and len(err.strip().splitlines()) == 1 and "invalid float value" in err


def test_help_documents_every_metric_and_its_direction(capsys):
    from modecollapse.measure.core import METRICS

    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    out = capsys.readouterr().out
    for name, spec in METRICS.items():
        direction = "higher is better" if spec.higher_is_better else "lower is better"
        assert any(line.split()[:1] == [name] and direction in line for line in out.splitlines()), name


def test_every_measure_parameter_has_exactly_one_option_and_reaches_its_metric():
    """measure's options come from the fields of MeasureParams and of each metric's own
    parameter dataclass: one option each, and the value given reaches that metric's params."""
    import dataclasses as dc

    from modecollapse.cli import build_parser
    from modecollapse.cli.measure import metric_param_groups, params_from_args
    from modecollapse.measure.core import METRICS, MeasureParams

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["measure"]
    options = [s for a in sub._actions for s in a.option_strings]
    assert len(options) == len(set(options))
    groups = metric_param_groups()
    assert {s.prefix for s in METRICS._items.values() if s.Params} == set(groups)
    for prefix, cls in groups.items():
        for f in dc.fields(cls):
            assert options.count(f"--{prefix}-{f.name.replace('_', '-')}") == 1, (prefix, f.name)
            assert f.metadata["help"]
    for f in dc.fields(MeasureParams):
        if f.name != "metric":
            assert options.count(f"--{f.name.replace('_', '-')}") == 1, f.name
    args = parser.parse_args(["measure", "--fake", "x.npy", "--kid-degree", "2", "--nearest-k", "7", "--dc-k", "4",
                              "--seed", "9"])
    p = params_from_args(args)
    assert (p.of("kid").degree, p.of("pr").k, p.of("dc").k, p.seed) == (2, 7, 4, 9)
    assert p.of("kid").subsets == 100  # the paper's default where nothing was given
