"""Small-sample intervals, one-sided tests and multiple-testing corrections shared by the checks
and the findings (robustness flip rates, slices, findings' disparities and weak groups).

Each equals its SciPy / statsmodels counterpart (tests: ``scipy.stats.binomtest`` Wilson
interval, ``fisher_exact(alternative="greater")``, ``false_discovery_control``); they are written
out so a findings pass over a run does not import SciPy.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for ``k`` successes in ``n`` trials (None when n is 0)."""
    if n <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """One-sided Fisher exact p-value that group 1's rate k1/n1 exceeds group 2's k2/n2:
    P(X >= k1) for X hypergeometric with the table's margins (None without rows)."""
    if n1 <= 0 or n2 <= 0:
        return None
    total, successes = n1 + n2, k1 + k2

    def log_comb(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    denominator = log_comb(total, n1)
    upper = min(n1, successes)
    terms = [log_comb(successes, x) + log_comb(total - successes, n1 - x) - denominator
             for x in range(k1, upper + 1) if 0 <= n1 - x <= total - successes]
    return min(1.0, sum(math.exp(t) for t in terms))


def two_proportion_greater(k1: float, n1: int, k2: float, n2: int) -> float | None:
    """One-sided p-value of a two-proportion z test that rate 1 exceeds rate 2 (pooled variance;
    None without rows or variance)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (k1 / n1 - k2 / n2) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Benjamini-Hochberg ('bh', step-up, monotone) or Holm ('holm') adjusted p-values, capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "bh":
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
