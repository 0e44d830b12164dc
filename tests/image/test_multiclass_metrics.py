"""Multiclass metrics equal scikit-learn on the full data and on every bootstrap replicate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from audit.metrics import multiclass as mc
from audit.metrics.binary import bootstrap_indices


def _data(n: int = 300, k: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 2.0 * np.eye(k)[y]  # informative but imperfect
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba.argmax(axis=1), proba


def _sklearn(y: np.ndarray, pred: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    k = proba.shape[1]
    out = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "macro_precision": skm.precision_score(y, pred, average="macro", zero_division=0),
        "macro_recall": skm.recall_score(y, pred, average="macro", zero_division=0),
        "macro_f1": skm.f1_score(y, pred, average="macro", zero_division=0),
        "log_loss": skm.log_loss(y, proba, labels=list(range(k))),
        "brier": skm.brier_score_loss(y, proba, labels=list(range(k))),
    }
    if len(np.unique(y)) == k:
        out["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(k)))
    return out


def test_full_data_equals_sklearn() -> None:
    y, pred, proba = _data()
    ours = mc.multiclass_metrics(y, pred, proba)
    for name, ref in _sklearn(y, pred, proba).items():
        assert ours[name] == pytest.approx(ref, abs=1e-12), name
    per = mc.per_class_metrics(y, pred, proba.shape[1])
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=list(range(6)), zero_division=0)
    np.testing.assert_allclose(per["precision"], p, atol=1e-12)
    np.testing.assert_allclose(per["recall"], r, atol=1e-12)
    np.testing.assert_allclose(per["f1"], f, atol=1e-12)
    np.testing.assert_array_equal(per["support"], s)
    np.testing.assert_array_equal(mc.confusion_matrices(y, pred, 6), skm.confusion_matrix(y, pred, labels=list(range(6))))


def test_every_bootstrap_replicate_equals_sklearn() -> None:
    y, pred, proba = _data(n=120, k=5, seed=3)
    idx = bootstrap_indices(len(y), 25, np.random.default_rng(7))
    ours = mc.multiclass_metrics(y, pred, proba, idx)
    per = mc.per_class_metrics(y, pred, 5, idx)
    for b, rows in enumerate(idx):
        for name, ref in _sklearn(y[rows], pred[rows], proba[rows]).items():
            assert ours[name][b] == pytest.approx(ref, abs=1e-12), (name, b)
        r = skm.recall_score(y[rows], pred[rows], labels=list(range(5)), average=None, zero_division=0)
        np.testing.assert_allclose(per["recall"][b], r, atol=1e-12)


def test_macro_averages_skip_classes_absent_from_truth_and_predictions() -> None:
    # class 3 never occurs; class 2 is predicted but never true: sklearn's default labels are {0, 1, 2}
    y = np.array([0, 0, 1, 1, 1, 0])
    pred = np.array([0, 1, 1, 2, 1, 0])
    proba = np.full((6, 4), 0.1)
    proba[np.arange(6), pred] = 0.7
    ours = mc.multiclass_metrics(y, pred, proba)
    assert ours["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert ours["macro_recall"] == pytest.approx(skm.recall_score(y, pred, average="macro", zero_division=0))
    assert ours["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)  # classes in y_true only


def test_top_label_ece_known_answer() -> None:
    # confidences 0.9 (right), 0.9 (wrong), 0.6 (right), 0.6 (right): two bins of 10
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])
    proba = np.hstack([proba, np.zeros((4, 1))])
    y = np.array([0, 1, 1, 0])
    pred = proba.argmax(axis=1)
    # bin (0.8, 0.9]: acc 0.5 vs conf 0.9 -> 0.4 * 2/4; bin (0.5, 0.6]: acc 1 vs conf 0.6 -> 0.4 * 2/4
    assert mc.multiclass_metrics(y, pred, proba)["ece"] == pytest.approx(0.4)


def test_top_confusions_known_answer() -> None:
    counts = np.array([[50, 3, 1], [0, 40, 6], [2, 0, 30]])
    assert mc.top_confusions(counts, 3) == [(1, 2, 6, 6 / 46), (0, 1, 3, 3 / 54), (2, 0, 2, 2 / 32)]


def test_rejects_codes_outside_the_classes() -> None:
    with pytest.raises(ValueError, match="integer class codes in \\[0, 3\\)"):
        mc.confusion_matrices(np.array([0, 3]), np.array([0, 1]), 3)
