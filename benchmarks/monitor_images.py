"""The image suite of ``monitor_accuracy.py --suite images``: MNIST GAN runs recorded for replay.

Two kinds of training, on MNIST (10 modes, the digits) and Stacked MNIST (1,000 modes,
three independent digits as channels):

- ``user``: an MLP GAN loop written as a user would write it (plain PyTorch, not the lab's
  trainer): G 64 -> 128w -> 256w -> 784 with BatchNorm, D 784 -> 256w -> 128w -> 1 with leaky
  ReLU (w the width multiplier), BCE, Adam (0.5, 0.999), 3,000 steps;
- ``lab``: the lab's DCGAN (``dcgan-small``) through ``modecollapse.lab.train``'s API, on the
  lab's plain ``mnist`` benchmark.

Settings (what each is meant to produce; the truth is measured, never assumed): r1 (R1 on
D, weight 5, width 2, batch 64) and r1b128 (R1 5, width 1, batch 128): the healthy ones,
9-10 digits at 5% from about step 1,800 (spectral norm and a slower D were tried and covered
6-10 and 7); partial (r1, D trained on a random half of the digits); late (r1, then from
step 1,800 D sees 3 random digits only); full (D updated one batch in five, G lr x10);
within (r1 with a noise bank: every latent is one of 24 fixed vectors plus 2% noise, so
samples are near-duplicates in every digit they cover); hopping (r1, D's digits rotate by
pairs every 300 steps); plain (no R1: the textbook loop, 6-8 digits). Lab DCGAN: R1 (weight
5, 3,000 steps) and collapse (latent 2, lr_d 1e-3, lr_g 1e-4, 2,000 steps). Stacked MNIST
(the user loop with 3 x 784 pixels, width 2, 2,000 steps): r1 (the healthy one: 64-77% of
the modes that real data of the same size holds), partial (each channel from its own random half
of the digits: 125 modes), full (as MNIST's) and plain. A Stacked MNIST check's truth is the
number of digit triples held (at least one of the 1,024 samples) over what 1,024 real
samples hold (:func:`_stacked_truth`).

Each run is *recorded*: at every check (every ``CHECK_EVERY`` steps) the generator draws
``RECORD`` samples in eval mode, stored as uint8 pixels with the losses in
``OUT/images/NAME.pt``, so the monitor is tuned by replaying those batches offline at no
training cost. The truth is read from the same samples by the digit classifier (99.1%):
classes covered (holding >= 5% of the samples), the largest class share, and the median
within-class 5-NN distance in the classifier's features relative to real MNIST's
(:func:`run_truth` says how a run is labelled).
"""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

MNIST_DIR = os.environ.get("MODECOLLAPSE_DATA", "/work/shared/data/mnist")
CHECK_EVERY = 100
RECORD = 1024  # samples per check: the monitor scores the first 512, the truth all of them
LATENT = 64


@dataclass(frozen=True)
class ImageSpec:
    name: str
    setting: str
    trainer: str  # "user" or "lab"
    steps: int
    seed: int
    options: dict[str, Any] = field(default_factory=dict)


def image_suite(seeds: list[int]) -> list[ImageSpec]:
    """The image suite, seed-major (a partial suite stays balanced)."""
    out = []
    for seed in seeds:
        base = {"r1": 5.0, "width": 2}
        lab_r1 = {"techniques": [{"name": "gp", "params": {"kind": "r1", "weight": 5.0, "interval": 1}}]}
        out += [
            ImageSpec(f"mnist-user-r1-s{seed}", "healthy", "user", 3000, seed, base),
            ImageSpec(f"mnist-user-r1b128-s{seed}", "healthy", "user", 3000, seed, {"r1": 5.0, "batch": 128}),
            ImageSpec(f"mnist-user-partial-s{seed}", "partial collapse", "user", 3000, seed, {**base, "digits": "half"}),
            ImageSpec(f"mnist-user-within-s{seed}", "within-mode collapse", "user", 3000, seed, {**base, "bank": 24}),
            ImageSpec(f"mnist-user-full-s{seed}", "full collapse", "user", 3000, seed,
                      {"width": 2, "d_every": 5, "lr_g": 2e-3}),
            ImageSpec(f"mnist-user-hopping-s{seed}", "mode hopping", "user", 3000, seed, {**base, "rotate": 300}),
            ImageSpec(f"mnist-user-late-s{seed}", "late collapse", "user", 3000, seed, {**base, "switch": 1800}),
            ImageSpec(f"mnist-user-plain-s{seed}", "plain GAN (as published)", "user", 3000, seed, {"width": 2}),
            ImageSpec(f"mnist-dcgan-r1-s{seed}", "healthy", "lab", 3000, seed, lab_r1),
            ImageSpec(f"mnist-dcgan-collapse-s{seed}", "full collapse", "lab", 2000, seed,
                      {"latent_dim": 2, "lr_d": 1e-3, "lr_g": 1e-4}),
        ]
        stacked = {"channels": 3, "width": 2}  # Stacked MNIST: 1,000 modes (the digit triples)
        out += [
            ImageSpec(f"smnist-user-r1-s{seed}", "healthy", "user", 2000, seed, {**stacked, "r1": 5.0}),
            ImageSpec(f"smnist-user-partial-s{seed}", "partial collapse", "user", 2000, seed,
                      {**stacked, "r1": 5.0, "digits": "half"}),
            ImageSpec(f"smnist-user-full-s{seed}", "full collapse", "user", 2000, seed,
                      {**stacked, "d_every": 5, "lr_g": 2e-3}),
            ImageSpec(f"smnist-user-plain-s{seed}", "plain GAN (as published)", "user", 2000, seed, stacked),
        ]
    return out


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] pixels (n, 784) -> uint8 (n, 784)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0


# -- the user's loop -------------------------------------------------------------------------
def _user_nets(sn: bool, pac: int = 1, width: int = 1, channels: int = 1) -> tuple[nn.Module, nn.Module]:
    a, b, px = 128 * width, 256 * width, 784 * channels
    G = nn.Sequential(nn.Linear(LATENT, a), nn.BatchNorm1d(a), nn.LeakyReLU(0.2),
                      nn.Linear(a, b), nn.BatchNorm1d(b), nn.LeakyReLU(0.2),
                      nn.Linear(b, px), nn.Tanh())
    wrap = nn.utils.parametrizations.spectral_norm if sn else (lambda m: m)
    D = nn.Sequential(wrap(nn.Linear(px * pac, b)), nn.LeakyReLU(0.2), wrap(nn.Linear(b, a)), nn.LeakyReLU(0.2),
                      wrap(nn.Linear(a, 1)))
    return G, D


def _digit_pool(labels: torch.Tensor, digits: list[int]) -> torch.Tensor:
    return torch.nonzero(torch.isin(labels, torch.tensor(digits))).squeeze(1)


def train_user(spec: ImageSpec, record) -> None:
    """A plain PyTorch GAN loop; ``record(step, samples, d_loss, g_loss)`` at every check."""
    from modecollapse.idx import load_mnist

    o = spec.options
    images, labels = load_mnist(MNIST_DIR, "train")
    data = images.reshape(len(images), -1).float() / 127.5 - 1.0  # (60000, 784) in [-1, 1]
    torch.manual_seed(spec.seed)
    gen = torch.Generator().manual_seed(spec.seed)
    pac = int(o.get("pac", 1))  # PacGAN (Lin et al. 2018): D judges pac samples at once
    channels = int(o.get("channels", 1))  # 3: Stacked MNIST, three independent digits as channels
    G, D = _user_nets(bool(o.get("sn")), pac, int(o.get("width", 1)), channels)
    batch = int(o.get("batch", 64))
    opt_g = torch.optim.Adam(G.parameters(), o.get("lr_g", 2e-4), betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), o.get("lr_d", 2e-4), betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(batch // pac, 1), torch.zeros(batch // pac, 1)

    def judge(x: torch.Tensor) -> torch.Tensor:
        return D(x.reshape(len(x) // pac, -1))
    pools = [torch.arange(len(data))] * channels  # the rows each channel draws its digit from
    if o.get("digits") == "half":  # every channel from its own random half of the digits
        pools = [_digit_pool(labels, sorted(torch.randperm(10, generator=gen)[:5].tolist())) for _ in range(channels)]
    bank = torch.randn(o["bank"], LATENT, generator=gen) if o.get("bank") else None

    def noise(n: int) -> torch.Tensor:
        if bank is None:
            return torch.randn(n, LATENT)
        return bank[torch.randint(len(bank), (n,))] + 0.02 * torch.randn(n, LATENT)

    ema = float(o.get("ema", 0.0))  # samples from an exponential moving average of G's weights
    G_ema = copy.deepcopy(G) if ema else G
    d_loss = g_loss = torch.tensor(0.0)
    for step in range(1, spec.steps + 1):
        if o.get("rotate") and (step - 1) % o["rotate"] == 0:
            k = (step - 1) // o["rotate"] % 5
            pools = [_digit_pool(labels, [2 * k, 2 * k + 1])] * channels
        if o.get("switch") and step == o["switch"] + 1:
            pools = [_digit_pool(labels, sorted(torch.randperm(10, generator=gen)[:3].tolist())) for _ in range(channels)]
        real = torch.cat([data[p[torch.randint(len(p), (batch,), generator=gen)]] for p in pools], dim=1)
        fake = G(noise(batch))
        if step % o.get("d_every", 1) == 0:
            d_loss = bce(judge(real), ones) + bce(judge(fake.detach()), zeros)
            if o.get("r1"):
                real.requires_grad_(True)
                grad, = torch.autograd.grad(judge(real).sum(), real, create_graph=True)
                d_loss = d_loss + o["r1"] / 2 * grad.pow(2).sum(1).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = bce(judge(fake), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if ema:
            with torch.no_grad():
                for pe, p in zip(G_ema.parameters(), G.parameters()):
                    pe.lerp_(p, 1.0 - ema)
                for be, b in zip(G_ema.buffers(), G.buffers()):
                    be.copy_(b)
        if step % CHECK_EVERY == 0:
            G_ema.eval()
            with torch.no_grad():
                samples = G_ema(noise(RECORD))
            G_ema.train()
            record(step, samples, float(d_loss.detach()), float(g_loss.detach()))


# -- the lab's DCGAN ---------------------------------------------------------------------------
def train_lab(spec: ImageSpec, record) -> None:
    from modecollapse import TrainConfig
    from modecollapse.lab.train import build_run, generate, train_step

    values = {"data": "mnist", "arch": "dcgan-small", "latent_dim": 32, "batch_size": 64, "lr_g": 2e-4,
              "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "loss": "nonsaturating", "techniques": [],
              "steps": spec.steps, "seed": spec.seed, "eval_every": CHECK_EVERY, "checkpoint_every": spec.steps,
              "data_args": {"data_dir": MNIST_DIR}}
    values.update(spec.options)
    run = build_run(TrainConfig.from_dict(values))
    while run.step < spec.steps:
        d_loss, g_loss = train_step(run)
        if run.step % CHECK_EVERY == 0:
            record(run.step, generate(run, RECORD, 1_000_000 + run.step), float(d_loss), float(g_loss))


def record_run(spec: ImageSpec, dest: Path) -> dict[str, Any]:
    """Trains ``spec`` and writes its check batches to ``dest`` (atomically)."""
    steps, fakes, d_losses, g_losses = [], [], [], []
    t0, c0 = time.perf_counter(), time.process_time()

    def record(step: int, samples: torch.Tensor, d: float, g: float) -> None:
        steps.append(step)
        finite = torch.isfinite(samples).all(dim=1, keepdim=True)
        fakes.append(torch.where(finite, to_uint8(torch.nan_to_num(samples)), torch.zeros((), dtype=torch.uint8)))
        d_losses.append(d if math.isfinite(d) else float("nan"))
        g_losses.append(g if math.isfinite(g) else float("nan"))

    (train_user if spec.trainer == "user" else train_lab)(spec, record)
    out = {"name": spec.name, "setting": spec.setting, "trainer": spec.trainer, "seed": spec.seed, "steps": steps,
           "fake": torch.stack(fakes), "d_loss": d_losses, "g_loss": g_losses,
           "wall_seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(dest)
    return out


# -- truth -------------------------------------------------------------------------------------
TRUTH_FROM = 1000  # steps before which every GAN is still learning (the healthy settings cover 6-9 digits until then)
DIGIT_SHARE = 0.05  # a digit is covered when it holds at least 5% of the samples
DROPPED_BELOW = 8  # fewer covered digits than this: the run drops modes (issue 19)
HEALTHY_FROM = 9  # healthy: no onset, and a median of at least 9 covered digits (issue 19)
WITHIN_BELOW = 0.5  # within-class 5-NN distance under half of real's: near-duplicates
WITHIN_DIGITS = 5  # ... with at least this many digits covered (else the digits are dropped)
HOP_OVERLAP = 0.3  # digit-histogram overlap with the previous check below which the run moved
ONSET_RUN = 3  # bad checks in a row that make an onset: a digit near 5% flips in and out of 1,024 samples


def _knn5(x: torch.Tensor) -> float:
    """Median distance of a row of ``x`` (n, d) to its 5th nearest other row."""
    d = torch.cdist(x, x)
    return float(d.topk(6, largest=False).values[:, 5].median())


class Truth:
    """The digit classifier's view of a recorded check: covered digits, largest share and
    within-class closeness relative to real MNIST with as many samples of that class."""

    def __init__(self, real_images: torch.Tensor, real_labels: torch.Tensor) -> None:
        from modecollapse.models.classifier import load_or_train

        self.model = load_or_train()
        x = real_images.reshape(len(real_images), -1).float() / 127.5 - 1.0
        with torch.no_grad():
            self.real_feats = torch.cat([self.model.features(x[a:a + 2048].reshape(-1, 1, 28, 28))
                                         for a in range(0, len(x), 2048)])
        self.real_labels = real_labels
        self._real_knn: dict[tuple[int, int], float] = {}
        self._real_modes: dict[int, float] = {}

    def real_knn(self, digit: int, n: int) -> float:
        key = (digit, n)
        if key not in self._real_knn:
            pool = torch.nonzero(self.real_labels == digit).squeeze(1)
            gen = torch.Generator().manual_seed(digit * 100_003 + n)
            vals = [_knn5(self.real_feats[pool[torch.randperm(len(pool), generator=gen)[:n]]]) for _ in range(3)]
            self._real_knn[key] = sum(vals) / 3
        return self._real_knn[key]

    def real_modes(self, n: int) -> float:
        """Stacked MNIST: the digit triples that n real samples hold (three independent
        digits by the real labels' frequencies), averaged over three draws."""
        if n not in self._real_modes:
            gen = torch.Generator().manual_seed(n)
            vals = []
            for _ in range(3):
                lab = [self.real_labels[torch.randint(len(self.real_labels), (n,), generator=gen)] for _ in range(3)]
                vals.append(float(torch.unique(lab[0] * 100 + lab[1] * 10 + lab[2]).numel()))
            self._real_modes[n] = sum(vals) / 3
        return self._real_modes[n]

    @torch.no_grad()
    def check(self, fake_u8: torch.Tensor) -> dict[str, Any]:
        if fake_u8.shape[-1] == 3 * 784:  # Stacked MNIST: the modes are the digit triples
            x = from_uint8(fake_u8).reshape(-1, 1, 28, 28)
            digits = self.model(x).argmax(1).reshape(len(fake_u8), 3)
            mode = mode_number(digits)
            counts = torch.bincount(mode, minlength=1000)
            return {"modes": int((counts > 0).sum()), "modes_real": round(self.real_modes(len(fake_u8)), 1),
                    "largest": round(float(counts.max()) / len(mode), 4),
                    # where the samples are, for the hopping rule: each channel's digit shares (30
                    # values summing to 1; a 1,000-bin histogram of 1,024 samples is mostly noise)
                    "share": [round(float(v) / (3 * len(mode)), 4) for c in range(3)
                              for v in torch.bincount(digits[:, c], minlength=10)],
                    "digits": None, "closeness": None}
        x = from_uint8(fake_u8).reshape(-1, 1, 28, 28)
        feats = self.model.features(x)
        digits = self.model.out(feats).argmax(1)  # eval mode: dropout is off, so this is forward(x)
        counts = torch.bincount(digits, minlength=10)
        share = counts.double() / len(digits)
        ratios = []
        for d in range(10):
            n = int(counts[d])
            if n >= 20:
                ratios.append(_knn5(feats[digits == d]) / max(self.real_knn(d, n), 1e-12))
        return {"digits": int((share >= DIGIT_SHARE).sum()), "largest": round(float(share.max()), 4),
                "share": [round(float(v), 4) for v in share],
                "closeness": round(float(torch.tensor(ratios).median()), 4) if ratios else None}


def run_truth(checks: list[dict[str, Any]], steps: list[int]) -> dict[str, Any]:
    """A run's label from its checks from TRUTH_FROM on: the first of ONSET_RUN consecutive
    bad checks is the onset (a digit holding 6% of a healthy generator's samples measures
    under 5% in 1,024 samples about one check in ten, so two in a row happen by chance),
    provided at least half of the checks from the onset on are bad (else it was a dip); its kind is hopping when the digit histogram moved (overlap below
    HOP_OVERLAP) at two or more of the bad checks, dropped-modes when digits were dropped,
    within-mode when the digits were there but near-duplicates."""
    idx = [i for i, s in enumerate(steps) if s >= TRUTH_FROM]
    if checks and checks[0].get("modes") is not None:
        return _stacked_truth(checks, steps, idx)
    # near-duplicates while at least half the digits are there: within-mode collapse (it
    # also thins some digits out: 24 distinct images cannot fill 10 digits evenly)
    within = [checks[i]["closeness"] is not None and checks[i]["closeness"] < WITHIN_BELOW
              and checks[i]["digits"] >= WITHIN_DIGITS for i in idx]
    dropped = [checks[i]["digits"] < DROPPED_BELOW and not w for i, w in zip(idx, within)]
    bad = [a or b for a, b in zip(dropped, within)]
    onset, moves = _onset(bad), _moves(checks, idx, dropped)
    digits = [checks[i]["digits"] for i in idx]
    kind = None
    if onset is not None:
        n_drop, n_within = sum(dropped[onset:]), sum(within[onset:])
        kind = "hopping" if moves >= 2 else ("dropped-modes" if n_drop >= n_within else "within-mode")
    return _label(onset, kind, sorted(digits)[len(digits) // 2] >= HEALTHY_FROM, steps, idx, digits, moves)


def _onset(bad: list[bool]) -> int | None:
    """The first of ONSET_RUN bad checks in a row (or a bad run reaching the last check),
    unless most checks from there on are good again (a dip)."""
    onset = next((j for j in range(len(bad)) if all(bad[j:j + ONSET_RUN])), None)
    if onset is not None and 2 * sum(bad[onset:]) < len(bad) - onset:
        return None
    return onset


def _moves(checks: list[dict[str, Any]], idx: list[int], flagged: list[bool]) -> int:
    """Flagged checks whose histogram overlaps the previous check's by less than HOP_OVERLAP."""
    return sum(flagged[j] and sum(min(a, b) for a, b in zip(checks[idx[j]]["share"], checks[idx[j - 1]]["share"]))
               < HOP_OVERLAP for j in range(1, len(idx)))


def _label(onset: int | None, kind: str | None, healthy: bool, steps: list[int], idx: list[int],
           held: list[int], moves: int) -> dict[str, Any]:
    label = "collapsing" if onset is not None else "healthy" if healthy else "partial"
    return {"label": label, "kind": kind if onset is not None else "none",
            "onset": steps[idx[onset]] if onset is not None else None,
            "digits": held, "min_digits": min(held), "final_digits": held[-1], "moves": moves}


STACKED_DROPPED = 0.5  # Stacked MNIST: fewer modes than half of what real data of the same size holds (issue 19)
STACKED_HEALTHY = 0.6  # ... healthy: no onset and a median of at least 60% of real's (the r1 runs hold 0.64-0.77)


def _stacked_truth(checks: list[dict[str, Any]], steps: list[int], idx: list[int]) -> dict[str, Any]:
    """Stacked MNIST's label: the same onset rule as MNIST's on the modes (digit triples)
    held relative to real data of the same size; no within-mode truth (no closeness)."""
    rel = [checks[i]["modes"] / checks[i]["modes_real"] for i in idx]
    bad = [r < STACKED_DROPPED for r in rel]
    onset, moves = _onset(bad), _moves(checks, idx, bad)
    return _label(onset, "hopping" if moves >= 2 else "dropped-modes", sorted(rel)[len(rel) // 2] >= STACKED_HEALTHY,
                  steps, idx, [checks[i]["modes"] for i in idx], moves)


# -- the suite: record, then replay ------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    """"0-4,100-104" -> [0, 1, 2, 3, 4, 100, ...]."""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def record_all(specs: list[ImageSpec], folder: Path, shard: tuple[int, int] = (0, 1)) -> None:
    """Trains and records every spec without a recording yet (restartable; ``shard`` = (i, n):
    this process takes every n-th spec from the i-th), seed by seed with the seeds of the
    tuning and held-out splits interleaved (0, 100, 1, 101, ...), so that a suite cut short
    stays balanced."""
    seeds = sorted({s.seed for s in specs})
    low, high = [s for s in seeds if s < 100], [s for s in seeds if s >= 100]
    order = [s for pair in zip(low, high) for s in pair] + low[len(high):] + high[len(low):]
    specs = sorted(specs, key=lambda s: order.index(s.seed))  # stable: the suite's order within a seed
    todo = [s for j, s in enumerate(specs) if j % shard[1] == shard[0]]
    for spec in todo:
        dest = folder / f"{spec.name}.pt"
        if dest.exists():
            continue
        r = record_run(spec, dest)
        print(f"{spec.name}: {len(r['steps'])} checks, {r['wall_seconds']:.0f}s wall, {r['cpu_seconds']:.0f}s CPU", flush=True)


def load_recording(folder: Path, name: str, truth: Truth | None) -> dict[str, Any]:
    """A recording with its truth and the classifier features of every check's monitor batch
    (cached beside it in NAME.cache.pt: neither depends on the monitor's settings)."""
    rec = torch.load(folder / f"{name}.pt", weights_only=True)
    cache = folder / f"{name}.cache.pt"
    if cache.exists():
        rec.update(torch.load(cache, weights_only=True))
        return rec
    from modecollapse.features.mnist import mnist_features

    assert truth is not None
    feats = torch.stack([mnist_features(from_uint8(f[:MONITOR_BATCH]), model=truth.model, pixel_range=(-1.0, 1.0))
                         for f in rec["fake"]])
    checks = [truth.check(f) for f in rec["fake"]]
    extra = {"feats": feats, "truth_checks": checks}
    tmp = cache.with_suffix(".tmp")
    torch.save(extra, tmp)
    tmp.replace(cache)
    rec.update(extra)
    return rec


MONITOR_BATCH = 512


def real_for(seed: int, images: torch.Tensor, n: int = 4096, channels: int = 1) -> torch.Tensor:
    """The real images (n, 784 * channels) in [-1, 1] a user would hand the monitor: a
    random part of the training set (Stacked MNIST: ``channels`` independent draws stacked)."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    idx = [torch.randperm(len(images), generator=gen)[:n] for _ in range(channels)]
    return torch.cat([images[i].reshape(n, -1) for i in idx], dim=1).float() / 127.5 - 1.0


def mode_number(digits: torch.Tensor) -> torch.Tensor:
    """Each row's digits (n, C), one per channel, read as one number: the mode (Stacked MNIST's
    triple 3, 0, 7 -> 307; MNIST's one digit -> itself)."""
    mode = torch.zeros(len(digits), dtype=torch.long)
    for j in range(digits.shape[1]):
        mode = mode * 10 + digits[:, j]
    return mode


def digit_modes(model):
    """A ``mode_classifier`` for the monitor fed classifier feature rows (n, 128 * C): each
    channel's digit by the classifier's head, the C digits read as one number (MNIST: the
    digit, 10 modes; Stacked MNIST: the triple, 1,000), as the truth counts them."""
    from modecollapse.models.classifier import DigitCNN

    dim = DigitCNN.feature_dim

    @torch.no_grad()
    def classify(feats: torch.Tensor) -> torch.Tensor:
        return mode_number(model.out(feats.reshape(-1, dim)).argmax(1).reshape(len(feats), feats.shape[1] // dim))
    return classify


def replay(rec: dict[str, Any], real_feats: torch.Tensor, settings=None, mode_classifier=None) -> list[dict[str, Any]]:
    """The current monitor on a recording's stored check batches. The monitor is built on
    the classifier features of the real images and fed the batches' features, which is what
    ``CollapseMonitor(real=images, features="mnist")`` computes internally (cached here).
    ``mode_classifier`` (:func:`digit_modes`): known modes instead of the k-means clusters."""
    from dataclasses import replace

    from modecollapse import CollapseMonitor
    from modecollapse.models.classifier import DigitCNN
    from modecollapse.monitor import MonitorSettings

    settings = settings or MonitorSettings()
    if settings.feature_norm == "auto":  # what features="mnist" gets: the features are given
        settings = replace(settings, feature_norm="l2")
    known = {} if mode_classifier is None else {"mode_classifier": mode_classifier,
                                               "num_modes": 10 ** (real_feats.shape[1] // DigitCNN.feature_dim)}
    m = CollapseMonitor(real=real_feats, settings=settings, **known)
    out = []
    for step, f, d, g in zip(rec["steps"], rec["feats"], rec["d_loss"], rec["g_loss"]):
        r = m.update(step, fake=f, d_loss=d if math.isfinite(d) else None, g_loss=g if math.isfinite(g) else None)
        out.append({"step": step, "verdict": r.verdict, "kind": r.kind, "onset": r.onset_step, "reason": r.reason,
                    "rollback": r.rollback_step, "seconds": r.seconds,
                    **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.numbers.items()
                       if k in ("score", "modes_rel", "nn_dist_rel", "precision_rel", "coverage_rel", "recall_rel",
                                "near_rel", "overlap", "modes_covered", "covered_rel", "covered_rel_pooled", "mass_rel", "mass_rel_pooled",
                                "starved", "starved_min", "thin_streak",
                                "spread_rel")}})
    return out
