"""Which features encode a sensitive attribute: Cramér's V on the training rows.

Cramér's V (without bias correction) is in [0, 1] for any pair of categorical variables, so one
scale ranks numeric and categorical features alike; numeric features are first cut into at most
``bins`` quantile bins, and missing values form their own category.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)


def as_categories(column: pd.Series, *, bins: int = 5) -> np.ndarray:
    """A column as integer category codes: quantile bins for numeric data, its distinct values
    otherwise; missing values are a category of their own. (Codes, not labels: the partition is
    what Cramér's V reads, and factorising 700k strings is what cost the time.)"""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) and column.nunique() > bins:
        codes = np.asarray(pd.qcut(column, q=bins, duplicates="drop", labels=False), dtype=np.float64)
        return np.where(np.isnan(codes), -1, codes).astype(np.int64)
    return pd.factorize(column, use_na_sentinel=True)[0].astype(np.int64)  # -1: missing


def contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The observed categories' cross-table of two code arrays (what ``pd.crosstab`` counts)."""
    a, b = np.asarray(a, dtype=np.int64) + 1, np.asarray(b, dtype=np.int64) + 1  # codes >= -1 (missing)
    width = int(b.max(initial=0)) + 1
    table = np.bincount(a * width + b, minlength=(int(a.max(initial=0)) + 1) * width).reshape(-1, width)
    return table[table.any(axis=1)][:, table.any(axis=0)]


def cramers_v(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> float:
    """Cramér's V of two categorical variables of equal length (0 when either is constant)."""
    from scipy.stats.contingency import association

    codes = [x if isinstance(x, np.ndarray) else as_categories(x, bins=np.iinfo(np.int64).max) for x in (a, b)]
    table = contingency(*codes)
    if min(table.shape) < 2:
        return 0.0
    return float(association(table, method="cramer"))


def associations(
    X: pd.DataFrame, sensitive: pd.DataFrame, columns: Sequence[str], features: Sequence[str], *, bins: int = 5
) -> dict[str, dict[str, float]]:
    """sensitive column -> feature -> Cramér's V, on the given rows."""
    coded = {f: as_categories(X[f], bins=bins) for f in features}
    groups = {s: pd.factorize(sensitive[s].astype(str))[0] for s in columns}
    return {s: {f: cramers_v(groups[s], coded[f]) for f in features} for s in columns}


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
