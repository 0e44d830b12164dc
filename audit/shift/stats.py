"""Two-sample drift statistics between a reference sample (train) and a current one (test).

* PSI (population stability index) = sum_i (q_i - p_i) ln(q_i / p_i) over bins, p = reference
  shares, q = current shares, each share clipped below at ``eps`` so empty bins stay finite.
  Numeric features use quantile bins of the reference: inner edges are the distinct
  ``k/n_bins`` quantiles (k = 1..n_bins-1), bins are right-closed ``(e_{i-1}, e_i]`` with open
  ends. Categorical features use one bin per category seen in either sample. Missing values form
  a bin of their own whenever either sample has one.
* Two-sample Kolmogorov-Smirnov (``scipy.stats.ks_2samp``, two-sided, default method) on the
  non-missing values of a numeric feature.
* Chi-squared test of homogeneity (``scipy.stats.chi2_contingency`` on the 2 x K table of counts,
  Yates' correction when K = 2, as scipy does by default) for categorical features; a feature
  with a single category gives statistic 0 and p-value 1.
* Jensen-Shannon distance (``scipy.spatial.distance.jensenshannon``, base 2, so in [0, 1]) between
  the category shares.
"""

from __future__ import annotations

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

MISSING = "(missing)"


def quantile_edges(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """Distinct inner bin edges at the reference's k/n_bins quantiles (numpy's linear rule)."""
    values = reference[np.isfinite(reference)]
    if values.size == 0 or n_bins < 2:
        return np.empty(0)
    return np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))


def binned_counts(values: np.ndarray, edges: np.ndarray, missing_bin: bool) -> np.ndarray:
    """Counts per right-closed bin (len(edges) + 1 bins), plus a trailing missing-value bin."""
    finite = np.isfinite(values)
    counts = np.bincount(np.searchsorted(edges, values[finite], side="left"), minlength=edges.size + 1)
    return np.append(counts, int((~finite).sum())) if missing_bin else counts


def psi(reference_counts: np.ndarray, current_counts: np.ndarray, eps: float) -> float:
    """Population stability index of two count vectors over the same bins (see module doc)."""
    p = np.maximum(reference_counts / max(reference_counts.sum(), 1), eps)
    q = np.maximum(current_counts / max(current_counts.sum(), 1), eps)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_drift(reference: pd.Series, current: pd.Series, *, n_bins: int, eps: float) -> dict[str, float]:
    """PSI, KS statistic and KS p-value of one numeric feature."""
    from scipy.stats import ks_2samp

    ref = reference.to_numpy(dtype=np.float64, na_value=np.nan)
    cur = current.to_numpy(dtype=np.float64, na_value=np.nan)
    edges = quantile_edges(ref, n_bins)
    missing = bool((~np.isfinite(ref)).any() or (~np.isfinite(cur)).any())
    out = {"psi": psi(binned_counts(ref, edges, missing), binned_counts(cur, edges, missing), eps)}
    a, b = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if a.size and b.size:
        test = ks_2samp(a, b)
        out.update(ks_statistic=float(test.statistic), ks_pvalue=float(test.pvalue))
    else:
        out.update(ks_statistic=float("nan"), ks_pvalue=float("nan"))
    return out


def category_counts(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """2 x K counts (rows: reference, current) over the categories seen in either sample."""
    table = pd.DataFrame({"reference": _text_counts(reference), "current": _text_counts(current)}).fillna(0).astype(np.int64)
    return table.sort_index().T


def _text_counts(values: pd.Series) -> pd.Series:
    """Rows per ``str(value)`` (missing: ``MISSING``). Text columns are counted as they are (O(n)
    hashing); other columns, which may hold 3 and 3.0 that hash alike, are converted per cell."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        counts = values.value_counts(dropna=True)
        counts.index = counts.index.astype(object).map(str)
        missing = int(values.isna().sum())
        if missing:
            counts = pd.concat([counts, pd.Series({MISSING: missing})])
        return counts.groupby(level=0).sum()
    return values.astype(object).where(values.notna(), MISSING).map(str).value_counts()


def categorical_drift(reference: pd.Series, current: pd.Series, *, eps: float) -> dict[str, float]:
    """PSI, chi-squared statistic and p-value, and Jensen-Shannon distance of one categorical feature."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    counts = category_counts(reference, current).to_numpy()
    out = {"psi": psi(counts[0], counts[1], eps)}
    if counts.shape[1] < 2:
        out.update(chi2_statistic=0.0, chi2_pvalue=1.0)
    else:
        test = chi2_contingency(counts)
        out.update(chi2_statistic=float(test.statistic), chi2_pvalue=float(test.pvalue))
    p = counts[0] / max(counts[0].sum(), 1)
    q = counts[1] / max(counts[1].sum(), 1)
    out["js_distance"] = float(jensenshannon(p, q, base=2))
    return out


def severity(value: float, moderate: float, major: float) -> str:
    """'none' below ``moderate``, 'moderate' below ``major``, else 'major' (PSI rule of thumb)."""
    if not np.isfinite(value):
        return "unknown"
    return "none" if value < moderate else "moderate" if value < major else "major"
