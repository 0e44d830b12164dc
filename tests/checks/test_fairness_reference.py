"""The fairness check against reference libraries (fairlearn, AIF360) on the same predictions.

The check runs on hand-built predictions through a minimal context (no training), so every case
is exact and fast: defined rates and disparities equal fairlearn / AIF360, undefined rates are
null with a reason (never 0.0), intervals come from a group x label stratified bootstrap that
drops and counts undefined replicates, and the small-group and multiclass paths are checked.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_positive_rate,
)
from fairlearn_reference import FAIRLEARN_DISPARITY, FAIRLEARN_GROUP

import audit.checks.fairness as fairness_module
from audit.checks.fairness import FairnessCheck, FairnessParams

TOL = 1e-12
DISPARITIES = tuple(FAIRLEARN_DISPARITY)


def run_fairness(y, pred, groups: dict[str, np.ndarray], classes=("deny", "approve"), **params):
    """Run the check on given labels / predictions (class codes) and sensitive columns."""
    y, pred = np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    cols = {k: np.asarray(v).astype(str) for k, v in groups.items()}

    class Ctx:
        schema = SimpleNamespace(classes=tuple(classes), group_columns=tuple(cols))
        data = SimpleNamespace(test=SimpleNamespace(y=y, groups=lambda c: pd.Series(cols[c], name=c)))

        def predict(self, model, test):
            return SimpleNamespace(pred=pred)

        def rng(self, *keys):
            return np.random.default_rng(int.from_bytes(hashlib.sha256(repr(keys).encode()).digest()[:8], "little"))

    return FairnessCheck(FairnessParams(**params)).run(Ctx(), SimpleNamespace(name="m"))


def metric(result, name: str, group: str):
    [m] = [m for m in result.metrics if m.metric == name and m.group == group]
    return m


def fairlearn_frame(y, p, groups) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MetricFrame(metrics=FAIRLEARN_GROUP, y_true=y, y_pred=p, sensitive_features=groups).by_group


def fairlearn_disparity(name: str, y, p, groups) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(FAIRLEARN_DISPARITY[name](y, p, sensitive_features=groups))


def edge_case_data(seed: int = 7, n: int = 400):
    """Random predictions over 5 groups: 'nopos' has no positives, 'noneg' no negatives,
    'nosel' no predicted positives (precision 0/0)."""
    rng = np.random.default_rng(seed)
    g = rng.choice(np.array(["a", "b", "nopos", "noneg", "nosel"]), n)
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < np.where(y == 1, 0.7, 0.3)).astype(int)
    y[g == "nopos"], y[g == "noneg"], p[g == "nosel"] = 0, 1, 0
    return y, p, g


# ---------------------------------------------------------------------------- fairlearn


def test_defined_rates_equal_fairlearn_and_undefined_ones_are_null_with_a_reason():
    y, p, g = edge_case_data()
    result = run_fairness(y, p, {"g": g}, bootstrap=0)
    ref = fairlearn_frame(y, p, g)
    undefined = {("nopos", "tpr"), ("nopos", "fnr"), ("noneg", "fpr"), ("nosel", "precision")}
    for group, row in ref.iterrows():
        for name, expected in row.items():
            m = metric(result, name, f"g={group}")
            if (group, name) in undefined:
                assert m.value is None and m.ci is None, (group, name)
                assert expected == 0.0  # fairlearn's silent 0/0 -> 0.0: the defect we do not copy
                assert m.reason and "undefined" in m.reason and f"group g={group}" in m.reason
            else:
                assert m.value == pytest.approx(expected, abs=TOL), (group, name)
                assert m.reason is None
    assert metric(result, "tpr", "g=nopos").reason == "no positives in group g=nopos: TPR is undefined"
    assert metric(result, "fpr", "g=noneg").reason == "no negatives in group g=noneg: FPR is undefined"
    assert metric(result, "precision", "g=nosel").reason == "no predicted positives in group g=nosel: precision is undefined"
    assert "group g=nopos has no positives: TPR and FNR undefined (null, not 0)" in result.warnings
    # the disparities compare the groups whose rate is defined: fairlearn on those rows
    has_pos, has_neg = g != "nopos", g != "noneg"
    tpr_gap = fairlearn_disparity("equal_opportunity_difference", y[has_pos], p[has_pos], g[has_pos])
    fpr_gap = MetricFrame(metrics=false_positive_rate, y_true=y[has_neg], y_pred=p[has_neg], sensitive_features=g[has_neg]).difference()
    assert metric(result, "equal_opportunity_difference", "g").value == pytest.approx(tpr_gap, abs=TOL)
    assert metric(result, "equalized_odds_difference", "g").value == pytest.approx(max(tpr_gap, fpr_gap), abs=TOL)
    assert metric(result, "demographic_parity_difference", "g").value == pytest.approx(
        fairlearn_disparity("demographic_parity_difference", y, p, g), abs=TOL
    )
    [row] = [r for r in result.tables["disparities"] if r["metric"] == "equalized_odds_difference"]
    assert row["left_out"] == ["g=nopos (no positives: TPR undefined)", "g=noneg (no negatives: FPR undefined)"]
    assert any(w.startswith("g: TPR-based disparities compare 4 of 5 groups; left out: g=nopos") for w in result.warnings)
    [grow] = [r for r in result.tables["groups"] if r["group"] == "nopos"]
    assert grow["tpr"] is None and grow["left_out"] == ["TPR-based disparities: no positives"]


def test_fairlearn_convention_equals_fairlearn_everywhere():
    y, p, g = edge_case_data()
    result = run_fairness(y, p, {"g": g}, bootstrap=50, undefined_rates="fairlearn")
    for group, row in fairlearn_frame(y, p, g).iterrows():
        for name, expected in row.items():
            assert metric(result, name, f"g={group}").value == pytest.approx(expected, abs=TOL), (group, name)
    for name in DISPARITIES:
        assert metric(result, name, "g").value == pytest.approx(fairlearn_disparity(name, y, p, g), abs=TOL), name
    assert any("reported as 0 following fairlearn" in w for w in result.warnings)
    # the TPR of 'nopos' counts as 0, so equal opportunity is the largest TPR: what fairlearn says
    assert metric(result, "equal_opportunity_difference", "g").value == pytest.approx(max(fairlearn_frame(y, p, g)["tpr"]))


@pytest.mark.parametrize("convention", ["exclude", "fairlearn"])
def test_equalized_odds_ratio_without_false_positives_is_the_tpr_ratio_like_fairlearn(convention):
    """No group has a false positive: the FPR ratio is 0/0 (parity on FPR). fairlearn's
    ``min([tpr, fpr])`` skips that nan; both conventions give the TPR ratio. With no predicted
    positive at all both ratios are 0/0 and the check says so (fairlearn: nan)."""
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    g = np.array(["a"] * 4 + ["b"] * 4)
    expected = fairlearn_disparity("equalized_odds_ratio", y, p, g)
    assert expected == 0.5
    ours = run_fairness(y, p, {"g": g}, bootstrap=0, undefined_rates=convention)
    assert metric(ours, "equalized_odds_ratio", "g").value == expected
    assert (convention == "exclude") == any("so the ratio is the TPR ratio alone" in w for w in ours.warnings)
    nothing = np.zeros_like(p)
    assert np.isnan(fairlearn_disparity("equalized_odds_ratio", y, nothing, g))
    none = metric(run_fairness(y, nothing, {"g": g}, bootstrap=0, undefined_rates=convention), "equalized_odds_ratio", "g")
    assert none.value is None
    assert none.reason == "every group of g has TPR 0, so the TPR ratio is 0/0; every group of g has FPR 0, so the FPR ratio is 0/0"


# ---------------------------------------------------------------------------- AIF360


def aif360_metric(df: pd.DataFrame, pred: np.ndarray, privileged: int, unprivileged: int):
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # aif360 logs its missing optional extras (tensorflow, ...) on import
    try:
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import ClassificationMetric
    finally:
        root.setLevel(level)

    truth = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["g"], favorable_label=1, unfavorable_label=0)
    predicted = truth.copy(deepcopy=True)
    predicted.labels = pred.reshape(-1, 1).astype(np.float64)
    return ClassificationMetric(truth, predicted, unprivileged_groups=[{"g": unprivileged}], privileged_groups=[{"g": privileged}])


def three_groups():
    """A (0): TPR 9/10, FPR 4/10, selection 13/20; B (1): TPR 5/10, FPR 1/10, selection 6/20;
    C (2): no positives, FPR = selection = 7/20, between A's and B's on both, so the spread over
    the groups with a defined rate is exactly A vs B (AIF360 compares two groups)."""
    def block(code, pos, tp, neg, fp):
        y = [1] * pos + [0] * neg
        p = [1] * tp + [0] * (pos - tp) + [1] * fp + [0] * (neg - fp)
        return [code] * (pos + neg), y, p

    parts = [block(0, 10, 9, 10, 4), block(1, 10, 5, 10, 1), block(2, 0, 0, 20, 7)]
    g, y, p = (np.array(sum((part[i] for part in parts), [])) for i in range(3))
    return g, y, p


def test_exclude_convention_matches_aif360_on_the_groups_with_defined_rates():
    pytest.importorskip("aif360")
    g, y, p = three_groups()
    df = pd.DataFrame({"g": g.astype(float), "y": y.astype(float)})
    result = run_fairness(y, p, {"g": g}, bootstrap=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aif360: 'invalid value encountered' for C's 0/0
        per_group = {code: aif360_metric(df, p, privileged=code, unprivileged=(code + 1) % 3) for code in range(3)}
        ab = aif360_metric(df, p, privileged=0, unprivileged=1)
        rates = {
            code: {
                "selection_rate": m.selection_rate(privileged=True), "tpr": m.true_positive_rate(privileged=True),
                "fpr": m.false_positive_rate(privileged=True), "fnr": m.false_negative_rate(privileged=True),
                "precision": m.precision(privileged=True), "accuracy": m.accuracy(privileged=True),
            }
            for code, m in per_group.items()
        }
        tpr_ratio, fpr_ratio = ab.ratio(ab.true_positive_rate), ab.false_positive_rate_ratio()
        reference = {
            "equalized_odds_difference": ab.equalized_odds_difference(),
            "equal_opportunity_difference": abs(ab.equal_opportunity_difference()),
            "demographic_parity_difference": abs(ab.statistical_parity_difference()),
            "demographic_parity_ratio": ab.disparate_impact(),
            "equalized_odds_ratio": min(tpr_ratio, fpr_ratio),
        }
    # AIF360 leaves C's TPR / FNR undefined (nan), as we do (null); every other rate agrees
    assert np.isnan(rates[2]["tpr"]) and np.isnan(rates[2]["fnr"])
    for code in range(3):
        for name, expected in rates[code].items():
            m = metric(result, name, f"g={code}")
            if np.isnan(expected):
                assert m.value is None and m.reason
            else:
                assert m.value == pytest.approx(expected, abs=TOL), (code, name)
    assert abs(ab.true_positive_rate_difference()) == pytest.approx(0.4, abs=TOL)
    assert abs(ab.false_positive_rate_difference()) == pytest.approx(0.3, abs=TOL)
    for name, expected in reference.items():
        m = metric(result, name, "g")
        assert m.value == pytest.approx(expected, abs=TOL), name
        assert m.ci is not None and m.ci[0] <= m.value <= m.ci[1], name
    assert metric(result, "equalized_odds_difference", "g").value == pytest.approx(0.4, abs=TOL)
    # fairlearn's convention counts C's TPR as 0: equalized odds 0.9 instead of 0.4
    fl = run_fairness(y, p, {"g": g}, bootstrap=0, undefined_rates="fairlearn")
    assert metric(fl, "equalized_odds_difference", "g").value == pytest.approx(0.9, abs=TOL)
    assert fairlearn_disparity("equalized_odds_difference", y, p, g) == pytest.approx(0.9, abs=TOL)


# ---------------------------------------------------------------------------- intervals


def test_planted_disparity_is_measured_inside_its_interval():
    """The model approves 80% of group A and 40% of group B: the difference is 0.4."""
    n = 1000
    rng = np.random.default_rng(3)
    g = np.repeat(["A", "B"], n)
    y = rng.integers(0, 2, 2 * n)
    p = np.concatenate([np.arange(n) % 5 < 4, np.arange(n) % 5 < 2]).astype(int)
    result = run_fairness(y, p, {"g": g}, bootstrap=500)
    dpd = metric(result, "demographic_parity_difference", "g")
    assert dpd.value == pytest.approx(0.4, abs=TOL)
    assert dpd.ci[0] < 0.4 < dpd.ci[1] and dpd.ci[0] > 0.3 and dpd.ci[1] < 0.5
    assert metric(result, "demographic_parity_ratio", "g").value == pytest.approx(0.5, abs=TOL)
    assert dpd.value == pytest.approx(fairlearn_disparity("demographic_parity_difference", y, p, g), abs=TOL)


def test_perfectly_fair_model_has_a_tight_interval_at_zero():
    """Perfect predictions; a small group with 1 positive and one with none. Unstratified
    resampling with 0-for-undefined gave replicates with TPR 0 and an interval up to 1."""
    g = np.array(["big"] * 400 + ["small"] * 20 + ["none"] * 10)
    y = np.zeros(g.size, dtype=int)
    y[:200], y[400] = 1, 1
    result = run_fairness(y, y.copy(), {"g": g}, bootstrap=1000)
    for name in ("equalized_odds_difference", "equal_opportunity_difference"):
        m = metric(result, name, "g")
        assert m.value == 0.0 and m.ci == (0.0, 0.0), name
    [row] = [r for r in result.tables["disparities"] if r["metric"] == "equalized_odds_difference"]
    assert row["replicates_used"] == 1000 and row["replicates_dropped"] == 0
    # fairlearn's convention counts the TPR of 'none' as 0: the model looks maximally unfair
    fl = run_fairness(y, y.copy(), {"g": g}, bootstrap=0, undefined_rates="fairlearn")
    assert metric(fl, "equal_opportunity_difference", "g").value == 1.0


@pytest.fixture
def captured(monkeypatch):
    """The bootstrap replicates the check draws: ``captured["cm"]``, shape (B, G, K, K), each
    replicate's confusion matrix per group (drawn from the counts, not by resampling rows)."""
    drawn = {}
    original = fairness_module.bootstrap_table

    def spy(ctx, table, n_boot, rng_of, label="bootstrap"):
        drawn["cm"] = original(ctx, table, n_boot, rng_of, label)
        return drawn["cm"]

    monkeypatch.setattr(fairness_module, "bootstrap_table", spy)
    return drawn


def test_bootstrap_is_stratified_by_group_and_label(captured):
    y, p, g = edge_case_data(seed=11, n=300)
    run_fairness(y, p, {"g": g}, bootstrap=300)
    cm = captured["cm"]
    assert cm.shape == (300, 5, 2, 2)
    for code, group in enumerate(np.unique(g)):
        for label in (0, 1):
            cell = (g == group) & (y == label)
            assert (cm[:, code, label].sum(axis=1) == cell.sum()).all(), (group, label)
    assert len({tuple(r) for r in cm[:20].reshape(20, -1)}) == 20  # replicates do differ


def test_undefined_replicates_are_dropped_and_counted(captured):
    """Group 'b' has one predicted positive among 3 positives: replicates that miss it have no
    predicted positive, so precision is undefined there (dropped, counted), not 0."""
    g = np.array(["a"] * 100 + ["b"] * 10)
    y = np.array([1, 0] * 50 + [1, 1, 1] + [0] * 7)
    p = np.array([1, 1, 0, 0] * 25 + [1] + [0] * 9)
    result = run_fairness(y, p, {"g": g}, bootstrap=1000)
    expected_dropped = int((captured["cm"][:, 1, :, 1].sum(axis=1) == 0).sum())  # b without a predicted positive
    assert 200 < expected_dropped < 400  # (2/3)^3 of the replicates
    [row] = [r for r in result.tables["groups"] if r["group"] == "b"]
    assert row["replicates_dropped"]["precision"] == expected_dropped
    assert row["replicates_used"]["precision"] == 1000 - expected_dropped
    assert row["replicates_dropped"]["tpr"] == 0  # stratified: b keeps its 3 positives
    assert f"precision[g=b]: {expected_dropped} of 1000 replicates undefined, dropped" in result.warnings
    m = metric(result, "precision", "g=b")
    assert m.value == 1.0 and m.ci == (1.0, 1.0)  # kept replicates: the one predicted positive is right


# ---------------------------------------------------------------------------- small groups


def small_group_data():
    rng = np.random.default_rng(5)
    g = np.array(["x"] * 200 + ["z"] * 200 + ["t1"] * 4 + ["t2"] * 6)
    y = rng.integers(0, 2, g.size)
    y[400:402], y[404:407] = 1, 1
    y[402:404], y[407:410] = 0, 0
    p = (rng.random(g.size) < np.where(g == "x", 0.6, 0.45)).astype(int)
    p[400:404], p[404:410] = 1, 0  # tiny groups: all / none approved
    return y, p, g


@pytest.mark.parametrize("policy", ["warn", "exclude", "merge"])
def test_small_groups_policies(policy):
    y, p, g = small_group_data()
    result = run_fairness(y, p, {"g": g}, bootstrap=100, min_group_size=30, small_groups=policy)
    if policy == "warn":
        ref_y, ref_p, ref_g = y, p, g
    elif policy == "exclude":
        keep = np.isin(g, ["x", "z"])
        ref_y, ref_p, ref_g = y[keep], p[keep], g[keep]
    else:
        ref_y, ref_p, ref_g = y, p, np.where(np.isin(g, ["t1", "t2"]), "(other)", g)
    for name in DISPARITIES:
        assert metric(result, name, "g").value == pytest.approx(fairlearn_disparity(name, ref_y, ref_p, ref_g), abs=TOL), name
    # per-group rates are reported for every group, with its n, whatever the policy
    assert metric(result, "selection_rate", "g=t1").value == 1.0 and metric(result, "selection_rate", "g=t1").n == 4
    assert metric(result, "selection_rate", "g=t2").value == 0.0 and metric(result, "selection_rate", "g=t2").n == 6
    assert any(w.startswith("group g=t1 is too small to judge: 4 test rows") for w in result.warnings)
    [row] = [r for r in result.tables["disparities"] if r["metric"] == "demographic_parity_difference"]
    if policy == "warn":
        assert metric(result, "demographic_parity_difference", "g").value == 1.0  # driven by 10 rows
        assert row["groups"] == ["g=t1", "g=t2", "g=x", "g=z"]
    elif policy == "exclude":
        assert "g: groups below min_group_size=30 test rows are left out of the disparities (small_groups='exclude'): g=t1 (n=4), g=t2 (n=6)" in result.warnings
        assert row["groups"] == ["g=x", "g=z"] and len(row["left_out"]) == 2
    else:
        assert any("merged into one group '(other)' (n=10)" in w for w in result.warnings)
        assert row["groups"] == ["g=x", "g=z", "(other)"]
    [t1] = [r for r in result.tables["groups"] if r["group"] == "t1"]
    assert bool(t1["left_out"]) == (policy != "warn")


# ---------------------------------------------------------------------------- multiclass


def test_multiclass_is_one_vs_rest_per_class_with_macro_disparities():
    rng = np.random.default_rng(9)
    classes = ("setosa", "versicolor", "virginica")
    n = 600
    g = rng.choice(np.array(["f", "m", "x"]), n)
    y = rng.integers(0, 3, n)
    y[(g == "x") & (y == 2)] = 0  # group x has no virginica: its TPR for that class is undefined
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
    result = run_fairness(y, p, {"g": g}, classes=classes, bootstrap=100)
    assert set(m.metric for m in result.metrics) <= set(FairnessCheck.metrics)
    per_class = {}
    for k, cls in enumerate(classes):
        yk, pk = (y == k).astype(int), (p == k).astype(int)
        for group, row in fairlearn_frame(yk, pk, g).iterrows():
            for name, expected in row.items():
                m = metric(result, name, f"g={group}|class={cls}")
                if (cls, group, name) in {("virginica", "x", "tpr"), ("virginica", "x", "fnr")}:
                    assert m.value is None and m.reason == f"no positives in group g={group}|class={cls}: {name.upper()} is undefined"
                else:
                    assert m.value == pytest.approx(expected, abs=TOL), (cls, group, name)
        defined = (g != "x") if cls == "virginica" else np.ones(n, dtype=bool)
        per_class[cls] = {
            "demographic_parity_difference": fairlearn_disparity("demographic_parity_difference", yk, pk, g),
            "demographic_parity_ratio": fairlearn_disparity("demographic_parity_ratio", yk, pk, g),
            "equal_opportunity_difference": fairlearn_disparity("equal_opportunity_difference", yk[defined], pk[defined], g[defined]),
        }
        for name, expected in per_class[cls].items():
            assert metric(result, name, f"g|class={cls}").value == pytest.approx(expected, abs=TOL), (cls, name)
    for name in per_class["setosa"]:
        m = metric(result, f"macro_{name}", "g")
        assert m.value == pytest.approx(np.mean([per_class[c][name] for c in classes]), abs=TOL), name
        assert m.ci is not None and m.ci[0] <= m.value <= m.ci[1]
    rows = [r for r in result.tables["groups"] if r["group"] == "x"]
    assert [r["class"] for r in rows] == list(classes)


def test_one_vs_rest_counts_equal_the_binary_group_counts():
    from audit.checks.fairness import class_counts
    from audit.metrics.binary import bootstrap_indices, group_confusion_counts

    rng = np.random.default_rng(4)
    y, p, g = rng.integers(0, 3, 200), rng.integers(0, 3, 200), rng.integers(0, 4, 200)
    idx = bootstrap_indices(200, 7, rng)
    counts = class_counts(y, p, g, 4, 3, idx)
    assert counts.shape == (7, 4, 3, 2, 2) and (counts.sum(axis=(3, 4)) == np.bincount(g[idx].ravel() + 4 * np.repeat(np.arange(7), 200), minlength=28).reshape(7, 4)[..., None]).all()
    for k in range(3):
        np.testing.assert_array_equal(counts[:, :, k], group_confusion_counts((y == k).astype(int), (p == k).astype(int), g, 4, idx))
    np.testing.assert_array_equal(class_counts(y, p, g, 4, 3)[:, 1], group_confusion_counts((y == 1).astype(int), (p == 1).astype(int), g, 4))
