"""CollapseMonitor: says during training that a generator is collapsing, when it began and why.

Works in any PyTorch loop: build it from real data once, call :meth:`CollapseMonitor.update`
with the generator's samples (every step or only at checks; it checks every
``check_every`` steps), read ``report.verdict`` and ``report.reason``. No known modes and
no per-dataset threshold are needed: every signal is a ratio to what held-out real data
of the same size scores (:mod:`.reference`), and the verdict is read off two of them,
recall and the effective number of label-free modes (:mod:`.signals`), combined as
their geometric mean, the *collapse score* (1 = like real data, 0 = nothing covered).

Verdicts: ``warming-up`` (the first ``warmup_checks`` checks), ``healthy``, ``collapsing``
(score below ``collapsing_below``), ``collapsed`` (below ``collapsed_below`` for
``patience`` checks in a row), ``diverged`` (non-finite samples or losses, or almost no
sample near the data for ``patience`` checks). ``onset_step`` is the step of the first check
of the current run of bad checks.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import torch

from ..errors import ConfigError
from .reference import Reference
from .report import ALARMS, VERDICTS, MonitorReport
from .signals import CheckSignals, calibrate, latent_information, loss_dynamics, overlap

STATE_VERSION = 1


@dataclass(frozen=True)
class MonitorSettings:
    """The monitor's knobs; the defaults are the ones measured in ``benchmarks/monitor_accuracy.py``.

    None of them is in the data's units: thresholds apply to ratios against held-out real data.
    """

    check_every: int = 100  # steps between checks
    batch_size: int = 512  # fake samples scored per check (the most recent ones)
    min_samples: int = 128  # a single call with this many samples checks without waiting for batch_size
    reference_size: int = 2048  # real samples that define the manifold and its clusters
    k: int = 5  # nearest neighbours of the k-NN balls (Naeem et al. 2020 use 5)
    clusters: int = 16  # label-free modes: k-means clusters of the reference (16 measured best, see docs)
    warmup_checks: int = 4  # checks spent warming up (a young generator is a blob that looks collapsed)
    warmup_steps: int = 0  # ... and steps (for loops whose checks are far apart)
    # optional longer warm-up: until the samples reach the data (precision >= reach_precision
    # of real's), at most max_warmup_checks; off by default (measured: imprecise but healthy
    # GANs stay below any useful precision for thousands of steps)
    reach_precision: float = 0.0
    max_warmup_checks: int = 10
    patience: int = 2  # consecutive bad checks before "collapsed" / off-data "diverged"
    collapsing_below: float = 0.7  # collapse score below which a check is bad
    collapsed_below: float = 0.5
    diverged_near: float = 0.1  # share of samples near the data, relative to real, below which they left it
    hop_overlap: float = 0.3  # histogram overlap between checks below which the generator moved
    history: int = 64  # checks kept (bounded memory)
    seed: int = 0

    def validate(self) -> "MonitorSettings":
        for name in ("check_every", "batch_size", "min_samples", "reference_size", "k", "clusters", "patience", "history"):
            if not getattr(self, name) >= 1:
                raise ConfigError(f"CollapseMonitor {name} must be a positive integer, got {getattr(self, name)}.")
        if self.warmup_checks < 0 or self.warmup_steps < 0:
            raise ConfigError("CollapseMonitor warmup_checks and warmup_steps must be >= 0, got "
                              f"{self.warmup_checks} and {self.warmup_steps}.")
        if not 0 < self.collapsed_below <= self.collapsing_below:
            raise ConfigError("CollapseMonitor needs 0 < collapsed_below <= collapsing_below "
                              f"(got {self.collapsed_below} and {self.collapsing_below}).")
        return self


class _NearestMode:
    """Known mode centres (K, d) in sample space: label = nearest centre."""

    def __init__(self, centres: torch.Tensor) -> None:
        self.centres = centres.detach().float().reshape(len(centres), -1).cpu()
        self.bins = len(self.centres)

    def __call__(self, raw: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        from ..metrics.kmeans import nearest_centre

        return nearest_centre(raw.reshape(len(raw), -1).float(), self.centres)[0]


class _Classifier:
    """A user's mode classifier: raw samples -> labels (n,) or logits (n, K)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], bins: int) -> None:
        self.fn, self.bins = fn, bins

    @torch.no_grad()
    def __call__(self, raw: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        out = self.fn(raw)
        return out.argmax(1) if out.ndim == 2 else out


class CollapseMonitor:
    """Watches a generator for mode collapse; see the module docstring.

    ``real``: real samples (n, ...) (n >= 256 recommended; 2,560 or more gives the default
    reference of 2,048 and a held-out set of 512). ``features``: optional callable or
    ``nn.Module`` mapping samples to feature rows (b, d), applied to real and fake alike
    (e.g. the MNIST classifier's features for images); without it samples are flattened.
    ``modes``: optional known mode centres (K, ...) in sample space; ``mode_classifier``
    with ``num_modes``: optional callable mapping samples to mode labels or logits. Either
    replaces the k-means clusters as the mode histogram; neither is needed.
    ``log``: a JSONL path, one line per check. ``tensorboard``: a log directory or a
    ``SummaryWriter`` (extra ``tensorboard``). ``on_change(previous, report)``: called when
    the verdict changes. ``stop_on``: verdicts after which :attr:`should_stop` is true.
    """

    def __init__(
        self,
        real: torch.Tensor,
        *,
        features: Callable[[torch.Tensor], torch.Tensor] | None = None,
        modes: torch.Tensor | None = None,
        mode_classifier: Callable[[torch.Tensor], torch.Tensor] | None = None,
        num_modes: int | None = None,
        settings: MonitorSettings | None = None,
        check_every: int | None = None,
        log: Any = None,
        tensorboard: Any = None,
        on_change: Callable[[str, MonitorReport], None] | None = None,
        stop_on: Sequence[str] = (),
    ) -> None:
        settings = settings or MonitorSettings()
        if check_every is not None:
            settings = MonitorSettings(**{**asdict(settings), "check_every": check_every})
        self.settings = settings.validate()
        if not isinstance(real, torch.Tensor) or real.ndim < 2:
            raise ConfigError("CollapseMonitor(real=...) needs a tensor of real samples shaped (n, ...).")
        bad = [v for v in stop_on if v not in VERDICTS]
        if bad:
            raise ConfigError(f"stop_on has unknown verdict {bad[0]!r}; choose from: {', '.join(VERDICTS)}.")
        if modes is not None and mode_classifier is not None:
            raise ConfigError("give CollapseMonitor either known mode centres (modes=) or a mode_classifier, not both.")
        labeller = None
        if modes is not None:
            labeller = _NearestMode(modes)
        elif mode_classifier is not None:
            if not isinstance(num_modes, int) or num_modes < 1:
                raise ConfigError("mode_classifier needs num_modes=K, the number of modes it can return.")
            labeller = _Classifier(mode_classifier, num_modes)
        self.features = features
        raw = real.detach().float().cpu()
        self._sample_shape = tuple(raw.shape[1:])
        if not torch.isfinite(raw).all():
            raise ConfigError("the real data given to CollapseMonitor has NaN or infinite values; clean it first.")
        feats = self._featurise(raw)
        s = self.settings
        self.reference = Reference(feats, reference_size=s.reference_size, batch_size=s.batch_size, k=s.k,
                                   clusters=s.clusters, labeller=labeller, raw=raw, seed=s.seed)
        self.known_modes = labeller is not None
        self._fingerprint = {"dim": int(feats.shape[1]), "n_real": len(raw), "bins": self.reference.bins,
                             "seed": s.seed, "known_modes": self.known_modes}
        self.stop_on = tuple(stop_on)
        self.on_change = on_change
        self._sinks: list[Any] = []
        if log is not None:
            from .adapters import JsonlSink

            self._sinks.append(JsonlSink(log))
        if tensorboard is not None:
            from .adapters import TensorBoardSink

            self._sinks.append(TensorBoardSink(tensorboard))
        self._reset_state()

    # -- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        s = self.settings
        self._buffer: list[torch.Tensor] = []
        self._buffered = 0
        self._next_due: int | None = None
        self.checks = 0
        self.history: deque[dict[str, Any]] = deque(maxlen=s.history)
        self._bad_streak = 0  # consecutive checks with score < collapsing_below
        self._severe_streak = 0
        self._off_streak = 0
        self._onset: int | None = None
        self._warming = True
        self._start_step = 0  # warm-up steps count from here (0, or a restart's step)
        self._prev_hist: tuple[float, ...] | None = None
        self._hops: deque[bool] = deque(maxlen=4)
        self._d_first: float | None = None
        self._g_first: float | None = None
        self._d_recent: deque[float] = deque(maxlen=50)
        self._g_recent: deque[float] = deque(maxlen=50)
        self.report: MonitorReport | None = None
        self.total_seconds = 0.0

    def restart(self, step: int) -> None:
        """Forgets every check and warms up again from ``step`` (after the loop rolled back to
        ``step`` and changed the training, e.g. switched a cure on)."""
        self._reset_state()
        self._start_step = int(step)

    @property
    def verdict(self) -> str:
        """The latest verdict (``warming-up`` before the first check)."""
        return self.report.verdict if self.report is not None else "warming-up"

    @property
    def should_stop(self) -> bool:
        """True once the latest verdict is one of ``stop_on`` (early stopping)."""
        return self.verdict in self.stop_on

    def due(self, step: int) -> bool:
        """Whether :meth:`update` at ``step`` runs a check (lets a loop skip generating samples)."""
        return self._next_due is None or step >= self._next_due

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after a resume (JSON-able; the real data is not included)."""
        return {
            "version": STATE_VERSION,
            "fingerprint": dict(self._fingerprint),
            "settings": asdict(self.settings),
            "next_due": self._next_due,
            "checks": self.checks,
            "history": list(self.history),
            "bad_streak": self._bad_streak,
            "severe_streak": self._severe_streak,
            "off_streak": self._off_streak,
            "onset": self._onset,
            "warming": self._warming,
            "start_step": self._start_step,
            "prev_hist": list(self._prev_hist) if self._prev_hist is not None else None,
            "hops": list(self._hops),
            "d_first": self._d_first,
            "g_first": self._g_first,
            "d_recent": list(self._d_recent),
            "g_recent": list(self._g_recent),
            "report": self.report.as_dict() if self.report is not None else None,
            "total_seconds": self.total_seconds,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ConfigError(f"monitor state has version {state.get('version')!r}; this monitor reads version {STATE_VERSION}.")
        if dict(state["fingerprint"]) != self._fingerprint:
            raise ConfigError("the monitor state was saved by a monitor built from other real data or settings "
                              f"({state['fingerprint']} vs {self._fingerprint}); build it the same way to resume.")
        self._reset_state()
        self._next_due = state["next_due"]
        self.checks = int(state["checks"])
        self.history.extend(dict(r) for r in state["history"])
        self._bad_streak, self._severe_streak = int(state["bad_streak"]), int(state["severe_streak"])
        self._off_streak, self._onset = int(state["off_streak"]), state["onset"]
        self._warming = bool(state["warming"])
        self._start_step = int(state["start_step"])
        self._prev_hist = tuple(state["prev_hist"]) if state["prev_hist"] is not None else None
        self._hops.extend(bool(h) for h in state["hops"])
        self._d_first, self._g_first = state["d_first"], state["g_first"]
        self._d_recent.extend(state["d_recent"])
        self._g_recent.extend(state["g_recent"])
        r = state["report"]
        if r is not None:
            core = {"step", "verdict", "reason", "onset_step", "check", "seconds"}
            self.report = MonitorReport(r["step"], r["verdict"], r["reason"], r["onset_step"], r["check"],
                                        MappingProxyType({k: v for k, v in r.items() if k not in core}), r["seconds"])
        self.total_seconds = float(state["total_seconds"])

    # -- input ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _featurise(self, x: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            return x.reshape(len(x), -1).float()
        out = [self.features(x[a:a + 1024]).detach().float().cpu() for a in range(0, len(x), 1024)]
        f = torch.cat(out)
        return f.reshape(len(f), -1)

    def _push(self, fake: torch.Tensor) -> None:
        cap = self.settings.batch_size
        x = fake.detach().float().cpu()
        if len(x) >= cap:
            self._buffer, self._buffered = [x[:cap]], cap
            return
        self._buffer.append(x)
        self._buffered += len(x)
        while self._buffered - len(self._buffer[0]) >= cap:  # drop the oldest batches beyond the cap
            self._buffered -= len(self._buffer.pop(0))

    def _losses(self, d_loss: Any, g_loss: Any) -> str | None:
        """Records the losses; returns a description when one is not finite."""
        for name, value, recent in (("d_loss", d_loss, self._d_recent), ("g_loss", g_loss, self._g_recent)):
            if value is None:
                continue
            v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            if not math.isfinite(v):
                return f"{name}={v}"
            recent.append(v)
        return None

    # -- the check ----------------------------------------------------------------------------
    def update(
        self,
        step: int,
        *,
        fake: torch.Tensor | Callable[[], torch.Tensor],
        latent: torch.Tensor | None = None,
        d_loss: Any = None,
        g_loss: Any = None,
    ) -> MonitorReport:
        """Feeds the generator's samples at ``step``; runs a check when one is due.

        ``fake``: samples (b, ...) or a zero-argument callable returning them, called only
        when a check is due. A check runs at the first call at or after the due step once
        ``batch_size`` samples have come in since the last check (in one call or several),
        or at once when this call brings at least ``min_samples``; the most recent ``batch_size`` are scored
        (rows beyond that in one call are dropped from the end). ``latent`` (b, d_z): the latents of
        ``fake``, for the mutual-information signal. Returns the latest report (the previous
        one when no check ran).
        """
        t0 = time.perf_counter()
        bad_loss = self._losses(d_loss, g_loss)
        due = self.due(step)
        if bad_loss is not None:
            return self._emit(self._diverged(step, f"{bad_loss} at step {step}"), t0)
        if callable(fake) and not isinstance(fake, torch.Tensor):
            if not due:
                return self._latest(step)
            fake = fake()
        if not isinstance(fake, torch.Tensor) or fake.ndim < 2:
            raise ConfigError("CollapseMonitor.update(fake=...) needs a tensor of samples shaped (b, ...).")
        if tuple(fake.shape[1:]) != self._sample_shape:
            raise ConfigError(f"fake samples are shaped {tuple(fake.shape[1:])} per row but the real data "
                              f"{self._sample_shape}; pass samples shaped like the real ones.")
        if not torch.isfinite(fake).all():
            return self._emit(self._diverged(step, f"non-finite generator samples at step {step}"), t0)
        self._push(fake)
        # A check runs once due and batch_size samples have come in since the last one, or
        # at once when this call alone brought at least min_samples (one batch per check).
        full = self._buffered >= self.settings.batch_size or len(fake) >= self.settings.min_samples
        if not due or not full:
            return self._latest(step)
        raw = torch.cat(self._buffer)
        self._buffer, self._buffered = [], 0
        feats = self._featurise(raw)
        if not torch.isfinite(feats).all():
            return self._emit(self._diverged(step, f"non-finite features of the generator samples at step {step}"), t0)
        sig = calibrate(self.reference.score(feats, raw), self.reference)
        mi = None
        if latent is not None and len(latent) == len(fake) and len(fake) == len(raw):
            mi = latent_information(latent.detach().float().cpu(), feats)
        return self._emit(self._judge(step, sig, mi), t0)

    def _latest(self, step: int) -> MonitorReport:
        if self.report is None:
            return MonitorReport(step, "warming-up", "warming up: no check has run yet", None, 0)
        return self.report

    def _diverged(self, step: int, what: str) -> MonitorReport:
        self.checks += 1
        self._next_due = step + self.settings.check_every
        onset = self._onset if self._onset is not None else step
        self._onset = onset
        self.history.append({"step": step, "verdict": "diverged"})
        reason = (f"{what}: training diverged; roll back to a checkpoint from before step {onset} and lower the "
                  "learning rate or add a gradient penalty")
        return MonitorReport(step, "diverged", reason, onset, self.checks, MappingProxyType({"finite": 0}))

    def _judge(self, step: int, sig: CheckSignals, mi: float | None) -> MonitorReport:
        s = self.settings
        self.checks += 1
        self._next_due = step + s.check_every
        if self._d_first is None and self._d_recent:
            self._d_first = self._d_recent[-1]
        if self._g_first is None and self._g_recent:
            self._g_first = self._g_recent[-1]
        ov = overlap(sig.histogram, self._prev_hist) if self._prev_hist is not None and sum(sig.histogram) > 0 else None
        if sum(sig.histogram) > 0:
            self._prev_hist = sig.histogram
        # Warming up: the first warmup_checks checks, and after them, until the samples first
        # reach the data (precision >= reach_precision of real), at most max_warmup_checks. A young generator is a blob off the data, which every
        # signal would call a collapse; once its samples land on the data, few modes is one.
        if self._warming and self.checks > s.warmup_checks and step >= self._start_step + s.warmup_steps and (
                sig.precision_rel >= s.reach_precision or self.checks > s.max_warmup_checks):
            self._warming = False
        warming = self._warming
        off = sig.near_rel < s.diverged_near and not warming
        bad = (sig.score < s.collapsing_below or off) and not warming
        self._off_streak = self._off_streak + 1 if off else 0
        self._severe_streak = self._severe_streak + 1 if (bad and sig.score < s.collapsed_below and not off) else 0
        self._bad_streak = self._bad_streak + 1 if bad else 0
        if bad and self._onset is None:
            self._onset = step
        if not bad:
            self._onset = None
        self._hops.append(ov is not None and ov < s.hop_overlap and bad)
        best = max((r["recall_rel"] for r in self.history
                    if r.get("recall_rel") is not None and r.get("verdict") != "warming-up"), default=None)
        dyn = loss_dynamics(self._d_first, self._g_first, list(self._d_recent)[-10:], list(self._g_recent)[-20:])
        numbers = {**sig.as_dict(), "overlap": ov, "mutual_info": mi, "d_loss": dyn.d_loss, "g_loss": dyn.g_loss,
                   "d_winning": int(dyn.d_winning), "g_oscillation": dyn.oscillation, "known_modes": int(self.known_modes)}
        self.history.append({"step": step, **{k: v for k, v in numbers.items()}})
        what = "modes" if self.known_modes else "clusters"
        hopping = sum(self._hops) >= 2 and bad
        off_note = (f"; most samples are still off the data (precision {sig.precision:.2f})"
                    if sig.precision_rel < 0.25 else "")
        d_note = off_note + (f"; the discriminator is winning outright (d_loss {dyn.d_loss:.3g}, g_loss {dyn.g_loss:.3g})"
                  if dyn.d_winning else "")
        since = f"since step {self._onset}" if self._onset is not None else ""
        if warming:
            verdict = "warming-up"
            until = [f"{s.warmup_checks} checks"] if s.warmup_checks else []
            until += [f"step {self._start_step + s.warmup_steps}"] if s.warmup_steps else []
            until += ["the samples reach the data"] if s.reach_precision > 0 else []
            reason = (f"warming up (until {' and '.join(until) or 'the first check'}): recall {sig.recall_rel:.2f}, "
                      f"modes {sig.modes_rel:.2f} of real, precision {sig.precision:.2f}")
        elif self._off_streak >= s.patience:
            verdict = "diverged"
            reason = (f"only {sig.n_near / max(sig.n, 1):.0%} of samples lie near the real data (real: {self.reference.near_base:.0%}) "
                      f"for {self._off_streak} checks {since}: the generator left the data; roll back and lower the learning rate")
        elif hopping:
            verdict = "collapsed" if self._bad_streak >= s.patience else "collapsing"
            reason = (f"mode hopping: the samples moved to other {what} at {sum(self._hops)} of the last {len(self._hops)} "
                      f"checks (overlap {ov if ov is not None else 0.0:.2f}) while each check fills {sig.effective_modes:.1f} of {sig.bins} "
                      f"(real: {self.reference.modes_curve(sig.n_near):.1f}): the generator cycles between modes {since}; "
                      f"add a gradient penalty (R1) or minibatch features{d_note}")
        elif self._severe_streak >= s.patience:
            verdict = "collapsed"
            frm = f"from {best:.2f} " if best is not None and best > sig.recall_rel + 0.05 else ""
            reason = (f"recall fell {frm}to {sig.recall_rel:.2f} of real and the samples fill {sig.effective_modes:.1f} "
                      f"{what} (real: {self.reference.modes_curve(sig.n_near):.1f}) {since}"
                      f"{'' if off_note else f' while {sig.precision:.0%} stay on the data'}: the generator is dropping "
                      f"modes; roll back to before step "
                      f"{self._onset} and add a regulariser (e.g. R1){d_note}")
        elif bad:
            verdict = "collapsing"
            reason = (f"collapse score {sig.score:.2f} (recall {sig.recall_rel:.2f}, modes {sig.modes_rel:.2f} of real) "
                      f"{since}, precision {sig.precision:.2f}: the generator may be dropping modes; watch the next "
                      f"checks{d_note}")
        else:
            verdict = "healthy"
            reason = (f"recall {sig.recall_rel:.2f} and modes {sig.modes_rel:.2f} of real, precision "
                      f"{sig.precision:.2f}: no sign of collapse{d_note}")
        onset = self._onset if verdict in ALARMS else None
        self.history[-1]["verdict"] = verdict
        return MonitorReport(step, verdict, reason, onset, self.checks, MappingProxyType(numbers))

    def _emit(self, report: MonitorReport, t0: float) -> MonitorReport:
        seconds = time.perf_counter() - t0
        report = MonitorReport(report.step, report.verdict, report.reason, report.onset_step, report.check,
                               report.numbers, seconds)
        self.total_seconds += seconds
        previous = self.verdict
        self.report = report
        for sink in self._sinks:
            sink.write(report)
        if self.on_change is not None and report.verdict != previous:
            self.on_change(previous, report)
        return report

    def close(self) -> None:
        """Flushes and closes the log sinks."""
        for sink in self._sinks:
            sink.close()
