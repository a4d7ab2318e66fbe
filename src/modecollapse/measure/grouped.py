"""Feature metrics within groups: per class, per prompt, per condition.

:func:`measure_grouped` runs the registered metrics (:mod:`.core`) on each group's rows, so a
group's value is exactly the metric run on that group alone, and summarises them over groups
(:class:`~modecollapse.metrics.grouped.GroupSummary`: mean, median, worst decile, the worst
group). A metric that compares with real data (precision, recall, coverage ...) compares a
fake group with the real samples of the same group, so it needs the real set's group ids
too; without them only the fake-only metrics (Vendi, effective rank ...) are grouped.
"""
from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from ..errors import ConfigError
from ..metrics.grouped import GroupSummary, check_group_sizes, group_index, summarise
from .core import METRICS, Inputs, MeasureParams, measure

#: grouped when a grouped measurement names no metrics: the per-class diversity and fidelity
#: numbers (the others need more samples than a group usually has: FID, KID, NDB, birthday)
GROUPED_DEFAULT = ("precision", "recall", "density", "coverage", "vendi")
#: metrics that can be computed within a group
GROUPABLE = ("precision", "recall", "density", "coverage", "vendi", "fid", "kid", "effective_rank", "embedding_std",
             "memorisation", "modes")


def grouped_metric_names(requested: Sequence[str] | None, *, has_real_groups: bool) -> list[str]:
    """The metrics to group: the requested ones that can be grouped (default
    :data:`GROUPED_DEFAULT`), without those that compare with real data when the real set has
    no group ids."""
    names = [n for n in (requested or GROUPED_DEFAULT) if n in GROUPABLE]
    if not has_real_groups:
        names = [n for n in names if "real" not in METRICS.get(n).needs and n != "fid"]
    return names


def measure_grouped(
    inputs: Inputs, params: MeasureParams, metrics: Sequence[str], *, fake_groups: Sequence[Hashable],
    real_groups: Sequence[Hashable] | None = None, progress: bool = False,
) -> dict[str, GroupSummary]:
    """{metric: summary over groups} of ``metrics`` within each group of ``fake_groups`` (one
    id per fake row) against the same group of ``real_groups`` (one id per real row)."""
    fake_index = group_index(fake_groups, n=len(inputs.fake), name="the fake set's group ids")
    check_group_sizes(fake_index)
    real_index = None
    if real_groups is not None:
        if inputs.real is None:
            raise ConfigError("real group ids were given without real samples; pass the real set too.")
        real_index = group_index(real_groups, n=len(inputs.real), name="the real set's group ids")
    needs_real = [n for n in metrics if "real" in METRICS.get(n).needs or n == "fid"]
    if needs_real and real_index is None:
        raise ConfigError(f"metric {needs_real[0]!r} within groups compares each group with the real samples of the "
                          "same group; give the real set's group ids too (--real-groups FILE).")
    if real_index is not None and needs_real:
        missing = [g for g in fake_index if g not in real_index]
        if missing:
            raise ConfigError(f"group {missing[0]!r} of the fake set has no real samples ({len(missing)} such groups); "
                              "give real samples of every group, or leave out the metrics that compare.")
        check_group_sizes({g: real_index[g] for g in fake_index}, what="real group")
    per: dict[str, dict[str, float | None]] = {n: {} for n in metrics}
    groups = list(fake_index.items())
    bar = None
    if progress and len(groups) > 1:
        from tqdm import tqdm

        bar = tqdm(total=len(groups), desc="groups", unit="group", file=sys.stderr, leave=False)
    for g, rows in groups:
        sub = Inputs(fake=inputs.fake[torch.as_tensor(rows)],
                     real=inputs.real[torch.as_tensor(real_index[g])] if real_index is not None and g in real_index
                     else None,
                     modes=inputs.modes, modes_source=inputs.modes_source)
        try:
            values = measure(sub, params, list(metrics))
        except ConfigError as err:
            raise ConfigError(f"in group {g!r}: {err}") from None
        for n in metrics:
            per[n][g] = values.get(n)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    out: dict[str, GroupSummary] = {}
    for n in metrics:
        s = summarise(per[n], higher_is_better=METRICS.get(n).higher_is_better)
        if s is not None:
            out[n] = s
    return out


def grouped_json(summaries: dict[str, GroupSummary], *, per_group: bool = True) -> dict[str, Any]:
    """The summaries as JSON-ready dicts."""
    return {n: s.as_dict(per_group=per_group) for n, s in summaries.items()}
