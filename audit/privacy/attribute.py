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


def _columns(X: pd.DataFrame, numeric: list[str], categorical: list[str], extra: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray]]:
    """The attack's raw inputs, read once: numeric values (NaN = missing, the model's outputs
    appended) and each categorical column as integer codes of its sorted string values
    (missing is the value "(missing)")."""
    parts = [X[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in numeric]
    if extra is not None:
        parts += [np.asarray(extra[:, j], dtype=np.float64) for j in range(extra.shape[1])]
    num = np.column_stack(parts) if parts else np.empty((len(X), 0))
    codes = []
    for c in categorical:
        column = X[c]
        text = column.astype(object).where(column.notna(), "(missing)").astype(str).to_numpy()
        codes.append(np.unique(text, return_inverse=True)[1].ravel())
    return num, codes


def _fold_design(num: np.ndarray, codes: list[np.ndarray], train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The design matrices of one fold, fitted on its training rows only: what scikit-learn's
    ``SimpleImputer(median)`` + ``StandardScaler`` on the numeric columns and
    ``OneHotEncoder(handle_unknown="ignore")`` on the categorical ones compute (a numeric column
    missing on every training row is dropped; a category unseen in training encodes as zeros)."""
    blocks_tr, blocks_te = [], []
    if num.shape[1]:
        a, b = num[train], num[test]
        seen = ~np.isnan(a).all(axis=0)
        a, b = a[:, seen], b[:, seen]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(a, axis=0)
        a = np.where(np.isnan(a), median, a)
        b = np.where(np.isnan(b), median, b)
        mean, std = a.mean(axis=0), a.std(axis=0)
        std[std < 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)] = 1.0  # constant column: centred only
        blocks_tr.append((a - mean) / std)
        blocks_te.append((b - mean) / std)
    for code in codes:
        present = np.unique(code[train])
        slot = np.full(int(code.max()) + 1, -1)
        slot[present] = np.arange(present.size)
        for rows, blocks in ((train, blocks_tr), (test, blocks_te)):
            onehot = np.zeros((rows.size, present.size))
            s = slot[code[rows]]
            hit = s >= 0
            onehot[np.flatnonzero(hit), s[hit]] = 1.0
            blocks.append(onehot)
    return np.hstack(blocks_tr), np.hstack(blocks_te)


def cv_predict(X: pd.DataFrame, numeric: list[str], categorical: list[str], target: np.ndarray, folds: int, seed: int, extra: np.ndarray | None = None) -> np.ndarray:
    """Out-of-fold class predictions of a logistic regression (a constant when no features).

    Each fold's preprocessing is fitted on that fold's training rows (:func:`_fold_design`); the
    columns are read from the frame once, not once per fold (a ``ColumnTransformer`` on a frame
    per fold cost most of the check). The folds are ``StratifiedKFold(folds, shuffle, seed)``'s,
    as ``cross_val_predict`` would use.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    if not numeric and not categorical and extra is None:
        values, counts = np.unique(target, return_counts=True)
        return np.full(len(target), values[counts.argmax()])
    num, codes = _columns(X, numeric, categorical, extra)
    out = np.empty(len(target), dtype=np.asarray(target).dtype)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in cv.split(np.zeros((len(target), 1)), target):
            Z_train, Z_test = _fold_design(num, codes, train, test)
            model = LogisticRegression(max_iter=2000, random_state=seed).fit(Z_train, target[train])
            out[test] = model.predict(Z_test)
    return out


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
