"""A user's own MNIST GAN loop (plain PyTorch, the well-known MLP GAN) watched by CollapseMonitor with features="mnist"."""
import torch
from torch import nn

from modecollapse import CollapseMonitor
from modecollapse.idx import load_mnist

torch.manual_seed(0)
torch.set_num_threads(1)
images, _ = load_mnist("/work/shared/data/mnist", "train")                       # (60000, 28, 28) uint8
data = images.reshape(-1, 784).float() / 127.5 - 1                              # pixels in [-1, 1], like tanh
G = nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
                  nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2), nn.Linear(1024, 784), nn.Tanh())
D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
opt_g = torch.optim.Adam(G.parameters(), 2e-3, betas=(0.5, 0.999))             # G's learning rate x10 ...
opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
bce = nn.functional.binary_cross_entropy_with_logits
ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)

monitor = CollapseMonitor(real=data[:4096], features="mnist", check_every=100,  # (1) real images, digit features
                          on_change=lambda old, r: print(f"step {r.step}: {old} -> {r.verdict} ({r.kind}): {r.reason}"))
for step in range(1, 1501):
    real, fake = data[torch.randint(len(data), (64,))], G(torch.randn(64, 100))
    d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
    if step % 5 == 0:                                                            # ... and D updated 1 batch in 5
        opt_d.zero_grad(); d_loss.backward(); opt_d.step()
    g_loss = bce(D(fake), ones)
    opt_g.zero_grad(); g_loss.backward(); opt_g.step()
    report = monitor.update(step, fake=fake.detach(), d_loss=d_loss, g_loss=g_loss)  # (2) every step
    if step % 500 == 0:                                                          # (3) read the latest report
        print(f"step {step}: check {report.check} at step {report.step}: {report.verdict}, kind {report.kind}, "
              f"onset {report.onset_step}, rollback to {report.rollback_step}")
print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in monitor.report.as_dict().items() if k != "reason"})

# the truth, for the README (not part of a user's loop): digits holding >= 5% of 1,000 samples
from modecollapse.models.classifier import load_or_train  # noqa: E402

G.eval()
with torch.no_grad():
    digits = load_or_train()(G(torch.randn(1000, 100)).reshape(-1, 1, 28, 28)).argmax(1)
share = torch.bincount(digits, minlength=10) / 1000
print(f"truth at step 1500: {int((share >= 0.05).sum())} digits at >= 5%, largest share {float(share.max()):.2f}")
