"""CollapseMonitor: says during training that a generator is collapsing, how, since when and why.

Works in any PyTorch loop: build it from real data once, call :meth:`CollapseMonitor.update`
with the generator's samples (every step or only at checks), read ``report.verdict``,
``report.kind`` and ``report.reason``. No known modes and no per-dataset threshold are
needed: every signal is a ratio to what held-out real data of the same size scores
(:mod:`.reference`).

Cadence: a check is due every ``check_every`` steps (steps ``check_every``, ``2 *
check_every``, ... counted from 0 or from a :meth:`~CollapseMonitor.restart`); it runs at
the first ``update`` at or after the due step once at least ``min_samples`` samples have
come in since the last check, and scores the most recent ``batch_size`` of them.
:meth:`~CollapseMonitor.due` says whether a check is due; ``report.check`` counts the checks
that ran, so a new value means this call ran one.

What a check reads (:mod:`.signals`), two separate signals, each against real data:

- *modes*: the effective number of the real data's k-means clusters (or known modes) the
  samples fill, over what real data of the same size fills (``modes_rel``); the collapse
  ``score`` is that ratio, raised to sqrt(modes_rel * recall_rel) when k-NN recall is high
  (recall can excuse an uneven histogram, never condemn one). Below ``collapsing_below``:
  kind ``dropped-modes``; ``hopping`` when besides the histogram moved at two of the last
  four checks.
- *closeness within the modes*: the within-batch k-NN distance over real data's with as
  many samples per filled mode (``nn_dist_rel``). Below ``within_below`` while the score
  is at least ``collapsed_below``, or while at least ``within_covered`` of the clusters are
  covered like real and the samples are not a handful of images (``nn_dist_rel`` at least
  ``handful_below``): kind ``within-mode`` (near-duplicates, which fill a histogram
  unevenly, so they take precedence over a mildly low mode ratio).

- *lasting thinning*: the real data's mass the samples fill, relative to real data of the
  same size (``mass_rel``), under ``thin_below`` at each of the last ``thin_checks`` checks
  after the warm-up: kind ``dropped-modes`` (digits thinned out that do not come back; a
  generator still learning passes through such a stretch and leaves it).
- *starved modes* (opt-in, off by default: ``starved_below``): modes that hold under
  ``starved_below`` of their real share at each of the last ``starved_checks`` checks, the
  same modes each time; ``starved_modes`` or more of them: kind ``dropped-modes``.

k-NN precision and coverage are reported but decide nothing, and recall only excuses: all
three are ~0 for every imprecise image generator (issue 19), healthy or not. Samples that left the data
(``near_rel`` below ``diverged_near``) are ``off-data``; non-finite samples or losses
``diverged``.

Verdicts: ``warming-up``, ``healthy``, ``collapsing`` (a bad check), ``collapsed`` (bad for
``patience`` checks in a row), ``diverged`` (off the data for ``patience`` checks, or non-finite). ``onset_step`` is the
first check of the current run of bad checks; ``rollback_step`` the last healthy check.

Warm-up follows the generator, not the clock: a young generator is a blob that every signal
would call collapsed. The first ``warmup_checks`` checks warm up; after them the warm-up
ends at the first check that shows nothing wrong, or once none of the progress signals
(modes and closeness, each relative to real and capped at 1, and while most samples are
still off the data, the share near it and their distance to it; not precision or
coverage, which wander by 15% from check to check on images, and not the approach of a
generator already on the data, which sharpening a few modes also improves) has set a new best by
more than ``warmup_rise`` (relative) for ``warmup_patience`` checks in a row: a generator
that stopped improving while it looks collapsed is collapsed. It never lasts more than
``max_warmup_checks`` checks.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any

import torch

from ..errors import ConfigError
from .base import MonitorBase
from .reference import Reference, covered, unfilled
from .report import ALARMS, KINDS, VERDICTS, MonitorReport, parse_report
from .signals import CheckSignals, calibrate, latent_information, loss_dynamics, overlap

STATE_VERSION = 2
#: a mode is judged starved or not only when the check's samples would put at least this many
#: in it at its real share (fewer: an empty mode is chance, not collapse)
STARVED_MIN_EXPECTED = 15
#: a healthy check's reason says it is near the dropped-modes line when its covered ratio or
#: collapse score is within this of the line (covered_below, collapsing_below)
NEAR_LINE = 0.1
#: the signals whose new bests mean the generator is still improving (warm-up)
PROGRESS = ("modes_rel", "covered_rel", "mass_rel", "nn_dist_rel", "near_rel", "reach_rel")
#: ... of which these count only while most samples are still off the data (under half of
#: real's near it): a generator on the data that sharpens its few modes is not improving
APPROACH = ("near_rel", "reach_rel")


@dataclass(frozen=True)
class MonitorSettings:
    """The monitor's knobs; the defaults are the ones measured in ``benchmarks/monitor_accuracy.py``.

    None of them is in the data's units: thresholds apply to ratios against held-out real data.
    """

    check_every: int = 100  # steps between checks
    batch_size: int = 512  # fake samples scored per check at most (the most recent ones)
    min_samples: int = 128  # a due check runs once at least this many samples came in since the last
    reference_size: int = 2048  # real samples that define the manifold and its clusters
    k: int = 5  # nearest neighbours of the k-NN balls (Naeem et al. 2020 use 5)
    clusters: int = 16  # label-free modes: k-means clusters of the reference (16 measured best, see docs)
    warmup_checks: int = 1  # checks that always warm up (the first has nothing to compare with)
    warmup_steps: int = 0  # ... and steps (for loops whose checks are far apart)
    max_warmup_checks: int = 10  # the warm-up never lasts longer than this many checks
    warmup_rise: float = 0.05  # a progress signal beating its best by this fraction: still improving
    warmup_patience: int = 2  # checks without improvement that end the warm-up of a bad-looking generator
    # optional: warm up until the samples reach the data (precision >= reach_precision of
    # real's), at most max_warmup_checks; off by default
    reach_precision: float = 0.0
    patience: int = 2  # consecutive bad checks before "collapsed" / off-data "diverged"
    collapsing_below: float = 0.7  # modes filled relative to real below which modes are dropped
    collapsed_below: float = 0.5  # ... and below which they are dropped even when the samples are near-duplicates
    # a mode is covered when it holds at least covered_share of its share of the real data;
    # modes covered relative to real data of the same size below covered_below: dropped modes
    # (the effective number of modes hardly moves when 3 of 10 digits thin out to 3%)
    covered_share: float = 0.5
    covered_below: float = 0.5  # 0.6 flagged more mild droppers on images but raised 2D false alarms to 7% (docs)
    # the real data's mass filled (1 - unfilled share, reference.unfilled) relative to real
    # data of the same size below mass_below: dropped modes (sees digits thinned out, which
    # no count of covered modes does without a line they flip across by chance)
    mass_below: float = 0.0
    # near-duplicates count as within-mode collapse while the score is at least collapsed_below
    # or at least within_covered of the modes are covered like real (a latent-2 DCGAN on MNIST
    # covers 5-7 digits with samples 2.5x closer than real: score 0.3-0.6, covered 0.4-0.7)
    within_covered: float = 0.3
    # ... unless they are closer than handful_below of real's: a handful of distinct images in a
    # few clusters (G's lr x10 on Stacked MNIST: 2-5 of 1,000 modes, 0.03-0.07, covering up to
    # 0.38 of the clusters; the latent-2 DCGAN: 0.33-0.55) drops modes
    handful_below: float = 0.2
    within_below: float = 0.5  # within-batch k-NN distance relative to real below which: near-duplicates
    # starved modes: a mode holding at least half an even share of the real data (1 / (2 *
    # bins)) that gets under starved_below of its real share; starved_modes or more modes
    # starved at each of the last starved_checks checks (the same modes): dropped modes (digits
    # thinned from 10% to 2-3%, which leave the covered count and the effective number of modes
    # within the noise of a healthy run still learning; a healthy generator's thin modes move
    # from check to check). Off by default: at 0.2 / 2 / 3 (chosen on the image suite's tuning
    # seeds 0-2) it flagged 1 of the 3 plain-GAN runs there, but raised the 2D held-out suite's
    # false alarms from 0 to 3 of 26 (k-means splits a ring's modes in halves that a healthy
    # generator fills unevenly): docs/results/monitor-accuracy.md
    starved_below: float = 0.0
    starved_modes: int = 2
    starved_checks: int = 3
    # lasting thinning: the real data's mass filled relative to real data of the same size
    # (mass_rel) under thin_below at each of the last thin_checks checks after the warm-up:
    # dropped modes. The textbook GAN on MNIST holds 6-8 of 10 digits for good at 0.68-0.81; a
    # healthy generator passes through such a stretch while it learns (a lab DCGAN held 7 digits
    # at 0.69-0.74 for 9 checks) but leaves it. Chosen on the image suite's seeds 0-2 with the
    # held-out seeds 100-104 in view; on seeds 200-202, trained after: 95.5% of dropping runs
    # flagged, no false alarm (docs/results/monitor-accuracy.md); 0 turns it off
    thin_below: float = 0.8
    thin_checks: int = 8
    diverged_near: float = 0.1  # share of samples near the data, relative to real, below which they left it
    hop_overlap: float = 0.3  # histogram overlap between checks below which the generator moved
    history: int = 64  # checks kept (bounded memory)
    seed: int = 0
    # feature rows scaled to unit length before anything is compared: "auto" = "l2" when
    # features= is given, "none" for raw samples. Classifier (ReLU) features of imprecise
    # samples are shorter than real ones, so by Euclidean distance they all fall in the
    # clusters nearest the origin; by direction they fall in their digit's cluster
    # (measured on MNIST runs covering 8-9 digits: modes_rel 0.14-0.33 raw, 0.77-0.93 l2).
    feature_norm: str = "auto"

    def validate(self) -> MonitorSettings:
        for name in ("check_every", "batch_size", "min_samples", "reference_size", "k", "clusters", "patience",
                     "history", "max_warmup_checks", "warmup_patience", "starved_modes", "starved_checks",
                     "thin_checks"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"CollapseMonitor {name} must be a positive integer, got {v!r}.")
        for name in ("warmup_checks", "warmup_steps", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"CollapseMonitor {name} must be an integer >= 0, got {v!r}.")
        for name in ("warmup_rise", "reach_precision", "collapsing_below", "collapsed_below", "within_below",
                     "covered_share", "covered_below", "mass_below", "within_covered", "handful_below", "starved_below",
                     "thin_below", "diverged_near", "hop_overlap"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"CollapseMonitor {name} must be a number >= 0, got {v!r}.")
        if self.feature_norm not in ("auto", "none", "l2"):
            raise ConfigError(f"CollapseMonitor feature_norm must be auto, none or l2, got {self.feature_norm!r}.")
        if self.min_samples > self.batch_size:
            raise ConfigError(f"CollapseMonitor min_samples ({self.min_samples}) cannot exceed batch_size ({self.batch_size}).")
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


class CollapseMonitor(MonitorBase):
    """Watches a generator for mode collapse; see the module docstring.

    ``real``: real samples (n, ...) (n >= 256 recommended; 2,560 or more gives the default
    reference of 2,048 and a held-out set of 512). ``features``: optional name of a
    registered feature extractor (e.g. ``"mnist"``, the digit classifier's features, which
    read pixels in [-1, 1] or [0, 1]; :data:`modecollapse.features.EXTRACTORS`), or a
    callable / ``nn.Module`` mapping samples to feature rows (b, d), applied to real and
    fake alike; without it samples are flattened. ``modes``: optional known mode centres
    (K, ...) in sample space; ``mode_classifier`` with ``num_modes``: optional callable
    mapping samples to mode labels or logits. Either replaces the k-means clusters as the
    mode histogram; neither is needed. ``log``: a JSONL path, one line per check.
    ``tensorboard``: a log directory or a ``SummaryWriter`` (extra ``tensorboard``).
    ``on_change(previous, report)``: called when the verdict changes. ``stop_on``: verdicts
    after which :attr:`should_stop` is true.
    """

    def __init__(
        self,
        real: torch.Tensor,
        *,
        features: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
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
        if real.numel() == 0:
            raise ConfigError(f"CollapseMonitor(real=...) got no real data (shape {tuple(real.shape)}); pass at least "
                              "256 real samples with at least one value each.")
        if modes is not None and mode_classifier is not None:
            raise ConfigError("give CollapseMonitor either known mode centres (modes=) or a mode_classifier, not both.")
        labeller = None
        if modes is not None:
            labeller = _NearestMode(modes)
        elif mode_classifier is not None:
            if not isinstance(num_modes, int) or num_modes < 1:
                raise ConfigError("mode_classifier needs num_modes=K, the number of modes it can return.")
            labeller = _Classifier(mode_classifier, num_modes)
        if isinstance(features, str):
            from ..features import resolve_extractor

            features = resolve_extractor(features)
        elif features is not None and not callable(features):
            raise ConfigError(f"CollapseMonitor(features=...) must be an extractor name or a callable, got "
                              f"{type(features).__name__}.")
        self.features = features
        norm = self.settings.feature_norm
        self._l2 = norm == "l2" or (norm == "auto" and features is not None)
        raw = real.detach().float().cpu()
        self._sample_shape = tuple(raw.shape[1:])
        if not torch.isfinite(raw).all():
            raise ConfigError("the real data given to CollapseMonitor has NaN or infinite values; clean it first.")
        feats = self._featurise(raw)
        s = self.settings
        self.reference = Reference(feats, reference_size=s.reference_size, batch_size=s.batch_size, k=s.k,
                                   clusters=s.clusters, labeller=labeller, raw=raw, seed=s.seed,
                                   covered_share=s.covered_share)
        self.known_modes = labeller is not None
        self._fingerprint = {"dim": int(feats.shape[1]), "n_real": len(raw), "bins": self.reference.bins,
                             "seed": s.seed, "known_modes": self.known_modes, "l2": self._l2}
        self._init_outputs(log=log, tensorboard=tensorboard, on_change=on_change, stop_on=stop_on)
        self._reset_state()

    # -- state -------------------------------------------------------------------------------
    #: The monitor's state, once: each entry's key in state_dict() (and the order there) and
    #: its value before the first check. It lives in the attribute ``_<key>``, the public
    #: ones (:data:`_PUBLIC_STATE`) under the key itself. _reset_state sets every entry,
    #: state_dict saves it and load_state_dict restores it.
    _STATE: tuple[tuple[str, Callable[[MonitorSettings], Any]], ...] = (
        ("next_due", lambda s: s.check_every),
        ("checks", lambda s: 0),
        ("history", lambda s: deque(maxlen=s.history)),
        ("bad_streak", lambda s: 0),  # consecutive bad checks
        ("off_streak", lambda s: 0),
        ("onset", lambda s: None),
        ("last_healthy", lambda s: None),
        ("warming", lambda s: True),
        ("warm_checks", lambda s: 0),  # checks since the (re)start
        ("flat", lambda s: 0),  # consecutive warm-up checks without a new best of a progress signal
        ("best", lambda s: {}),
        ("start_step", lambda s: 0),  # the cadence and warm-up count from here (0, or a restart's step)
        ("prev_hist", lambda s: None),
        ("hops", lambda s: deque(maxlen=4)),
        ("starved_streaks", lambda s: []),  # per mode: the checks in a row it has been starved
        ("thin_streak", lambda s: 0),  # checks in a row after the warm-up with mass_rel under thin_below
        ("thin_above", lambda s: 0),  # ... checks in a row back over the line since a lasting thinning fired
        ("thin_since", lambda s: None),  # the step of the streak's first check
        ("thin_rollback", lambda s: None),  # the last healthy check before the streak began
        ("d_first", lambda s: None),
        ("g_first", lambda s: None),
        ("d_recent", lambda s: deque(maxlen=50)),
        ("g_recent", lambda s: deque(maxlen=50)),
        ("report", lambda s: None),
        ("total_seconds", lambda s: 0.0),
    )
    _PUBLIC_STATE = ("checks", "history", "report", "total_seconds")

    @classmethod
    def _state_attr(cls, key: str) -> str:
        return key if key in cls._PUBLIC_STATE else f"_{key}"

    def _reset_state(self) -> None:
        # samples since the last check: not saved (a resumed monitor waits for min_samples anew)
        self._buffer: list[torch.Tensor] = []
        self._buffered = 0
        self._reset_clock()
        self.history: deque[dict[str, Any]]  # the public state's types (set from _STATE below)
        self.report: MonitorReport | None
        for key, fresh in self._STATE:
            setattr(self, self._state_attr(key), fresh(self.settings))

    # keys a state saved by an earlier version may lack, and their value then
    _STATE_OPTIONAL = {"starved_streaks": [], "thin_streak": 0, "thin_above": 0, "thin_since": None, "thin_rollback": None}
    _STATE_INTS = ("checks", "bad_streak", "off_streak", "start_step", "warm_checks", "flat", "thin_streak", "thin_above")
    _STATE_OPT_INTS = ("onset", "last_healthy", "thin_since", "thin_rollback")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after a resume (JSON-able; the real data is not included)."""
        state: dict[str, Any] = {"version": STATE_VERSION, "fingerprint": dict(self._fingerprint),
                                 "settings": asdict(self.settings)}
        for key, _ in self._STATE:
            value = getattr(self, self._state_attr(key))
            if isinstance(value, MonitorReport):
                value = value.as_dict()
            elif isinstance(value, (deque, tuple)):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            state[key] = value
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output. Everything is checked first: a bad state raises
        :class:`ConfigError` in one sentence and leaves the monitor as it was."""
        parsed = self._parse_state(state)
        self._reset_state()
        for key, _ in self._STATE:
            setattr(self, self._state_attr(key), parsed[key])

    def _parse_state(self, state: Any) -> dict[str, Any]:
        def bad(what: str) -> ConfigError:
            return ConfigError(f"the monitor state is not one CollapseMonitor.state_dict() wrote: {what}; "
                               "pass the dict it returned (the monitor was left unchanged).")

        if not isinstance(state, Mapping):
            raise bad(f"it is a {type(state).__name__}, not a dict")
        if state.get("version") != STATE_VERSION:
            raise ConfigError(f"monitor state has version {state.get('version')!r}; this monitor reads version "
                              f"{STATE_VERSION} (the monitor was left unchanged).")
        fp = state.get("fingerprint")
        if not isinstance(fp, Mapping) or dict(fp) != self._fingerprint:
            raise ConfigError("the monitor state was saved by a monitor built from other real data or settings "
                              f"({fp} vs {self._fingerprint}); build it the same way to resume.")
        missing = [k for k in self.state_dict() if k not in state and k not in self._STATE_OPTIONAL]
        if missing:
            raise bad(f"it lacks {', '.join(missing)}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        def nums(key: str, opt: bool = False) -> list[float] | None:
            v = state[key]
            if v is None and opt:
                return None
            if not isinstance(v, (list, tuple)) or not all(is_num(x) for x in v):
                raise bad(f"{key} should be a list of numbers, got {v!r:.80}")
            return [float(x) for x in v]

        out: dict[str, Any] = {}
        state = {**self._STATE_OPTIONAL, **state}
        for key in self._STATE_INTS:
            if not is_int(state[key]) or state[key] < 0:
                raise bad(f"{key} should be an integer >= 0, got {state[key]!r:.80}")
            out[key] = int(state[key])
        for key in self._STATE_OPT_INTS:
            if state[key] is not None and not is_int(state[key]):
                raise bad(f"{key} should be an integer or None, got {state[key]!r:.80}")
            out[key] = state[key]
        if not is_int(state["next_due"]):
            raise bad(f"next_due should be an integer, got {state['next_due']!r:.80}")
        out["next_due"] = state["next_due"]
        if not isinstance(state["warming"], bool):
            raise bad(f"warming should be true or false, got {state['warming']!r:.80}")
        out["warming"] = state["warming"]
        for key in ("d_first", "g_first"):
            if state[key] is not None and not is_num(state[key]):
                raise bad(f"{key} should be a number or None, got {state[key]!r:.80}")
            out[key] = state[key]
        best = state["best"]
        if not isinstance(best, Mapping) or not all(k in PROGRESS and is_num(v) for k, v in best.items()):
            raise bad(f"best should map progress signals to numbers, got {best!r:.80}")
        out["best"] = {k: float(v) for k, v in best.items()}
        hist = nums("prev_hist", opt=True)
        if hist is not None and len(hist) != self.reference.bins:
            raise bad(f"prev_hist should have {self.reference.bins} values, got {len(hist)}")
        out["prev_hist"] = tuple(hist) if hist is not None else None
        hops = state["hops"]
        if not isinstance(hops, (list, tuple)) or not all(isinstance(h, bool) for h in hops):
            raise bad(f"hops should be a list of true/false, got {hops!r:.80}")
        out["hops"] = deque(hops, maxlen=4)
        streaks = state["starved_streaks"]
        if not isinstance(streaks, (list, tuple)) or len(streaks) not in (0, self.reference.bins) or not all(
                is_int(v) and v >= 0 for v in streaks):
            raise bad(f"starved_streaks should be {self.reference.bins} integers >= 0 (or none), got {streaks!r:.80}")
        out["starved_streaks"] = [int(v) for v in streaks]
        out["d_recent"] = deque(nums("d_recent"), maxlen=50)
        out["g_recent"] = deque(nums("g_recent"), maxlen=50)
        history = state["history"]
        if not isinstance(history, (list, tuple)) or not all(
                isinstance(r, Mapping) and is_int(r.get("step")) and r.get("verdict") in VERDICTS for r in history):
            raise bad("history should be a list of checks, each with an integer step and a verdict")
        out["history"] = deque((dict(r) for r in history), maxlen=self.settings.history)
        if not is_num(state["total_seconds"]) or state["total_seconds"] < 0:
            raise bad(f"total_seconds should be a number >= 0, got {state['total_seconds']!r:.80}")
        out["total_seconds"] = float(state["total_seconds"])
        out["report"] = parse_report(state["report"], bad, KINDS)
        return out

    # -- input ---------------------------------------------------------------------------------
    @torch.no_grad()
    def _featurise(self, x: torch.Tensor) -> torch.Tensor:
        if self.features is None:
            f = x.reshape(len(x), -1).float()
        else:
            f = torch.cat([self.features(x[a:a + 1024]).detach().float().cpu() for a in range(0, len(x), 1024)])
            f = f.reshape(len(f), -1)
        if self._l2:
            f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return f

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
        when a check is due. A check runs at the first call at or after the due step (see
        :meth:`due`) once at least ``min_samples`` samples have come in since the last check
        (in this call or several); it scores the most recent ``batch_size`` of them. ``latent``
        (b, d_z): the latents of ``fake``, for the mutual-information signal. Returns the
        latest report: a new ``report.check`` means this call ran a check.
        """
        t0 = time.perf_counter()
        try:
            return self._update(step, fake, latent, d_loss, g_loss, t0)
        finally:
            self.total_seconds += time.perf_counter() - t0

    def _update(self, step: int, fake: Any, latent: Any, d_loss: Any, g_loss: Any, t0: float) -> MonitorReport:
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
        if len(fake) == 0:
            raise ConfigError(f"CollapseMonitor.update(fake=...) got an empty batch (shape {tuple(fake.shape)}) at step "
                              f"{step}; pass at least one sample.")
        if tuple(fake.shape[1:]) != self._sample_shape:
            raise ConfigError(f"fake samples are shaped {tuple(fake.shape[1:])} per row but the real data "
                              f"{self._sample_shape}; pass samples shaped like the real ones.")
        # one sum per step (a few microseconds) instead of an elementwise test (about 0.1 ms for
        # 64 MNIST images, 1% of a fast loop): a NaN or inf anywhere makes the sum non-finite, and
        # a sum that overflowed on finite values is told apart by the elementwise test
        if not math.isfinite(float(fake.sum())) and not bool(torch.isfinite(fake).all()):
            return self._emit(self._diverged(step, f"non-finite generator samples at step {step}"), t0)
        self._push(fake)
        if not due or self._buffered < self.settings.min_samples:
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

    def _rollback_note(self, cure: str) -> str:
        """As the base's, and when no check before a lasting thinning was healthy, says so."""
        if self._last_healthy is None and self._thinning_lasted:
            return (f"no check before step {self._thin_since}, where the thinning began, was healthy, so there is no "
                    f"healthy checkpoint to roll back to: {cure} and start again")
        return super()._rollback_note(cure)

    def _diverged(self, step: int, what: str) -> MonitorReport:
        self.checks += 1
        self._schedule(step)
        onset = self._onset if self._onset is not None else step
        self._onset = onset
        self.history.append({"step": step, "verdict": "diverged", "kind": "diverged"})
        reason = f"{what}: training diverged since step {onset}; {self._rollback_note('lower the learning rate or add a gradient penalty')}"
        return MonitorReport(step, "diverged", reason, onset, self.checks, MappingProxyType({"finite": 0}),
                             kind="diverged", rollback_step=self._last_healthy)

    def _still_improving(self, sig: CheckSignals) -> bool:
        """Whether a progress signal, capped at 1 (like real data), beat its best so far by
        more than warmup_rise (relative) and 0.02 (0.001 for the approach signals, which
        start near 0)."""
        rose = False
        for name in PROGRESS:
            v = min(float(getattr(sig, name)), 1.0)
            if not math.isfinite(v):
                continue
            best = self._best.get(name)
            counts = name not in APPROACH or sig.near_rel < 0.5
            guard = 1e-3 if name in APPROACH else 0.02
            if counts and (best is None or v > best * (1 + self.settings.warmup_rise) + guard):
                rose = True
            self._best[name] = v if best is None else max(best, v)
        return rose

    def _lasting_thinning(self, step: int, sig: CheckSignals, warming: bool) -> bool:
        """Updates the lasting-thinning streak with this check (MonitorSettings.thin_below) and
        returns whether it has lasted thin_checks checks. It counts only after the warm-up. Once
        it has fired, one check back over the line does not end it (patience checks in a row
        do), so a thinned generator does not flicker between collapsed and healthy."""
        s = self.settings
        if not warming and sig.mass_rel < s.thin_below:
            if self._thin_streak == 0:
                self._thin_since, self._thin_rollback = step, self._last_healthy
            self._thin_streak += 1
            self._thin_above = 0
        elif not warming and self._thin_streak >= s.thin_checks and self._thin_above + 1 < s.patience:
            self._thin_above += 1
        else:
            self._thin_streak, self._thin_above, self._thin_since, self._thin_rollback = 0, 0, None, None
        return self._thinning_lasted

    @property
    def _thinning_lasted(self) -> bool:
        """Whether the current thin streak has lasted thin_checks checks (its start is then
        ``_thin_since``, the last healthy check before it ``_thin_rollback``)."""
        return self._thin_streak >= self.settings.thin_checks

    def _starved(self, sig: CheckSignals) -> tuple[list[int], float | None]:
        """Updates each mode's starved streak with this check and returns the modes starved at
        each of the last starved_checks checks (MonitorSettings.starved_below) and the smallest
        share ratio among the modes judged now (None when the rule is off or no mode can be
        judged). A mode is judged when it holds at least half an even share of the real data
        and the samples near the data would put at least STARVED_MIN_EXPECTED in it at its real
        share (fewer: an empty mode is chance); a mode not judged ends its streak."""
        s = self.settings
        if s.starved_below <= 0:  # off (the default): no work at a check
            return [], None
        share = self.reference.real_share.double()
        judged = (share >= 0.5 / len(share)) & (sig.n_near * share >= STARVED_MIN_EXPECTED)
        if sig.n_near <= 0 or not bool(judged.any()):
            self._starved_streaks = []
            return [], None
        ratio = torch.where(judged, torch.tensor(sig.histogram, dtype=torch.float64) / share.clamp_min(1e-12),
                            torch.full_like(share, math.inf))
        now = (ratio < s.starved_below).tolist()
        old = self._starved_streaks or [0] * len(now)
        self._starved_streaks = [o + 1 if n else 0 for o, n in zip(old, now)]
        return [i for i, v in enumerate(self._starved_streaks) if v >= s.starved_checks], float(ratio.min())

    def _judge(self, step: int, sig: CheckSignals, mi: float | None) -> MonitorReport:
        s = self.settings
        self.checks += 1
        self._warm_checks += 1
        self._schedule(step)
        if self._d_first is None and self._d_recent:
            self._d_first = self._d_recent[-1]
        if self._g_first is None and self._g_recent:
            self._g_first = self._g_recent[-1]
        ov = overlap(sig.histogram, self._prev_hist) if self._prev_hist is not None and sum(sig.histogram) > 0 else None
        # modes covered, also over this check and the last pooled (twice the samples): a mode
        # near the covered_share line flips in and out of one batch by chance, so modes count
        # as dropped only when both say so (a sudden drop is seen one check later)
        cov_rel, mass_rel = sig.covered_rel, sig.mass_rel
        if ov is not None:
            ref = self.reference
            pooled = torch.tensor(sig.histogram, dtype=torch.float64) + torch.tensor(self._prev_hist, dtype=torch.float64)
            real = ref.covered_curve(2 * sig.n_near)
            cov_rel = max(cov_rel, covered(pooled, ref.real_share, ref.covered_share) / real if real > 0 else 1.0)
            mass_rel = max(mass_rel, (1.0 - unfilled(pooled, ref.real_share)) / max(1.0 - ref.unfilled_curve(2 * sig.n_near), 1e-12))
        if sum(sig.histogram) > 0:
            self._prev_hist = sig.histogram
        starved_modes, starved_min = self._starved(sig)
        starved = len(starved_modes)
        thinned = starved >= s.starved_modes
        # what this check shows, before any warm-up
        off = sig.near_rel < s.diverged_near
        # Near-duplicates fill the histogram unevenly (a few distinct samples per mode), so
        # they count as within-mode collapse while at least collapsed_below of the modes are
        # filled; below that, modes are dropped whatever their samples look like.
        within = sig.nn_dist_rel < s.within_below and (
            sig.score >= s.collapsed_below or (cov_rel >= s.within_covered and sig.nn_dist_rel >= s.handful_below))
        dropped = (sig.score < s.collapsing_below or cov_rel < s.covered_below or mass_rel < s.mass_below
                   or thinned) and not within
        self._hops.append(dropped and ov is not None and ov < s.hop_overlap)
        hopping = dropped and sum(self._hops) >= 2
        kind = ("off-data" if off else "hopping" if hopping else "dropped-modes" if dropped
                else "within-mode" if within else "none")
        # warm-up: follows the generator (module docstring)
        improving = self._still_improving(sig)
        self._flat = 0 if improving else self._flat + 1
        if self._warming:
            if self._warm_checks <= s.warmup_checks or step < self._start_step + s.warmup_steps:
                pass
            elif s.reach_precision > 0 and sig.precision_rel < s.reach_precision and self._warm_checks <= s.max_warmup_checks:
                pass
            elif (kind == "none" and not improving) or self._flat >= s.warmup_patience or self._warm_checks > s.max_warmup_checks:
                self._warming = False
        warming = self._warming
        lasting = self._lasting_thinning(step, sig, warming) and kind == "none"
        if lasting:
            kind = "dropped-modes"
        bad = kind != "none" and not warming
        self._off_streak = self._off_streak + 1 if bad and off else 0
        self._streak(step, bad, onset=self._thin_since if lasting else None)
        if lasting and self._last_healthy is not None and self._last_healthy >= self._thin_since:
            # in hindsight the streak's checks were not healthy: roll back to before it began
            self._last_healthy = self._thin_rollback
        dyn = loss_dynamics(self._d_first, self._g_first, list(self._d_recent)[-10:], list(self._g_recent)[-20:])
        numbers = {**sig.as_dict(), "covered_rel_pooled": cov_rel, "mass_rel_pooled": mass_rel, "starved": starved,
                   "starved_min": starved_min, "thin_streak": self._thin_streak, "overlap": ov, "mutual_info": mi,
                   "d_loss": dyn.d_loss, "g_loss": dyn.g_loss, "d_winning": int(dyn.d_winning),
                   "g_oscillation": dyn.oscillation, "known_modes": int(self.known_modes)}
        self.history.append({"step": step, **numbers})
        what = "modes" if self.known_modes else "clusters"
        real_eff = sig.effective_modes_real
        fills = (f"the samples cover {sig.modes_covered} of {sig.bins} {what} (real data of this size: "
                 f"{sig.modes_covered_real:.0f}) and fill {sig.effective_modes:.1f} (real: {real_eff:.1f})")
        close = (f"{1 / max(sig.nn_dist_rel, 1e-3):.1f}x closer to each other than real ones" if sig.nn_dist_rel < 1
                 else f"{sig.nn_dist_rel:.1f}x as far from each other as real ones")
        off_note = (f"; most samples are still off the data (precision {sig.precision:.2f})"
                    if sig.precision_rel < 0.25 else "")
        d_note = off_note + (f"; the discriminator is winning outright (d_loss {dyn.d_loss:.3g}, g_loss {dyn.g_loss:.3g})"
                             if dyn.d_winning else "")
        since = f"since step {self._onset}" if self._onset is not None else ""
        starve_note = ""
        if thinned:
            share = self.reference.real_share
            starve_note = (f"; {what} {', '.join(map(str, starved_modes))} ({float(share[starved_modes].sum()):.0%} of the "
                           f"real data) have held under {s.starved_below:.0%} of their share for {s.starved_checks} "
                           f"checks or more")
        thin_note = (f"; they have filled under {s.thin_below:.0%} of the real data's mass (relative to real data of "
                     f"this size) at {self._thin_streak} checks (this check: {sig.mass_rel:.0%}): modes thinned out "
                     f"and did not come back" if lasting else "")
        if warming:
            verdict, kind = "warming-up", "none"
            reason = (f"warming up (check {self._warm_checks}, at most {s.max_warmup_checks}; "
                      f"{'still improving' if improving else f'no improvement for {self._flat} checks'}): {fills}, "
                      f"{close}, precision {sig.precision:.2f}")
        elif self._off_streak >= s.patience:
            verdict = "diverged"
            reason = (f"off the data: only {sig.n_near / max(sig.n, 1):.0%} of samples lie near the real data (real: "
                      f"{self.reference.near_base:.0%}) for {self._off_streak} checks {since}: the generator left the "
                      f"data; {self._rollback_note('lower the learning rate')}")
        elif kind == "off-data":
            verdict = "collapsing"
            reason = (f"off the data: only {sig.n_near / max(sig.n, 1):.0%} of samples lie near the real data (real: "
                      f"{self.reference.near_base:.0%}) {since}; watch the next checks")
        elif kind == "hopping":
            verdict = self._alarm_verdict()
            reason = (f"mode hopping: the samples moved to other {what} at {sum(self._hops)} of the last {len(self._hops)} "
                      f"checks (overlap {ov if ov is not None else 0.0:.2f}) while {fills} {since}: the generator cycles "
                      f"between modes; {self._rollback_note('add a gradient penalty (R1) or minibatch features')}{d_note}")
        elif kind == "dropped-modes":
            verdict = self._alarm_verdict()
            final = verdict == "collapsed"
            reason = (f"dropped modes: {fills}{starve_note}{thin_note} {since}, while they are {close} within them: "
                      f"the generator is dropping modes; "
                      + (self._rollback_note("add a regulariser (e.g. R1)") if final else "watch the next checks")
                      + d_note)
        elif kind == "within-mode":
            verdict = self._alarm_verdict()
            # near-duplicates also leave clusters unfilled; say so when they do (not "like real")
            like = ("like real data" if cov_rel >= 0.9 else
                    f"{cov_rel:.0%} of the {what} real data of this size covers")
            reason = (f"within-mode collapse: {fills}, {like}, but they are {close} within them (k-NN "
                      f"distance {sig.nn_dist_rel:.2f} of real's) {since}: near-duplicates; "
                      f"{self._rollback_note('add minibatch features or a diversity term (e.g. mode seeking)')}{d_note}")
        else:
            verdict = "healthy"
            self._last_healthy = step
            # a check just on the healthy side of a line says so: "healthy" beside "covers 8 of 16
            # clusters" reads as a contradiction (a held-out MNIST run at 4-5 digits sat there)
            near = ([f"the {what} covered are {cov_rel:.0%} of what real data covers (dropped modes under "
                     f"{s.covered_below:.0%})"] if cov_rel < s.covered_below + NEAR_LINE else [])
            near += ([f"the collapse score is {sig.score:.2f} (dropped modes under {s.collapsing_below:g})"]
                     if sig.score < s.collapsing_below + NEAR_LINE else [])
            near += ([f"the real mass filled is {sig.mass_rel:.0%} of real data's, under {s.thin_below:.0%} for "
                      f"{self._thin_streak} check{'s' if self._thin_streak > 1 else ''} so far (dropped modes after "
                      f"{s.thin_checks} in a row)"] if self._thin_streak else [])
            near_note = f"; near the dropped-modes line: {' and '.join(near)}" if near else ""
            reason = f"no sign of collapse: {fills}, {close} within them, precision {sig.precision:.2f}{near_note}{d_note}"
        onset = self._onset if verdict in ALARMS else None
        self.history[-1]["verdict"] = verdict
        self.history[-1]["kind"] = kind
        return MonitorReport(step, verdict, reason, onset, self.checks, MappingProxyType(numbers), kind=kind,
                             rollback_step=self._last_healthy)
