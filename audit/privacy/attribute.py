"""Attribute inference: how much better a model's outputs let an attacker guess a sensitive value.

For one sensitive column, a logistic regression predicts the column's value of each test row,
cross-validated (stratified, seeded folds), from (a) the other features alone and (b) the same
features plus the model's predicted probabilities (and their log-odds). The uplift is the
balanced accuracy of (b) minus that of (a): what the model's outputs reveal beyond what the
features already do. Paired bootstrap over rows (both predictions of a row move together).
"""

from __future__ import annotations

import warnings

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

CLIP = 1e-6


def balanced_accuracy(y: np.ndarray, pred: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """Mean recall over the classes present in ``y`` (= sklearn ``balanced_accuracy_score``),
    for all rows or every replicate of ``idx`` (shape (B, m))."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    k = int(max(y.max(initial=0), pred.max(initial=0))) + 1
    ix = np.arange(y.size)[None, :] if idx is None else np.asarray(idx)
    key = (y[ix] + k * np.arange(ix.shape[0])[:, None]).ravel()
    total = np.bincount(key, minlength=k * ix.shape[0]).reshape(-1, k).astype(np.float64)
    right = np.bincount(key, weights=(y == pred)[ix].ravel().astype(np.float64), minlength=k * ix.shape[0]).reshape(-1, k)
    present = total > 0
    recall = np.divide(right, total, out=np.zeros_like(right), where=present)
    out = recall.sum(axis=1) / present.sum(axis=1)
    return out[0] if idx is None else out


def _design(X: pd.DataFrame, numeric: list[str], categorical: list[str], extra: np.ndarray | None):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = X[numeric + categorical].copy()
    num = list(numeric)
    if extra is not None:
        for j in range(extra.shape[1]):
            frame[f"__model_{j}"] = extra[:, j]
            num.append(f"__model_{j}")
    for c in categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), "(missing)").astype(str)
    parts = []
    if num:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num))
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), list(categorical)))
    return frame, ColumnTransformer(parts)


def cv_predict(X: pd.DataFrame, numeric: list[str], categorical: list[str], target: np.ndarray, folds: int, seed: int, extra: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold class predictions of a logistic regression (a constant when no features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    if not numeric and not categorical and extra is None:
        values, counts = np.unique(target, return_counts=True)
        return np.full(len(target), values[counts.argmax()])
    frame, prep = _design(X, numeric, categorical, extra)
    model = make_pipeline(prep, LogisticRegression(max_iter=2000, random_state=seed))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cross_val_predict(model, frame, target, cv=cv)


def model_outputs(proba: np.ndarray) -> np.ndarray:
    """The model's outputs as attack features: probabilities (one column dropped) and log-odds."""
    p = np.clip(np.asarray(proba, dtype=np.float64), CLIP, 1.0 - CLIP)
    p = p[:, 1:] if p.shape[1] > 1 else p
    return np.column_stack([p, np.log(p) - np.log1p(-p)])


def attribute_inference(X: pd.DataFrame, numeric: list[str], categorical: list[str], values: pd.Series, proba: np.ndarray,
                        seed: int, folds: int = 5, cache: dict | None = None) -> dict[str, object]:
    """Baseline and with-model out-of-fold predictions of ``values`` (strings) from ``X``.

    Returns ``codes`` (the true classes as integers), ``baseline`` and ``with_model`` (predicted
    codes), ``labels`` (class names) and ``folds`` used. Raises ValueError when a class has
    fewer than 2 rows (no stratified split). The baseline does not depend on the model: with a
    ``cache`` (one dict per run), it is fitted once per column and feature set for all models.
    """
    labels, codes = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    counts = np.bincount(codes)
    if len(labels) < 2:
        raise ValueError("a single value in the test rows")
    k = int(min(folds, counts.min()))
    if k < 2:
        raise ValueError(f"value '{labels[counts.argmin()]}' has {counts.min()} test row; cross-validation needs at least 2")
    key = (tuple(numeric), tuple(categorical), tuple(labels.tolist()), codes.tobytes(), len(X), k, seed)
    if cache is not None and key in cache:
        base = cache[key]
    else:
        base = cv_predict(X, numeric, categorical, codes, k, seed)
        if cache is not None:
            cache[key] = base
    with_model = cv_predict(X, numeric, categorical, codes, k, seed, extra=model_outputs(proba))
    return {"codes": codes, "baseline": np.asarray(base), "with_model": np.asarray(with_model), "labels": [str(v) for v in labels], "folds": k}
