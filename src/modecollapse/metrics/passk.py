"""pass@k: the chance that at least one of k samples of a prompt is correct.

Chen et al. 2021 ("Evaluating Large Language Models Trained on Code", Codex), the unbiased
estimator from n samples of which c are correct::

    pass@k = 1 - C(n - c, k) / C(n, k)

computed as the product 1 - prod_{i = n-c+1}^{n} (1 - k / i), in log space (a sum of
log1p terms), so n in the thousands neither overflows a binomial coefficient nor loses the
small differences that a direct ratio of factorials would. pass@k is 1 when fewer than k
samples are wrong (every k-subset holds a correct one).

RL post-training sharpens a policy onto answers it already finds: pass@1 rises while pass@k
for large k falls (Yue et al. 2025, "Does Reinforcement Learning Really Incentivize Reasoning
Capacity in LLMs Beyond the Base Model?"), the per-prompt signature of answer collapse.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ConfigError


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one prompt with ``n`` samples of which ``c`` are correct
    (0 <= c <= n, 1 <= k <= n); in [0, 1], higher is better."""
    for name, v in (("n", n), ("c", c), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"pass@k needs integer {name}, got {v!r}.")
    if n < 1:
        raise ConfigError(f"pass@k needs at least one sample (n >= 1), got n = {n}.")
    if not 0 <= c <= n:
        raise ConfigError(f"pass@k needs 0 <= c <= n correct samples, got c = {c} of n = {n}.")
    if not 1 <= k <= n:
        raise ConfigError(f"pass@k needs 1 <= k <= n = {n}, got k = {k}; sample at least k completions per prompt.")
    if n - c < k:
        return 1.0
    # log C(n-c, k) / C(n, k) = sum_{i=n-c+1}^{n} log(1 - k/i)
    log_fail = math.fsum(math.log1p(-k / i) for i in range(n - c + 1, n + 1))
    return 0.0 - math.expm1(log_fail)  # (0.0 - : no negative zero when no sample is correct)


def default_ks(n: int) -> list[int]:
    """k = 1, 2, 4, ... up to n, and n itself: the curve the RL papers plot."""
    if n < 1:
        raise ConfigError(f"pass@k needs at least one sample per prompt, got {n}.")
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def pass_at_k_groups(correct: Sequence[Sequence[bool]], ks: Sequence[int] | None = None) -> dict[int, list[float]]:
    """pass@k of each group (prompt) of correctness flags, for each k in ``ks`` (default
    :func:`default_ks` of the smallest group): {k: [pass@k of group 0, group 1, ...]}."""
    if not correct:
        raise ConfigError("pass@k needs at least one prompt with correctness flags.")
    smallest = min(len(g) for g in correct)
    ks = list(ks) if ks is not None else default_ks(smallest)
    bad = [k for k in ks if k > smallest]
    if bad:
        raise ConfigError(f"pass@{bad[0]} needs at least {bad[0]} samples for every prompt, but one prompt has "
                          f"{smallest}; ask for k <= {smallest}.")
    return {k: [pass_at_k(len(g), sum(bool(x) for x in g), k) for g in correct] for k in ks}
