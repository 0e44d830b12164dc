"""``audit diff``: changed metrics, direction-aware regressions, exit 1 only for gated regressions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.cli import main
from audit.diff import diff_runs, summarise
from audit.results import GateOutcome, Metric, RunResults


def metric(path: str, value: float | None, ci=None, direction=None) -> Metric:
    model, check, name = path.split("[")[0].split("/")
    group = path.split("[")[1][:-1] if "[" in path else None
    return Metric(
        path=path, value=value, ci=ci, n=100, direction=direction, model=model, check=check, metric=name, group=group
    )


def gate(path: str) -> GateOutcome:
    return GateOutcome(
        expression=f"{path} >= 0",
        metric=path,
        on="value",
        op=">=",
        threshold=0.0,
        severity="fail",
        status="pass",
        observed=1.0,
    )


def results(run_id: str, metrics: list[Metric], gates: list[GateOutcome] = ()) -> RunResults:
    return RunResults(
        run_id=run_id,
        suite={"name": "s"},
        created_at="now",
        status="pass",
        exit_code=0,
        manifest={},
        models={},
        gates=list(gates),
        checks=[],
        metrics=metrics,
    )


A = [
    metric("m/performance/roc_auc", 0.80, (0.76, 0.84), "higher"),
    metric("m/performance/accuracy", 0.75, (0.70, 0.80), "higher"),
    metric("m/performance/ece", 0.05, (0.03, 0.07), "lower"),
    metric("m/fairness/demographic_parity_difference[sex]", 0.10, (0.05, 0.15), "lower"),
    metric("m/fairness/selection_rate[sex=f]", 0.50, (0.40, 0.60), None),
    metric("m/latency/p95_ms", 10.0, None, "lower"),
    metric("m/performance/f1", 0.70, (0.65, 0.75), "higher"),
    metric("m/performance/brier", 0.20, (0.18, 0.22), "lower"),
]
B = [
    metric("m/performance/roc_auc", 0.70, (0.66, 0.74), "higher"),  # intervals apart, lower: regressed
    metric("m/performance/accuracy", 0.73, (0.68, 0.78), "higher"),  # overlap: only worse
    metric("m/performance/ece", 0.02, (0.01, 0.025), "lower"),  # apart, lower: improved
    metric("m/fairness/demographic_parity_difference[sex]", 0.30, (0.22, 0.38), "lower"),  # apart, higher: regressed
    metric("m/fairness/selection_rate[sex=f]", 0.55, (0.45, 0.65), None),  # no direction: changed
    metric("m/latency/p95_ms", 30.0, None, "lower"),  # no interval: worse, never "regressed"
    metric("m/performance/f1", 0.70, (0.65, 0.75), "higher"),  # unchanged: not listed
    metric("m/explain/importance[x]", 0.3, None, None),  # new
]


def test_diff_classifies_every_change():
    changes = {c.path: c for c in diff_runs(results("a", A), results("b", B))}
    assert {p: c.status for p, c in changes.items()} == {
        "m/performance/roc_auc": "regressed",
        "m/performance/accuracy": "worse",
        "m/performance/ece": "improved",
        "m/fairness/demographic_parity_difference[sex]": "regressed",
        "m/fairness/selection_rate[sex=f]": "changed",
        "m/latency/p95_ms": "worse",
        "m/performance/brier": "removed",
        "m/explain/importance[x]": "added",
    }
    auc = changes["m/performance/roc_auc"]
    assert (auc.a, auc.b, auc.delta, auc.significant) == (0.80, 0.70, pytest.approx(-0.10), True)
    assert changes["m/latency/p95_ms"].delta == 20.0 and not changes["m/latency/p95_ms"].significant


def test_only_gated_regressions_block():
    a, b = results("a", A), results("b", B)
    assert summarise(diff_runs(a, b), a, b, 0.0)["exit_code"] == 0  # no gates in B: nothing blocks
    b_gated = results("b", B, [gate("m/performance/accuracy"), gate("m/latency/p95_ms")])
    assert summarise(diff_runs(a, b_gated), a, b_gated, 0.0)["exit_code"] == 0  # gated, but not significant
    b_gated = results("b", B, [gate("m/performance/roc_auc")])
    report = summarise(diff_runs(a, b_gated), a, b_gated, 0.0)
    assert report["exit_code"] == 1 and report["gated_regressions"] == ["m/performance/roc_auc"]


def test_wildcard_gate_that_matched_nothing_still_marks_metrics_gated():
    b = results("b", B, [gate("*/fairness/demographic_parity_difference[*]")])
    report = summarise(diff_runs(results("a", A), b), results("a", A), b, 0.0)
    assert report["gated_regressions"] == ["m/fairness/demographic_parity_difference[sex]"]


def test_gated_metric_that_disappears_or_loses_its_value_blocks():
    b = results(
        "b",
        [m for m in B if m.path != "m/performance/roc_auc"] + [metric("m/performance/brier", None, None, "lower")],
        [gate("m/performance/roc_auc"), gate("m/performance/brier")],
    )
    report = summarise(diff_runs(results("a", A), b), results("a", A), b, 0.0)
    assert sorted(report["gated_regressions"]) == ["m/performance/brier", "m/performance/roc_auc"]
    statuses = {c["path"]: c["status"] for c in report["changes"]}
    assert statuses["m/performance/roc_auc"] == "removed" and statuses["m/performance/brier"] == "undefined"


def test_threshold_hides_small_changes():
    changed = {c.path for c in diff_runs(results("a", A), results("b", B), threshold=0.06)}
    assert "m/performance/accuracy" not in changed and "m/fairness/selection_rate[sex=f]" not in changed
    assert "m/performance/roc_auc" in changed
    with pytest.raises(ValueError):
        diff_runs(results("a", A), results("b", B), threshold=-1)


def test_diff_of_real_runs_flags_a_gated_regression(small_run, small_suite, synthetic_frame, capsys):
    frame = synthetic_frame()
    rng = np.random.default_rng(5)
    noisy = rng.random(len(frame)) < 0.5  # half the labels replaced by coin flips: the model gets much worse
    frame.loc[noisy, "y"] = rng.choice(["yes", "no"], noisy.sum())
    from audit.engine import run_suite

    worse = run_suite(small_suite("worse", frame=frame, gates=["*/performance/roc_auc >= 0.55"]), log=None)
    assert worse.results.status == "pass"  # every gate still passes...
    assert main(["diff", str(small_run.run_dir), str(worse.run_dir), "--json"]) == 2  # other labels: other data
    report = json.loads(capsys.readouterr().out)
    assert not report["comparable"] and report["differences"][0].startswith("data sha256: ")
    code = main(["diff", str(small_run.run_dir), str(worse.run_dir), "--json", "--allow-incomparable"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # judged anyway: the gated AUCs regressed beyond their intervals
    assert set(report["gated_regressions"]) == {"lr/performance/roc_auc", "gbm/performance/roc_auc"}
    auc = next(c for c in report["changes"] if c["path"] == "lr/performance/roc_auc")
    assert auc["ci_b"][1] < auc["ci_a"][0] and auc["delta"] == pytest.approx(auc["b"] - auc["a"])
    assert main(["diff", str(small_run.run_dir), str(small_run.run_dir)]) == 0
    assert "no metric changed" in capsys.readouterr().out
    drop = max(abs(c["delta"]) for c in report["changes"] if c["path"].endswith("/performance/roc_auc"))
    assert (
        main(
            [
                "diff",
                str(small_run.run_dir),
                str(worse.run_dir),
                "--allow-incomparable",
                "--threshold",
                f"{drop + 0.01}",
            ]
        )
        == 0
    )  # below threshold: not a change
    assert f"threshold {drop + 0.01:g}" in capsys.readouterr().out
