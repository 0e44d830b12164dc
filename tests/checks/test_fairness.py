"""Fairness: known-answer disparity, and every value cross-checked against fairlearn."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score

from audit.cli import main

FAIRLEARN_GROUP = {
    "selection_rate": selection_rate,
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "precision": lambda y, p: precision_score(y, p, zero_division=0),
    "accuracy": accuracy_score,
}
FAIRLEARN_DISPARITY = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
    "equal_opportunity_difference": equal_opportunity_difference,
}


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
    assert "FAIL   gbm/fairness/demographic_parity_difference[group] <= 0.1" in capsys.readouterr().out


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
                    got = results.metric(f"{model}/fairness/{metric}[{label}]").value
                    assert got == pytest.approx(expected, abs=1e-9), (model, metric, label)
                    checked += 1
            for metric, fn in FAIRLEARN_DISPARITY.items():
                expected = fn(y, p, sensitive_features=groups)
                got = results.metric(f"{model}/fairness/{metric}[{column}]").value
                assert got == pytest.approx(expected, abs=1e-9), (model, metric, column)
                checked += 1
    fairness_records = [m for m in results.metrics if m.check == "fairness"]
    assert checked == len(fairness_records) and checked > 100


def test_small_groups_are_flagged(credit_run):
    warnings = [w for r in credit_run.results.checks if r.check == "fairness" for w in r.warnings]
    assert any("group foreign_worker=no is too small to judge" in w for w in warnings)
