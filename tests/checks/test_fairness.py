"""Fairness: known-answer disparity, and every value cross-checked against fairlearn."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    false_positive_rate,
    true_positive_rate,
)
from fairlearn_reference import FAIRLEARN_GROUP

from audit.cli import main


def planted_gap_frame(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Approval is x > 0.3 for group a and x > 0.5 for group b: selection rates 0.7 vs 0.5."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) % 2 == 0, "a", "b")
    x = rng.uniform(0, 1, n)
    y = np.where(x > np.where(group == "a", 0.3, 0.5), "approve", "deny")
    return pd.DataFrame({"x": x, "group": group, "y": y})


def test_planted_demographic_parity_gap_is_measured_and_gated(suite_writer, capsys):
    suite = suite_writer(
        planted_gap_frame(),
        data={"positive_label": "approve", "sensitive": ["group"]},
        models=[{"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 50}}],
        checks=[{"name": "fairness", "params": {"bootstrap": 200}}],
        gates=["gbm/fairness/demographic_parity_difference[group] <= 0.10"],
    )
    code = main(["run", str(suite), "-q"])
    assert code == 1
    run_dir = next((suite.parent / "reports" / "synthetic").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    metrics = {m["path"]: m for m in results["metrics"]}
    dpd = metrics["gbm/fairness/demographic_parity_difference[group]"]
    assert dpd["value"] == pytest.approx(0.20, abs=0.02)
    assert dpd["ci"][0] < dpd["value"] < dpd["ci"][1]
    assert metrics["gbm/fairness/selection_rate[group=a]"]["value"] == pytest.approx(0.7, abs=0.02)
    assert metrics["gbm/fairness/selection_rate[group=b]"]["value"] == pytest.approx(0.5, abs=0.02)
    [gate] = results["gates"]
    assert gate["status"] == "fail" and gate["observed"] == dpd["value"]
    assert re.search(r"FAIL\s+gbm/fairness/demographic_parity_difference\[group\] <= 0\.1", capsys.readouterr().out)


def test_no_gap_when_groups_are_treated_alike(suite_writer):
    frame = planted_gap_frame()
    frame["y"] = np.where(frame["x"] > 0.4, "approve", "deny")
    suite = suite_writer(
        frame,
        data={"positive_label": "approve", "sensitive": ["group"]},
        models=[{"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 50}}],
        checks=[{"name": "fairness", "params": {"bootstrap": 0}}],
        gates=["gbm/fairness/demographic_parity_difference[group] <= 0.10"],
    )
    assert main(["run", str(suite), "-q"]) == 0


def fairlearn_over_defined_groups(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """fairlearn's disparities, each over the groups whose rate is defined: TPR over the groups
    with positives, FPR over the groups with negatives (the check's default convention)."""
    has_pos = pd.Series(y).groupby(groups).transform("max").to_numpy() == 1
    has_neg = pd.Series(y).groupby(groups).transform("min").to_numpy() == 0
    tpr = MetricFrame(metrics=true_positive_rate, y_true=y[has_pos], y_pred=p[has_pos], sensitive_features=groups[has_pos])
    fpr = MetricFrame(metrics=false_positive_rate, y_true=y[has_neg], y_pred=p[has_neg], sensitive_features=groups[has_neg])
    return {
        "demographic_parity_difference": demographic_parity_difference(y, p, sensitive_features=groups),
        "demographic_parity_ratio": demographic_parity_ratio(y, p, sensitive_features=groups),
        "equalized_odds_difference": max(tpr.difference(), fpr.difference()),
        "equalized_odds_ratio": min(tpr.ratio(), fpr.ratio()),
        "equal_opportunity_difference": tpr.difference(),
    }


def test_every_fairness_value_equals_fairlearn_recomputed_from_predictions_csv(credit_run):
    results = credit_run.results
    preds = pd.read_csv(credit_run.run_dir / "predictions.csv", dtype=str)
    positive = results.suite["positive_label"]
    columns = list(results.suite["sensitive"]) + ["&".join(g) for g in results.suite["intersections"]]
    checked = 0
    for model in results.models:
        rows = preds[preds["model"] == model]
        y = (rows["y_true"] == positive).astype(int).to_numpy()
        p = (rows["y_pred"] == positive).astype(int).to_numpy()
        for column in columns:
            parts = column.split("&")
            groups = rows[parts].astype(str).agg("&".join, axis=1).to_numpy()
            frame = MetricFrame(metrics=FAIRLEARN_GROUP, y_true=y, y_pred=p, sensitive_features=groups)
            for value, row in frame.by_group.iterrows():
                label = "&".join(f"{n}={v}" for n, v in zip(parts, str(value).split("&"), strict=False))
                for metric, expected in row.items():
                    got = results.metric(f"{model}/fairness/{metric}[{label}]")
                    if got.value is None:  # 0/0: fairlearn reports 0.0, the check null with a reason
                        assert expected == 0.0 and "undefined" in got.reason, (model, metric, label)
                    else:
                        assert got.value == pytest.approx(expected, abs=1e-9), (model, metric, label)
                    checked += 1
            for metric, expected in fairlearn_over_defined_groups(y, p, groups).items():
                got = results.metric(f"{model}/fairness/{metric}[{column}]").value
                assert got == pytest.approx(expected, abs=1e-9), (model, metric, column)
                checked += 1
    fairness_records = [m for m in results.metrics if m.check == "fairness"]
    assert checked == len(fairness_records) and checked > 100


def test_small_groups_are_flagged(credit_run):
    warnings = [w for r in credit_run.results.checks if r.check == "fairness" for w in r.warnings]
    assert any("group foreign_worker=no is too small to judge" in w for w in warnings)


def test_undefined_rate_is_null_with_its_reason_in_results_json(suite_writer):
    """A group without positives: its TPR is null (not 0.0) with a reason, and the disparities
    leave it out (fairlearn would put its TPR at 0 and report an equal-opportunity gap near 1)."""
    frame = planted_gap_frame(n=3000)
    frame["group"] = np.where(np.arange(len(frame)) % 3 == 2, "c", frame["group"])
    frame.loc[frame["group"] == "c", "y"] = "deny"
    suite = suite_writer(
        frame,
        data={"positive_label": "approve", "sensitive": ["group"]},
        checks=[{"name": "fairness", "params": {"bootstrap": 100}}],
        gates=["lr/fairness/equal_opportunity_difference[group] <= 0.5"],
    )
    assert main(["run", str(suite), "-q"]) == 0
    run_dir = next((suite.parent / "reports" / "synthetic").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    metrics = {m["path"]: m for m in results["metrics"]}
    tpr = metrics["lr/fairness/tpr[group=c]"]
    assert tpr["value"] is None and tpr["ci"] is None
    assert tpr["reason"] == "no positives in group group=c: TPR is undefined"
    assert metrics["lr/fairness/fpr[group=c]"]["value"] is not None
    eod = metrics["lr/fairness/equal_opportunity_difference[group]"]
    assert eod["value"] is not None and eod["value"] < 0.5
    [check] = [c for c in results["checks"] if c["check"] == "fairness"]
    [row] = [r for r in check["tables"]["disparities"] if r["metric"] == "equal_opportunity_difference"]
    assert row["left_out"] == ["group=c (no positives: TPR undefined)"] and row["groups"] == ["group=a", "group=b"]
    assert row["replicates_used"] + row["replicates_dropped"] == 100


def test_multiclass_target_runs_one_vs_rest(suite_writer):
    rng = np.random.default_rng(1)
    n = 900
    x = rng.uniform(0, 3, n)
    frame = pd.DataFrame({
        "x": x,
        "group": np.where(np.arange(n) % 2 == 0, "a", "b"),
        "y": np.array(["low", "mid", "high"])[np.clip((x + rng.normal(0, 0.3, n)).astype(int), 0, 2)],
    })
    suite = suite_writer(
        frame,
        data={"sensitive": ["group"]},
        checks=[{"name": "fairness", "params": {"bootstrap": 50}}],
        gates=["lr/fairness/macro_demographic_parity_difference[group] <= 0.5"],
    )
    assert main(["run", str(suite), "-q"]) == 0
    run_dir = next((suite.parent / "reports" / "synthetic").iterdir())
    results = json.loads((run_dir / "results.json").read_text())
    metrics = {m["path"]: m for m in results["metrics"]}
    classes = sorted({m["group"].split("|class=")[1] for m in results["metrics"] if m["group"] and "|class=" in m["group"]})
    assert classes == ["high", "low", "mid"]
    for cls in classes:
        assert metrics[f"lr/fairness/tpr[group=a|class={cls}]"]["value"] is not None
        assert metrics[f"lr/fairness/demographic_parity_difference[group|class={cls}]"]["value"] is not None
    macro = metrics["lr/fairness/macro_demographic_parity_difference[group]"]
    per_class = [metrics[f"lr/fairness/demographic_parity_difference[group|class={c}]"]["value"] for c in classes]
    assert macro["value"] == pytest.approx(np.mean(per_class), abs=1e-12)
    assert macro["ci"] is not None
