"""The statistics behind the ``integrity`` pillar, as plain functions of arrays and frames.

Kept apart from the checks so each definition can be read (and tested) on its own:

* :func:`row_keys`: one 64-bit hash per row of features (tabular: numbers compared as floats,
  everything else as text; text: lower-cased, whitespace collapsed; images: the pixel bytes);
* :func:`first_copies`, :func:`conflicting_rows`: duplicates and conflicting labels by those keys;
* :func:`nearest_distances`: each test row's distance to its nearest training row, numeric
  features standardised on train (missing: the train median), categorical ones one-hot;
* :func:`single_feature_auc`: how well one feature alone predicts the label: the out-of-fold
  ROC-AUC of a lookup table (label shares per category, or per quantile bin of a number);
* :func:`mixed_type`: whether an object column mixes numbers and text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

_SPACE = re.compile(r"\s+")


def row_keys(X: Any) -> np.ndarray:
    """A uint64 key per row; equal rows (by the definitions above) share a key."""
    if isinstance(X, pd.DataFrame):
        return pd.util.hash_pandas_object(normalised_frame(X), index=False).to_numpy()
    if isinstance(X, np.ndarray):
        flat = np.ascontiguousarray(X.reshape(len(X), -1)).astype(np.float32)
        return pd.util.hash_array(np.array([row.tobytes() for row in flat], dtype=object))
    texts = np.array([normalise_text(t) for t in X], dtype=object)
    return pd.util.hash_array(texts)


def normalised_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Numbers as float64 (so 3 and 3.0 match across files), everything else as text; NaN kept."""
    out = {}
    for column in X.columns:
        values = X[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(np.float64)
        else:
            out[column] = pd.Series(_as_text(values), index=X.index, dtype=object)  # object: no conversion to arrow text
    return pd.DataFrame(out)


def _as_text(values: pd.Series) -> np.ndarray:
    """``str(value)`` per cell, missing as None; ``str`` runs once per distinct value."""
    present = values.notna().to_numpy()
    mixed = values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string"
    text = values.astype(str) if mixed else values  # object columns may mix 3 and "3": str per cell
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    labels = np.array([str(u) for u in uniques] + [None], dtype=object)
    out = labels[codes]
    out[~present] = None
    return out


def normalise_text(text: Any) -> str:
    return _SPACE.sub(" ", str(text)).strip().lower()


def first_copies(keys: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of rows repeating an earlier row (same key, and same label when given)."""
    frame = pd.DataFrame({"k": keys} if labels is None else {"k": keys, "y": labels})
    return frame.duplicated(keep="first").to_numpy()


def conflicting_rows(keys: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean mask of rows whose features occur elsewhere with a different label."""
    distinct = pd.Series(labels).groupby(keys).transform("nunique").to_numpy()
    return distinct > 1


def encode_for_distance(train: pd.DataFrame, test: pd.DataFrame, numeric: list[str]) -> tuple[Any, Any]:
    """Numeric columns standardised with train's median / standard deviation, the rest one-hot."""
    import scipy.sparse as sp
    from sklearn.preprocessing import OneHotEncoder

    blocks_train, blocks_test = [], []
    if numeric:
        a = train[numeric].astype(np.float64)
        b = test[numeric].astype(np.float64)
        median = a.median().fillna(0.0)
        scale = a.std(ddof=0).replace(0.0, 1.0).fillna(1.0)
        blocks_train.append(sp.csr_matrix(((a.fillna(median) - median) / scale).to_numpy()))
        blocks_test.append(sp.csr_matrix(((b.fillna(median) - median) / scale).to_numpy()))
    categorical = [c for c in train.columns if c not in numeric]
    if categorical:

        def text(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[categorical].astype(object).where(frame[categorical].notna(), "<missing>").astype(str)

        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=True).fit(text(train))
        blocks_train.append(encoder.transform(text(train)))
        blocks_test.append(encoder.transform(text(test)))
    return sp.hstack(blocks_train, format="csr"), sp.hstack(blocks_test, format="csr")


def nearest_distances(
    train: pd.DataFrame,
    test: pd.DataFrame,
    numeric: list[str],
    progress: Callable[[int, int], None] | None = None,
    chunk: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, position in ``train``) of each test row's nearest training row.

    The test rows are searched ``chunk`` at a time (default: about 2M distances per chunk);
    ``progress(done, total)`` follows each chunk.
    """
    A, B = encode_for_distance(train, test, numeric)
    if A.shape[1] <= 2000:  # a dense product is far faster than a sparse one at this width
        A, B = A.toarray(), B.toarray()
    squared_a = np.asarray(A.multiply(A).sum(axis=1)).ravel() if not isinstance(A, np.ndarray) else np.einsum("ij,ij->i", A, A)
    n = B.shape[0]
    chunk = chunk or max(1, 2_000_000 // max(A.shape[0], 1))  # about 16 MB of distances at a time
    distance, index = np.zeros(n), np.zeros(n, dtype=np.int64)
    for start in range(0, n, chunk):
        b = B[start : start + chunk]
        squared_b = np.einsum("ij,ij->i", b, b) if isinstance(b, np.ndarray) else np.asarray(b.multiply(b).sum(axis=1)).ravel()
        d2 = b @ A.T
        d2 = d2.toarray() if hasattr(d2, "toarray") else np.asarray(d2)
        d2 *= -2.0  # |b - a|^2 = |b|^2 - 2 b.a + |a|^2, as scikit-learn's euclidean_distances; in place:
        d2 += squared_b[:, None]  # fresh large arrays cost page faults
        d2 += squared_a[None, :]
        nearest = d2.argmin(axis=1)
        distance[start : start + chunk] = np.sqrt(np.maximum(d2[np.arange(len(nearest)), nearest], 0.0))
        index[start : start + chunk] = nearest
        if progress is not None:
            progress(min(start + chunk, n), n)
    return distance, index


def feature_codes(values: pd.Series, bins: int) -> np.ndarray:
    """Integer codes per row: a category, or a quantile bin of a number; missing is its own code."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and values.nunique() > bins:
        binned = pd.qcut(values.astype(np.float64), q=bins, labels=False, duplicates="drop")
        return np.where(binned.isna(), -1, binned.fillna(-1)).astype(np.int64)
    return pd.factorize(values.astype(object).where(values.notna(), "<missing>").astype(str))[0].astype(np.int64)


def single_feature_auc(
    codes: np.ndarray, y: np.ndarray, n_classes: int, folds: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Out-of-fold ROC-AUC of predicting ``y`` from ``codes`` by the label shares of each code.

    Shares are smoothed towards the fold's class prior (one pseudo-row), so a code seen once, or
    never (an identifier), predicts the prior: identifiers score 0.5, not 1.0.
    """
    from sklearn.metrics import roc_auc_score

    codes = codes - codes.min()
    n_codes = int(codes.max()) + 1
    oof = np.zeros((len(y), n_classes))
    for fit, held in folds:
        counts = np.zeros((n_codes, n_classes))
        np.add.at(counts, (codes[fit], y[fit]), 1.0)
        prior = np.bincount(y[fit], minlength=n_classes) / len(fit)
        shares = (counts + prior) / (counts.sum(axis=1, keepdims=True) + 1.0)
        oof[held] = shares[codes[held]]
    if len(np.unique(y)) < 2:
        return float("nan")
    if n_classes == 2:
        return float(roc_auc_score(y, oof[:, 1]))
    present = np.unique(y)
    if len(present) < n_classes:
        oof = oof[:, present] / oof[:, present].sum(axis=1, keepdims=True)
        y = np.searchsorted(present, y)
    return float(roc_auc_score(y, oof, multi_class="ovr", average="macro"))


def mixed_type(values: pd.Series) -> tuple[bool, float]:
    """(mixes numbers and text?, share of non-missing values that read as numbers).

    Object columns only: Python numbers next to strings, or text that parses as a number next to
    text that does not (a CSV column of ages with a few 'unknown').
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False, 1.0
    present = values.dropna()
    if present.empty:
        return False, 0.0
    # each distinct value parsed once, weighted by its count (a 1M-row column has few distinct values)
    counts = present.astype(object).value_counts(sort=False, dropna=False)
    distinct = pd.Series(counts.index, dtype=object)
    numeric = pd.to_numeric(distinct.astype(str).str.strip(), errors="coerce").notna().to_numpy()
    weights = counts.to_numpy(dtype=np.float64)
    share = float(weights[numeric].sum() / weights.sum())
    inferred = pd.api.types.infer_dtype(distinct, skipna=True)
    return (0.0 < share < 1.0) or inferred in ("mixed", "mixed-integer"), share
