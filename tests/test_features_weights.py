"""Where the pretrained networks' weight files are found, that both published Inception files'
key sets load strictly (state dicts built with each file's key names and shapes; no weights
are shipped), and that a missing or wrong file is one sentence and exit code 2."""
from __future__ import annotations

import collections
import subprocess
import sys

import pytest
import torch

from modecollapse.errors import ConfigError
from modecollapse.features import resolve_extractor
from modecollapse.features.inception import FIDInceptionV3, load_inception
from modecollapse.features.weights import WeightFile, find_weights

TF_NAME = "weights-inception-2015-12-05-6726825d.pth"
PT_NAME = "pt_inception-2015-12-05-6726825d.pth"


def torch_fidelity_keys() -> dict[str, tuple[int, ...]]:
    """torch-fidelity's file: what its converter (utils/util_convert_inception_weights.py)
    writes: conv weights, BatchNorm weight/bias/running_mean/running_var, fc weight and bias,
    under the names of its FeatureExtractorInceptionV3 - read from that module when installed."""
    from reference_impls import torch_fidelity

    tf = torch_fidelity()
    shapes = {k: tuple(v.shape) for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}
    # the installed reference module's own parameter names and shapes (built without loading any file)
    ref = tf.FeatureExtractorInceptionV3.__new__(tf.FeatureExtractorInceptionV3)
    torch.nn.Module.__init__(ref)
    init = tf.FeatureExtractorInceptionV3.__init__
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.Module, "load_state_dict", lambda self, sd, *a, **k: None)
        mp.setitem(init.__globals__, "load_state_dict_from_url", lambda *a, **k: {})  # no download
        init(ref, "inception-v3-compat", ["2048"])
    theirs = {k: tuple(v.shape) for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert theirs == shapes
    return theirs


def pytorch_fid_keys() -> dict[str, tuple[int, ...]]:
    """pytorch-fid's file: the state_dict() of torchvision's Inception3(num_classes=1008,
    aux_logits=False) with its FID blocks: the same module names (torch-fidelity kept
    torchvision's), plus each BatchNorm's num_batches_tracked buffer."""
    keys = dict(torch_fidelity_keys())
    for k in [k for k in keys if k.endswith(".bn.running_var")]:
        keys[k.replace("running_var", "num_batches_tracked")] = ()
    return keys


def state_from(keys: dict[str, tuple[int, ...]], *, ordered_with_metadata: bool = False):
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.tensor(0) if k.endswith("num_batches_tracked") else torch.randn(s, generator=g) * 0.01 + (1.0 if "running_var" in k else 0.0))
             for k, s in keys.items()}
    if ordered_with_metadata:  # as module.state_dict() returns it: OrderedDict with _metadata versions
        od = collections.OrderedDict(state)
        od._metadata = collections.OrderedDict((k.rsplit(".", 1)[0], {"version": 2}) for k in keys)  # type: ignore[attr-defined]
        return od
    return state


@pytest.mark.parametrize("which", ["torch-fidelity", "pytorch-fid"])
def test_both_published_key_sets_load_strictly(tmp_path, which):
    keys = torch_fidelity_keys() if which == "torch-fidelity" else pytorch_fid_keys()
    state = state_from(keys, ordered_with_metadata=which == "pytorch-fid")
    path = tmp_path / (TF_NAME if which == "torch-fidelity" else PT_NAME)
    torch.save(state, path)
    net = load_inception(path, fold=False)  # the tensors as the file holds them
    got = net.state_dict()
    for k, v in state.items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(got[k], v), k
    assert len([k for k in got if not k.endswith("num_batches_tracked")]) == len(
        [k for k in keys if not k.endswith("num_batches_tracked")])


def test_wrong_network_or_shape_is_one_sentence(tmp_path):
    keys = torch_fidelity_keys()
    bad = state_from(keys)
    bad["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's 1000-way head
    torch.save(bad, tmp_path / "a.pth")
    with pytest.raises(ConfigError, match=r"is not a FID Inception-v3 weights file: 1 tensors of the wrong shape \(fc.weight"):
        load_inception(tmp_path / "a.pth")
    torch.save({"cls_token": torch.zeros(1, 1, 384)}, tmp_path / "b.pth")
    with pytest.raises(ConfigError, match="missing keys"):
        load_inception(tmp_path / "b.pth")
    (tmp_path / "c.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        load_inception(tmp_path / "c.pth")


def test_search_order_given_then_env_then_torch_hub(tmp_path, monkeypatch):
    spec = WeightFile("net", ("x.pth", "y.pth"), "https://example.org/x.pth")
    env, hub = tmp_path / "env", tmp_path / "torch" / "hub" / "checkpoints"
    env.mkdir()
    hub.mkdir(parents=True)
    monkeypatch.setenv("MODECOLLAPSE_WEIGHTS", str(env))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError) as err:
        find_weights(spec)
    msg = str(err.value)
    assert str(env) in msg and str(hub) in msg and "https://example.org/x.pth" in msg and "\n" not in msg
    (hub / "y.pth").write_bytes(b"1")  # the second usual name, in torch hub's folder
    assert find_weights(spec) == hub / "y.pth"
    (env / "x.pth").write_bytes(b"1")
    assert find_weights(spec) == env / "x.pth"
    given = tmp_path / "mine.pth"
    given.write_bytes(b"1")
    assert find_weights(spec, given) == given
    with pytest.raises(ConfigError, match="does not exist"):
        find_weights(spec, tmp_path / "nope.pth")


def test_weights_for_an_extractor_without_any_is_an_error():
    with pytest.raises(ConfigError, match="takes no weights file"):
        resolve_extractor("identity", weights="w.pth")


def test_cli_missing_weights_exit_2_one_line(tmp_path):
    import numpy as np

    np.save(tmp_path / "imgs.npy", np.zeros((2, 8, 8, 3), dtype=np.uint8))
    env = {"MODECOLLAPSE_WEIGHTS": str(tmp_path / "none"), "TORCH_HOME": str(tmp_path / "th"), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": ":".join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "modecollapse", "measure", "--real", str(tmp_path / "imgs.npy"),
                        "--fake", str(tmp_path / "imgs.npy"), "--extractor", "inception-v3"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert TF_NAME in r.stderr and str(tmp_path / "th" / "hub" / "checkpoints") in r.stderr


def test_networks_are_built_without_moving_the_callers_random_stream():
    from modecollapse.features.weights import untouched_rng

    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    net = untouched_rng(lambda: torch.nn.Linear(64, 64))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert net.weight.shape == (64, 64)
    torch.nn.Linear(64, 64)  # a plain build draws from it: the check above can fail
    assert not torch.equal(torch.random.get_rng_state(), before)
