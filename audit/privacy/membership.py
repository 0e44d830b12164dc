"""Membership-inference scores and ROC statistics, vectorised over bootstrap replicates.

A membership attack gives every row a score (higher: "more likely a training row"). Its quality
is read off the ROC curve of members (label 1) against non-members (label 0):

* ``auc``: ROC-AUC (Mann-Whitney with average ranks for ties; equals sklearn ``roc_auc_score``);
* ``advantage``: max over thresholds of TPR - FPR (Yeom et al. 2018's membership advantage);
  the threshold "above every score" (TPR = FPR = 0) is included, so it is never negative;
* ``tpr_at_fpr``: the largest TPR at a threshold whose FPR is at most ``alpha`` (Carlini et al.
  2022: an attack is dangerous when it is confident on a few rows, which AUC averages away).

Like :mod:`audit.metrics.binary`, every function takes an optional ``idx`` of shape ``(B, m)``
(one bootstrap replicate per row) and computes all replicates from one integer sort.
"""

from __future__ import annotations

import numpy as np

from audit.metrics.binary import tie_blocks

CLIP = 1e-12


def true_class_proba(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Probability each row's model gives its true class."""
    proba = np.asarray(proba, dtype=np.float64)
    return proba[np.arange(len(proba)), np.asarray(y, dtype=np.int64)]


def loss_score(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Yeom et al.'s member score: minus the cross-entropy loss of the true label (clip 1e-12)."""
    return np.log(np.clip(true_class_proba(proba, y), CLIP, 1.0))


def logit_confidence(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LiRA's phi = log(p / (1 - p)) of the true class, p clipped to [1e-12, 1 - 1e-12]."""
    p = np.clip(true_class_proba(proba, y), CLIP, 1.0 - CLIP)
    return np.log(p) - np.log1p(-p)


def roc_stats(member: np.ndarray, score: np.ndarray, idx: np.ndarray | None = None, alphas: tuple[float, ...] = (0.01, 0.001)) -> dict[str, np.ndarray]:
    """``auc``, ``advantage`` and ``tpr@<alpha>`` for all rows or every replicate of ``idx``.

    Scalars without a 2-D ``idx``; arrays of shape (B,) with one. nan when a replicate lacks
    members or non-members. Tied scores form one threshold block (no threshold splits a tie).
    """
    y = np.asarray(member).astype(np.int64).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if idx is None:
        ix, squeeze = np.arange(y.size)[None, :], True
    else:
        ix = np.asarray(idx)
        squeeze = ix.ndim == 1
        ix = ix[None, :] if squeeze else ix
    m = ix.shape[1]
    t = tie_blocks(y, s, ix)
    ys, is_end, end, start, ctp, cfp = t["ys"], t["is_end"], t["end"], t["start"], t["ctp"], t["cfp"]
    n_pos, n_neg = ctp[:, -1], m - ctp[:, -1]
    ok = (n_pos > 0) & (n_neg > 0)
    P, N = np.where(ok, n_pos, 1.0), np.where(ok, n_neg, 1.0)
    fp_end = np.take_along_axis(cfp, end, axis=1)
    fp_before = np.take_along_axis(cfp - (1.0 - ys), start, axis=1)
    auc = (ys * (n_neg[:, None] - 0.5 * (fp_end + fp_before))).sum(axis=1) / (P * N)
    tpr, fpr = ctp / P[:, None], cfp / N[:, None]
    out = {
        "auc": auc,
        "advantage": np.maximum(np.where(is_end, tpr - fpr, 0.0).max(axis=1), 0.0),
    }
    for a in alphas:
        out[f"tpr@{a:g}"] = np.where(is_end & (fpr <= a + 1e-12), tpr, 0.0).max(axis=1)
    out = {k: np.where(ok, v, np.nan) for k, v in out.items()}
    return {k: (v[0] if squeeze else v) for k, v in out.items()}


def rates_at(member: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """(TPR, FPR) of the rule "member when score >= threshold"."""
    member = np.asarray(member).astype(bool)
    hit = np.asarray(score, dtype=np.float64) >= threshold
    return float(hit[member].mean()), float(hit[~member].mean())


def roc_points(member: np.ndarray, score: np.ndarray, max_points: int = 200) -> tuple[list[float], list[float]]:
    """The ROC curve (FPR, TPR) at every distinct threshold, thinned to about ``max_points``."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(member).astype(int), np.asarray(score, dtype=np.float64), drop_intermediate=True)
    if fpr.size > max_points:
        keep = np.unique(np.r_[0, np.linspace(0, fpr.size - 1, max_points).round().astype(int), fpr.size - 1])
        fpr, tpr = fpr[keep], tpr[keep]
    return [round(float(v), 6) for v in fpr], [round(float(v), 6) for v in tpr]


def balanced_sides(rng: np.random.Generator, n_members: int, n_nonmembers: int, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted row positions of equally many members and non-members (at most ``max_rows`` each)."""
    n = min(n_members, n_nonmembers, max_rows)
    members = np.sort(rng.choice(n_members, size=n, replace=False))
    nonmembers = np.sort(rng.choice(n_nonmembers, size=n, replace=False))
    return members, nonmembers
