"""Exact binary-classification metrics, vectorised over bootstrap replicates.

Why: audits need confidence intervals for every headline metric, and looping scikit-learn over
1000 bootstrap replicates is slow. Every function here accepts an optional ``idx`` matrix of
shape ``(B, m)`` holding row indices (one bootstrap replicate per row) and computes the metric
for all replicates at once with numpy. Results equal scikit-learn / fairlearn on ``y[idx[b]]``
(to floating-point rounding, ties included). ``idx=None`` means "all rows" and gives scalars;
a 1-D ``idx`` is treated as a single subset and also gives scalars.

Zero-division conventions (chosen to match the reference libraries):

* :func:`binary_metrics` (performance, shift): precision, recall, f1 with a zero denominator
  (no predicted positives; no positives; neither) are *undefined* -> nan, where sklearn returns
  0.0 with a warning (``zero_division="warn"``); every defined value equals sklearn's. Checks
  report an undefined value as null with the reason (:data:`UNDEFINED`) and count the bootstrap
  replicates where it was undefined.
* :func:`rates_from_counts` (fairness): a rate whose denominator is 0 is *undefined* -> nan by
  default (tpr / fnr without positives, fpr without negatives, precision without predicted
  positives); undefined is not zero, and a 0.0 there would fake a maximal disparity. Pass
  ``undefined=0.0`` for fairlearn's convention: its rates use sklearn's
  ``confusion_matrix(normalize="true")``, which turns 0/0 into 0.0 silently (no warning).
* balanced_accuracy = mean recall over the classes present in ``y_true`` (sklearn drops the
  nan recall of an absent class), so with one class present it is that class's recall.
* roc_auc -> nan when a replicate has a single class (sklearn also returns nan). pr_auc -> nan
  when a replicate has a single class; sklearn returns 0.0 (no positives) or 1.0 (no negatives)
  there, which carry no information about the model, so we deliberately return nan instead.
* log_loss is computed even for a single-class replicate (= sklearn with ``labels=[0, 1]``).
* :func:`rates_from_counts` on an empty group (count 0) -> every rate nan.
"""

from __future__ import annotations

import numpy as np

METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1",
    "roc_auc", "pr_auc", "log_loss", "brier", "ece",
)
# why a metric of :func:`binary_metrics` is nan (its denominator is zero on these rows)
UNDEFINED: dict[str, str] = {
    "precision": "no predicted positives: precision is undefined",
    "recall": "no positives: recall is undefined",
    "f1": "no positives and no predicted positives: F1 is undefined",
    "roc_auc": "only one class present: ROC-AUC is undefined",
    "pr_auc": "only one class present: PR-AUC is undefined",
}
DIRECTION: dict[str, str] = {
    **{k: "higher" for k in METRICS[:7]},
    **{k: "lower" for k in ("log_loss", "brier", "ece")},
}


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    """Validate a 0/1 label vector and return it as int64."""
    a = np.asarray(y).ravel()
    if a.size and not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return a.astype(np.int64)


def _scores(score: np.ndarray) -> np.ndarray:
    """Validate probabilities of class 1 (upcast to float64; values must lie in [0, 1])."""
    s = np.asarray(score, dtype=np.float64).ravel()
    if s.size and not (np.all(s >= 0.0) and np.all(s <= 1.0)):
        raise ValueError("score must be probabilities in [0, 1] (no nan)")
    return s


def _as_idx(n: int, idx: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """Return (2-D index matrix, squeeze_flag); None -> all rows, 1-D -> one replicate."""
    if idx is None:
        return np.arange(n)[None, :], True
    a = np.asarray(idx)
    if a.ndim not in (1, 2) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError("idx must be an integer array of shape (B, m) or (m,)")
    if a.ndim == 1:
        return a[None, :], True
    return a, False


def _out(x: np.ndarray, squeeze: bool) -> np.ndarray:
    """Drop the replicate axis (to a numpy float64 scalar) when the caller gave no 2-D idx."""
    return x[0] if squeeze else x


def _div(num: np.ndarray, den: np.ndarray, zero: float) -> np.ndarray:
    """num / den with ``zero`` where den == 0 (no warnings)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, zero, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def confusion_counts(
    y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray | None = None
) -> np.ndarray:
    """Confusion matrices ``[[tn, fp], [fn, tp]]``: shape (B, 2, 2), or (2, 2) without 2-D idx.

    One ``np.bincount`` over the key ``4*b + 2*y + pred`` handles all replicates at once.
    """
    y, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    ix, squeeze = _as_idx(y.size, idx)
    key = (2 * y + p)[ix] + 4 * np.arange(ix.shape[0])[:, None]
    counts = np.bincount(key.ravel(), minlength=4 * ix.shape[0]).reshape(-1, 2, 2)
    return _out(counts, squeeze)


def group_confusion_counts(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    idx: np.ndarray | None = None,
) -> np.ndarray:
    """Per-group confusion matrices: shape (B, G, 2, 2), or (G, 2, 2) without 2-D idx.

    ``groups`` holds integer codes 0..n_groups-1; a single bincount over the combined key
    ``(b, group, y, pred)`` gives every replicate x group cell (empty groups are all-zero).
    """
    y, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    g = np.asarray(groups).ravel().astype(np.int64)
    if g.size and (g.min() < 0 or g.max() >= n_groups):
        raise ValueError("groups must be integer codes in [0, n_groups)")
    ix, squeeze = _as_idx(y.size, idx)
    cell = 4 * n_groups
    key = (4 * g + 2 * y + p)[ix] + cell * np.arange(ix.shape[0])[:, None]
    counts = np.bincount(key.ravel(), minlength=cell * ix.shape[0])
    return _out(counts.reshape(-1, n_groups, 2, 2), squeeze)


def rates_from_counts(counts: np.ndarray, undefined: float = np.nan) -> dict[str, np.ndarray]:
    """Fairness rates from confusion counts of shape (..., 2, 2), broadcast over leading dims.

    Where defined, equals fairlearn's selection_rate / true_positive_rate / false_positive_rate /
    false_negative_rate and sklearn's precision_score / accuracy_score. tpr and fnr (no
    positives), fpr (no negatives) and precision (no predicted positives) are ``undefined``
    (default nan) when their denominator is 0; ``undefined=0.0`` reproduces fairlearn / sklearn
    ``zero_division=0`` exactly. A group with count 0 gets nan for every rate either way.
    """
    c = np.asarray(counts)
    tn, fp, fn, tp = c[..., 0, 0], c[..., 0, 1], c[..., 1, 0], c[..., 1, 1]
    total = tn + fp + fn + tp
    empty = total == 0
    rates = {
        "selection_rate": _div(fp + tp, total, np.nan),
        "tpr": _div(tp, tp + fn, undefined),
        "fpr": _div(fp, fp + tn, undefined),
        "fnr": _div(fn, fn + tp, undefined),
        "precision": _div(tp, tp + fp, undefined),
        "accuracy": _div(tp + tn, total, np.nan),
    }
    out = {k: np.where(empty, np.nan, v) for k, v in rates.items()}
    out["count"] = np.asarray(total)
    return out


def _bin_ids(score: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each score, same rule as sklearn.calibration.calibration_curve.

    Bins are [0, 1/k], (1/k, 2/k], ..., ((k-1)/k, 1] (``searchsorted`` on the inner edges).
    """
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    return np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], score)


def expected_calibration_error(
    y_true: np.ndarray, score: np.ndarray, n_bins: int = 10, idx: np.ndarray | None = None
) -> np.ndarray:
    """ECE = sum_k (n_k / m) |mean(y in bin k) - mean(score in bin k)|, equal-width bins.

    Since (n_k/m)|mean y - mean s| = |sum(y - s)| / m, one weighted bincount per call suffices.
    """
    y, s = _labels(y_true, "y_true"), _scores(score)
    ix, squeeze = _as_idx(y.size, idx)
    n_rep, m = ix.shape
    key = _bin_ids(s, n_bins)[ix] + n_bins * np.arange(n_rep)[:, None]
    gap = np.bincount(key.ravel(), weights=(y - s)[ix].ravel(), minlength=n_rep * n_bins)
    return _out(np.abs(gap.reshape(n_rep, n_bins)).sum(axis=1) / m, squeeze)


def calibration_curve(
    y_true: np.ndarray, score: np.ndarray, n_bins: int = 10
) -> dict[str, np.ndarray]:
    """Reliability-diagram data for a chart: one entry per equal-width bin (length n_bins).

    Keys: bin_mid (bin centre), mean_pred (mean score), frac_pos (fraction of positives),
    count (rows in bin). Empty bins keep their place with nan mean_pred / frac_pos; the non-empty
    entries equal sklearn's ``calibration_curve(strategy="uniform")`` prob_pred / prob_true.
    """
    y, s = _labels(y_true, "y_true"), _scores(score)
    b = _bin_ids(s, n_bins)
    count = np.bincount(b, minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return {
        "bin_mid": (edges[:-1] + edges[1:]) / 2,
        "mean_pred": _div(np.bincount(b, weights=s, minlength=n_bins), count, np.nan),
        "frac_pos": _div(np.bincount(b, weights=y, minlength=n_bins), count, np.nan),
        "count": count,
    }


def tie_blocks(y: np.ndarray, s: np.ndarray, ix: np.ndarray) -> dict[str, np.ndarray]:
    """Each replicate row of ``ix`` sorted by descending score, with its tie blocks, from one
    integer sort: rows are relabelled by their position in a global descending-score order, so
    sorting each replicate's positions sorts it by score with tied scores adjacent.

    Returns (all shaped like ``ix``): ``ys`` the sorted labels; ``is_end`` whether a position ends
    its tie block; ``end`` / ``start`` the block's last / first position; ``ctp`` / ``cfp`` the
    cumulative true / false positives when everything up to a position is called positive.
    """
    order = np.argsort(-s, kind="stable")
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    srt = np.sort(pos[ix], axis=1)
    ys = y[order][srt].astype(np.float64)
    ss = s[order][srt]
    m = ss.shape[1]
    cols = np.arange(m)
    is_end = np.ones(ss.shape, dtype=bool)
    is_end[:, :-1] = ss[:, 1:] != ss[:, :-1]
    is_start = np.ones(ss.shape, dtype=bool)
    is_start[:, 1:] = is_end[:, :-1]
    end = np.minimum.accumulate(np.where(is_end, cols, m - 1)[:, ::-1], axis=1)[:, ::-1]
    start = np.maximum.accumulate(np.where(is_start, cols, 0), axis=1)
    ctp = np.cumsum(ys, axis=1)
    return {"ys": ys, "is_end": is_end, "end": end, "start": start, "ctp": ctp, "cfp": (cols + 1) - ctp}


def _ranking_metrics(y: np.ndarray, s: np.ndarray, ix: np.ndarray) -> tuple[np.ndarray, ...]:
    """Tie-aware ROC AUC and average precision for every row of ``ix`` (see :func:`tie_blocks`).

    Per tie block we need the cumulative TP/FP at the block end (and FP before the block start):
    AUC = sum_pos [neg below + 0.5 * tied neg] / (P N)  (Mann-Whitney with average ranks),
    AP = sum_pos precision(block end) / P  (== sklearn average_precision_score).
    """
    t = tie_blocks(y, s, ix)
    ys, end, start, ctp, cfp = t["ys"], t["end"], t["start"], t["ctp"], t["cfp"]
    m = ys.shape[1]
    n_pos = ctp[:, -1]
    n_neg = m - n_pos
    tp_end = np.take_along_axis(ctp, end, axis=1)
    fp_end = np.take_along_axis(cfp, end, axis=1)
    fp_before = np.take_along_axis(cfp - (1.0 - ys), start, axis=1)
    two_class = (n_pos > 0) & (n_neg > 0)
    auc_num = (ys * (n_neg[:, None] - 0.5 * (fp_end + fp_before))).sum(axis=1)
    auc = _div(auc_num, n_pos * n_neg, np.nan)
    ap = _div((ys * tp_end / (end + 1)).sum(axis=1), n_pos, np.nan)
    return np.where(two_class, auc, np.nan), np.where(two_class, ap, np.nan)


def count_metrics(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray, m: float | np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy, precision, recall and F1 from confusion counts (scalars or
    arrays over replicates); zero denominators follow the module docstring's rules."""
    has_pos, has_neg = (tp + fn) > 0, (tn + fp) > 0
    tpr, tnr = _div(tp, tp + fn, 0.0), _div(tn, tn + fp, 0.0)
    return {
        "accuracy": (tp + tn) / m,
        "balanced_accuracy": (tpr * has_pos + tnr * has_neg) / (has_pos * 1.0 + has_neg),
        "precision": _div(tp, tp + fp, np.nan),
        "recall": _div(tp, tp + fn, np.nan),
        "f1": _div(2.0 * tp, 2.0 * tp + fp + fn, np.nan),
    }


def binary_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    score: np.ndarray,
    idx: np.ndarray | None = None,
    *,
    n_bins: int = 10,
) -> dict[str, np.ndarray]:
    """All :data:`METRICS` for the full data or for every bootstrap replicate in ``idx``.

    y_true, y_pred: 0/1 arrays of length n; score: P(class 1) in [0, 1] (float64).
    idx: None (all rows -> float64 scalars), (m,) one subset (scalars) or (B, m) -> arrays (B,).
    Zero-division / single-class rules are listed in the module docstring. log_loss clips with
    float64 eps exactly like sklearn (``clip(p)`` for y=1, ``clip(1 - p)`` for y=0).
    """
    y, p, s = _labels(y_true, "y_true"), _labels(y_pred, "y_pred"), _scores(score)
    if not y.size == p.size == s.size:
        raise ValueError("y_true, y_pred and score must have the same length")
    ix, squeeze = _as_idx(y.size, idx)
    if ix.shape[1] == 0:
        raise ValueError("idx must select at least one row")
    c = confusion_counts(y, p, ix).astype(np.float64)
    tn, fp, fn, tp = c[:, 0, 0], c[:, 0, 1], c[:, 1, 0], c[:, 1, 1]
    m = ix.shape[1]
    eps = np.finfo(np.float64).eps
    ll = -np.log(np.clip(np.where(y == 1, s, 1.0 - s), eps, 1.0 - eps))
    auc, ap = _ranking_metrics(y, s, ix)
    out = {
        **count_metrics(tp, fp, fn, tn, m),
        "roc_auc": auc,
        "pr_auc": ap,
        "log_loss": ll[ix].mean(axis=1),
        "brier": ((y - s) ** 2)[ix].mean(axis=1),
        "ece": expected_calibration_error(y, s, n_bins, ix),
    }
    return {k: _out(out[k], squeeze) for k in METRICS}


def bootstrap_indices(
    n: int, n_boot: int, rng: np.random.Generator, strata: np.ndarray | None = None
) -> np.ndarray:
    """(n_boot, n) matrix of row indices drawn with replacement.

    With ``strata`` (any labels, length n) each stratum is resampled within itself, so every
    replicate keeps the exact per-stratum counts (e.g. class balance); columns are then grouped
    by stratum, which no metric here depends on.
    """
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    st = np.asarray(strata).ravel()
    if st.size != n:
        raise ValueError("strata must have length n")
    _, inv = np.unique(st, return_inverse=True)
    blocks = []
    for k in range(int(inv.max()) + 1 if n else 0):
        members = np.flatnonzero(inv == k)
        blocks.append(members[rng.integers(0, members.size, size=(n_boot, members.size))])
    return np.concatenate(blocks, axis=1) if blocks else np.empty((n_boot, 0), dtype=np.int64)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile bootstrap interval at ``level`` ignoring non-finite samples.

    Returns None when fewer than 2 finite samples remain (no meaningful interval); uses numpy's
    default linear interpolation between order statistics.
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    x = np.asarray(samples, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < 2:
        return None
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(x, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(lo), float(hi)
