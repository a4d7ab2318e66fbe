"""``modecollapse measure`` on a language model's completions, prompt by prompt.

A completions file is JSON Lines, one sample a line: ``{"prompt": ..., "completion": ...}``
with optional ``"correct"`` (a verifier's bool) and ``"reward"`` (a number). The prompt is the
group: every diversity metric is computed over the completions of each prompt and summarised
over prompts (mean, median, worst decile, worst prompt; :mod:`modecollapse.metrics.grouped`).
A prompt or completion may also be a chat, a list of ``{"role", "content"}`` messages (TRL's
conversational format): its contents are joined.

Per prompt (:data:`TEXT_METRICS`): the unique-completion ratio and the completion entropy
(exact match after a normaliser), distinct-n and self-BLEU, the same on extracted answers,
distinct correct answers and pass@k (from ``correct``), the reward's mean and spread (from
``reward``), and with an embedder the Vendi score and the mean cosine similarity of the
completions' embeddings. Over all prompts: the prompt dependence I(prompt; completion) and,
with embeddings, the share of completions whose nearest neighbour answers the same prompt
(template collapse), the share of prompts whose rewards all tie (no GRPO signal), and
against reference completions, precision, recall, density and coverage of the embeddings.
With reference completions (``--real``: the base policy's, to the same prompts) every number
is also given for the reference and as a ratio to it.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..metrics.completions import (
    ANSWER_EXTRACTORS,
    NORMALISERS,
    TextFn,
    completion_entropy,
    prompt_dependence,
    repetition_rate,
    resolve_text_fn,
    same_prompt_neighbours,
    unique_ratio,
)
from ..metrics.grouped import GroupSummary, check_group_sizes, summarise
from ..metrics.passk import default_ks, pass_at_k
from ..metrics.sequence import BLEU_DEFINITIONS, distinct_n, ngram_counts, self_bleu
from ..registry import Registry

UNITS = ("words", "chars")


def _text(value: Any, what: str, line: int, path: Path) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in value):
        return "\n".join(m["content"] for m in value)
    raise ConfigError(f"{path} line {line}: {what!r} must be a string or a list of {{\"role\", \"content\"}} "
                      f"messages, got {type(value).__name__}.")


@dataclass(frozen=True)
class CompletionSet:
    """Completions grouped by prompt: ``prompts[i]`` got ``completions[i]`` (a tuple of
    strings), with the verifier's ``correct[i]`` and the ``rewards[i]`` when known."""

    prompts: tuple[str, ...]
    completions: tuple[tuple[str, ...], ...]
    correct: tuple[tuple[bool, ...], ...] | None = None
    rewards: tuple[tuple[float, ...], ...] | None = None

    @classmethod
    def from_rows(cls, prompts: Sequence[str], completions: Sequence[str], *, correct: Sequence[bool] | None = None,
                  rewards: Sequence[float] | None = None) -> CompletionSet:
        """From one row per completion (prompts repeat); prompts keep their first-appearance order."""
        if len(prompts) != len(completions):
            raise ConfigError(f"got {len(prompts)} prompts for {len(completions)} completions; give one prompt per "
                              "completion.")
        for name, extra in (("correct", correct), ("rewards", rewards)):
            if extra is not None and len(extra) != len(completions):
                raise ConfigError(f"got {len(extra)} {name} values for {len(completions)} completions; give one per "
                                  "completion.")
        order: dict[str, list[int]] = {}
        for i, p in enumerate(prompts):
            order.setdefault(p, []).append(i)
        if not order:
            raise ConfigError("there are no completions to measure.")

        def pick(values: Sequence[Any] | None, cast: Callable[[Any], Any]) -> tuple | None:
            return None if values is None else tuple(tuple(cast(values[i]) for i in rows) for rows in order.values())

        return cls(prompts=tuple(order), completions=pick(completions, str),  # type: ignore[arg-type]
                   correct=pick(correct, bool), rewards=pick(rewards, float))

    @property
    def n(self) -> int:
        return sum(len(c) for c in self.completions)


def load_completions(path: str | Path, *, name: str = "completions") -> CompletionSet:
    """Reads a completions JSONL file (module docstring); every problem is one sentence naming
    the line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no such {name} file: {path}.")
    prompts: list[str] = []
    texts: list[str] = []
    correct: list[Any] = []
    rewards: list[Any] = []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            lines = f.read().splitlines()
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text; write the JSON lines as UTF-8.") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} line {number} is not valid JSON ({err.msg}); write one JSON object per "
                              "line.") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path} line {number} is a JSON {type(row).__name__}, not an object with \"prompt\" "
                              "and \"completion\".")
        for key in ("prompt", "completion"):
            if key not in row:
                raise ConfigError(f"{path} line {number} has no {key!r} field; each line needs \"prompt\" and "
                                  "\"completion\".")
        prompts.append(_text(row["prompt"], "prompt", number, path))
        texts.append(_text(row["completion"], "completion", number, path))
        c, r = row.get("correct"), row.get("reward")
        if c is not None and not isinstance(c, bool):
            raise ConfigError(f"{path} line {number}: \"correct\" must be true or false, got {c!r}.")
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r)):
            raise ConfigError(f"{path} line {number}: \"reward\" must be a finite number, got {r!r}.")
        correct.append(c)
        rewards.append(r)
    if not texts:
        raise ConfigError(f"{path} holds no completion; write one JSON object per line.")
    extras: dict[str, list[Any] | None] = {}
    for key, values in (("correct", correct), ("reward", rewards)):
        given = sum(v is not None for v in values)
        if 0 < given < len(values):
            first = next(i for i, v in enumerate(values) if v is None)
            raise ConfigError(f"{path}: {given} of {len(values)} lines have {key!r} but not all (the first without "
                              f"it is completion {first + 1}); give it on every line or on none.")
        extras[key] = values if given else None
    return CompletionSet.from_rows(prompts, texts, correct=extras["correct"], rewards=extras["reward"])


# -- the per-prompt metrics --------------------------------------------------------------------
@dataclass(frozen=True)
class PromptView:
    """What the per-prompt metrics read of one prompt's completions."""

    normalised: list[str]
    tokens: list[tuple[str, ...]]
    answers: list[str] | None
    correct: list[bool] | None
    rewards: list[float] | None
    embeddings: torch.Tensor | None
    max_n: int
    ks: list[int]
    bleu_definition: str


@dataclass(frozen=True)
class TextMetric:
    """A per-prompt metric: ``compute`` returns {JSON key: value or None where undefined};
    ``needs`` of "answers", "correct", "rewards", "embeddings"."""

    name: str
    higher_is_better: bool
    summary: str
    compute: Callable[[PromptView], dict[str, float | None]]
    needs: tuple[str, ...] = ()


def _distinct(v: PromptView) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for n in range(1, v.max_n + 1):
        out[f"distinct_{n}"] = distinct_n(v.tokens, n) if sum(ngram_counts(v.tokens, n).values()) else None
    return out


def _self_bleu(v: PromptView) -> dict[str, float | None]:
    return {"self_bleu": self_bleu(v.tokens, definition=v.bleu_definition)}  # type: ignore[arg-type]


def _repetition(v: PromptView) -> dict[str, float | None]:
    rates = [r for r in (repetition_rate(t, 2) for t in v.tokens) if r is not None]
    return {"repetition": math.fsum(rates) / len(rates) if rates else None}


def _distinct_correct(v: PromptView) -> dict[str, float | None]:
    assert v.correct is not None
    keys = v.answers if v.answers is not None else v.normalised
    return {"distinct_correct": float(len({k for k, c in zip(keys, v.correct) if c}))}


def _pass_at_k(v: PromptView) -> dict[str, float | None]:
    assert v.correct is not None
    n, c = len(v.correct), sum(v.correct)
    return {f"pass_at_{k}": pass_at_k(n, c, k) for k in v.ks}


def _rewards(v: PromptView) -> dict[str, float | None]:
    assert v.rewards is not None
    return {"reward_mean": statistics.fmean(v.rewards), "reward_std": statistics.pstdev(v.rewards)}


def _embedding(v: PromptView) -> dict[str, float | None]:
    from ..metrics.vendi import vendi

    assert v.embeddings is not None
    x = v.embeddings.double()
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = x @ x.T
    n = len(x)
    off = (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))
    return {"vendi": vendi(samples=v.embeddings, kernel="cosine").vendi, "cosine_similarity": float(off)}


#: per-prompt metric name -> spec (several JSON keys per metric: distinct gives distinct_1 ...)
TEXT_METRICS: Registry[TextMetric] = Registry("completion metric")
for _m in [
    TextMetric("unique_ratio", True, "distinct completions / completions of a prompt, after the normaliser (1/n: "
               "one answer)", lambda v: {"unique_ratio": unique_ratio(v.normalised)}),
    TextMetric("entropy", True, "plug-in entropy (nats) of a prompt's completions as strings (0: one answer; "
               "log n: all differ)", lambda v: {"entropy": completion_entropy(v.normalised)}),
    TextMetric("distinct", True, "distinct_n within a prompt's completions, n = 1..--max-n (Li et al. 2016)",
               _distinct),
    TextMetric("self_bleu", False, "self-BLEU within a prompt's completions (1: identical; Zhu et al. 2018)",
               _self_bleu),
    TextMetric("repetition", False, "share of a completion's bigrams repeating an earlier one, mean over the "
               "prompt's completions (degeneration)", _repetition),
    TextMetric("answer_unique_ratio", True, "distinct extracted answers / completions of a prompt (--answer)",
               lambda v: {"answer_unique_ratio": unique_ratio(v.answers or [])}, ("answers",)),
    TextMetric("answer_entropy", True, "plug-in entropy (nats) of a prompt's extracted answers (--answer)",
               lambda v: {"answer_entropy": completion_entropy(v.answers or [])}, ("answers",)),
    TextMetric("distinct_correct", True, "distinct correct answers of a prompt (answers with --answer, else "
               "normalised completions)", _distinct_correct, ("correct",)),
    TextMetric("pass_at_k", True, "unbiased pass@k of a prompt (Chen et al. 2021), k = 1, 2, 4, ... n",
               _pass_at_k, ("correct",)),
    TextMetric("reward", True, "reward_mean and reward_std (population) of a prompt's completions; std 0: no "
               "GRPO signal", _rewards, ("rewards",)),
    TextMetric("embedding", True, "vendi (cosine kernel) and cosine_similarity (mean pairwise, lower is more "
               "diverse) of a prompt's completion embeddings (--embedder)", _embedding, ("embeddings",)),
]:
    TEXT_METRICS.add(_m.name, _m)

#: JSON keys whose direction differs from their metric's
LOWER_IS_BETTER_KEYS = {"cosine_similarity"}


@dataclass
class TextOptions:
    """How completions are compared: the normaliser before exact match, the answer extractor
    (None: no answer metrics), tokens for n-gram metrics (words or chars), the largest n of
    distinct-n, the BLEU definition, the k of pass@k (None: 1, 2, 4, ... n)."""

    normalise: str | TextFn = "whitespace"
    answer: str | TextFn | None = None
    units: str = "words"
    max_n: int = 4
    bleu_definition: str = "texygen"
    ks: Sequence[int] | None = None

    def validate(self) -> None:
        if self.units not in UNITS:
            raise ConfigError(f"unknown text units {self.units!r}; choose one of: {', '.join(UNITS)}.")
        if not isinstance(self.max_n, int) or self.max_n < 1:
            raise ConfigError(f"--max-n must be >= 1, got {self.max_n}.")
        if self.bleu_definition not in BLEU_DEFINITIONS:
            raise ConfigError(f"unknown --bleu-definition {self.bleu_definition!r}; choose one of: "
                              f"{', '.join(BLEU_DEFINITIONS)}.")


@dataclass
class _Prepared:
    views: list[PromptView]
    normalised: list[list[str]]
    answers: list[list[str]] | None
    embeddings: torch.Tensor | None = None
    rows: list[list[int]] = field(default_factory=list)


def _prepare(s: CompletionSet, o: TextOptions, embed: Callable[[list[str]], torch.Tensor] | None,
             progress: bool) -> _Prepared:
    norm = resolve_text_fn(o.normalise, NORMALISERS)
    extract = resolve_text_fn(o.answer, ANSWER_EXTRACTORS) if o.answer is not None else None
    check_group_sizes({p: c for p, c in zip(s.prompts, s.completions)}, what="prompt",
                      why="diversity within a prompt needs at least two completions of it")
    ks = list(o.ks) if o.ks is not None else None
    smallest = min(len(c) for c in s.completions)
    if s.correct is not None:
        ks = ks or default_ks(smallest)
        if max(ks) > smallest or min(ks) < 1:
            raise ConfigError(f"pass@k needs 1 <= k <= the completions of every prompt ({smallest} for the smallest); "
                              f"got k = {max(ks) if max(ks) > smallest else min(ks)}.")
    normalised = [[norm(t) for t in group] for group in s.completions]
    answers = [[extract(t) for t in group] for group in s.completions] if extract is not None else None
    flat = [t for group in s.completions for t in group]
    embeddings = None
    if embed is not None:
        embeddings = embed(flat, progress=progress) if _takes_progress(embed) else embed(flat)  # type: ignore[call-arg]
        if not isinstance(embeddings, torch.Tensor) or embeddings.shape[0] != len(flat) or embeddings.ndim != 2:
            raise ConfigError("the embedder must return one embedding row per completion.")
    views, rows, start = [], [], 0
    for i, group in enumerate(normalised):
        idx = list(range(start, start + len(group)))
        start += len(group)
        rows.append(idx)
        toks = [tuple(t.split()) if o.units == "words" else tuple(t) for t in group]
        views.append(PromptView(
            normalised=group, tokens=toks, answers=answers[i] if answers is not None else None,
            correct=list(s.correct[i]) if s.correct is not None else None,
            rewards=list(s.rewards[i]) if s.rewards is not None else None,
            embeddings=embeddings[idx] if embeddings is not None else None,
            max_n=o.max_n, ks=ks or [], bleu_definition=o.bleu_definition))
    return _Prepared(views, normalised, answers, embeddings, rows)


def _takes_progress(fn: Callable) -> bool:
    import inspect

    try:
        return "progress" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _per_prompt(prep: _Prepared, prompts: Sequence[str], names: Sequence[str]) -> dict[str, GroupSummary]:
    per: dict[str, dict[str, float | None]] = {}
    direction: dict[str, bool] = {}
    for name in names:
        spec = TEXT_METRICS.get(name)
        for prompt, view in zip(prompts, prep.views):
            for key, value in spec.compute(view).items():
                per.setdefault(key, {})[prompt] = value
                direction[key] = spec.higher_is_better and key not in LOWER_IS_BETTER_KEYS
    out = {}
    for key, values in per.items():
        summary = summarise(values, higher_is_better=direction[key])
        if summary is not None:
            out[key] = summary
    return out


def _pooled(s: CompletionSet, prep: _Prepared) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        "prompt_dependence": prompt_dependence(prep.normalised),
        "pooled_unique_ratio": unique_ratio([t for g in prep.normalised for t in g]),
    }
    if prep.answers is not None:
        out["answer_prompt_dependence"] = prompt_dependence(prep.answers)
    if s.rewards is not None:
        out["reward_zero_std_share"] = sum(len(set(r)) == 1 for r in s.rewards) / len(s.rewards)
    if prep.embeddings is not None and len(s.prompts) > 1:
        groups = [i for i, rows in enumerate(prep.rows) for _ in rows]
        share, chance = same_prompt_neighbours(prep.embeddings, groups)
        out["same_prompt_neighbour"] = share
        out["same_prompt_neighbour_chance"] = chance
    return out


#: pooled keys and their direction (True: higher is better)
POOLED_KEYS = {"prompt_dependence": True, "answer_prompt_dependence": True, "pooled_unique_ratio": True,
               "reward_zero_std_share": False, "same_prompt_neighbour": True}


def text_metric_names(s: CompletionSet, *, has_answers: bool, has_embeddings: bool,
                      requested: Sequence[str] | None = None) -> list[str]:
    """The per-prompt metrics that the inputs allow (all of them by default)."""
    have = {"answers": has_answers, "correct": s.correct is not None, "rewards": s.rewards is not None,
            "embeddings": has_embeddings}
    if requested is None:
        return [n for n, spec in TEXT_METRICS.items() if all(have[x] for x in spec.needs)]
    for n in requested:
        spec = TEXT_METRICS.get(n)
        missing = [x for x in spec.needs if not have[x]]
        if missing:
            hint = {"answers": "give --answer NAME or module:function", "correct": "give \"correct\" on every line",
                    "rewards": "give \"reward\" on every line", "embeddings": "give --embedder SPEC"}[missing[0]]
            raise ConfigError(f"metric {n!r} needs {missing[0]}; {hint}.")
    return list(requested)


def measure_completions(
    fake: CompletionSet, real: CompletionSet | None = None, *, options: TextOptions | None = None,
    metrics: Sequence[str] | None = None, embedder: Callable[[list[str]], torch.Tensor] | None = None,
    embedding_params: Any = None, progress: bool = False, per_group: bool = True,
) -> dict[str, Any]:
    """Every per-prompt and pooled metric of ``fake`` (module docstring), with ``real`` (the
    reference policy's completions) measured the same way and each mean as a ratio to it.
    ``embedder``: texts -> (n, d) embeddings (:func:`modecollapse.features.text.load_text_embedder`).
    ``embedding_params``: the :class:`~.core.MeasureParams` of the embedding metrics against
    the reference. Returns a JSON-ready dict."""
    o = options or TextOptions()
    o.validate()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    prep = _prepare(fake, o, embedder, progress)
    names = text_metric_names(fake, has_answers=prep.answers is not None, has_embeddings=prep.embeddings is not None,
                              requested=metrics)
    seconds["prepare"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    summaries = _per_prompt(prep, fake.prompts, names)
    pooled = _pooled(fake, prep)
    seconds["metrics"] = round(time.perf_counter() - t0, 3)
    out: dict[str, Any] = {key: s.mean for key, s in summaries.items()}
    out.update(pooled)
    out["groups"] = {key: s.as_dict(per_group=per_group) for key, s in summaries.items()}
    directions = {key: s.higher_is_better for key, s in summaries.items()}
    directions.update({k: POOLED_KEYS[k] for k in pooled if k in POOLED_KEYS})
    if real is not None:
        t0 = time.perf_counter()
        rprep = _prepare(real, o, embedder, progress)
        allowed = text_metric_names(real, has_answers=rprep.answers is not None,
                                    has_embeddings=rprep.embeddings is not None)
        rnames = [n for n in names if n in allowed]
        rsum = _per_prompt(rprep, real.prompts, rnames)
        rpooled = _pooled(real, rprep)
        ref: dict[str, Any] = {key: s.mean for key, s in rsum.items()}
        ref.update(rpooled)
        ref["groups"] = {key: s.as_dict(per_group=per_group) for key, s in rsum.items()}
        ref["n_prompts"], ref["n"] = len(real.prompts), real.n
        out["reference"] = ref
        out["relative"] = {key: (out[key] / ref[key] if ref[key] else None)
                           for key in out if key in ref and isinstance(out[key], float) and isinstance(ref[key], float)}
        if prep.embeddings is not None and rprep.embeddings is not None:
            from .core import Inputs, MeasureParams, measure

            params = embedding_params or MeasureParams()
            knn = ["precision", "recall", "density", "coverage"]
            e = measure(Inputs(fake=prep.embeddings, real=rprep.embeddings), params, knn)
            for key in knn:
                out[f"embedding_{key}"] = e[key]
                directions[f"embedding_{key}"] = True
            out["groups"].update(_embedding_knn_per_prompt(fake, real, prep, rprep, params, per_group))
        seconds["reference"] = round(time.perf_counter() - t0, 3)
    out["higher_is_better"] = directions
    out["params"] = {"normalise": o.normalise if isinstance(o.normalise, str) else getattr(o.normalise, "__name__", "?"),
                     "answer": o.answer if o.answer is None or isinstance(o.answer, str)
                     else getattr(o.answer, "__name__", "?"),
                     "units": o.units, "max_n": o.max_n, "bleu_definition": o.bleu_definition,
                     "ks": prep.views[0].ks if fake.correct is not None else None,
                     "entropy_unit": "nats", "worst_decile": "mean of the worst tenth of the prompts (at least one)"}
    out["n_prompts"] = len(fake.prompts)
    out["n_fake"] = fake.n
    out["n_real"] = None if real is None else real.n
    out["completions_per_prompt"] = {"min": min(len(c) for c in fake.completions),
                                     "max": max(len(c) for c in fake.completions)}
    out["seconds"] = seconds
    return out


def _embedding_knn_per_prompt(fake: CompletionSet, real: CompletionSet, prep: _Prepared, rprep: _Prepared,
                              params: Any, per_group: bool) -> dict[str, Any]:
    """Per prompt: precision, recall, density and coverage of the completions' embeddings
    against the reference's completions of the same prompt (prompts both sets hold, with more
    than k completions on each side); empty when no prompt qualifies."""
    from .core import Inputs
    from .grouped import measure_grouped

    k = max(params.of("pr").k, params.of("dc").k)
    rrows = dict(zip(real.prompts, rprep.rows))
    shared = [(p, rows) for p, rows in zip(fake.prompts, prep.rows) if p in rrows and len(rows) > k
              and len(rrows[p]) > k]
    if not shared or prep.embeddings is None or rprep.embeddings is None:
        return {}
    fidx = [i for _, rows in shared for i in rows]
    ridx = [i for p, _ in shared for i in rrows[p]]
    fg = [p for p, rows in shared for _ in rows]
    rg = [p for p, _ in shared for _ in rrows[p]]
    summaries = measure_grouped(Inputs(fake=prep.embeddings[fidx], real=rprep.embeddings[ridx]), params,
                                ["precision", "recall", "density", "coverage"], fake_groups=fg, real_groups=rg)
    return {f"embedding_{n}": s.as_dict(per_group=per_group) for n, s in summaries.items()}


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def human_completions(result: dict[str, Any]) -> str:
    """The text table of :func:`measure_completions`'s result: one row per metric, the mean,
    median, worst decile and worst prompt over prompts, and the reference's mean beside it."""
    cpp = result["completions_per_prompt"]
    each = f"{cpp['min']}" if cpp["min"] == cpp["max"] else f"{cpp['min']}-{cpp['max']}"
    lines = [f"{result['n_prompts']} prompts x {each} completions ({result['n_fake']} in all)"
             + (f" vs {result['reference']['n_prompts']} reference prompts ({result['n_real']})"
                if "reference" in result else "")]
    ref = result.get("reference", {})
    rel = result.get("relative", {})
    head = f"  {'per prompt':<28} {'mean':>8} {'median':>8} {'worst10%':>9}  {'worst prompt':<26}"
    if ref:
        head += f" {'reference':>10} {'ratio':>6}"
    lines.append(head)
    hib = result["higher_is_better"]
    for key, g in result["groups"].items():
        arrow = "+" if hib.get(key, True) else "-"
        worst = f"{_short(g['worst_group'])} {_fmt(g['worst'])}"
        row = (f"  {key + ' (' + arrow + ')':<28} {_fmt(g['mean']):>8} {_fmt(g['median']):>8} "
               f"{_fmt(g['worst_decile']):>9}  {worst:<26}")
        if ref:
            row += f" {_fmt(ref.get(key)):>10} {_fmt(rel.get(key)):>6}"
        lines.append(row.rstrip())
    pooled = [k for k in result if k in POOLED_KEYS or k.startswith("embedding_")
              or k == "same_prompt_neighbour_chance"]
    if pooled:
        lines.append(f"  {'over all prompts':<28} {'value':>8}" + (f" {'reference':>57}" if ref else ""))
        for key in pooled:
            arrow = "" if key not in hib else (" (+)" if hib[key] else " (-)")
            row = f"  {key + arrow:<28} {_fmt(result[key]):>8}"
            if ref and key in ref:
                row += f" {_fmt(ref[key]):>57}"
            lines.append(row)
    lines.append("  (+ / -: higher / lower is more diverse or better; worst10%: mean of the worst tenth of prompts)")
    return "\n".join(lines)


def _short(text: str, width: int = 20) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def is_completions_input(spec: str | None) -> bool:
    """Whether ``spec`` is a completions JSONL file (``.jsonl``)."""
    return spec is not None and Path(spec).suffix.lower() == ".jsonl"
