"""Exact multiclass metrics, vectorised over bootstrap replicates (the multiclass twin of ``binary``).

Same conventions as :mod:`audit.metrics.binary`: every function takes an optional ``idx`` of row
indices, shape ``(B, m)`` (one replicate per row) -> arrays over replicates, or ``None`` / 1-D ->
scalars. Results equal scikit-learn on ``y[idx[b]]`` (tested):

* per-class precision / recall / F1 use ``zero_division=0``; the macro averages run over the
  classes present in ``y_true`` or ``y_pred`` of that replicate (sklearn's default ``labels``).
* balanced_accuracy = mean recall over the classes present in ``y_true`` (sklearn).
* roc_auc = macro one-vs-rest AUC (sklearn ``multi_class="ovr"``); a class absent from a
  replicate is left out of the mean (sklearn refuses such a replicate).
* log_loss clips with float64 eps like sklearn; brier = mean over rows of sum_k (onehot - p_k)^2
  (sklearn's multiclass ``brier_score_loss``, no halving).
* ece is top-label calibration: equal-width bins of the max probability, |accuracy - confidence|.
"""

from __future__ import annotations

import numpy as np

from audit.metrics.binary import _as_idx, _div, _out, _ranking_metrics, expected_calibration_error

METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1",
    "roc_auc", "log_loss", "brier", "ece",
)
DIRECTION: dict[str, str] = {**{k: "higher" for k in METRICS[:6]}, **{k: "lower" for k in ("log_loss", "brier", "ece")}}
PER_CLASS: tuple[str, ...] = ("precision", "recall", "f1")


def _codes(y: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    a = np.asarray(y).ravel()
    if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= n_classes):
        raise ValueError(f"{name} must hold integer class codes in [0, {n_classes})")
    return a.astype(np.int64)


def confusion_matrices(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, idx: np.ndarray | None = None) -> np.ndarray:
    """Counts ``C[b, actual, predicted]``: shape (B, K, K), or (K, K) without a 2-D idx."""
    y, p = _codes(y_true, n_classes, "y_true"), _codes(y_pred, n_classes, "y_pred")
    ix, squeeze = _as_idx(y.size, idx)
    cells = n_classes * n_classes
    key = (n_classes * y + p)[ix] + cells * np.arange(ix.shape[0])[:, None]
    counts = np.bincount(key.ravel(), minlength=cells * ix.shape[0]).reshape(-1, n_classes, n_classes)
    return _out(counts, squeeze)


def per_class_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """precision, recall, f1, support (true count) and predicted count per class, shape (..., K)."""
    c = np.asarray(counts, dtype=np.float64)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    support, predicted = c.sum(axis=-1), c.sum(axis=-2)
    return {
        "precision": _div(tp, predicted, 0.0),
        "recall": _div(tp, support, 0.0),
        "f1": _div(2.0 * tp, support + predicted, 0.0),
        "support": support,
        "predicted": predicted,
    }


def _macro(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    return _div((values * present).sum(axis=-1), present.sum(axis=-1), np.nan)


def multiclass_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, idx: np.ndarray | None = None, *, n_bins: int = 10
) -> dict[str, np.ndarray]:
    """All :data:`METRICS` for the full data or every replicate of ``idx``.

    y_true, y_pred: class codes; proba: (n, K) probabilities in class-code order. ``y_pred``
    should be ``proba.argmax(1)`` (the ECE's notion of "correct" uses it).
    """
    s = np.asarray(proba, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError("proba must be a 2-D (n, n_classes) array")
    n_classes = s.shape[1]
    y, p = _codes(y_true, n_classes, "y_true"), _codes(y_pred, n_classes, "y_pred")
    if not y.size == p.size == s.shape[0]:
        raise ValueError("y_true, y_pred and proba must have the same number of rows")
    ix, squeeze = _as_idx(y.size, idx)
    if ix.shape[1] == 0:
        raise ValueError("idx must select at least one row")
    m = ix.shape[1]
    counts = confusion_matrices(y, p, n_classes, ix)
    per = per_class_from_counts(counts)
    in_true, in_either = per["support"] > 0, (per["support"] + per["predicted"]) > 0
    eps = np.finfo(np.float64).eps
    rows = np.arange(y.size)
    true_p = s[rows, y]
    aucs = np.column_stack([_ranking_metrics((y == k).astype(np.int64), s[:, k], ix)[0] for k in range(n_classes)])
    with np.errstate(invalid="ignore"):
        roc_auc = np.where(np.isfinite(aucs).any(axis=1), np.nanmean(np.where(np.isfinite(aucs), aucs, np.nan), axis=1), np.nan)
    onehot_gap = (s ** 2).sum(axis=1) - 2.0 * true_p + 1.0
    out = {
        "accuracy": np.trace(counts, axis1=-2, axis2=-1) / m,
        "balanced_accuracy": _macro(per["recall"], in_true),
        "macro_precision": _macro(per["precision"], in_either),
        "macro_recall": _macro(per["recall"], in_either),
        "macro_f1": _macro(per["f1"], in_either),
        "roc_auc": roc_auc,
        "log_loss": (-np.log(np.clip(true_p, eps, 1.0 - eps)))[ix].mean(axis=1),
        "brier": onehot_gap[ix].mean(axis=1),
        "ece": expected_calibration_error((p == y).astype(np.int64), np.clip(s.max(axis=1), 0.0, 1.0), n_bins, ix),
    }
    return {k: _out(np.asarray(out[k]), squeeze) for k in METRICS}


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, idx: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-class precision / recall / f1 / support: shape (K,) or (B, K) with a 2-D idx."""
    return per_class_from_counts(confusion_matrices(y_true, y_pred, n_classes, idx))


def top_confusions(counts: np.ndarray, k: int = 5) -> list[tuple[int, int, int, float]]:
    """The ``k`` largest off-diagonal cells as (actual, predicted, count, share of the actual class)."""
    c = np.asarray(counts)
    off = c.astype(np.float64).copy()
    np.fill_diagonal(off, -1.0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    support = c.sum(axis=1)
    pairs = []
    for flat in order:
        i, j = divmod(int(flat), c.shape[1])
        if c[i, j] > 0:
            pairs.append((i, j, int(c[i, j]), float(c[i, j] / support[i])))
    return pairs
