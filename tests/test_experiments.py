"""The shared runner behind `diagnose` and `scenario`: options from Params, atomic output."""
import json
from dataclasses import dataclass, field

import pytest

from modecollapse.cli import main
from modecollapse.errors import ConfigError
from modecollapse.experiments import Experiment, jsonable, run_experiment
from modecollapse.registry import Registry


@dataclass
class _P:
    n: int = field(default=3, metadata={"help": "how many"})
    scales: tuple[float, ...] = field(default=(0.5, 2.0), metadata={"help": "scales"})
    fail: bool = False


class _Squares(Experiment):
    name = "squares"
    summary = "squares of 0..n-1"
    Params = _P

    def run(self, p, ctx):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if p.fail:
            (ctx.out / "half.png").write_bytes(b"x")
            raise RuntimeError("boom")
        fig, ax = plt.subplots()
        ax.plot([i * i for i in range(p.n)])
        fig.savefig(ctx.path("squares.png"))
        plt.close(fig)
        return {"squares": [i * i for i in range(p.n)], "scaled": [s * p.n for s in p.scales], "nan": float("nan")}


def _registry():
    reg = Registry("toy")
    reg.add("squares", _Squares)
    return reg


def test_result_json_holds_params_numbers_and_figures(tmp_path):
    out = tmp_path / "r"
    result = run_experiment(_registry(), "squares", out, params={"n": 4, "scales": [1.0]}, seed=5, progress=False)
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk == result
    assert result["results"]["squares"] == [0, 1, 4, 9]
    assert result["results"]["scaled"] == [4.0]
    assert result["results"]["nan"] is None  # valid JSON, no NaN literal
    assert result["params"] == {"n": 4, "scales": [1.0], "fail": False}
    assert result["figures"] == ["squares.png"] and result["seed"] == 5


def test_failed_run_leaves_nothing_and_existing_out_is_refused(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(RuntimeError):
        run_experiment(_registry(), "squares", out, params={"fail": True}, progress=False)
    assert list(tmp_path.iterdir()) == []
    run_experiment(_registry(), "squares", out, progress=False)
    with pytest.raises(ConfigError, match="--overwrite"):
        run_experiment(_registry(), "squares", out, progress=False)
    with pytest.raises(ConfigError, match="no parameter 'bogus'"):
        run_experiment(_registry(), "squares", tmp_path / "s", params={"bogus": 1}, progress=False)


def test_jsonable_converts_tensors_and_dataclasses():
    import numpy as np
    import torch

    @dataclass
    class D:
        x: float

    assert jsonable({"t": torch.tensor([1.5, float("inf")]), "a": np.float32(2.0), "d": D(1.0), 3: (1, 2)}) == {
        "t": [1.5, None], "a": 2.0, "d": {"x": 1.0}, "3": [1, 2]}


@pytest.mark.parametrize("command", ["diagnose", "scenario"])
def test_cli_list_and_missing_name(command, capsys):
    assert main([command, "--list"]) == 0
    assert main([command]) == 2
    assert "--list" in capsys.readouterr().err


def test_an_experiment_that_runs_on_the_cpu_refuses_a_device_instead_of_ignoring_it(tmp_path, capsys):
    with pytest.raises(ConfigError, match="runs on the CPU only.*drop --device cuda"):
        run_experiment(_registry(), "squares", tmp_path / "r", device="cuda", progress=False)
    assert list(tmp_path.iterdir()) == []
    assert main(["diagnose", "precision-recall", "--device", "cuda:0", "--out", str(tmp_path / "d")]) == 2
    assert "diagnostic precision-recall runs on the CPU only" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    # the scenarios that put their work on the device still accept it (and say when CUDA is missing)
    from modecollapse.experiments import SCENARIOS, load_all

    load_all()
    assert sorted(n for n, c in SCENARIOS.items() if c.uses_device) == [
        "diffusion-memorisation", "model-collapse", "self-supervised", "vae"]
