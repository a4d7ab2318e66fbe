"""Mean and standard error over seeds, and markdown tables of run summaries."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

COLUMNS = ("modes", "hq_fraction", "reverse_kl")


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n)); s.e. 0 for one value."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def versus(base: Sequence[float], other: Sequence[float], higher_is_better: bool, z: float = 2.0) -> int:
    """+1 if ``other`` beats ``base``, -1 if it is worse, 0 if the difference of the means is
    within ``z`` combined standard errors (a rough screen over a few seeds, not a test)."""
    (mb, sb), (mo, so) = mean_se(base), mean_se(other)
    diff = (mo - mb) if higher_is_better else (mb - mo)
    if abs(diff) <= z * math.hypot(sb, so) or math.isnan(diff) or abs(diff) < 1e-12:
        return 0
    return 1 if diff > 0 else -1


def fmt(mean: float, se: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def summary_row(name: str, summaries: Iterable[dict], columns: Sequence[str] = COLUMNS) -> str:
    """``| name | modes | hq | rkl | ... |`` with mean ± s.e. over the given run summaries."""
    runs = list(summaries)
    cells = [name]
    for col in columns:
        digits = 1 if col == "modes" else 3
        cells.append(fmt(*mean_se([float(r[col]) for r in runs]), digits))
    cells.append(f"{max(r['wall_seconds'] for r in runs):.0f}")
    return "| " + " | ".join(cells) + " |"


def summary_table(groups: dict[str, list[dict]], columns: Sequence[str] = COLUMNS) -> str:
    head = "| setting | " + " | ".join(columns) + " | slowest run (s) |"
    rule = "|" + "---|" * (len(columns) + 2)
    return "\n".join([head, rule] + [summary_row(k, v, columns) for k, v in groups.items()])
