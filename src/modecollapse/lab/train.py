"""The training loop: steps, evaluation schedule, checkpoints, resume, logging.

:func:`train` is the only training loop, for one process and for a torchrun process group
alike: what differs between them is a small strategy (``strategy.py``; ``distributed.py``
for DDP). The loop knows the models only as ``G(z) -> x`` and ``D(x) -> logits``, the loss
only as a pair of callables (``losses.py``), techniques only through the hooks of
``techniques/base.py`` and what it measures only through the evaluators of
``evaluators.py``. Anything technique- or metric-specific lives there, not in here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import threading
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import Benchmark, dataset_params
from ..errors import ConfigError, TrainingDiverged
from ..models import ARCHS, resolve_arch
from ..registry import params_from_dict
from ..techniques import TECHNIQUES, DBatch, GBatch, HookTable, Technique, TechniqueContext, library_order
from . import rundir
from .config import TechniqueSpec, TrainConfig
from .evaluators import ALWAYS, EVALUATORS, EvalContext, Evaluator, RollBack, StopTraining
from .losses import LOSSES, AdversarialLoss
from .strategy import SingleProcess, Strategy


@dataclass
class Run:
    """Everything one training run holds. Techniques never receive it: every hook gets ``ctx``
    (``run.ctx``), a :class:`~modecollapse.techniques.TechniqueContext` that exposes only the
    members ``techniques/base.py`` lists."""

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
    evaluators: list[Evaluator] = field(default_factory=list)
    # learning rates relative to the configured ones (an evaluator's rollback lowers it)
    lr_scale: float = 1.0
    ctx: TechniqueContext | None = None
    # techniques an evaluator's rollback switched on mid-run (a cure); kept in checkpoints
    switched_on: list[TechniqueSpec] = field(default_factory=list)

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
            x = hook(self.ctx, n)
            if x is not None:
                return x.to(self.device)
        return self.dataset.sample(n, self.data_gen).to(self.device)

    @property
    def progress(self) -> float:
        """Fraction of training done, 0..1, for annealing schedules."""
        return self.step / max(self.cfg.steps, 1)

    @property
    def base_learning_rates(self) -> tuple[float, float]:
        return self.cfg.lr_g * self.lr_scale, self.cfg.lr_d * self.lr_scale


# -- building ------------------------------------------------------------------------------------
def resolve(cfg: TrainConfig) -> tuple[TrainConfig, Benchmark, AdversarialLoss, list[Technique]]:
    """Validates ``cfg`` and resolves every default: returns the config to save in
    ``config.json`` together with the dataset, the loss and the technique instances (in the
    library's order, which config.json records too: the order the user listed them in
    changes nothing)."""
    cfg = dataclasses.replace(cfg, techniques=list(cfg.techniques), evaluators=list(cfg.evaluators)).validate()
    params = dataset_params(cfg.data, cfg.data_args)
    cfg.data_args = dataclasses.asdict(params)
    dataset = params.build()
    # Defaults that depend on the benchmark, written out so config.json holds the values used.
    cfg.arch = resolve_arch(cfg.arch, dataset)
    cfg.validate()  # again, with the architecture known (--g-norm and --d-maxout shape the mlp only)
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
    techniques = library_order(techniques)
    by_name = {s.name: s for s in resolved_specs}
    cfg.techniques = [by_name[t.name] for t in techniques]
    cfg.evaluators = [TechniqueSpec(e.name, e.params_dict()) for e in resolve_evaluators(cfg)]
    return cfg, dataset, loss, techniques


def resolve_evaluators(cfg: TrainConfig) -> list[Evaluator]:
    """The evaluators of ``cfg`` (those always on added) in the library's order, (order, name)."""
    specs = {s.name: s for s in cfg.evaluators}
    for name in ALWAYS:
        specs.setdefault(name, TechniqueSpec(name, {}))
    evaluators = []
    for spec in specs.values():
        cls = EVALUATORS.get(spec.name)
        evaluators.append(cls(params_from_dict(cls.Params, spec.params, f"evaluator {spec.name!r}")))
    return sorted(evaluators, key=lambda e: (e.order, e.name))


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
    run.ctx = TechniqueContext(run)
    for tech in techniques:
        tech.setup(run.ctx)
    run.ctx.end_setup()
    betas = (cfg.beta1, cfg.beta2)
    run.opt_g = torch.optim.Adam(list(run.G.parameters()) + run.extra_g_params, lr=cfg.lr_g, betas=betas)
    run.opt_d = torch.optim.Adam(list(run.D.parameters()) + run.extra_d_params, lr=cfg.lr_d, betas=betas)
    run.hooks = HookTable.build(techniques)
    run.evaluators = resolve_evaluators(cfg)
    return run


# -- one step ----------------------------------------------------------------------------------
def d_step(run: Run) -> torch.Tensor:
    hooks, n = run.hooks, run.cfg.batch_size
    real = run.sample_real(n)
    with torch.no_grad():
        fake = run.G(run.sample_z(n))
    for hook in hooks["d_inputs"]:
        real, fake = hook(run.ctx, real, fake)
    d_real, d_fake = run.D(real), run.D(fake)
    real_t, fake_t = 1.0, 0.0
    for hook in hooks["d_targets"]:
        # one target per verdict: fewer than n when D judges several samples at once (packing)
        real_t, fake_t = hook(run.ctx, real_t, fake_t, d_real.shape[0])
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
        judged = hook(run.ctx, judged)
    critic = run.D
    for hook in hooks["g_critic"]:
        critic = hook(run.ctx, critic, judged)
    d_fake = critic(judged)
    loss = run.g_adv_weight * run.loss.g_loss(d_fake)
    if hooks["g_terms"]:
        loss = _with_terms(run, loss, hooks["g_terms"], GBatch(z, fake, judged, d_fake))
    return _optimise(run, run.opt_g, loss, hooks["after_g_step"])


def _with_terms(run: Run, loss: torch.Tensor, term_hooks: list, batch: DBatch | GBatch) -> torch.Tensor:
    """``loss`` plus every extra term the techniques' ``d_terms`` / ``g_terms`` hooks add."""
    for hook in term_hooks:
        for term in hook(run.ctx, batch).values():
            loss = loss + term
    return loss


def _optimise(run: Run, opt: torch.optim.Optimizer, loss: torch.Tensor, after_hooks: list) -> torch.Tensor:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    for hook in after_hooks:
        hook(run.ctx)
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


def eval_seed(seed: int, step: int) -> int:
    """The seed of the samples an evaluation at ``step`` of a run seeded ``seed`` draws: the
    same samples whether the run went there in one go, resumed or rolled back."""
    return seed * 7919 + step


def eval_samples(run: Run) -> torch.Tensor:
    """The samples of an evaluation of ``run`` at its current step (``cfg.eval_samples`` of them)."""
    return generate(run, run.cfg.eval_samples, seed=eval_seed(run.cfg.seed, run.step))


def evaluate(run: Run, d_loss: float = float("nan"), g_loss: float = float("nan")) -> tuple[dict[str, Any], torch.Tensor]:
    """One evaluation: every evaluator's keys for the step's record, and the samples they saw.

    Evaluators may raise :class:`StopTraining` / :class:`RollBack`; the record made so far is
    attached to the signal (``signal.record``) so the loop can still write it.
    """
    samples = eval_samples(run)
    ctx = EvalContext(step=run.step, total_steps=run.cfg.steps, samples=samples, dataset=run.dataset,
                      d_loss=d_loss, g_loss=g_loss, G=run.G, D=run.D, seed=run.cfg.seed,
                      generate=lambda n, seed: generate(run, n, seed))
    record: dict[str, Any] = {}
    was_training = run.D.training
    run.D.eval()
    try:
        for ev in run.evaluators:
            try:
                record.update(ev.evaluate(ctx))
            except (StopTraining, RollBack) as sig:
                record.update(sig.record_keys)  # the raising evaluator's own keys
                sig.record = record
                raise
    finally:
        run.D.train(was_training)
    return record, samples


def switch_on(run: Run, specs: typing.Iterable[TechniqueSpec]) -> None:
    """Switches techniques on in a running run (a rollback's cure): each is built, checked and
    set up against the run as it is, and its hooks join the others in the library's order.
    Only some qualify (:meth:`~modecollapse.techniques.Technique.check_switchable`)."""
    for spec in specs:
        if any(t.name == spec.name for t in run.techniques):
            continue
        cls = TECHNIQUES.get(spec.name)
        cls.check_switchable("the cure")
        tech = cls(params_from_dict(cls.Params, spec.params, f"technique {spec.name!r}"))
        tech.check(run.cfg, run.loss)
        run.techniques = library_order(run.techniques + [tech])
        run.hooks = HookTable.build(run.techniques)
        run.switched_on.append(TechniqueSpec(spec.name, tech.params_dict()))


# -- checkpoints -----------------------------------------------------------------------------
def checkpoint_state(run: Run) -> dict[str, Any]:
    """The state shared by every process (call it on the unwrapped modules)."""
    return {
        "step": run.step,
        "G": run.G.state_dict(),
        "D": run.D.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "extra_d": [p.detach().clone() for p in run.extra_d_params],
        "extra_g": [p.detach().clone() for p in run.extra_g_params],
        "g_adv_weight": run.g_adv_weight,
        "lr_scale": run.lr_scale,
        "switched_on": [dataclasses.asdict(t) for t in run.switched_on],
        "evaluators": {e.name: e.state_dict() for e in run.evaluators},
        **rank_state(run),
    }


def rank_state(run: Run) -> dict[str, Any]:
    """What each process holds on its own: its random streams and its techniques' state."""
    return {
        "data_gen": run.data_gen.get_state(),
        "noise_gen": run.noise_gen.get_state(),
        "techniques": {t.name: t.state_dict() for t in run.techniques},
    }


def load_checkpoint_state(run: Run, state: dict[str, Any], rank: int = 0, *, evaluators: bool = True) -> None:
    """Restores ``run`` (unwrapped modules) from ``state``; ``rank`` > 0 takes that process's
    own streams and technique state from ``state["other_ranks"]``."""
    run.step = int(state["step"])
    run.G.load_state_dict(state["G"])
    run.D.load_state_dict(state["D"])
    run.opt_g.load_state_dict(state["opt_g"])
    run.opt_d.load_state_dict(state["opt_d"])
    with torch.no_grad():
        for p, v in zip(run.extra_d_params, state["extra_d"]):
            p.copy_(v)
        for p, v in zip(run.extra_g_params, state["extra_g"]):
            p.copy_(v)
    run.g_adv_weight = float(state["g_adv_weight"])
    run.lr_scale = float(state.get("lr_scale", 1.0))
    switch_on(run, [TechniqueSpec(t["name"], dict(t["params"])) for t in state.get("switched_on", [])])
    local = state if rank == 0 else state["other_ranks"][rank - 1]
    run.data_gen.set_state(local["data_gen"])
    run.noise_gen.set_state(local["noise_gen"])
    for t in run.techniques:
        t.load_state_dict(local["techniques"].get(t.name, {}))
    if evaluators:
        for e in run.evaluators:
            e.load_state_dict(state.get("evaluators", {}).get(e.name, {}))


def set_threads(threads: int | str | None, cfg: TrainConfig) -> None:
    if threads == "auto":
        threads = 1 if cfg.arch == "mlp" else None
    if threads is not None:
        torch.set_num_threads(int(threads))


class StopRequest:
    """Ctrl-C (and, under torchrun, the SIGTERM/SIGINT its agent forwards) asks the loop to
    stop at the end of the current step instead of raising mid-step; the loop then saves a
    checkpoint there, so ``--resume`` continues exactly. On one process a second Ctrl-C
    raises ``KeyboardInterrupt`` at once (the loop still writes the summary)."""

    def __init__(self, signals: tuple[int, ...], *, repeat_raises: bool) -> None:
        self.signals, self.repeat_raises = signals, repeat_raises
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and self.repeat_raises:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # a process told to ignore it keeps ignoring it
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


# -- the whole run -------------------------------------------------------------------------------
def train(
    cfg: TrainConfig,
    out: Path | str,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
    threads: int | str | None = None,
    strategy: Strategy | None = None,
) -> dict[str, Any] | None:
    """Trains a GAN as ``cfg`` says, writing the run directory ``out``; returns the summary
    (on the writing process; ``None`` on the others under torchrun).

    ``threads``: CPU threads for torch; ``"auto"`` is 1 for the MLP benchmarks (small
    matrices gain nothing from more, and slow down many times over when other jobs share
    the cores) and torch's default otherwise; ``None`` leaves the setting alone. Results do
    not depend on it.

    ``resume=True`` continues the run in ``out`` from its checkpoint (``cfg.steps`` may be
    larger than the original to extend it). ``stop_after`` stops after that many steps in
    total, as Ctrl-C would, leaving a checkpoint at that step to resume from.
    ``strategy``: how processes share the work (``distributed.DDPStrategy`` under torchrun);
    one process by default. ``cfg.batch_size`` is the global batch.

    The writing process holds the run directory's lock (``rundir.lock``, :class:`~modecollapse.fileio.DirLock`) from before it
    reads or writes any file of the run until it returns, however it returns; a second
    writer gets :class:`~modecollapse.fileio.Locked`. A resumed run whose checkpoint is its
    last step (killed before ``summary.json``) is completed without training: its final
    evaluation, samples and summary are what the unbroken run would have written.
    """
    with contextlib.ExitStack() as held:
        return _train(cfg, Path(out), resume=resume, overwrite=overwrite, progress=progress, stop_after=stop_after,
                      threads=threads, strategy=strategy, held=held)


def _train(cfg: TrainConfig, out: Path, *, resume: bool, overwrite: bool, progress: bool, stop_after: int | None,
           threads: int | str | None, strategy: Strategy | None, held: contextlib.ExitStack) -> dict[str, Any] | None:
    """:func:`train`'s body; ``held`` keeps the run directory's lock until it returns."""
    session = _start(cfg, out, resume=resume, overwrite=overwrite, threads=threads,
                     strategy=strategy or SingleProcess(), held=held)
    run, strategy = session.run, session.strategy
    end = session.cfg.steps if stop_after is None else min(session.cfg.steps, stop_after)
    if session.completing:
        end = run.step
    suffix = f" x{strategy.world_size}" if strategy.world_size > 1 else ""
    session.bar = tqdm(total=session.cfg.steps, initial=run.step, disable=not (progress and strategy.is_writer),
                       desc=f"{session.cfg.data}/{session.cfg.loss}{suffix}", unit="step", dynamic_ncols=True,
                       leave=False)
    if not session.resumed:
        session.save_checkpoint()  # step 0: a resume or a rollback before the first periodic checkpoint starts here
    stop = StopRequest(strategy.signals(), repeat_raises=strategy.world_size == 1)
    try:
        with stop:
            while run.step < end and _step(session, stop, end):
                pass
    except TrainingDiverged as err:
        session.status, session.message = "diverged", str(err)
    except KeyboardInterrupt:
        session.status, session.message = "interrupted", f"interrupted at step {run.step}; continue with --resume {out}"
    finally:
        session.bar.close()

    if session.status == "ok" and run.step < session.cfg.steps:
        session.status = "interrupted"
        session.message = f"stopped at step {run.step} of {session.cfg.steps}; continue with --resume {out}"
    extra = strategy.describe(run)
    if not strategy.is_writer:
        return None
    final, samples = _final_evaluation(session)
    summary = make_summary(session.cfg, run, session.records, final, status=session.status, message=session.message,
                           wall=session.wall())
    if session.rollbacks:
        summary["rollbacks"] = session.rollbacks
    summary.update(extra)
    rundir.finish(out, summary, samples, run.dataset, session.records)
    return summary


@dataclass
class _Session:
    """One call of :func:`train`: the run, where it is written and what the loop did so far."""

    run: Run
    cfg: TrainConfig  # as config.json holds it (the global batch)
    out: Path
    strategy: Strategy
    resumed: bool  # continuing from a checkpoint (else a step-0 checkpoint is written first)
    completing: bool  # a resumed run with nothing left to train: its final evaluation and summary only
    stopped: Any  # the stop a resumed run's checkpoint records, a dict (an evaluator's, before a kill) or None
    records: list[dict[str, Any]]  # metrics.jsonl as the loop holds it (the writing process)
    elapsed_before: float  # wall seconds of the run before this call (a resume's)
    started: float = field(default_factory=time.perf_counter)
    status: str = "ok"
    message: str = ""
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    last: tuple[dict[str, Any], torch.Tensor] | None = None  # the latest evaluation's record and samples
    bar: Any = None  # the progress bar

    def wall(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def save_checkpoint(self, stopped: tuple[str, str] | None = None) -> None:
        run, strategy = self.run, self.strategy
        ranks = strategy.gather(rank_state(run))
        if strategy.is_writer:
            with strategy.unwrapped(run):
                state = {**checkpoint_state(run), "other_ranks": ranks[1:], "world_size": strategy.world_size,
                         "wall_seconds": self.wall()}
                if stopped:  # a resume after a kill before summary.json then finishes, not trains on
                    state["stopped"] = {"status": stopped[0], "message": stopped[1]}
            rundir.save_checkpoint(self.out, state)


def _start(cfg: TrainConfig, out: Path, *, resume: bool, overwrite: bool, threads: int | str | None,
           strategy: Strategy, held: contextlib.ExitStack) -> _Session:
    """Set-up: builds the run, takes the run directory (made, or its checkpoint and metrics read
    back on ``resume``), writes config.json and wraps the models for the strategy. A bad
    config or run directory is one :class:`ConfigError`, on every process alike."""
    error = None
    run = None
    try:
        local_batch = strategy.local_batch(cfg.batch_size)
        run = build_run(dataclasses.replace(cfg, batch_size=local_batch))
        if strategy.world_size > 1 and (run.extra_d_params or run.extra_g_params):
            raise ConfigError("a technique here adds parameters outside G and D, which DDP does not average; "
                              "train it without torchrun.")
    except ConfigError as err:
        error = str(err)
    strategy.agree(error)
    saved_cfg = dataclasses.replace(run.cfg, batch_size=cfg.batch_size)  # config.json: the global batch
    set_threads(threads, saved_cfg)
    strategy.seed_streams(run.data_gen, run.noise_gen, saved_cfg.seed)

    records: list[dict[str, Any]] = []
    elapsed_before = 0.0
    completing, stopped = False, None
    error = None
    try:
        if resume and not out.is_dir():
            raise ConfigError(f"there is no run directory {out} to resume; start the run with --out {out}.")
        if strategy.is_writer:
            if not resume:
                rundir.make(out)
            held.enter_context(rundir.lock(out))
        if resume and _nothing_trained(out):
            # killed after config.json, before the step-0 checkpoint: nothing to continue, nothing lost
            if strategy.is_writer:
                sys.stderr.write(f"modecollapse: note: {out} has no checkpoint yet (stopped before step 1); "
                                 "starting it from step 0.\n")
            resume, overwrite = False, True
        if resume:
            state = rundir.load_checkpoint(out)
            world = int(state.get("world_size", 1))
            if world != strategy.world_size:
                raise ConfigError(f"the run in {out} was trained by {world} process(es); resume it with the same "
                                  f"number (it has {strategy.world_size}).")
            _restore(run, state, strategy.rank, out)
            elapsed_before = float(state.get("wall_seconds", 0.0))
            summary_ok = _summary_of(out, run.step)
            if run.step > saved_cfg.steps or (run.step == saved_cfg.steps and summary_ok):
                raise ConfigError(f"the run in {out} already has {run.step} steps; pass --steps larger than that to extend it.")
            stopped = state.get("stopped") if not summary_ok else None
            # the last step's checkpoint (or a stop's) without its summary: finish the run, train nothing
            completing = run.step == saved_cfg.steps or isinstance(stopped, dict)
            if strategy.is_writer:
                records = rundir.rewind_metrics(out, upto=run.step)
        if not resume and strategy.is_writer:
            rundir.prepare(out, overwrite=overwrite)
        if strategy.is_writer:
            saved_cfg.save(out / "config.json")
    except ConfigError as err:
        error = str(err)
    strategy.agree(error)
    run.G, run.D = strategy.wrap(run.G, run.device), strategy.wrap(run.D, run.device)
    session = _Session(run=run, cfg=saved_cfg, out=out, strategy=strategy, resumed=resume, completing=completing,
                       stopped=stopped, records=records,
                       elapsed_before=elapsed_before)
    if isinstance(stopped, dict):  # an evaluator had stopped the run: the summary says so
        session.status, session.message = str(stopped.get("status", "stopped")), str(stopped.get("message", ""))
    return session


def _step(session: _Session, stop: StopRequest, end: int) -> bool:
    """One step of the loop: train, agree on the losses (and a stop request) across processes,
    evaluate when one is due and act on an evaluator's signal, checkpoint when one is due.
    False when the loop ends at this step."""
    run, cfg, strategy = session.run, session.cfg, session.strategy
    d_loss, g_loss = train_step(run)
    session.bar.update(1)
    reduced = strategy.reduce(torch.stack([d_loss.float().cpu(), g_loss.float().cpu(),
                                           torch.tensor(float(stop.requested))]))
    d_val, g_val, stop_now = (float(v) for v in reduced)
    if not (math.isfinite(d_val) and math.isfinite(g_val)):
        raise TrainingDiverged(f"loss became non-finite at step {run.step} (d_loss={d_val}, g_loss={g_val})")
    at_end = run.step == cfg.steps
    signal_: StopTraining | RollBack | None = None
    if run.step % cfg.eval_every == 0 or at_end:
        signal_ = _evaluate_step(session, d_val, g_val)
    if isinstance(signal_, RollBack):
        if len(session.rollbacks) >= RollBack.max_rollbacks:
            session.status = "rolled-back"
            session.message = f"stopped at step {run.step}: {signal_.reason} (after {len(session.rollbacks)} rollbacks)"
            session.save_checkpoint(stopped=(session.status, session.message))
            return False
        _roll_back(session, signal_)
        return True
    if isinstance(signal_, StopTraining):
        session.status, session.message = signal_.status, signal_.reason
        session.save_checkpoint(stopped=(session.status, session.message))
        return False
    if run.step % cfg.checkpoint_every == 0 or at_end:
        session.save_checkpoint()
    elif stop_now or run.step == end:
        session.save_checkpoint()  # stopping here: the resume continues from this very step
    return not stop_now


def _evaluate_step(session: _Session, d_val: float, g_val: float) -> StopTraining | RollBack | None:
    """The evaluation of this step, on the writing process: its record appended to
    metrics.jsonl, its samples saved; returns the evaluators' signal, sent to every process."""
    run, strategy = session.run, session.strategy
    signal_: StopTraining | RollBack | None = None
    if strategy.is_writer:
        with strategy.unwrapped(run):
            try:
                record, samples = evaluate(run, d_val, g_val)
            except (StopTraining, RollBack) as sig:
                record, samples, signal_ = sig.record, None, sig
        record = {"step": run.step, **record, "d_loss": d_val, "g_loss": g_val, "wall_seconds": session.wall()}
        session.records.append(record)
        rundir.append_metrics(session.out, record)
        if samples is not None:
            session.last = (record, samples)
            rundir.save_eval_samples(session.out, run.step, samples, run.dataset)
        session.bar.set_postfix_str(", ".join(filter(None, (e.progress(record) for e in run.evaluators))))
    return strategy.broadcast(signal_)


def _roll_back(session: _Session, sig: RollBack) -> None:
    """An evaluator's :class:`RollBack`: the run goes back to its last checkpoint, its learning
    rates times ``sig.lr_scale`` and ``sig.switch_on`` switched on; later records are dropped."""
    run, strategy = session.run, session.strategy
    at = run.step
    with strategy.unwrapped(run):
        load_checkpoint_state(run, rundir.load_checkpoint(session.out), strategy.rank, evaluators=False)
        run.lr_scale *= sig.lr_scale  # the base a schedule (lr-decay) scales from
        for opt in (run.opt_g, run.opt_d):  # the restored rates, schedule included
            for group in opt.param_groups:
                group["lr"] *= sig.lr_scale
        switch_on(run, sig.switch_on)  # a cure, from here on
    session.rollbacks.append({"at_step": at, "to_step": run.step, "reason": sig.reason, "lr_scale": run.lr_scale})
    if run.switched_on:
        session.rollbacks[-1]["switched_on"] = [dataclasses.asdict(t) for t in run.switched_on]
    if strategy.is_writer:
        session.records[:] = rundir.rewind_metrics(session.out, upto=run.step)
    for e in run.evaluators:
        e.on_rollback(run.step)
    session.bar.reset(total=session.cfg.steps)
    session.bar.update(run.step)


def _final_evaluation(session: _Session) -> tuple[dict[str, Any], torch.Tensor]:
    """The record and samples of the run's last step for summary.json and samples.npy: the
    loop's own last evaluation when it was made at this step, else a fresh one (an evaluator's
    signal changes nothing now: the run is over)."""
    run = session.run
    with session.strategy.unwrapped(run):
        if session.completing and not session.stopped and session.records and session.records[-1]["step"] == run.step:
            # the final evaluation was made before the kill: its record, and the samples it saw
            session.last = (session.records[-1], eval_samples(run))
        if session.last is not None and session.last[0]["step"] == run.step:
            return session.last
        try:
            return evaluate(run)
        except (StopTraining, RollBack) as sig:
            return sig.record, eval_samples(run)


def _nothing_trained(out: Path) -> bool:
    """Whether ``out`` holds a run's config.json and nothing trained yet (no checkpoint, no
    evaluation, no summary): a run killed before its step-0 checkpoint."""
    if (out / "checkpoint.pt").exists() or (out / "summary.json").exists() or not (out / "config.json").is_file():
        return False
    try:
        return not rundir.read_metrics(out, notice=False)
    except ConfigError:
        return False


def _summary_of(out: Path, step: int) -> bool:
    """Whether ``out/summary.json`` is a valid summary of the run at ``step`` (else a resume rewrites it)."""
    try:
        summary = rundir.read_summary(out)
    except ConfigError:
        return False
    return summary is not None and summary.get("steps") == step


def _restore(run: Run, state: dict[str, Any], rank: int, out: Path) -> None:
    """:func:`load_checkpoint_state`, a checkpoint that does not fit the run being one sentence."""
    try:
        load_checkpoint_state(run, state, rank)
    except ConfigError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise ConfigError(f"checkpoint {out / 'checkpoint.pt'} does not fit the run in {out} ({reason}); "
                          "delete the run directory to start afresh.") from None


def make_summary(cfg: TrainConfig, run: Run, records: list[dict[str, Any]], final: dict[str, Any], *, status: str,
                 message: str, wall: float) -> dict[str, Any]:
    """The run summary (``summary.json``, ``--json``): each evaluator's keys from the final
    evaluation and the records, then the run's own."""
    summary: dict[str, Any] = {"status": status}
    for ev in run.evaluators:
        summary.update(ev.summarize(records, final))
    summary.update({
        "steps": run.step,
        "wall_seconds": wall,
        "data": cfg.data,
        "loss": cfg.loss,
        "techniques": [t.name for t in cfg.techniques],
        "seed": cfg.seed,
    })
    if message:
        summary["message"] = message
    return summary
