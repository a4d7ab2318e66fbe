"""The generic GAN training loop: steps, evaluation schedule, checkpoints, resume, logging.

The loop knows the models only as ``G(z) -> x`` and ``D(x) -> logits``, the loss only as a
pair of callables (``losses.py``) and techniques only through the hooks of
``techniques/base.py``. Anything technique-specific lives in a technique, not in here.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import rundir
from .config import TechniqueSpec, TrainConfig
from .data import Benchmark, build_dataset, dataset_params
from .errors import ConfigError, TrainingDiverged
from .losses import LOSSES, AdversarialLoss
from .metrics.modes import ModeStats, mode_stats
from .models import ARCHS, resolve_arch
from .registry import params_from_dict
from .techniques import TECHNIQUES, DBatch, GBatch, HookTable, Technique


@dataclass
class Run:
    """Everything one training run holds; techniques read and modify it through hooks."""

    cfg: TrainConfig
    dataset: Benchmark
    loss: AdversarialLoss
    techniques: list[Technique]
    G: nn.Module
    D: nn.Module
    device: torch.device
    data_gen: torch.Generator  # real batches
    noise_gen: torch.Generator  # latents and every other random draw of the step
    step: int = 0
    # modules added by techniques (e.g. a classifier head): trained with D or with G
    extra_d_params: list[nn.Parameter] = field(default_factory=list)
    extra_g_params: list[nn.Parameter] = field(default_factory=list)
    # weight of the adversarial generator loss; a technique that replaces it sets 0
    g_adv_weight: float = 1.0
    opt_g: torch.optim.Optimizer | None = None
    opt_d: torch.optim.Optimizer | None = None
    hooks: HookTable = field(default_factory=HookTable)

    # -- helpers for techniques ---------------------------------------------------------------
    def new_discriminator(self, in_dim: int | None = None) -> nn.Module:
        """A fresh discriminator of the configured architecture (``in_dim`` defaults to the data's)."""
        return ARCHS.get(self.cfg.arch).discriminator(self.cfg, self.dataset, in_dim or self.dataset.dim).to(self.device)

    def new_generator(self) -> nn.Module:
        return ARCHS.get(self.cfg.arch).generator(self.cfg, self.dataset).to(self.device)

    def sample_z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.latent_dim, generator=self.noise_gen).to(self.device)

    def sample_real(self, n: int) -> torch.Tensor:
        for hook in self.hooks["sample_real"]:
            x = hook(self, n)
            if x is not None:
                return x.to(self.device)
        return self.dataset.sample(n, self.data_gen).to(self.device)

    @property
    def progress(self) -> float:
        """Fraction of training done, 0..1, for annealing schedules."""
        return self.step / max(self.cfg.steps, 1)


# -- building ------------------------------------------------------------------------------------
def resolve(cfg: TrainConfig) -> tuple[TrainConfig, Benchmark, AdversarialLoss, list[Technique]]:
    """Validates ``cfg`` and resolves every default: returns the config to save in
    ``config.json`` together with the dataset, the loss and the technique instances."""
    cfg = dataclasses.replace(cfg, techniques=list(cfg.techniques)).validate()
    params = dataset_params(cfg.data, cfg.data_args)
    cfg.data_args = dataclasses.asdict(params)
    dataset = params.build()
    # Defaults that depend on the benchmark, written out so config.json holds the values used.
    cfg.arch = resolve_arch(cfg.arch, dataset)
    cfg.eval_samples = cfg.eval_samples or dataset.eval_samples
    loss = LOSSES.get(cfg.loss)
    specs = list(cfg.techniques)
    given = {s.name for s in specs}
    implied = list(loss.implies)
    if cfg.d_norm == "spectral":
        # `--d-norm spectral` is the spectral-norm technique on D; config.json records it as
        # the technique so that a run reads one way only.
        cfg.d_norm = "none"
        implied.insert(0, ("spectral-norm", {"where": "d"}))
    # A technique implied by the loss (wgan's clipping, wgan-gp's penalty) or by --d-norm is
    # added unless the user gave that technique explicitly, which then replaces it.
    specs += [TechniqueSpec(name, dict(p)) for name, p in implied if name not in given]
    techniques: list[Technique] = []
    resolved_specs = []
    for spec in specs:
        cls = TECHNIQUES.get(spec.name)
        p = params_from_dict(cls.Params, spec.params, f"technique {spec.name!r}")
        tech = cls(p)
        tech.check(cfg, loss)
        techniques.append(tech)
        resolved_specs.append(TechniqueSpec(spec.name, tech.params_dict()))
    cfg.techniques = resolved_specs
    techniques.sort(key=lambda t: t.order)
    return cfg, dataset, loss, techniques


def build_run(cfg: TrainConfig) -> Run:
    """Resolves ``cfg`` and builds models, techniques and optimisers, seeded by ``cfg.seed``."""
    cfg, dataset, loss, techniques = resolve(cfg)
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {cfg.device} was asked for but no CUDA device is available; use --device cpu.")
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)  # model initialisation
    run = Run(
        cfg=cfg,
        dataset=dataset,
        loss=loss,
        techniques=techniques,
        G=nn.Identity(),
        D=nn.Identity(),
        device=device,
        data_gen=torch.Generator().manual_seed(cfg.seed),
        noise_gen=torch.Generator().manual_seed(cfg.seed + 1_000_003),
    )
    run.G = run.new_generator()
    run.D = run.new_discriminator()
    for tech in techniques:
        tech.setup(run)
    betas = (cfg.beta1, cfg.beta2)
    run.opt_g = torch.optim.Adam(list(run.G.parameters()) + run.extra_g_params, lr=cfg.lr_g, betas=betas)
    run.opt_d = torch.optim.Adam(list(run.D.parameters()) + run.extra_d_params, lr=cfg.lr_d, betas=betas)
    run.hooks = HookTable.build(techniques)
    return run


# -- one step ----------------------------------------------------------------------------------
def d_step(run: Run) -> torch.Tensor:
    hooks, n = run.hooks, run.cfg.batch_size
    real = run.sample_real(n)
    with torch.no_grad():
        fake = run.G(run.sample_z(n))
    for hook in hooks["d_inputs"]:
        real, fake = hook(run, real, fake)
    d_real, d_fake = run.D(real), run.D(fake)
    real_t, fake_t = 1.0, 0.0
    for hook in hooks["d_targets"]:
        # one target per verdict: fewer than n when D judges several samples at once (packing)
        real_t, fake_t = hook(run, real_t, fake_t, d_real.shape[0])
    loss = run.loss.d_loss(d_real, d_fake, real_t, fake_t)
    if hooks["d_terms"]:
        loss = _with_terms(run, loss, hooks["d_terms"], DBatch(real, fake, d_real, d_fake))
    return _optimise(run, run.opt_d, loss, hooks["after_d_step"])


def g_step(run: Run) -> torch.Tensor:
    hooks = run.hooks
    z = run.sample_z(run.cfg.batch_size)
    fake = run.G(z)
    judged = fake
    for hook in hooks["g_input"]:
        judged = hook(run, judged)
    critic = run.D
    for hook in hooks["g_critic"]:
        critic = hook(run, critic, judged)
    d_fake = critic(judged)
    loss = run.g_adv_weight * run.loss.g_loss(d_fake)
    if hooks["g_terms"]:
        loss = _with_terms(run, loss, hooks["g_terms"], GBatch(z, fake, judged, d_fake))
    return _optimise(run, run.opt_g, loss, hooks["after_g_step"])


def _with_terms(run: Run, loss: torch.Tensor, term_hooks: list, batch: DBatch | GBatch) -> torch.Tensor:
    """``loss`` plus every extra term the techniques' ``d_terms`` / ``g_terms`` hooks add."""
    for hook in term_hooks:
        for term in hook(run, batch).values():
            loss = loss + term
    return loss


def _optimise(run: Run, opt: torch.optim.Optimizer, loss: torch.Tensor, after_hooks: list) -> torch.Tensor:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    for hook in after_hooks:
        hook(run)
    return loss.detach()


def train_step(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_critic`` discriminator steps, then one generator step. Returns (d_loss, g_loss)."""
    for _ in range(run.cfg.n_critic):
        d_loss = d_step(run)
    g_loss = g_step(run)
    run.step += 1
    return d_loss, g_loss


# -- evaluation --------------------------------------------------------------------------------
@torch.no_grad()
def generate(run: Run, n: int, seed: int) -> torch.Tensor:
    """``n`` samples (n, dim) on the CPU from a generator seeded by ``seed``, in eval mode,
    without touching the training random streams."""
    gen = torch.Generator().manual_seed(seed)
    was_training = run.G.training
    run.G.eval()
    out = []
    for start in range(0, n, 4096):
        z = torch.randn(min(4096, n - start), run.cfg.latent_dim, generator=gen).to(run.device)
        out.append(run.G(z).float().cpu())
    run.G.train(was_training)
    return torch.cat(out)


def evaluate(run: Run) -> tuple[ModeStats, torch.Tensor]:
    samples = generate(run, run.cfg.eval_samples, seed=run.cfg.seed * 7919 + run.step)
    return mode_stats(samples=samples, benchmark=run.dataset), samples


# -- checkpoints -----------------------------------------------------------------------------
def checkpoint_state(run: Run) -> dict[str, Any]:
    return {
        "step": run.step,
        "G": run.G.state_dict(),
        "D": run.D.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "data_gen": run.data_gen.get_state(),
        "noise_gen": run.noise_gen.get_state(),
        "extra_d": [p.detach().clone() for p in run.extra_d_params],
        "extra_g": [p.detach().clone() for p in run.extra_g_params],
        "techniques": {t.name: t.state_dict() for t in run.techniques},
        "g_adv_weight": run.g_adv_weight,
    }


def load_checkpoint_state(run: Run, state: dict[str, Any]) -> None:
    run.step = int(state["step"])
    run.G.load_state_dict(state["G"])
    run.D.load_state_dict(state["D"])
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    run.data_gen.set_state(state["data_gen"])
    run.noise_gen.set_state(state["noise_gen"])
    with torch.no_grad():
        for p, v in zip(run.extra_d_params, state["extra_d"]):
            p.copy_(v)
        for p, v in zip(run.extra_g_params, state["extra_g"]):
            p.copy_(v)
    for t in run.techniques:
        t.load_state_dict(state["techniques"].get(t.name, {}))
    run.g_adv_weight = float(state["g_adv_weight"])


def set_threads(threads: int | str | None, cfg: TrainConfig) -> None:
    if threads == "auto":
        threads = 1 if cfg.arch == "mlp" else None
    if threads is not None:
        torch.set_num_threads(int(threads))


# -- the whole run -------------------------------------------------------------------------------
@dataclass
class History:
    """What the summary needs from the evaluations so far (rebuilt from metrics.jsonl on resume)."""

    records: list[dict] = field(default_factory=list)

    def summary_fields(self) -> dict[str, Any]:
        captured = [frozenset(i for i, c in enumerate(r["counts"]) if c > 0) for r in self.records]
        dominant = [max(range(len(r["counts"])), key=r["counts"].__getitem__) if any(r["counts"]) else -1 for r in self.records]
        return {
            # modes captured at any evaluation: large while each evaluation holds few = mode hopping
            "modes_ever": len(frozenset().union(*captured)) if captured else 0,
            # evaluations at which the most populated mode differs from the previous evaluation's
            "dominant_mode_changes": sum(a != b for a, b in zip(dominant, dominant[1:])),
        }


def train(
    cfg: TrainConfig,
    out: Path | str,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    threads: int | str | None = None,
) -> dict[str, Any]:
    """Trains a GAN as ``cfg`` says, writing the run directory ``out``; returns the summary.

    ``threads``: CPU threads for torch; ``"auto"`` is 1 for the MLP benchmarks (small
    matrices gain nothing from more, and slow down many times over when other jobs share
    the cores) and torch's default otherwise; ``None`` leaves the setting alone. Results do
    not depend on it.

    ``resume=True`` continues the run in ``out`` from its checkpoint (``cfg.steps`` may be
    larger than the original to extend it). ``stop_after`` stops after that many steps in
    total, as an interruption would, leaving a checkpoint to resume from (for tests).
    """
    out = Path(out)
    run = build_run(cfg)
    cfg = run.cfg
    set_threads(threads, cfg)
    history = History()
    if resume:
        state = rundir.load_checkpoint(out)
        load_checkpoint_state(run, state)
        history.records = rundir.rewind_metrics(out, upto=run.step)
        if run.step >= cfg.steps:
            raise ConfigError(f"the run in {out} already has {run.step} steps; pass --steps larger than that to extend it.")
    else:
        rundir.prepare(out, overwrite=overwrite)
    cfg.save(out / "config.json")

    from tqdm.auto import tqdm

    started = time.perf_counter()
    elapsed_before = float(state.get("wall_seconds", 0.0)) if resume else 0.0
    status = "ok"
    message = ""
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = tqdm(total=cfg.steps, initial=run.step, disable=not progress, desc=f"{cfg.data}/{cfg.loss}", unit="step", dynamic_ncols=True, leave=False)
    last_stats: ModeStats | None = None
    samples = None
    try:
        while run.step < end:
            d_loss, g_loss = train_step(run)
            bar.update(1)
            d_val, g_val = float(d_loss), float(g_loss)
            if not (math.isfinite(d_val) and math.isfinite(g_val)):
                raise TrainingDiverged(f"loss became non-finite at step {run.step} (d_loss={d_val}, g_loss={g_val})")
            at_end = run.step == cfg.steps
            if run.step % cfg.eval_every == 0 or at_end:
                last_stats, samples = evaluate(run)
                record = {"step": run.step, **last_stats.as_dict(), "d_loss": d_val, "g_loss": g_val,
                          "wall_seconds": elapsed_before + time.perf_counter() - started}
                history.records.append(record)
                rundir.append_metrics(out, record)
                rundir.save_eval_samples(out, run.step, samples, run.dataset)
                bar.set_postfix_str(f"modes {last_stats.modes}/{last_stats.num_modes}, hq {last_stats.hq_fraction:.2f}, "
                                    f"rKL {last_stats.reverse_kl:.3f}")
            if run.step % cfg.checkpoint_every == 0 or at_end:
                rundir.save_checkpoint(out, {**checkpoint_state(run), "wall_seconds": elapsed_before + time.perf_counter() - started})
    except TrainingDiverged as err:
        status, message = "diverged", str(err)
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted at step {run.step}; continue with --resume {out}"
    finally:
        bar.close()

    if status == "ok" and run.step < cfg.steps:
        status, message = "interrupted", f"stopped at step {run.step} of {cfg.steps}; continue with --resume {out}"
    if last_stats is None or (history.records and history.records[-1]["step"] != run.step):
        last_stats, samples = evaluate(run)
    wall = elapsed_before + time.perf_counter() - started
    summary = make_summary(cfg, run.step, last_stats, history, status=status, message=message, wall=wall)
    rundir.finish(out, summary, samples, run.dataset, history.records)
    return summary


def make_summary(cfg: TrainConfig, step: int, stats: ModeStats, history: History, *, status: str, message: str,
                 wall: float) -> dict[str, Any]:
    """The run summary (``summary.json``, ``--json``) from the final evaluation."""
    summary = {
        "status": status,
        "modes": stats.modes,
        "num_modes": stats.num_modes,
        "hq_fraction": stats.hq_fraction,
        "reverse_kl": stats.reverse_kl,
        "collapsed": stats.modes <= stats.num_modes // 2,
        **history.summary_fields(),
        "counts": list(stats.counts),
        "steps": step,
        "wall_seconds": wall,
        "data": cfg.data,
        "loss": cfg.loss,
        "techniques": [t.name for t in cfg.techniques],
        "seed": cfg.seed,
    }
    if message:
        summary["message"] = message
    return summary
