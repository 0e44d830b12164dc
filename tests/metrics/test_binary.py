"""Tests for audit.metrics.binary: exact agreement with scikit-learn / fairlearn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sklearn.metrics as skm
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.calibration import calibration_curve as sk_calibration_curve

from audit.metrics.binary import (
    DIRECTION,
    METRICS,
    binary_metrics,
    bootstrap_indices,
    calibration_curve,
    confusion_counts,
    expected_calibration_error,
    group_confusion_counts,
    percentile_ci,
    rates_from_counts,
)

TOL = 1e-12


def _data(seed: int, n: int = 200, ties: bool = False) -> tuple[np.ndarray, ...]:
    """Labels correlated with scores; optional heavy ties (1 decimal) and duplicated rows."""
    rng = np.random.default_rng(seed)
    s = rng.random(n)
    y = (rng.random(n) < s).astype(int)
    if ties:
        s = np.round(s, 1)
        dup = rng.integers(0, n, size=n // 4)
        s, y = np.concatenate([s, s[dup]]), np.concatenate([y, y[dup]])
    p = (s >= 0.5).astype(int)
    return y, p, s


def _sklearn_metrics(y: np.ndarray, p: np.ndarray, s: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = np.unique(y).size < 2
        return {
            "accuracy": skm.accuracy_score(y, p),
            "balanced_accuracy": skm.balanced_accuracy_score(y, p),
            # sklearn's own "undefined" convention: nan where the denominator is zero
            "precision": skm.precision_score(y, p, zero_division=np.nan),
            "recall": skm.recall_score(y, p, zero_division=np.nan),
            "f1": skm.f1_score(y, p, zero_division=np.nan),
            "roc_auc": np.nan if single else skm.roc_auc_score(y, s),
            "pr_auc": np.nan if single else skm.average_precision_score(y, s),
            "log_loss": skm.log_loss(y, s, labels=[0, 1]),
            "brier": skm.brier_score_loss(y, s, pos_label=1),
        }


def _assert_close(ours: dict, ref: dict, where: str) -> None:
    for k, v in ref.items():
        np.testing.assert_allclose(ours[k], v, rtol=0, atol=TOL, err_msg=f"{k} ({where})")


def test_metric_names_and_directions() -> None:
    assert set(DIRECTION) == set(METRICS)
    assert DIRECTION["roc_auc"] == "higher" and DIRECTION["log_loss"] == "lower"
    assert {DIRECTION[k] for k in ("brier", "ece")} == {"lower"}


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True), (3, False)])
def test_full_set_matches_sklearn(seed: int, ties: bool) -> None:
    y, p, s = _data(seed, ties=ties)
    ours = binary_metrics(y, p, s)
    assert set(ours) == set(METRICS)
    assert all(np.ndim(v) == 0 for v in ours.values())
    _assert_close(ours, _sklearn_metrics(y, p, s), f"seed {seed}")


@pytest.mark.parametrize("seed,ties", [(4, True), (5, False)])
def test_bootstrap_rows_match_sklearn(seed: int, ties: bool) -> None:
    y, p, s = _data(seed, n=120, ties=ties)
    rng = np.random.default_rng(seed)
    idx = bootstrap_indices(y.size, 40, rng)
    ours = binary_metrics(y, p, s, idx)
    assert all(v.shape == (40,) for v in ours.values())
    for b in range(0, 40, 3):
        row = {k: v[b] for k, v in ours.items()}
        j = idx[b]
        _assert_close(row, _sklearn_metrics(y[j], p[j], s[j]), f"replicate {b}")
        np.testing.assert_allclose(row["ece"], expected_calibration_error(y[j], s[j]), atol=TOL)


def test_degenerate_replicates() -> None:
    """Single-class replicates: nan AUCs; a zero denominator is nan (sklearn's zero_division=nan)."""
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([0, 1, 1, 0, 0])
    s = np.array([0.1, 0.8, 0.7, 0.3, 0.1])
    idx = np.array([[0, 0, 4, 1], [2, 3, 2, 3], [0, 4, 0, 4], [0, 1, 2, 3]])
    ours = binary_metrics(y, p, s, idx)
    assert np.isnan(ours["roc_auc"][:3]).all() and np.isnan(ours["pr_auc"][:3]).all()
    assert np.isfinite(ours["roc_auc"][3]) and np.isfinite(ours["pr_auc"][3])
    for b in range(4):
        j = idx[b]
        _assert_close({k: v[b] for k, v in ours.items()}, _sklearn_metrics(y[j], p[j], s[j]),
                      f"replicate {b}")
    assert np.isnan(ours["precision"][2]) and np.isnan(ours["f1"][2])  # nothing predicted/true positive: undefined
    assert ours["balanced_accuracy"][2] == 1.0  # only class 0 present, all predicted 0


def test_one_dim_idx_is_single_subset() -> None:
    y, p, s = _data(6)
    j = np.arange(0, y.size, 2)
    ours = binary_metrics(y, p, s, j)
    _assert_close(ours, _sklearn_metrics(y[j], p[j], s[j]), "1-D idx")


def test_log_loss_clipping_matches_sklearn() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.0, 1.0, 1.0, 0.0, 1e-20, 1 - 1e-17])
    p = (s >= 0.5).astype(int)
    ours = binary_metrics(y, p, s)
    assert np.isfinite(ours["log_loss"])
    np.testing.assert_allclose(ours["log_loss"], skm.log_loss(y, s), rtol=1e-14)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        binary_metrics(np.array([0, 2]), np.array([0, 1]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError):
        binary_metrics(np.array([0, 1]), np.array([0, 1]), np.array([0.1, 1.2]))
    with pytest.raises(ValueError):
        binary_metrics(np.array([0, 1]), np.array([0, 1]), np.array([0.1, 0.2]), np.zeros((2, 2)))


def test_confusion_counts_layout() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0, 1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(confusion_counts(y, p), [[1, 2], [1, 3]])
    np.testing.assert_array_equal(confusion_counts(y, p), skm.confusion_matrix(y, p))
    idx = np.array([[0, 0, 3], [6, 5, 1]])
    np.testing.assert_array_equal(confusion_counts(y, p, idx), [[[2, 0], [1, 0]], [[0, 1], [0, 2]]])


def test_group_rates_match_fairlearn_metricframe() -> None:
    rng = np.random.default_rng(7)
    n = 300
    groups = rng.integers(0, 4, n)
    y = rng.integers(0, 2, n)
    p = rng.integers(0, 2, n)
    y[groups == 2] = 0  # group with no positives: tpr/fnr 0/0
    p[groups == 3] = 0  # group with no predicted positives: precision 0/0
    counts = group_confusion_counts(y, p, groups, 4)
    assert counts.shape == (4, 2, 2)
    ours = rates_from_counts(counts)

    def precision0(yt: np.ndarray, yp: np.ndarray) -> float:
        return skm.precision_score(yt, yp, zero_division=0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = MetricFrame(
            metrics={
                "selection_rate": selection_rate, "tpr": true_positive_rate,
                "fpr": false_positive_rate, "fnr": false_negative_rate,
                "precision": precision0, "accuracy": skm.accuracy_score,
            },
            y_true=y, y_pred=p, sensitive_features=groups,
        )
    by_group = mf.by_group.sort_index()
    # undefined rates (0/0) are nan, not 0.0; every defined rate equals fairlearn exactly
    assert np.isnan(ours["tpr"][2]) and np.isnan(ours["fnr"][2]) and np.isnan(ours["precision"][3])
    assert np.isfinite(ours["fpr"]).all() and np.isfinite(ours["selection_rate"]).all()
    zero = rates_from_counts(counts, undefined=0.0)  # fairlearn's convention: 0/0 -> 0.0
    for k in by_group.columns:
        ref = by_group[k].to_numpy(dtype=float)
        defined = np.isfinite(ours[k])
        np.testing.assert_allclose(ours[k][defined], ref[defined], rtol=0, atol=TOL, err_msg=k)
        np.testing.assert_allclose(zero[k], ref, rtol=0, atol=TOL, err_msg=k)
    assert (by_group.loc[2, ["tpr", "fnr"]] == 0.0).all() and by_group.loc[3, "precision"] == 0.0
    np.testing.assert_array_equal(ours["count"], np.bincount(groups, minlength=4))


def test_group_counts_bootstrap_and_empty_group() -> None:
    rng = np.random.default_rng(8)
    y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    groups = rng.integers(0, 2, 50)  # code 2 never occurs -> empty group
    idx = bootstrap_indices(50, 6, rng)
    counts = group_confusion_counts(y, p, groups, 3, idx)
    assert counts.shape == (6, 3, 2, 2)
    for b in range(6):
        j = idx[b]
        for g in range(2):
            sel = groups[j] == g
            np.testing.assert_array_equal(counts[b, g], confusion_counts(y[j][sel], p[j][sel]))
    rates = rates_from_counts(counts)
    assert rates["tpr"].shape == (6, 3)
    assert np.isnan(rates["selection_rate"][:, 2]).all() and np.isnan(rates["tpr"][:, 2]).all()
    assert (rates["count"][:, 2] == 0).all() and (rates["count"].sum(axis=1) == 50).all()


def test_ece_known_answers() -> None:
    rng = np.random.default_rng(9)
    s = rng.random(200_000)
    y = (rng.random(s.size) < s).astype(int)
    assert expected_calibration_error(y, s) < 0.01
    assert expected_calibration_error(y, np.clip(s + 0.2, 0, 1)) > 0.1
    y_half = np.tile([0, 1], 500)
    np.testing.assert_allclose(expected_calibration_error(y_half, np.full(1000, 0.9)), 0.4,
                               atol=TOL)
    idx = np.array([[0, 0, 2], [1, 3, 5]])  # all negatives / all positives
    np.testing.assert_allclose(expected_calibration_error(y_half, np.full(1000, 0.9), idx=idx),
                               [0.9, 0.1], atol=TOL)


def test_calibration_curve_matches_sklearn() -> None:
    y, _, s = _data(10, n=500, ties=True)
    cc = calibration_curve(y, s, n_bins=10)
    prob_true, prob_pred = sk_calibration_curve(y, s, n_bins=10)
    nonempty = cc["count"] > 0
    np.testing.assert_allclose(cc["frac_pos"][nonempty], prob_true, atol=TOL)
    np.testing.assert_allclose(cc["mean_pred"][nonempty], prob_pred, atol=TOL)
    assert cc["count"].sum() == y.size and cc["bin_mid"][0] == pytest.approx(0.05)
    ece = np.sum(cc["count"][nonempty] * np.abs(prob_true - prob_pred)) / y.size
    np.testing.assert_allclose(expected_calibration_error(y, s), ece, atol=TOL)


def test_stratified_bootstrap_keeps_counts() -> None:
    rng = np.random.default_rng(11)
    strata = np.array(["a"] * 7 + ["b"] * 30 + ["c"] * 3)
    rng.shuffle(strata)
    idx = bootstrap_indices(strata.size, 200, rng, strata=strata)
    assert idx.shape == (200, 40)
    for lab, cnt in (("a", 7), ("b", 30), ("c", 3)):
        assert ((strata[idx] == lab).sum(axis=1) == cnt).all()
    plain = bootstrap_indices(strata.size, 200, rng)
    assert plain.shape == (200, 40) and plain.min() >= 0 and plain.max() < 40
    assert len({(strata[r] == "c").sum() for r in plain}) > 1  # unstratified counts vary


def test_percentile_ci() -> None:
    x = np.arange(101, dtype=float)
    assert percentile_ci(x, 0.9) == pytest.approx((5.0, 95.0))
    assert percentile_ci(np.concatenate([x, [np.nan, np.inf]]), 0.9) == pytest.approx((5.0, 95.0))
    assert percentile_ci(np.array([1.0, np.nan])) is None
    assert percentile_ci(np.array([1.0, 3.0]), 0.5) == pytest.approx((1.5, 2.5))
    with pytest.raises(ValueError):
        percentile_ci(x, 1.5)
