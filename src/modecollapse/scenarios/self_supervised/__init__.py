"""``modecollapse scenario self-supervised``: a joint-embedding encoder on MNIST collapses
without a variance term, and VICReg keeps it spread.

Each method in ``--methods`` (see :mod:`.model`) trains the same encoder from the same
initial weights on two augmented views of MNIST training digits. Over training and at the
end, on held-out test digits, it measures with the metrics layer:

- :func:`~modecollapse.metrics.embedding_std` of the embeddings (mean and minimum over
  dimensions): toward 0 under collapse (VICReg's own indicator);
- :func:`~modecollapse.metrics.effective_rank` (Roy & Vetterli 2007; RankMe, Garrido et al.
  2023) of the embeddings and of the representations: toward 1 under complete collapse,
  near the dimension when the embedding is spread;

and, at the end, the linear-probe accuracy on the MNIST test set of the representation and
of the embedding (a probe fitted on the training digits' features), beside that of the
untrained encoder (random features of MNIST are already largely linearly separable:
docs/results/scenarios.md).
Needs MNIST (``--data-dir`` or ``$MODECOLLAPSE_DATA``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ...errors import ConfigError
from ...experiments import Context, Experiment, register_scenario
from ...idx import DATA_ENV, check_data_dir, load_mnist, resolve_data_dir
from ...metrics.effective_rank import effective_rank
from ...metrics.embedding_std import embedding_std
from .model import METHODS, Encoder, augment, embed, ssl_loss
from .plots import ssl_figure
from .probe import linear_probe


@dataclass
class SSLParams:
    methods: tuple[str, ...] = field(default=("invariance", "simsiam-no-stopgrad", "simsiam", "vicreg"), metadata={
        "help": f"objectives to train, from: {', '.join(METHODS)}"})
    data_dir: str = field(default="", metadata={"help": f"directory of the MNIST IDX files (default ${DATA_ENV})"})
    train_size: int = field(default=10000, metadata={"help": "MNIST training digits (0 = all 60,000)"})
    test_size: int = field(default=5000, metadata={"help": "MNIST test digits for the metrics and the probe's accuracy"})
    steps: int = field(default=500, metadata={"help": "Adam steps per method"})
    batch_size: int = field(default=256, metadata={"help": "minibatch size (the variance and covariance terms are batch statistics)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    rep_dim: int = field(default=128, metadata={"help": "representation dimensions (what the probe reads)"})
    emb_dim: int = field(default=32, metadata={"help": "embedding dimensions (what the loss sees)"})
    hidden: int = field(default=512, metadata={"help": "hidden width of the backbone"})
    eval_every: int = field(default=100, metadata={"help": "steps between measurements over training"})
    probe_steps: int = field(default=300, metadata={"help": "full-batch Adam steps of the linear probe"})

    def validate(self) -> None:
        for name in ("test_size", "steps", "batch_size", "rep_dim", "emb_dim", "hidden", "eval_every", "probe_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"self-supervised: --{name.replace('_', '-')} must be at least 1.")
        if self.batch_size < 2 or self.train_size < 0 or self.lr <= 0:
            raise ConfigError("self-supervised: --batch-size must be >= 2, --train-size >= 0 and --lr positive.")
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(f"self-supervised: unknown method(s) {', '.join(bad) or '(none given)'}; "
                              f"choose from: {', '.join(METHODS)}.")
        check_data_dir(self.data_dir, "self-supervised")


def measure_embeddings(rep: torch.Tensor, emb: torch.Tensor) -> dict[str, float]:
    s = embedding_std(embeddings=emb)
    out = {"embedding_std": s.embedding_std, "embedding_std_min": s.embedding_std_min,
           "embedding_std_normalized": embedding_std(embeddings=emb, normalize=True).embedding_std}
    for key, x in (("embedding", emb), ("representation", rep)):
        try:
            out[f"effective_rank_{key}"] = effective_rank(embeddings=x).effective_rank
        except ConfigError:  # an all-zero output (dead ReLUs): no rank at all
            out[f"effective_rank_{key}"] = 0.0
    return out


def train_ssl(model: Encoder, method: str, images: torch.Tensor, probe_images: torch.Tensor, *, steps: int,
              batch_size: int, lr: float, eval_every: int, generator: torch.Generator, device: torch.device,
              bar=None) -> list[dict]:
    """Trains ``model`` with ``method`` on ``images`` (n, 1, 28, 28) in [0, 1]; every
    ``eval_every`` steps measures the embeddings of ``probe_images``; returns those records."""
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    records = []
    for step in range(1, steps + 1):
        model.train()
        x = images[torch.randint(len(images), (batch_size,), generator=generator)]
        loss = ssl_loss(model, method, augment(x, generator).to(device), augment(x, generator).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            rep, emb = embed(model, probe_images, device)
            records.append({"step": step, "loss": float(loss.detach()), **measure_embeddings(rep, emb)})
        if bar is not None:
            bar.update(1)
    return records


@register_scenario
class SelfSupervised(Experiment):
    __doc__ = __doc__
    uses_device = True
    name = "self-supervised"
    summary = "an SSL encoder collapses without a variance term (std -> 0, effective rank -> 1); VICReg keeps it spread"
    Params = SSLParams

    def run(self, p: SSLParams, ctx: Context) -> dict[str, Any]:
        data_dir = resolve_data_dir(p.data_dir, "--data-dir DIR")
        images, labels = load_mnist(data_dir, "train")
        test, test_labels = load_mnist(data_dir, "test")
        gen = ctx.generator(0)
        if p.train_size:
            keep = torch.randperm(len(images), generator=gen)[: p.train_size]
            images, labels = images[keep], labels[keep]
        keep = torch.randperm(len(test), generator=gen)[: p.test_size]
        test, test_labels = test[keep], test_labels[keep]
        x = images.float().unsqueeze(1) / 255.0  # (n, 1, 28, 28) in [0, 1]
        xt = test.float().unsqueeze(1) / 255.0
        results: dict[str, dict] = {}

        def probe(model: Encoder) -> dict[str, float]:
            tr, te = embed(model, x, ctx.device), embed(model, xt, ctx.device)
            return {f"probe_accuracy{suffix}": linear_probe(train=tr[i], train_labels=labels, test=te[i],
                                                            test_labels=test_labels, steps=p.probe_steps)
                    for i, suffix in ((0, ""), (1, "_embedding"))}

        torch.manual_seed(ctx.seed * 1000 + 3)
        untrained = Encoder(p.rep_dim, p.emb_dim, p.hidden).to(ctx.device)
        init_state = {k: v.clone() for k, v in untrained.state_dict().items()}
        baseline = {**probe(untrained), **measure_embeddings(*embed(untrained, xt, ctx.device))}
        with ctx.bar(total=p.steps * len(p.methods), desc="self-supervised") as bar:
            for i, method in enumerate(p.methods):
                model = Encoder(p.rep_dim, p.emb_dim, p.hidden)
                model.load_state_dict(init_state)  # the same initial weights for every method
                records = train_ssl(model, method, x, xt, steps=p.steps, batch_size=p.batch_size, lr=p.lr,
                                    eval_every=p.eval_every, generator=ctx.generator(10 + i), device=ctx.device, bar=bar)
                final = {k: v for k, v in records[-1].items() if k != "step"}
                results[method] = {**final, **probe(model), "over_training": records}
        ssl_figure(ctx.path("self_supervised.png"), results, baseline, p.emb_dim, p.rep_dim)
        return {"train_size": len(x), "test_size": len(xt), "emb_dim": p.emb_dim, "rep_dim": p.rep_dim,
                "untrained": baseline, "methods": results}

    def describe(self, result: dict[str, Any]) -> str:
        lines = [f"self-supervised encoders on MNIST ({result['train_size']} training digits), measured on "
                 f"{result['test_size']} test digits; embedding d = {result['emb_dim']}, representation d = {result['rep_dim']}",
                 f"  {'method':<20} {'emb std':>8} {'std min':>8} {'std l2':>7} {'erank emb':>9} {'erank rep':>9} "
                 f"{'probe rep':>9} {'probe emb':>9}"]
        rows = {**result["methods"], "(untrained)": result["untrained"]}
        for name, v in rows.items():
            lines.append(f"  {name:<20} {v['embedding_std']:>8.4f} {v['embedding_std_min']:>8.4f} {v['embedding_std_normalized']:>7.4f} "
                         f"{v['effective_rank_embedding']:>9.2f} {v['effective_rank_representation']:>9.2f} "
                         f"{v['probe_accuracy']:>9.3f} {v['probe_accuracy_embedding']:>9.3f}")
        lines.append("std: per-dimension std of the embeddings (mean, min; 'std l2' after L2 normalisation, "
                     "healthy ~ 1/sqrt(d)); erank: effective rank (RankMe); probe: linear-probe test accuracy.")
        return "\n".join(lines)
