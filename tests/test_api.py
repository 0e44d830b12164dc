"""The Python API: a model object and DataFrames in memory, audited by the suite's own checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit
from audit.errors import AuditError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def credit() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(ROOT / "suites" / "data" / "german_credit.csv")
    return frame.iloc[:700].reset_index(drop=True), frame.iloc[700:].reset_index(drop=True)


@pytest.fixture(scope="module")
def pipeline(credit):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train, _ = credit
    features = [c for c in train.columns if c != "credit_risk"]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    numeric = [c for c in features if c not in categorical]
    pre = ColumnTransformer([("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    return make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(train[features], train["credit_risk"])


def test_pipeline_in_memory_gives_sklearn_and_fairlearn_numbers(credit, pipeline, tmp_path: Path) -> None:
    from fairlearn.metrics import demographic_parity_difference
    from sklearn.metrics import roc_auc_score

    train, test = credit
    result = audit.audit(pipeline, test, target="credit_risk", train=train, positive_label="good", sensitive=["foreign_worker"],
                         gates=["model/performance/roc_auc >= 0.7", "model/fairness/demographic_parity_difference[foreign_worker] <= 0.01"],
                         output=tmp_path)
    X = test.drop(columns="credit_risk")
    good = list(pipeline.classes_).index("good")
    score = pipeline.predict_proba(X)[:, good]
    assert result.metric("model/performance/roc_auc") == pytest.approx(roc_auc_score(test["credit_risk"] == "good", score), abs=1e-12)
    dpd = demographic_parity_difference(test["credit_risk"] == "good", score >= 0.5, sensitive_features=test["foreign_worker"])
    assert result.metric("model/fairness/demographic_parity_difference[foreign_worker]") == pytest.approx(dpd, abs=1e-12)
    assert result.status == "fail" and result.exit_code == 1  # the planted strict fairness gate
    gates = result.gates
    assert list(gates[gates["origin"] == "suite"]["status"]) == ["pass", "fail"]
    assert "model/integrity/trained_on_test == 0" in set(gates["gate"])  # the integrity pillar's default gate, passed
    assert gates.set_index("gate").loc["model/integrity/trained_on_test == 0", "status"] == "pass"
    metrics = result.metrics
    assert {"path", "value", "ci_low", "ci_high", "n", "reason"} <= set(metrics.columns)
    assert len(metrics) == len(result.results.metrics)
    page = result._repr_html_()
    assert "FAIL" in page and "demographic_parity_difference[foreign_worker]" in page
    again = audit.load_run(result.run_dir)
    assert again.status == "fail" and again.metric("model/performance/roc_auc") == result.metric("model/performance/roc_auc")
    assert (result.run_dir / "report.html").exists()


def test_callable_and_array_inputs(credit, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train, test = credit
    numeric = [c for c in train.columns if pd.api.types.is_numeric_dtype(train[c])]
    Xtr, Xte = train[numeric].to_numpy(float), test[numeric].to_numpy(float)
    ytr, yte = (train["credit_risk"] == "good").astype(int).to_numpy(), (test["credit_risk"] == "good").astype(int).to_numpy()
    lr = LogisticRegression(max_iter=2000).fit(Xtr, ytr)
    seen: list[type] = []

    def positive_probability(X):
        seen.append(type(X))
        return lr.predict_proba(X)[:, 1]  # a vector: the positive class

    result = audit.audit({"fn": positive_probability, "est": lr}, (Xte, yte), train=(Xtr, ytr), output=tmp_path)
    expected = roc_auc_score(yte, lr.predict_proba(Xte)[:, 1])
    assert result.metric("fn/performance/roc_auc") == pytest.approx(expected, abs=1e-12)
    assert result.metric("est/performance/roc_auc") == pytest.approx(expected, abs=1e-12)
    assert seen and all(t is np.ndarray for t in seen)  # fitted on arrays, called with arrays


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (lambda: __import__("sklearn.svm", fromlist=["LinearSVC"]).LinearSVC(), "has no predict_proba and is not callable"),
        (lambda: (lambda X: np.ones((len(X), 3))), "expected (8, 2) class probabilities"),
        (lambda: (lambda X: np.full((len(X), 2), 0.9)), "not probabilities"),
        (lambda: (lambda X: ["good"] * len(X)), "expected probabilities"),
        (lambda: "suites/credit.yaml", "pass a fitted model object"),
    ],
)
def test_bad_model_objects_get_a_clear_error(credit, tmp_path: Path, model, message: str) -> None:
    _, test = credit
    with pytest.raises(AuditError) as info:
        audit.audit(model(), test, target="credit_risk", output=tmp_path)
    assert message in str(info.value)
    assert not list(tmp_path.rglob("results.json"))


def test_bad_data_and_suite_objects_get_a_clear_error(credit, pipeline, tmp_path: Path) -> None:
    _, test = credit
    with pytest.raises(AuditError, match="test: no target column 'risk'"):
        audit.audit(pipeline, test, target="risk", output=tmp_path)
    with pytest.raises(AuditError, match="must be a pandas DataFrame"):
        audit.audit(pipeline, test.to_dict(), target="credit_risk", output=tmp_path)
    with pytest.raises(AuditError, match="takes a suite file path, a Suite or a suite dict; got list"):
        audit.run_suite([1, 2])
    with pytest.raises(AuditError, match="<suite dict>: .*version"):
        audit.run_suite({"name": "x"})
