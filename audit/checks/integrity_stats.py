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
            out[column] = values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v))
    return pd.DataFrame(out)


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


def nearest_distances(train: pd.DataFrame, test: pd.DataFrame, numeric: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(distance, position in ``train``) of each test row's nearest training row."""
    from sklearn.neighbors import NearestNeighbors

    A, B = encode_for_distance(train, test, numeric)
    search = NearestNeighbors(n_neighbors=1, algorithm="brute", n_jobs=1).fit(A)
    distance, index = search.kneighbors(B)
    return distance[:, 0], index[:, 0]


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
    numeric = pd.to_numeric(present.astype(str).str.strip(), errors="coerce").notna()
    share = float(numeric.mean())
    inferred = pd.api.types.infer_dtype(present, skipna=True)
    return (0.0 < share < 1.0) or inferred in ("mixed", "mixed-integer"), share
