"""TextCollapseMonitor: says during a language model's post-training that it is collapsing, how and since when.

At each check it reads n completions for each of a fixed set of probe prompts (from
:class:`~.hf.CollapseCallback`, which samples them with the trainer's own model, or from a
hand-written RL loop through :meth:`TextCollapseMonitor.update`) and compares them with the
*reference*: the same probe at the first check (the policy before it was trained), or
completions the user gives (an SFT set's own answers). Every signal is relative to the
reference, as the image monitor's are relative to real data, so no threshold is in a task's
units. The signals (:func:`text_signals`, built on :mod:`modecollapse.metrics.completions`):

- *answers per prompt*: the chance that two of a prompt's completions give different answers
  (after the normaliser or answer extractor; the Gini-Simpson index, unbiased, which unlike a
  count of distinct answers does not depend on how many samples there are), and with a
  verifier the same among its *correct* completions; with an embedder the Vendi score of the
  completions' embeddings. The reason also gives the distinct answers per prompt;
- *prompt dependence*: I(prompt; token) over the completions' tokens (words, or characters
  for short completions), which falls to 0 when every prompt gets the same text, identical or
  not (template collapse; exact-match I(prompt; completion) misses a varied template);
- *repetition*: the share of a completion's n-grams that repeat an earlier one, and the share
  of completions that ran to the length limit.

Kinds (:func:`classify`, a pure function of the signals, the reference's and the settings),
in this order of precedence: ``repetition`` (repeated n-grams up by ``repetition_above``, or
completions at the length limit up by ``truncated_above``), ``template-collapse`` (prompt
dependence under ``template_below`` of the reference's), ``answer-collapse`` (the answer
diversity per prompt under ``answer_below`` of the reference's; with a verifier, the
diversity among correct answers must have fallen as far too, so a policy that sharpens onto
the one right answer of each prompt is learning, not collapsing; without one, an embedder's
Vendi under ``answer_below`` counts too), ``diverged`` (a non-finite loss or reward). The verdicts,
onset, rollback target and report come from :class:`~.base.MonitorBase`, as for images.
"""
from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from types import MappingProxyType
from typing import Any

import torch

from ..errors import ConfigError
from ..metrics.completions import (
    ANSWER_EXTRACTORS,
    NORMALISERS,
    TextFn,
    prompt_dependence,
    repetition_rate,
    resolve_text_fn,
)
from ..metrics.passk import pass_at_k
from .base import MonitorBase
from .report import ALARMS, TEXT_KINDS, MonitorReport, parse_report

STATE_VERSION = 1


@dataclass(frozen=True)
class TextMonitorSettings:
    """The text monitor's knobs. Thresholds are ratios or differences against the reference,
    not in a task's units; the defaults and how they were chosen: docs/results/llm-monitor.md."""

    check_every: int = 25  # training steps between checks
    patience: int = 2  # consecutive bad checks before "collapsed"
    warmup_checks: int = 0  # checks after the reference that are never judged bad
    answer_below: float = 0.5  # answer diversity per prompt relative to the reference below which: answer collapse
    template_below: float = 0.5  # prompt dependence relative to the reference below which: template collapse
    repetition_above: float = 0.15  # repeated n-gram share above the reference's by this: repetition
    truncated_above: float = 0.3  # share of completions at the length limit above the reference's by this: repetition
    short_words: float = 6.0  # completions of fewer words than this on average count characters as tokens
    history: int = 64  # checks kept (bounded memory)

    def validate(self) -> TextMonitorSettings:
        for name in ("check_every", "patience", "history"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"TextCollapseMonitor {name} must be a positive integer, got {v!r}.")
        if not isinstance(self.warmup_checks, int) or isinstance(self.warmup_checks, bool) or self.warmup_checks < 0:
            raise ConfigError(f"TextCollapseMonitor warmup_checks must be an integer >= 0, got {self.warmup_checks!r}.")
        for name in ("answer_below", "template_below", "repetition_above", "truncated_above", "short_words"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"TextCollapseMonitor {name} must be a number >= 0, got {v!r}.")
        return self


# -- one check's signals ------------------------------------------------------------------------
@dataclass(frozen=True)
class TextSignals:
    """What one check shows: means over the probe prompts (None where an input is missing)."""

    prompts: int
    per_prompt: float  # completions per prompt (mean)
    distinct: float  # distinct answers per prompt
    unique: float  # distinct answers / completions per prompt
    diversity: float  # chance that two completions of a prompt give different answers (Gini-Simpson)
    prompt_dep: float  # I(prompt; token), nats
    pooled_unique: float  # distinct answers over all prompts / all completions
    repetition: float | None  # repeated n-gram share within completions
    truncated: float | None  # share of completions at the length limit
    length: float  # characters per completion
    distinct_correct: float | None = None  # distinct correct answers per prompt (verifier)
    correct_diversity: float | None = None  # Gini-Simpson among a prompt's correct answers (prompts with 2 or more)
    pass1: float | None = None
    passk: float | None = None  # pass@k at k = the smallest group
    k: int | None = None
    vendi: float | None = None  # per-prompt Vendi of the embeddings (embedder)
    reward: float | None = None
    reward_std: float | None = None  # per-prompt reward std, mean over prompts

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def simpson(answers: Sequence[str]) -> float | None:
    """The chance that two different samples give different answers (unbiased Gini-Simpson,
    1 - sum c(c-1) / (n(n-1))): 0 for one answer, 1 when all differ; None for fewer than 2."""
    n = len(answers)
    if n < 2:
        return None
    return 1.0 - math.fsum(c * (c - 1) for c in Counter(answers).values()) / (n * (n - 1))


def _tokens(text: str, chars: bool) -> list[str]:
    return list(text) if chars else text.split()


def text_signals(completions: Sequence[Sequence[str]], *, normalise: TextFn, answer: TextFn | None = None,
                 chars: bool = False, correct: Sequence[Sequence[bool]] | None = None,
                 rewards: Sequence[Sequence[float]] | None = None, truncated: Sequence[Sequence[bool]] | None = None,
                 embeddings: Sequence[torch.Tensor] | None = None) -> TextSignals:
    """The signals of one check from the completions of each probe prompt (a list per prompt)."""
    normalised = [[normalise(t) for t in group] for group in completions]
    keys = [[answer(t) for t in group] for group in completions] if answer is not None else normalised
    tokens = [[_tokens(t, chars) for t in group] for group in normalised]
    n_all = sum(len(g) for g in completions)
    reps = [r for group in tokens for r in (repetition_rate(t, 3 if chars else 2) for t in group) if r is not None]
    out: dict[str, Any] = dict(
        prompts=len(completions), per_prompt=n_all / len(completions),
        distinct=_mean(len(set(g)) for g in keys), unique=_mean(len(set(g)) / len(g) for g in keys),
        diversity=_mean(d for d in (simpson(g) for g in keys) if d is not None),
        prompt_dep=prompt_dependence([[tok for t in g for tok in t] or [""] for g in tokens]),
        pooled_unique=len({k for g in keys for k in g}) / n_all,
        repetition=_mean(reps) if reps else None,
        truncated=_mean(x for g in truncated for x in g) if truncated is not None else None,
        length=_mean(len(t) for g in completions for t in g),
    )
    if correct is not None:
        k = min(len(g) for g in correct)
        among = [simpson([a for a, c in zip(g, cs) if c]) for g, cs in zip(keys, correct)]
        defined = [d for d in among if d is not None]
        out.update(distinct_correct=_mean(len({a for a, c in zip(g, cs) if c}) for g, cs in zip(keys, correct)),
                   correct_diversity=_mean(defined) if defined else None,
                   pass1=_mean(pass_at_k(len(cs), sum(map(bool, cs)), 1) for cs in correct),
                   passk=_mean(pass_at_k(len(cs), sum(map(bool, cs)), k) for cs in correct), k=k)
    if rewards is not None:
        out.update(reward=_mean(r for g in rewards for r in g), reward_std=_mean(_pstdev(g) for g in rewards))
    if embeddings is not None:
        from ..metrics.vendi import vendi

        out["vendi"] = _mean(vendi(samples=e, kernel="cosine").vendi for e in embeddings)
    return TextSignals(**out)


def _mean(values: Any) -> float:
    v = [float(x) for x in values]
    return math.fsum(v) / len(v) if v else 0.0


def _pstdev(values: Sequence[float]) -> float:
    m = _mean(values)
    return math.sqrt(_mean((x - m) ** 2 for x in values))


# -- the classification: a pure function of the signals ------------------------------------------
@dataclass(frozen=True)
class TextFinding:
    """A check's kind and the relative numbers behind it."""

    kind: str
    diversity_rel: float
    prompt_dep_rel: float
    correct_rel: float | None
    vendi_rel: float | None
    repetition_rise: float | None
    truncated_rise: float | None
    sharpening: bool  # pass@1 up while pass@k down


def _rel(now: float | None, ref: float | None) -> float | None:
    if now is None or ref is None:
        return None
    return now / ref if ref > 1e-12 else (1.0 if now <= 1e-12 else math.inf)


def classify(sig: TextSignals, ref: TextSignals, s: TextMonitorSettings) -> TextFinding:
    """What ``sig`` shows against the reference ``ref`` (module docstring for the rules)."""
    diversity_rel = _rel(sig.diversity, ref.diversity)
    prompt_dep_rel = _rel(sig.prompt_dep, ref.prompt_dep)
    correct_rel = _rel(sig.correct_diversity, ref.correct_diversity)
    vendi_rel = _rel(None if sig.vendi is None else sig.vendi - 1.0, None if ref.vendi is None else ref.vendi - 1.0)
    rep_rise = None if sig.repetition is None or ref.repetition is None else sig.repetition - ref.repetition
    if sig.repetition is not None and ref.repetition is None:
        rep_rise = sig.repetition
    trunc_rise = None if sig.truncated is None or ref.truncated is None else sig.truncated - ref.truncated
    sharpening = (sig.pass1 is not None and ref.pass1 is not None and sig.passk is not None and ref.passk is not None
                  and sig.pass1 > ref.pass1 and sig.passk < ref.passk)
    assert diversity_rel is not None and prompt_dep_rel is not None
    if (rep_rise is not None and rep_rise > s.repetition_above) or (
            trunc_rise is not None and trunc_rise > s.truncated_above):
        kind = "repetition"
    elif prompt_dep_rel < s.template_below:
        kind = "template-collapse"
    elif correct_rel is not None:  # a verifier: the correct answers must have narrowed too
        kind = "answer-collapse" if diversity_rel < s.answer_below and correct_rel < s.answer_below else "none"
    elif diversity_rel < s.answer_below or (vendi_rel is not None and vendi_rel < s.answer_below):
        kind = "answer-collapse"
    else:
        kind = "none"
    return TextFinding(kind, diversity_rel, prompt_dep_rel, correct_rel, vendi_rel, rep_rise, trunc_rise, sharpening)


# -- the reason text, built apart from the decision -----------------------------------------------
def _f(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def describe(sig: TextSignals, ref: TextSignals, f: TextFinding, ref_at: str) -> str:
    """What the check shows, in words, against the reference (``ref_at``: "at step 0" ...)."""
    n = round(sig.per_prompt)
    parts = [f"the {n} completions of a prompt hold {sig.distinct:.1f} distinct answers ({ref.distinct:.1f} {ref_at}; "
             f"two differ {sig.diversity:.0%} of the time, {ref.diversity:.0%} {ref_at})"]
    if sig.distinct_correct is not None:
        parts.append(f"{sig.distinct_correct:.1f} distinct correct ones ({_f(ref.distinct_correct, 1)})")
        if sig.correct_diversity is not None:
            was = "n/a" if ref.correct_diversity is None else f"{ref.correct_diversity:.0%}"
            parts.append(f"two correct ones differ {sig.correct_diversity:.0%} of the time ({was})")
    if sig.vendi is not None:
        parts.append(f"an embedding Vendi of {sig.vendi:.2f} ({_f(ref.vendi)})")
    text = ", ".join(parts)
    if sig.pass1 is not None:
        text += (f"; pass@1 {sig.pass1:.2f} ({_f(ref.pass1)}), pass@{sig.k} {_f(sig.passk)} ({_f(ref.passk)})")
        if f.sharpening:
            text += ": pass@1 up, pass@k down (sharpening onto answers it already had)"
    if f.kind == "template-collapse":
        text = (f"the completions barely depend on the prompt: I(prompt; token) {sig.prompt_dep:.3f} nats "
                f"({ref.prompt_dep:.3f} {ref_at}, {f.prompt_dep_rel:.0%}), {sig.pooled_unique:.0%} of all completions "
                f"distinct ({ref.pooled_unique:.0%}); " + text)
    if f.kind == "repetition":
        rep = [f"{sig.repetition:.0%} of their n-grams repeat ({_f(ref.repetition and ref.repetition * 100, 0)}% "
               f"{ref_at})"] if sig.repetition is not None else []
        if sig.truncated is not None:
            rep.append(f"{sig.truncated:.0%} run to the length limit ({_f(ref.truncated and ref.truncated * 100, 0)}%)")
        text = f"the completions degenerate: {' and '.join(rep)}, {sig.length:.0f} characters long ({ref.length:.0f}); " + text
    return text


CURES = {
    "answer-collapse": "raise the KL penalty (beta), lower the learning rate or add an entropy or diversity bonus",
    "template-collapse": "check the reward for a prompt-independent shortcut and raise the KL penalty",
    "repetition": "penalise length or repeated n-grams in the reward and raise the KL penalty",
}


class TextCollapseMonitor(MonitorBase):
    """Watches a language model's completions for collapse; see the module docstring.

    ``reference``: optional completions to compare with (a list per prompt, e.g. an SFT set's
    answers to the probe prompts; with ``reference_correct``); without it the first check is
    the reference. ``normalise``: how completions are compared (a name of
    :data:`~modecollapse.metrics.completions.NORMALISERS`, ``module:function`` or callable);
    ``answer``: an answer extractor (``last-number``, ``boxed`` ...) whose output is compared
    instead. ``embedder``: texts -> (n, d) embeddings (e.g.
    :func:`modecollapse.features.text.load_text_embedder`). ``log``, ``tensorboard``,
    ``on_change``, ``stop_on``: as :class:`~.core.CollapseMonitor`'s.
    """

    def __init__(self, *, settings: TextMonitorSettings | None = None, check_every: int | None = None,
                 reference: Sequence[Sequence[str]] | None = None,
                 reference_correct: Sequence[Sequence[bool]] | None = None,
                 normalise: str | TextFn = "whitespace", answer: str | TextFn | None = None,
                 embedder: Callable[[list[str]], torch.Tensor] | None = None, log: Any = None,
                 tensorboard: Any = None, on_change: Callable[[str, MonitorReport], None] | None = None,
                 stop_on: Sequence[str] = ()) -> None:
        settings = settings or TextMonitorSettings()
        if check_every is not None:
            settings = TextMonitorSettings(**{**asdict(settings), "check_every": check_every})
        self.settings = settings.validate()
        self.normalise = resolve_text_fn(normalise, NORMALISERS)
        self.answer = resolve_text_fn(answer, ANSWER_EXTRACTORS) if answer is not None else None
        self.embedder = embedder
        self._init_outputs(log=log, tensorboard=tensorboard, on_change=on_change, stop_on=stop_on)
        self._given_reference = None
        if reference is not None:
            groups = _groups(reference, "reference")
            self._given_reference = (groups, _aligned(reference_correct, groups, "reference_correct"))
        self._reset_state()

    # -- state ---------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        s = self.settings
        self._reset_clock()
        self._next_due, self._start_step = 0, 0  # the first update is a check (the reference)
        self.checks, self._bad_streak, self._warm_checks = 0, 0, 0
        self._onset: int | None = None
        self._last_healthy: int | None = None
        self._warming = True
        self.report: MonitorReport | None = None
        self.total_seconds = 0.0
        self.history: deque[dict[str, Any]] = deque(maxlen=s.history)
        self._reference: TextSignals | None = None
        self._reference_step: int | None = None
        self._chars: bool | None = None  # tokens are characters (short completions), fixed at the reference
        self._logs: dict[str, float] = {}
        if self._given_reference is not None:
            groups, correct = self._given_reference
            self._chars = self._short(groups)
            self._reference = self._signals(groups, correct, None, None)
            self._reference_step = -1

    _STATE_TYPES: dict[str, tuple[type, ...]] = {
        "next_due": (int,), "start_step": (int,), "checks": (int,), "bad_streak": (int,), "warm_checks": (int,),
        "onset": (int, type(None)), "last_healthy": (int, type(None)), "warming": (bool,),
        "total_seconds": (float, int), "reference_step": (int, type(None)), "chars": (bool, type(None)),
    }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after a resume (JSON-able)."""
        state: dict[str, Any] = {"version": STATE_VERSION, "kind": "text", "settings": asdict(self.settings)}
        for key in self._STATE_TYPES:
            state[key] = getattr(self, key if key in ("checks", "total_seconds") else f"_{key}")
        state["reference"] = None if self._reference is None else self._reference.as_dict()
        state["history"] = list(self.history)
        state["report"] = None if self.report is None else self.report.as_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restores :meth:`state_dict`'s output; a bad state raises one sentence and changes nothing."""
        def bad(what: str) -> ConfigError:
            return ConfigError(f"the text monitor state is not one TextCollapseMonitor.state_dict() wrote: {what} "
                               "(the monitor was left unchanged).")

        if not isinstance(state, Mapping) or state.get("kind") != "text":
            raise bad("it is not a dict of kind 'text'")
        if state.get("version") != STATE_VERSION:
            raise bad(f"version {state.get('version')!r}, this monitor reads {STATE_VERSION}")
        for key, types in self._STATE_TYPES.items():
            v = state.get(key, "missing")
            if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
                raise bad(f"{key} is {v!r:.60}")
        ref = state.get("reference")
        names = {f.name for f in fields(TextSignals)}
        if ref is not None and (not isinstance(ref, Mapping) or set(ref) != names):
            raise bad("the reference signals are malformed")
        history = state.get("history")
        if not isinstance(history, list) or not all(isinstance(h, Mapping) and isinstance(h.get("step"), int)
                                                     for h in history):
            raise bad("history should be a list of checks with integer steps")
        report = parse_report(state.get("report"), bad, TEXT_KINDS)
        self._reset_state()
        for key in self._STATE_TYPES:
            setattr(self, key if key in ("checks", "total_seconds") else f"_{key}", state[key])
        self.total_seconds = float(state["total_seconds"])
        self._reference = None if ref is None else TextSignals(**ref)
        self.history = deque((dict(h) for h in history), maxlen=self.settings.history)
        self.report = report

    # -- the check ----------------------------------------------------------------------------
    def update(self, step: int, *, prompts: Sequence[str] | None = None,
               completions: Sequence[str] | Sequence[Sequence[str]] | None = None,
               correct: Sequence[Any] | None = None, rewards: Sequence[Any] | None = None,
               truncated: Sequence[Any] | None = None, loss: Any = None,
               logs: Mapping[str, Any] | None = None) -> MonitorReport:
        """Feeds step ``step``; runs a check when one is due and completions are given.

        ``completions``: a list per probe prompt (``prompts`` then names them, optional), or
        one flat list with ``prompts`` giving each completion's prompt (an RL batch). ``correct``
        (a verifier's bools), ``rewards`` and ``truncated`` (ran to the length limit) have the
        completions' shape. ``loss`` and ``logs`` (the trainer's logged scalars: ``entropy``,
        ``reward``, ``kl`` ...) are read at every call: a non-finite loss or reward is
        ``diverged``. Returns the latest report (a new ``report.check`` means a check ran)."""
        t0 = time.perf_counter()
        try:
            bad = self._read_scalars(loss, logs)
            if bad is not None:
                self.checks += 1
                return self._emit(self._diverged(step, f"{bad} at step {step}"), t0)
            if completions is None or not self.due(step):
                return self._latest(step)
            groups, names = _group(prompts, completions)
            correct_g = _aligned(correct, groups, "correct", names, prompts)
            rewards_g = _aligned(rewards, groups, "rewards", names, prompts)
            if rewards_g is not None and not all(math.isfinite(float(r)) for g in rewards_g for r in g):
                self.checks += 1
                return self._emit(self._diverged(step, f"a non-finite reward at step {step}"), t0)
            trunc_g = _aligned(truncated, groups, "truncated", names, prompts)
            return self._emit(self._check(step, groups, correct_g, rewards_g, trunc_g), t0)
        finally:
            self.total_seconds += time.perf_counter() - t0

    def _read_scalars(self, loss: Any, logs: Mapping[str, Any] | None) -> str | None:
        values = dict(logs or {})
        if loss is not None:
            values["loss"] = loss
        for key, value in values.items():
            try:
                v = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(v) and (key == "loss" or "reward" in key or key.endswith("/loss")):
                return f"{key}={v}"
            self._logs[key] = v
        return None

    def _short(self, groups: Sequence[Sequence[str]]) -> bool:
        words = _mean(len(self.normalise(t).split()) for g in groups for t in g)
        return words < self.settings.short_words

    def _signals(self, groups, correct, rewards, truncated) -> TextSignals:
        embeddings = None
        if self.embedder is not None:
            flat = [t for g in groups for t in g]
            e = self.embedder(flat)
            starts = [0]
            for g in groups:
                starts.append(starts[-1] + len(g))
            embeddings = [e[a:b] for a, b in zip(starts, starts[1:])]
        return text_signals(groups, normalise=self.normalise, answer=self.answer, chars=bool(self._chars),
                            correct=correct, rewards=rewards, truncated=truncated, embeddings=embeddings)

    def _check(self, step, groups, correct, rewards, truncated) -> MonitorReport:
        s = self.settings
        self.checks += 1
        self._schedule(step)
        if self._reference is None:
            self._chars = self._short(groups)
            self._reference = self._signals(groups, correct, rewards, truncated)
            self._reference_step = step
            sig = self._reference
            self.history.append({"step": step, "verdict": "warming-up", "kind": "none", **sig.as_dict()})
            return MonitorReport(step, "warming-up", f"reference: {self._plain(sig)}; later checks are compared with it",
                                 None, self.checks, MappingProxyType(self._numbers(sig, None)))
        sig = self._signals(groups, correct, rewards, truncated)
        if self._reference.distinct_correct is None and sig.distinct_correct is not None:
            sig = TextSignals(**{**sig.as_dict(), "distinct_correct": None})  # a reference without a verifier
        finding = classify(sig, self._reference, s)
        self._warm_checks += 1
        self._warming = self._warm_checks <= s.warmup_checks
        bad = finding.kind != "none" and not self._warming
        self._streak(step, bad)
        ref_at = "in the reference" if self._reference_step == -1 else f"at step {self._reference_step}"
        text = describe(sig, self._reference, finding, ref_at)
        if self._warming:
            verdict, kind, reason = "warming-up", "none", f"warming up: {text}"
        elif bad:
            verdict, kind = self._alarm_verdict(), finding.kind
            since = f" since step {self._onset}"
            act = (self._rollback_note(CURES[kind]) if verdict == "collapsed" else "watch the next checks")
            reason = f"{kind.replace('-', ' ')}{since}: {text}; {act}"
        else:
            verdict, kind = "healthy", "none"
            self._last_healthy = step
            reason = f"no sign of collapse: {text}"
        numbers = self._numbers(sig, finding)
        self.history.append({"step": step, "verdict": verdict, "kind": kind, **numbers})
        onset = self._onset if verdict in ALARMS else None
        return MonitorReport(step, verdict, reason, onset, self.checks, MappingProxyType(numbers), kind=kind,
                             rollback_step=self._last_healthy)

    def _plain(self, sig: TextSignals) -> str:
        text = f"the {round(sig.per_prompt)} completions of a prompt hold {sig.distinct:.1f} distinct answers"
        if sig.pass1 is not None:
            text += f", {sig.distinct_correct:.1f} distinct correct ones; pass@1 {sig.pass1:.2f}, pass@{sig.k} {sig.passk:.2f}"
        return text + f"; I(prompt; token) {sig.prompt_dep:.3f} nats"

    def _numbers(self, sig: TextSignals, f: TextFinding | None) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {k: v for k, v in sig.as_dict().items()}
        if f is not None:
            out.update(diversity_rel=f.diversity_rel, prompt_dep_rel=f.prompt_dep_rel, correct_rel=f.correct_rel,
                       vendi_rel=f.vendi_rel, repetition_rise=f.repetition_rise, truncated_rise=f.truncated_rise,
                       sharpening=int(f.sharpening))
        for key in ("entropy", "reward_std", "frac_reward_zero_std", "kl", "loss"):
            if key in self._logs:
                out[f"logged_{key}"] = self._logs[key]
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

    def _diverged(self, step: int, what: str) -> MonitorReport:
        self._schedule(step)
        if self._onset is None:
            self._onset = step
        self.history.append({"step": step, "verdict": "diverged", "kind": "diverged"})
        reason = (f"{what}: training diverged since step {self._onset}; "
                  f"{self._rollback_note('lower the learning rate or clip the gradients')}")
        return MonitorReport(step, "diverged", reason, self._onset, self.checks, MappingProxyType({"finite": 0}),
                             kind="diverged", rollback_step=self._last_healthy)


def _groups(completions: Any, what: str) -> list[list[str]]:
    if isinstance(completions, str) or not isinstance(completions, Sequence) or not completions:
        raise ConfigError(f"{what} must be a non-empty list of completions per prompt.")
    groups = []
    for g in completions:
        if isinstance(g, str) or not isinstance(g, Sequence) or len(g) < 2 or not all(isinstance(t, str) for t in g):
            raise ConfigError(f"{what} must hold at least 2 completions (strings) for every prompt.")
        groups.append(list(g))
    return groups


def _group(prompts: Sequence[str] | None, completions: Any) -> tuple[list[list[str]], list[str] | None]:
    """(completions per prompt, the prompt order when a flat list was grouped)."""
    if isinstance(completions, Sequence) and completions and all(isinstance(t, str) for t in completions):
        if prompts is None or len(prompts) != len(completions):
            raise ConfigError("a flat list of completions needs prompts= with one prompt per completion.")
        order: dict[str, list[str]] = {}
        for p, t in zip(prompts, completions):
            order.setdefault(str(p), []).append(t)
        return _groups(list(order.values()), "completions"), list(order)
    groups = _groups(completions, "completions")
    if prompts is not None and len(prompts) != len(groups):
        raise ConfigError(f"got {len(prompts)} prompts for {len(groups)} groups of completions; give one prompt per "
                          "group (or a flat list of completions with one prompt each).")
    return groups, None


def _aligned(values: Any, groups: list[list[str]], what: str, names: list[str] | None = None,
             prompts: Sequence[str] | None = None) -> list[list[Any]] | None:
    """``values`` in the completions' grouping (a flat list is grouped by ``prompts``)."""
    if values is None:
        return None
    if names is not None:  # flat input: group the flat values the same way
        if len(values) != sum(len(g) for g in groups):
            raise ConfigError(f"{what} has {len(values)} values for {sum(len(g) for g in groups)} completions.")
        order: dict[str, list[Any]] = {n: [] for n in names}
        for p, v in zip(prompts or [], values):
            order[str(p)].append(v)
        values = list(order.values())
    if len(values) != len(groups) or any(len(v) != len(g) for v, g in zip(values, groups)):
        raise ConfigError(f"{what} must have the completions' shape: one value per completion.")
    return [list(v) for v in values]
