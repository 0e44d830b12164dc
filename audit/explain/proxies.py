"""Which features encode a sensitive attribute: Cramér's V on the training rows.

Cramér's V (without bias correction) is in [0, 1] for any pair of categorical variables, so one
scale ranks numeric and categorical features alike; numeric features are first cut into at most
``bins`` quantile bins, and missing values form their own category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)


def as_categories(column: pd.Series, *, bins: int = 5) -> pd.Series:
    """A column as category labels: quantile bins for numeric data, strings otherwise."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) and column.nunique() > bins:
        labels = pd.qcut(column, q=bins, duplicates="drop").astype(str)
    else:
        labels = column.astype(str)
    return labels.where(column.notna(), "<missing>").reset_index(drop=True)


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Cramér's V of two categorical series of equal length (0 when either is constant)."""
    from scipy.stats.contingency import association

    table = pd.crosstab(a.reset_index(drop=True), b.reset_index(drop=True)).to_numpy()
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def associations(
    X: pd.DataFrame, sensitive: pd.DataFrame, columns: Sequence[str], features: Sequence[str], *, bins: int = 5
) -> dict[str, dict[str, float]]:
    """sensitive column -> feature -> Cramér's V, on the given rows."""
    coded = {f: as_categories(X[f], bins=bins) for f in features}
    return {s: {f: cramers_v(sensitive[s].astype(str), coded[f]) for f in features} for s in columns}


def top_proxies(strength: dict[str, float], k: int, exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
    """The ``k`` features most associated with one attribute, strongest first (ties by name)."""
    ranked = sorted(((f, v) for f, v in strength.items() if f not in exclude), key=lambda fv: (-fv[1], fv[0]))
    return ranked[:k]


def mean_abs_by_group(per_feature: np.ndarray, groups: np.ndarray) -> dict[str, tuple[int, np.ndarray]]:
    """group -> (rows, mean |attribution| per feature) over the rows of that group."""
    groups = np.asarray(groups, dtype=str)
    return {
        g: (int((groups == g).sum()), np.abs(per_feature[groups == g]).mean(axis=0))
        for g in sorted(set(groups.tolist()))
    }
