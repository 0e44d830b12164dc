"""Gates: value and interval comparisons, wildcards, and the statuses that drive the exit code."""

from __future__ import annotations

import pytest

from audit.gates import evaluate_gates, exit_code, overall_status
from audit.results import Metric
from audit.suite import GateSpec


def metric(path: str, value: float | None, ci: tuple[float, float] | None = None) -> Metric:
    model, check, rest = path.split("/")
    name, _, group = rest.partition("[")
    return Metric(path=path, value=value, ci=ci, model=model, check=check, metric=name, group=group.rstrip("]") or None)


METRICS = [
    metric("gbm/fairness/demographic_parity_difference[sex]", 0.12, (0.05, 0.19)),
    metric("lr/fairness/demographic_parity_difference[sex]", 0.04, (0.01, 0.09)),
    metric("gbm/performance/roc_auc", 0.81, None),
    metric("gbm/performance/pr_auc", None, None),
]


def judge(*gates) -> list:
    return evaluate_gates([GateSpec.model_validate(g) for g in gates], METRICS)


def test_value_comparison_pass_and_fail():
    [fail] = judge("gbm/fairness/demographic_parity_difference[sex] <= 0.10")
    [ok] = judge("gbm/fairness/demographic_parity_difference[sex] <= 0.15")
    assert (fail.status, fail.observed, fail.message) == ("fail", 0.12, "0.12 breaches <= 0.1")
    assert ok.status == "pass"


def test_interval_bound_comparison():
    [high] = judge("ci_high(gbm/fairness/demographic_parity_difference[sex]) <= 0.15")
    [low] = judge("ci_low(gbm/fairness/demographic_parity_difference[sex]) <= 0.15")
    assert (high.status, high.observed) == ("fail", 0.19)
    assert (low.status, low.observed) == ("pass", 0.05)
    assert high.expression == "ci_high(gbm/fairness/demographic_parity_difference[sex]) <= 0.15"


def test_wildcard_judges_every_match_and_keeps_brackets_literal():
    outcomes = judge("*/fairness/demographic_parity_difference[sex] <= 0.10")
    assert {o.metric: o.status for o in outcomes} == {
        "gbm/fairness/demographic_parity_difference[sex]": "fail",
        "lr/fairness/demographic_parity_difference[sex]": "pass",
    }


def test_warn_severity_and_errors():
    [warn] = judge({"metric": "gbm/performance/roc_auc", "op": ">=", "threshold": 0.9, "severity": "warn"})
    [missing] = judge("gbm/performance/roc_auk >= 0.5")
    [undefined] = judge("gbm/performance/pr_auc >= 0.5")
    [no_ci] = judge("ci_low(gbm/performance/roc_auc) >= 0.5")
    assert warn.status == "warn"
    assert missing.status == "error" and "did you mean 'gbm/performance/roc_auc'?" in missing.message
    assert undefined.status == "error" and "has no value" in undefined.message
    assert no_ci.status == "error" and "no confidence interval" in no_ci.message


@pytest.mark.parametrize(
    ("statuses", "errors", "overall", "code", "code_strict"),
    [
        ([], 0, "pass", 0, 0),
        (["pass", "warn"], 0, "warn", 0, 1),
        (["pass", "fail", "warn"], 0, "fail", 1, 1),
        (["pass"], 1, "error", 1, 1),
    ],
)
def test_overall_status_and_exit_code(statuses, errors, overall, code, code_strict):
    outcomes = [judge("gbm/performance/roc_auc >= 0.5")[0].model_copy(update={"status": s}) for s in statuses]
    status = overall_status(outcomes, errors)
    assert status == overall
    assert exit_code(status) == code and exit_code(status, fail_on="warn") == code_strict
