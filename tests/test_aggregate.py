import math

import pytest

from modecollapse.bench.aggregate import mean_se, summary_table, versus


def test_mean_and_standard_error():
    mean, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    # sample std = sqrt(5/3); s.e. = std / 2
    assert se == pytest.approx(math.sqrt(5 / 3) / 2)
    assert mean_se([7.0]) == (7.0, 0.0)
    assert all(math.isnan(v) for v in mean_se([]))


def test_summary_table_rows():
    runs = [{"modes": 8, "hq_fraction": 0.5, "reverse_kl": 0.1, "wall_seconds": 10},
            {"modes": 6, "hq_fraction": 0.7, "reverse_kl": 0.3, "wall_seconds": 12}]
    table = summary_table({"x": runs}).splitlines()
    assert table[0] == "| setting | modes | hq_fraction | reverse_kl | slowest run (s) |"
    assert table[2] == "| x | 7.0 ± 1.0 | 0.600 ± 0.100 | 0.200 ± 0.100 | 12 |"


def test_versus_uses_combined_standard_errors():
    plain = [1.0, 1.0, 3.0, 1.0, 1.0]          # 1.4 ± 0.4
    assert versus(plain, [8.0] * 5, higher_is_better=True) == 1
    assert versus(plain, [8.0] * 5, higher_is_better=False) == -1
    assert versus(plain, [1.0, 2.0, 1.0, 2.0, 1.0], higher_is_better=True) == 0   # 1.4 ± 0.24: within 2 s.e.
    assert versus([1.0] * 3, [1.0] * 3, higher_is_better=True) == 0                # identical, s.e. 0
    assert versus([2.0, 2.0], [1.0, 1.0], higher_is_better=False) == 1             # lower is better, no spread
