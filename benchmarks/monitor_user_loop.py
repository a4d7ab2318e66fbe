"""A plain PyTorch GAN loop of a user's own (not the lab) with CollapseMonitor added in three lines."""
import torch
from torch import nn

from modecollapse import CollapseMonitor

torch.manual_seed(0)
torch.set_num_threads(1)
angle = torch.randint(8, (20000,)) * (2 * torch.pi / 8)                       # 8 modes on a ring
data = 2 * torch.stack([angle.cos(), angle.sin()], 1) + 0.02 * torch.randn(20000, 2)
G = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
D = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1))
opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.9))
opt_d = torch.optim.Adam(D.parameters(), 8e-4, betas=(0.5, 0.9))              # D learns 4x faster
bce = nn.functional.binary_cross_entropy_with_logits
ones, zeros = torch.ones(256, 1), torch.zeros(256, 1)

monitor = CollapseMonitor(real=data[:4096], stop_on=("collapsed", "diverged"),  # (1) real data only
                          on_change=lambda old, r: print(f"step {r.step}: {old} -> {r.verdict}: {r.reason}"))
for step in range(1, 5001):
    real, fake = data[torch.randint(len(data), (256,))], G(torch.randn(256, 16))
    d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
    opt_d.zero_grad(); d_loss.backward(); opt_d.step()
    g_loss = bce(D(fake), ones)
    opt_g.zero_grad(); g_loss.backward(); opt_g.step()
    monitor.update(step, fake=fake.detach(), d_loss=d_loss, g_loss=g_loss)       # (2) every step; checks every 100
    if monitor.should_stop:                                                      # (3) early stopping
        print(f"stopped at step {step}; collapse began at step {monitor.report.onset_step}")
        break
