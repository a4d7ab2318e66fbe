"""``modecollapse train`` on the command line: output contract and every bad-input path."""
import json
import os
import subprocess
import sys

import pytest

from modecollapse.cli import main

TINY = ["--steps", "20", "--batch-size", "32", "--g-width", "16", "--d-width", "16", "--g-depth", "1",
        "--d-depth", "1", "--eval-every", "10", "--eval-samples", "100", "--checkpoint-every", "10", "--quiet"]


def run_cli(capsys, *args):
    """Runs the CLI in-process; argparse's own errors exit through SystemExit."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_summary(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--data", "ring", "--loss", "hinge", "--seed", "1", "--out", str(tmp_path / "r"), "--json", *TINY)
    assert code == 0
    summary = json.loads(out)
    assert {"modes", "num_modes", "hq_fraction", "reverse_kl", "status", "steps", "wall_seconds"} <= set(summary)
    assert summary["num_modes"] == 8 and summary["steps"] == 20 and summary["status"] == "ok"
    assert json.loads((tmp_path / "r" / "config.json").read_text())["loss"] == "hinge"


def test_data_args_and_technique_options_reach_the_config(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "--data", "ring", "--data-arg", "modes=5", "--data-arg", "radius=1,std=0.01",
                           "--gp", "kind=r1,weight=0.5", "--dry-run", *TINY)
    assert code == 0
    cfg = json.loads(out)
    assert cfg["data_args"] == {"modes": 5, "radius": 1.0, "std": 0.01}
    assert cfg["techniques"] == [{"name": "gp", "params": {"kind": "r1", "weight": 0.5, "interval": 1}}]


def test_preset_then_explicit_option_wins(capsys):
    code, out, _ = run_cli(capsys, "train", "--preset", "recommended", "--steps", "7", "--dry-run")
    cfg = json.loads(out)
    assert code == 0 and cfg["steps"] == 7 and cfg["techniques"][0]["params"]["kind"] == "r1"


def test_config_file_reruns_a_run(capsys, tmp_path):
    run_cli(capsys, "train", "--out", str(tmp_path / "a"), "--json", *TINY)
    first = json.loads((tmp_path / "a" / "summary.json").read_text())
    code, out, _ = run_cli(capsys, "train", "--config", str(tmp_path / "a" / "config.json"), "--out", str(tmp_path / "b"), "--json", "--quiet")
    assert code == 0 and json.loads(out)["counts"] == first["counts"]


def test_resume_on_the_command_line(capsys, tmp_path):
    run_cli(capsys, "train", "--out", str(tmp_path / "a"), *TINY)
    code, out, _ = run_cli(capsys, "train", "--resume", str(tmp_path / "a"), "--steps", "30", "--json", "--quiet")
    assert code == 0 and json.loads(out)["steps"] == 30


BAD = [
    (["--loss", "nonsense"], "unknown loss 'nonsense'"),
    (["--data", "nonsense"], "invalid choice"),
    (["--steps", "0"], "--steps must be positive"),
    (["--steps", "-5"], "--steps must be positive"),
    (["--steps", "ten"], "invalid int value"),
    (["--data-arg", "modes"], "not of the form key=value"),
    (["--data-arg", "colour=red"], "has no parameter 'colour'"),
    (["--data-arg", "modes=many"], "is not a valid int"),
    (["--data-arg", "std=-1"], "std must be positive"),
    (["--gp", "kind=r9"], "choose one of: wgan-gp, r1, r2, dragan"),
    (["--d-norm", "group"], "d_norm must be one of 'none', 'batch', 'layer', 'instance', 'spectral', got 'group'"),
    (["--beta1", "1.5"], "--beta1 must lie in [0, 1)"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--preset", "best", "--data", "stacked-mnist"], "is defined for the vector benchmarks"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_one_line_exit_2_nothing_written(capsys, tmp_path, extra, message):
    out = tmp_path / "never"
    code, _, err = run_cli(capsys, "train", *TINY, *extra, "--out", str(out))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_missing_out_and_unwritable_out(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", *TINY)
    assert code == 2 and "--out DIR is required" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", str(blocker / "run"))
    assert code == 2 and "lies under" in err and "which is a file" in err and len(err.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", str(ro / "run"))
    assert code == 2 and "cannot create files in" in err


def test_corrupt_checkpoint_on_resume(capsys, tmp_path):
    run_cli(capsys, "train", "--out", str(tmp_path / "a"), *TINY)
    (tmp_path / "a" / "checkpoint.pt").write_bytes(b"this is not a checkpoint")
    before = sorted(p.name for p in (tmp_path / "a").iterdir())
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path / "a"), "--steps", "30")
    assert code == 2 and "corrupt or unreadable" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == before


def test_resume_of_a_directory_without_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path), "--steps", "30")
    assert code == 2 and "does not exist" in err


def test_diverged_run_exits_non_zero(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", *TINY, "--lr-g", "1e30", "--lr-d", "1e30", "--beta1", "0", "--loss", "lsgan",
                             "--out", str(tmp_path / "nan"), "--json")
    assert code == 1
    assert json.loads(out)["status"] == "diverged"
    assert "non-finite" in err


def test_subprocess_prints_no_traceback(tmp_path):
    """The installed entry point: one line, exit 2, for an error raised deep inside."""
    proc = subprocess.run([sys.executable, "-m", "modecollapse", "train", "--loss", "wgan-qp", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("modecollapse train: error: unknown loss 'wgan-qp' (did you mean 'wgan-gp'?); "
                                   "choose one of: minimax, nonsaturating, wgan, wgan-gp, lsgan, hinge.")
    assert "Traceback" not in proc.stderr


def test_help_lists_registry_choices(capsys):
    code, text, _ = run_cli(capsys, "train", "--help")
    assert code == 0
    for word in ("ring", "grid", "highdim", "wgan-gp", "hinge", "--gp", "--preset", "vanilla", "recommended", "--resume"):
        assert word in text


@pytest.mark.parametrize("extra,message", [
    (["--activation", "nonsense"], "activation must be one of 'relu'"),
    (["--d-norm", "bogus"], "d_norm must be one of 'none'"),
    (["--arch", "resnet"], "unknown architecture 'resnet'"),
    (["--data-arg", "modes=0"], "modes"),
    (["--gp", "kind=r3"], "kind='r3'"),
    (["--evaluator", "nope"], "unknown evaluator 'nope'"),
])
def test_dry_run_validates_every_name_it_prints(capsys, extra, message):
    code, out, err = run_cli(capsys, "train", "--dry-run", *extra)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_resume_applies_safe_options_and_refuses_the_others_naming_them(capsys, tmp_path):
    out = tmp_path / "r"
    assert run_cli(capsys, "train", *TINY, "--out", str(out), "--quiet", "--stop-after", "2")[0] == 130
    code, _, err = run_cli(capsys, "train", "--resume", str(out), "--lr-g", "1e-3", "--gp", "kind=r1", "--quiet")
    assert code == 2 and "--lr-g" in err and "--gp" in err and len(err.strip().splitlines()) == 1
    code, _, _ = run_cli(capsys, "train", "--resume", str(out), "--steps", "5", "--eval-every", "5", "--quiet")
    assert code == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["steps"] == 5 and saved["eval_every"] == 5


def test_every_config_field_has_exactly_one_option(capsys):
    """The train options come from TrainConfig's fields: each field is set by exactly one
    option (the technique flags together set `techniques`), and --help shows its help text."""
    import dataclasses as dc

    from modecollapse.cli import build_parser
    from modecollapse.cli.common import flag_of
    from modecollapse.lab.config import TrainConfig
    from modecollapse.techniques import TECHNIQUES

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    options = [s for a in sub._actions for s in a.option_strings]
    assert len(options) == len(set(options))
    for f in dc.fields(TrainConfig):
        flag = flag_of(f)
        if flag == "--<technique>":
            assert all(f"--{n}" in options for n in TECHNIQUES.names())
        else:
            assert options.count(flag) == 1, flag
            assert sum(a.dest == f.name for a in sub._actions) <= 1, f.name
    plain = [a for a in sub._actions if a.dest in {f.name for f in dc.fields(TrainConfig)}]
    for a in plain:
        assert a.help and a.help.startswith(next(f for f in dc.fields(TrainConfig) if f.name == a.dest).metadata["help"])


def test_the_old_size_name_still_works_with_a_one_line_notice(capsys, tmp_path):
    from modecollapse.data import dataset_params

    (tmp_path / "imgs").mkdir()
    p = dataset_params("image-folder", {"path": str(tmp_path / "imgs"), "size": 8})
    assert p.side == 8
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "size is now called side" in err


def test_model_choices_are_typed_with_the_models_literals_and_checked_once(tmp_path):
    """activation, d_norm and g_norm carry the models' Literals: config.json values load, a bad
    one is one sentence naming the key, and the choices named come from the Literal."""
    import typing

    from modecollapse.errors import ConfigError
    from modecollapse.lab.config import TrainConfig
    from modecollapse.models.choices import Activation, GNorm, Norm

    hints = typing.get_type_hints(TrainConfig)
    assert hints["activation"] is Activation and hints["g_norm"] is GNorm
    assert typing.get_args(hints["d_norm"]) == (*typing.get_args(Norm), "spectral")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"activation": "tanh", "d_norm": "spectral", "g_norm": "layer"}))
    cfg = TrainConfig.load(path)
    assert (cfg.activation, cfg.d_norm, cfg.g_norm) == ("tanh", "spectral", "layer")
    path.write_text(json.dumps({"g_norm": "instance"}))  # the discriminators' choice, not the generator's
    with pytest.raises(ConfigError) as err:
        TrainConfig.load(path)
    assert str(err.value) == f"{path}: g_norm must be one of 'none', 'batch', 'layer', got 'instance'."
    # a config built in Python meets the same choices in validate(), the run's one check
    with pytest.raises(ConfigError) as err:
        TrainConfig(g_norm="instance").validate()  # type: ignore[arg-type]
    assert str(err.value) == "unknown --g-norm 'instance'; choose one of: none, batch, layer."
    with pytest.raises(ConfigError, match="--arch dcgan has its own layers"):
        TrainConfig(arch="dcgan", g_norm="batch").validate()
