"""Agreement between two importance rankings of the same features (e.g. Captum IG vs SHAP)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def top_k(importance: np.ndarray, features: Sequence[str], k: int) -> list[str]:
    """The ``k`` most important features, ties broken by feature order (stable)."""
    order = np.argsort(-np.asarray(importance, dtype=np.float64), kind="stable")
    return [features[i] for i in order[:k]]


def rank_agreement(a: np.ndarray, b: np.ndarray, features: Sequence[str], k: int = 5) -> dict[str, float | None]:
    """Spearman rho and Kendall tau-b between two importance vectors, and the top-``k`` overlap.

    ``top_overlap`` is |top_k(a) & top_k(b)| / k. Correlations are None when undefined (a
    constant vector, fewer than two features).
    """
    from scipy.stats import kendalltau, spearmanr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) != len(b) or len(a) != len(features):
        raise ValueError("rank_agreement: importance vectors and feature names differ in length")
    k = min(k, len(features))
    overlap = len(set(top_k(a, features, k)) & set(top_k(b, features, k))) / k if k else None
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return {"spearman": None, "kendall": None, "top_overlap": overlap}
    return {
        "spearman": _finite_or_none(spearmanr(a, b).statistic),
        "kendall": _finite_or_none(kendalltau(a, b).statistic),
        "top_overlap": overlap,
    }
