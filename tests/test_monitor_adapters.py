"""CollapseMonitor's outputs: TensorBoard scalars read back, a Lightning GAN it stops, missing extras."""
import sys

import pytest
import torch
from torch import nn

from modecollapse import CollapseMonitor
from modecollapse.data import build_dataset
from modecollapse.errors import ConfigError
from modecollapse.monitor import VERDICTS, MonitorSettings
from modecollapse.monitor.adapters import lightning_callback


@pytest.fixture(scope="module")
def ring():
    ds = build_dataset("ring", {})
    return ds, ds.sample(2000, torch.Generator().manual_seed(0))


def test_tensorboard_scalars_read_back(ring, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ds, real = ring
    gen = torch.Generator().manual_seed(1)
    m = CollapseMonitor(real=real, tensorboard=tmp_path / "tb")
    for c in range(7):
        modes = torch.randint(8, (512,), generator=gen) if c < 5 else torch.zeros(512, dtype=torch.long)
        m.update((c + 1) * 100, fake=ds.sample_modes(modes, gen))
    m.close()
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"monitor/verdict", "monitor/score", "monitor/recall_rel", "monitor/modes_rel"} <= set(tags)
    verdicts = [(e.step, int(e.value)) for e in acc.Scalars("monitor/verdict")]
    assert [s for s, _ in verdicts] == [100, 200, 300, 400, 500, 600, 700]
    assert VERDICTS[verdicts[4][1]] == "healthy" and VERDICTS[verdicts[-1][1]] == "collapsed"
    scores = [e.value for e in acc.Scalars("monitor/score")]
    assert scores[4] > 0.85 and scores[-1] < 0.3


def test_missing_extra_names_it(ring, monkeypatch):
    ds, real = ring
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install modecollapse\[tensorboard\]"):
        CollapseMonitor(real=real, tensorboard="unused")
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    with pytest.raises(ConfigError, match=r"pip install modecollapse\[lightning\]"):
        lightning_callback(CollapseMonitor(real=real), sample=lambda module: None)


def test_lightning_callback_stops_a_collapsing_gan(ring, tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    ds, real = ring

    class GAN(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.automatic_optimization = False
            self.G = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
            self.D = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))

        def training_step(self, batch, batch_idx):
            (x,) = batch
            opt_g, opt_d = self.optimizers()
            z = torch.randn(len(x), 2)
            bce = nn.functional.binary_cross_entropy_with_logits
            d_loss = bce(self.D(x), torch.ones(len(x), 1)) + bce(self.D(self.G(z).detach()), torch.zeros(len(x), 1))
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
            g_loss = bce(self.D(self.G(z)), torch.ones(len(x), 1))
            opt_g.zero_grad()
            self.manual_backward(g_loss)
            opt_g.step()

        def configure_optimizers(self):
            return torch.optim.Adam(self.G.parameters(), 1e-3), torch.optim.Adam(self.D.parameters(), 1e-3)

    torch.manual_seed(0)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(ds.sample(64 * 15, torch.Generator().manual_seed(2))),
                                       batch_size=64)
    gen = torch.Generator().manual_seed(3)
    monitor = CollapseMonitor(real=real, settings=MonitorSettings(check_every=2, warmup_checks=2))
    # after a few of 2 x 15 steps a fresh generator is a blob far from the ring: an alarm by construction
    cb = lightning_callback(monitor, sample=lambda module: module.G(torch.randn(256, 2, generator=gen)),
                            stop_on=("collapsing", "collapsed", "diverged"))
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, callbacks=[cb], enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(GAN(), data)
    assert cb.reports and cb.reports[0].verdict == "warming-up"
    assert cb.reports[-1].verdict in ("collapsing", "collapsed", "diverged")
    assert cb.batches < 30  # stopped before the end of the second epoch
    assert "monitor/verdict" in trainer.callback_metrics and "monitor/score" in trainer.callback_metrics
    assert cb.state_dict()["monitor"]["checks"] == len(cb.reports)
