"""CollapseMonitor overhead in a user's MNIST GAN loop, with ``features="mnist"``.

The loop is the well-known public MLP GAN for MNIST as a user writes it (G 100 -> 256 ->
512 -> 1024 -> 784 with BatchNorm, D 784 -> 512 -> 256 -> 1, BCE, Adam 2e-4, batch 64),
plain PyTorch. The monitored loop adds the README's lines: the monitor built once from
4,096 real images (not timed: it is set-up), and ``monitor.update(step, fake=fake.detach(),
d_loss=..., g_loss=...)`` every step (a check every 100 steps, on the 512 most recent
samples, features by the digit classifier). Plain and monitored runs alternate in one
process (plain, monitored, plain, ...) so machine load hits both alike; the ratio is of CPU
time (``time.process_time``, the machine is shared) and of wall time, and the final
generator weights of both are compared (the monitor must not change the training). Beside
the ratio, which machine noise moves by a few percent from run to run, it prints the CPU time
spent inside ``monitor.update`` over the plain loop's CPU time: the monitor's own cost, without
that noise (it leaves out any slowdown of the training steps themselves, so it is a floor).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/monitor_overhead_images.py [--steps 600] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from modecollapse import CollapseMonitor  # noqa: E402
from modecollapse.idx import load_mnist  # noqa: E402

MNIST_DIR = "/work/shared/data/mnist"


def loop(data: torch.Tensor, steps: int, monitor: CollapseMonitor | None) -> tuple[float, float, float, torch.Tensor]:
    """(CPU seconds, wall seconds, CPU seconds inside ``monitor.update``, final G weights) of
    ``steps`` training steps."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    G = nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.BatchNorm1d(512), nn.LeakyReLU(0.2),
                      nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.2), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    inside = 0.0
    c0, w0 = time.process_time(), time.perf_counter()
    for step in range(1, steps + 1):
        real = data[torch.randint(len(data), (64,), generator=gen)]
        fake = G(torch.randn(64, 100, generator=gen))
        d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(fake), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if monitor is not None:
            c = time.process_time()
            monitor.update(step, fake=fake.detach(), d_loss=d_loss, g_loss=g_loss)
            inside += time.process_time() - c
    return (time.process_time() - c0, time.perf_counter() - w0, inside,
            torch.cat([p.detach().flatten() for p in G.parameters()]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    images, _ = load_mnist(MNIST_DIR, "train")
    data = images.reshape(len(images), -1).float() / 127.5 - 1.0  # (60000, 784) in [-1, 1]
    plain, monitored, inside, checks, same = [], [], [], 0, True
    for _ in range(args.repeats):
        cpu, wall, _, w_plain = loop(data, args.steps, None)
        plain.append((cpu, wall))
        monitor = CollapseMonitor(real=data[:4096], features="mnist")
        cpu, wall, cpu_inside, w_mon = loop(data, args.steps, monitor)
        monitored.append((cpu, wall))
        inside.append(cpu_inside)
        checks = monitor.checks
        same = same and torch.equal(w_plain, w_mon)
    cpu_p, cpu_m = statistics.median(c for c, _ in plain), statistics.median(c for c, _ in monitored)
    wall_p, wall_m = statistics.median(w for _, w in plain), statistics.median(w for _, w in monitored)
    cpu_in = statistics.median(inside)
    out = {"steps": args.steps, "repeats": args.repeats, "checks": checks,
           "plain_cpu_seconds": round(cpu_p, 3), "monitored_cpu_seconds": round(cpu_m, 3),
           "overhead_cpu": round(cpu_m / cpu_p - 1, 4),
           "plain_wall_seconds": round(wall_p, 3), "monitored_wall_seconds": round(wall_m, 3),
           "overhead_wall": round(wall_m / wall_p - 1, 4),
           "monitor_cpu_seconds": round(cpu_in, 3), "monitor_share_of_plain_cpu": round(cpu_in / cpu_p, 4),
           "monitor_total_seconds": round(monitor.total_seconds, 3), "final_weights_identical": same}
    print(f"{args.steps} steps, {checks} checks, median of {args.repeats}: plain {cpu_p:.2f} s CPU ({wall_p:.2f} s wall), "
          f"monitored {cpu_m:.2f} s CPU ({wall_m:.2f} s wall): overhead {100 * out['overhead_cpu']:.1f}% CPU, "
          f"{100 * out['overhead_wall']:.1f}% wall; the CPU time inside monitor.update alone: {cpu_in:.2f} s = "
          f"{100 * out['monitor_share_of_plain_cpu']:.1f}% of the plain loop's; final weights identical: {same}")
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
