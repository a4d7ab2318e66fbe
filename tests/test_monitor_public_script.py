"""benchmarks/monitor_public_script.py: where the user's lines go into a public GAN script, the
error for a script it cannot place them in, and its torchvision stand-in on real MNIST."""
import ast
import importlib
import sys
from pathlib import Path

import pytest
import torch

from conftest import MNIST_DIR

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import monitor_public_script as mps  # noqa: E402

TV = "torch" + "vision"  # (spelt so that no line of this file reads as an import of it)
SCRIPT = f'''import torch
import {TV}.transforms as transforms
from {TV}.utils import save_image
from {TV} import datasets
generator = torch.nn.Linear(2, 2)
for epoch in range(opt.n_epochs):
    for i, (imgs, _) in enumerate(dataloader):
        optimizer_D.zero_grad()
        d_loss = loss()
        optimizer_D.step()
        print(d_loss)
'''


def test_the_lines_go_where_a_user_adds_them():
    text = mps.patch(SCRIPT)
    ast.parse(text)  # still a valid script
    lines = text.splitlines()
    assert lines[0].startswith("# --- added") and "_probe.seed()" in lines[2]  # the seed before anything runs
    loop = lines.index("for epoch in range(opt.n_epochs):")
    assert "_monitor = _probe.start()" in lines[loop - 2]  # the monitor built before the loop
    step = lines.index("        optimizer_D.step()")
    assert lines[step + 2] == "        _probe.update(_monitor, gen_imgs, d_loss, g_loss)"  # after D's step, same indent
    assert lines[-1] == "        print(d_loss)"  # the rest of the script unchanged
    # its torchvision imports read from the stand-in, so nothing tries to load torchvision
    assert [ln for ln in lines if "vision" in ln] == ["import mc_vision_standin.transforms as transforms",
                                                        "from mc_vision_standin.utils import save_image",
                                                        "from mc_vision_standin import datasets"]


def test_a_bare_torchvision_import_binds_the_stand_in_under_its_name():
    text = mps.point_at_standin(f"import {TV}\n    import {TV}.utils\nx = torchvision.utils.save_image\n")
    assert text.splitlines() == ["import mc_vision_standin", "import mc_vision_standin as torchvision",
                                 "    import mc_vision_standin.utils", "    import mc_vision_standin as torchvision",
                                 "x = torchvision.utils.save_image"]


@pytest.mark.parametrize("drop, named", [("optimizer_D.step()", "optimizer_D.step()"), ("for epoch in range(opt.n_epochs):", "for epoch")])
def test_a_script_without_the_anchors_gets_one_sentence(drop, named):
    with pytest.raises(SystemExit) as err:
        mps.patch(SCRIPT.replace(drop, "pass"))
    assert named in str(err.value) and str(err.value).startswith("error: the script has no")


@pytest.mark.skipif(not any(MNIST_DIR.glob("train-images*")),
                    reason="real MNIST not found")
def test_the_torchvision_stand_in_gives_the_scripts_pixels(tmp_path, monkeypatch):
    for rel, body in mps.SHIM.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MODECOLLAPSE_DATA", str(MNIST_DIR))
    tv = importlib.import_module(mps.STANDIN)
    t = tv.transforms
    ds = tv.datasets.MNIST("unused", train=True, download=True,
                           transform=t.Compose([t.Resize(28), t.ToTensor(), t.Normalize([0.5], [0.5])]))
    x, label = ds[0]
    assert len(ds) == 60_000 and x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0 and label == 5  # MNIST's first training image is a 5
    x32 = t.Compose([t.Resize(32), t.ToTensor()])(ds.images[0])  # PyTorch-GAN's DCGAN trains at 32 pixels
    assert x32.shape == (1, 32, 32) and float(x32.min()) == 0.0 and 0.99 < float(x32.max()) <= 1.0
    assert abs(float(x32.mean()) - float(ds.images[0].float().div(255).mean())) < 0.01  # the same ink
    for name in [m for m in sys.modules if m == mps.STANDIN or m.startswith(mps.STANDIN + ".")]:
        del sys.modules[name]


def test_a_run_is_scored_as_the_image_suite_scores_it():
    """A run whose digits fall to 3 from step 1,000 on is collapsing (onset 1,000); the monitor's
    alarm at step 900 (2 checks allowed before the onset) detects it with a delay of -1 check."""
    import monitor_images_suite as suite

    checks = []
    for step in range(100, 3001, 100):
        digits = 10 if step < 1000 else 3
        share = [1 / digits if d < digits else 0.0 for d in range(10)]
        verdict, kind = ("healthy", "none") if step < 900 else ("collapsed", "dropped-modes")
        checks.append({"step": step, "verdict": verdict, "kind": kind, "onset": None, "rollback": 800, "reason": "",
                       "truth": {"digits": digits, "largest": max(share), "share": share, "closeness": 0.9}})
    rec = {"checks": checks, "monitor_seconds": 1.0, "truth_seconds": 2.0, "loop_seconds": 12.0}
    r = mps.summarise("plain-s0", rec)
    assert (r["truth"]["label"], r["truth"]["kind"], r["truth"]["onset"]) == ("collapsing", "dropped-modes", 1000)
    assert r["first_alarm"] == {"step": 900, "kind": "dropped-modes"} and r["monitor_share"] == pytest.approx(0.1)
    sc = suite.score([r])
    assert (sc["dropping_runs"], sc["dropped_flagged_as_dropped"], sc["delay_checks_median"], sc["missed"]) == (1, 1.0, -1.0, [])


def test_a_healthy_runs_early_alarm_is_a_false_alarm_at_any_step_but_not_from_the_truths_line():
    """The image suite counts a healthy run's false alarm at any step (the issue's line) and,
    beside it, only from TRUTH_FROM (as the 2D suite counts them): an alarm at step 600 alone is
    the first and not the second; one at 1,200 is both."""
    import monitor_images as mi
    import monitor_images_suite as suite

    def healthy_run(name, alarm_step):
        checks = []
        for step in range(100, 3001, 100):
            bad = step == alarm_step
            checks.append({"step": step, "verdict": "collapsing" if bad else "healthy",
                           "kind": "dropped-modes" if bad else "none",
                           "truth": {"digits": 10, "largest": 0.1, "share": [0.1] * 10, "closeness": 1.0}})
        steps = [c["step"] for c in checks]
        return {"name": name, "checks": checks, "truth": mi.run_truth([c["truth"] for c in checks], steps)}

    runs = [healthy_run("early", 600), healthy_run("late", 1200), healthy_run("quiet", None)]
    assert [r["truth"]["label"] for r in runs] == ["healthy"] * 3
    sc = suite.score(runs)
    assert sc["false_alarms"] == ["early@600", "late@1200"] and sc["false_alarm_rate"] == pytest.approx(2 / 3)
    assert sc["false_alarms_from_truth"] == ["late@1200"] and sc["false_alarm_rate_from_truth"] == pytest.approx(1 / 3)
