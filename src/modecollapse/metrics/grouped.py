"""Grouped samples: a metric per group (a prompt, a class, a condition) and its summary.

A conditional generator can collapse inside one condition while the pooled set looks
diverse: a class-conditional GAN that draws one image for class 7, or a policy whose 16
completions of one prompt are the same answer while different prompts still get different
answers. So every diversity metric is also computed within each group, and summarised over
groups by the mean, the median and the *worst decile* (the mean of the worst tenth of the
groups, at least one group: where collapse shows first), with the worst group named.

:func:`group_index` turns one id per sample into the rows of each group (groups in order of
first appearance); :func:`by_group` runs any metric function on each group's rows, so a
grouped value equals the ungrouped metric run on that group alone; :func:`summarise` gives
the summary of per-group values.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError


def group_key(value: Hashable) -> str:
    """The group id as a string (JSON keys are strings): ``7`` and ``"7"`` are one group."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def group_index(groups: Sequence[Hashable], *, n: int | None = None, name: str = "groups") -> dict[str, list[int]]:
    """{group id: the rows that belong to it}, groups in order of first appearance.
    ``n``: the number of samples the ids must match."""
    if isinstance(groups, torch.Tensor):
        groups = groups.reshape(-1).tolist()
    if isinstance(groups, (str, bytes)):
        raise ConfigError(f"{name} must give one id per sample, not one string.")
    if n is not None and len(groups) != n:
        raise ConfigError(f"{name} has {len(groups)} ids but there are {n} samples; give one group id per sample.")
    index: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        index.setdefault(group_key(g), []).append(i)
    if not index:
        raise ConfigError(f"{name} is empty; give one group id per sample.")
    return index


def check_group_sizes(index: Mapping[str, Sequence[int]], *, minimum: int = 2, what: str = "group",
                      why: str = "diversity within a group needs at least two samples") -> None:
    """One sentence naming the smallest group when any group has fewer than ``minimum`` samples."""
    small = [(g, len(rows)) for g, rows in index.items() if len(rows) < minimum]
    if small:
        g, size = min(small, key=lambda t: t[1])
        more = f" (and {len(small) - 1} more)" if len(small) > 1 else ""
        raise ConfigError(f"{what} {_short(g)} has {size} sample{'s' if size != 1 else ''}{more}, but {why}; "
                          f"give at least {minimum} per {what}.")


def _short(g: str, width: int = 40) -> str:
    text = g if len(g) <= width else g[: width - 3] + "..."
    return repr(text)


@dataclass(frozen=True)
class GroupSummary:
    """A metric over groups: ``per_group`` {group id: value} (None where the metric is undefined
    for that group), and over the defined values the ``mean``, ``median``, ``worst_decile``
    (mean of the worst tenth of the groups, at least one; worst by ``higher_is_better``), the
    ``worst`` value and the ``worst_group`` holding it, and ``groups`` (how many are defined)."""

    mean: float
    median: float
    worst_decile: float
    worst: float
    worst_group: str
    groups: int
    higher_is_better: bool
    per_group: Mapping[str, float | None]

    def as_dict(self, *, per_group: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean, "median": self.median, "worst_decile": self.worst_decile,
                               "worst": self.worst, "worst_group": self.worst_group, "groups": self.groups}
        if per_group:
            out["per_group"] = dict(self.per_group)
        return out


def summarise(per_group: Mapping[str, float | None], *, higher_is_better: bool) -> GroupSummary | None:
    """The summary of per-group values (None and NaN values left out); None when no group has one."""
    defined = [(g, float(v)) for g, v in per_group.items() if v is not None and not math.isnan(float(v))]
    if not defined:
        return None
    values = [v for _, v in defined]
    order = sorted(defined, key=lambda t: t[1], reverse=not higher_is_better)  # worst first
    tenth = max(1, math.ceil(len(order) / 10))
    worst_decile = math.fsum(v for _, v in order[:tenth]) / tenth
    return GroupSummary(mean=math.fsum(values) / len(values), median=float(statistics.median(values)),
                        worst_decile=worst_decile, worst=order[0][1], worst_group=order[0][0], groups=len(values),
                        higher_is_better=higher_is_better, per_group=dict(per_group))


def by_group(fn: Callable[..., Any], *, groups: Mapping[str, Sequence[int]] | Sequence[Hashable],
             sliced: Sequence[str] = ("samples",), **kwargs: Any) -> dict[str, Any]:
    """``fn`` run on each group's rows: {group id: fn(**kwargs with the ``sliced`` arguments
    cut to the group's rows)}. Any metric function of this package works, e.g.
    ``by_group(vendi, groups=labels, samples=x)`` gives the Vendi score of every class; the
    value of a group equals ``fn`` run on that group alone."""
    missing = [name for name in sliced if name not in kwargs]
    if missing:
        raise ConfigError(f"by_group slices {missing[0]!r}, but no such argument was given.")
    n = len(kwargs[sliced[0]])
    index = groups if isinstance(groups, Mapping) else group_index(groups, n=n)
    out: dict[str, Any] = {}
    for g, rows in index.items():
        idx = torch.as_tensor(list(rows), dtype=torch.long)
        cut = {name: kwargs[name][idx] if isinstance(kwargs[name], torch.Tensor)
               else [kwargs[name][i] for i in rows] for name in sliced}
        out[g] = fn(**{**kwargs, **cut})
    return out
