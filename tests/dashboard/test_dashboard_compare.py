"""Comparing two runs: change, interval overlap and direction-aware regressions."""

from __future__ import annotations

import math

import pytest
from dashboard_helpers import gate, make_results, metric

from audit.dashboard.compare import compare_gates, compare_runs, intervals_overlap, significant_regressions, verdict


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.1, 0.2), (0.3, 0.4), False),
        ((0.3, 0.4), (0.1, 0.2), False),
        ((0.1, 0.3), (0.2, 0.4), True),
        ((0.1, 0.2), (0.2, 0.3), True),  # touching endpoints overlap
        ((0.1, 0.5), (0.2, 0.3), True),  # nested
        ((0.2, 0.1), (0.15, 0.16), True),  # reversed bounds are sorted
        (None, (0.1, 0.2), None),
        ((0.1, 0.2), None, None),
    ],
)
def test_intervals_overlap(a, b, expected) -> None:
    assert intervals_overlap(a, b) is expected


def test_verdict_follows_direction() -> None:
    hi_a, hi_b = metric("m/c/auc", 0.80, direction="higher"), metric("m/c/auc", 0.75, direction="higher")
    lo_a, lo_b = metric("m/c/ece", 0.10, direction="lower"), metric("m/c/ece", 0.05, direction="lower")
    assert verdict(hi_a, hi_b) == "regressed"
    assert verdict(hi_b, hi_a) == "improved"
    assert verdict(lo_a, lo_b) == "improved"
    assert verdict(lo_b, lo_a) == "regressed"
    assert verdict(metric("m/c/rate", 0.1, direction=None), metric("m/c/rate", 0.2, direction=None)) == "changed"
    assert verdict(hi_a, metric("m/c/auc", 0.80)) == "unchanged"
    assert verdict(None, hi_a) == "added"
    assert verdict(hi_a, None) == "removed"
    assert verdict(hi_a, metric("m/c/auc", None)) == "undefined"


def _runs():
    a = make_results(
        "a",
        "2025-01-01",
        [
            metric("m/performance/roc_auc", 0.80, (0.76, 0.84)),
            metric("m/performance/accuracy", 0.75, (0.70, 0.80)),
            metric("m/performance/ece", 0.10, (0.08, 0.12), direction="lower"),
            metric("m/fairness/selection_rate[sex=female]", 0.5, (0.4, 0.6), direction=None),
            metric("m/old/gone", 1.0),
        ],
        gates=[gate("m/performance/roc_auc", "pass", 0.80), gate("m/performance/accuracy", "pass", 0.75)],
    )
    b = make_results(
        "b",
        "2025-02-01",
        [
            metric("m/performance/roc_auc", 0.60, (0.55, 0.65)),  # worse, intervals disjoint
            metric("m/performance/accuracy", 0.73, (0.68, 0.78)),  # worse, intervals overlap
            metric("m/performance/ece", 0.05, (0.03, 0.07), direction="lower"),  # better, disjoint
            metric("m/fairness/selection_rate[sex=female]", 0.5, (0.4, 0.6), direction=None),
            metric("m/new/metric", 2.0, None),
        ],
        gates=[gate("m/performance/roc_auc", "fail", 0.60), gate("m/performance/accuracy", "pass", 0.73)],
        status="fail",
    )
    return a, b


def test_compare_runs_side_by_side() -> None:
    a, b = _runs()
    frame = compare_runs(a, b).set_index("path")
    assert list(frame.index) == [
        "m/performance/roc_auc",
        "m/performance/accuracy",
        "m/performance/ece",
        "m/fairness/selection_rate[sex=female]",
        "m/old/gone",
        "m/new/metric",
    ]
    roc = frame.loc["m/performance/roc_auc"]
    assert (roc["a"], roc["b"], roc["a_ci_low"], roc["b_ci_high"]) == (0.80, 0.60, 0.76, 0.65)
    assert math.isclose(roc["change"], -0.20)
    assert (roc["overlap"], roc["verdict"]) == (False, "regressed")
    assert (frame.loc["m/performance/accuracy", "overlap"], frame.loc["m/performance/accuracy", "verdict"]) == (
        True,
        "regressed",
    )
    assert (frame.loc["m/performance/ece", "overlap"], frame.loc["m/performance/ece", "verdict"]) == (False, "improved")
    assert frame.loc["m/fairness/selection_rate[sex=female]", "verdict"] == "unchanged"
    assert frame.loc["m/fairness/selection_rate[sex=female]", "group"] == "sex=female"
    assert frame.loc["m/old/gone", "verdict"] == "removed"
    assert frame.loc["m/new/metric", "verdict"] == "added"
    assert frame.loc["m/new/metric", "overlap"] is None


def test_significant_regressions_are_the_disjoint_worsenings_only() -> None:
    a, b = _runs()
    assert list(significant_regressions(compare_runs(a, b))["path"]) == ["m/performance/roc_auc"]


def test_compare_gates_flags_status_changes() -> None:
    a, b = _runs()
    gates = compare_gates(a, b).set_index("gate")
    assert gates.loc["m/performance/roc_auc >= 0.7", ["a_status", "b_status", "changed"]].tolist() == [
        "pass",
        "fail",
        True,
    ]
    assert not gates.loc["m/performance/accuracy >= 0.7", "changed"]
    assert gates.loc["m/performance/accuracy >= 0.7", "b_measured"] == 0.73
