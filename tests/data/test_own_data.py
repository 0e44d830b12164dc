"""Data as teams hold it: train / test / reference files, a split column, evaluation-only runs and
predictions-only models, checked against sklearn on the same rows and with planted effects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from audit.engine import run_suite
from audit.errors import AuditError

ROOT = Path(__file__).resolve().parents[2]
CREDIT = ROOT / "suites" / "data" / "german_credit.csv"


def _credit() -> pd.DataFrame:
    frame = pd.read_csv(CREDIT)
    frame.insert(0, "applicant", [f"A{i:04d}" for i in range(len(frame))])
    return frame


def _suite(folder: Path, data: dict, models: list, checks: list, gates: list | None = None, name: str = "own") -> Path:
    doc = {"version": 1, "name": name, "seed": 3, "data": {"target": "credit_risk", "positive_label": "good", "id_column": "applicant", **data},
           "models": models, "checks": checks, "gates": gates or [], "output": {"dir": str(folder / "reports"), "formats": ["predictions"]}}
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _metrics(outcome) -> dict[str, object]:
    return {m.path: m for m in outcome.results.metrics}


def test_train_and_test_files_are_the_split(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = _credit()
    train, test = frame.iloc[:700], frame.iloc[700:]
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_parquet(tmp_path / "test.parquet", index=False)
    suite = _suite(tmp_path, {"train": "train.csv", "test": "test.parquet"}, [{"name": "lr", "recipe": "logistic_regression"}],
                   [{"name": "performance", "params": {"bootstrap": 50}}])
    out = run_suite(suite, log=None)
    assert out.results.manifest["rows"] == {"train": 700, "test": 300}
    # the audited rows are exactly the test file's, in order
    written = pd.read_csv(out.run_dir / "predictions.csv")
    assert written["row_id"].astype(str).tolist() == test["applicant"].tolist()
    # and the model was trained on exactly the train file: sklearn fitted by hand on it scores the same AUC
    features = [c for c in frame.columns if c not in ("applicant", "credit_risk")]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in features if c not in categorical]
    pre = ColumnTransformer([("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    ref = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(train[features], train["credit_risk"] == "good")
    expected = roc_auc_score(test["credit_risk"] == "good", ref.predict_proba(test[features])[:, 1])
    assert _metrics(out)["lr/performance/roc_auc"].value == pytest.approx(expected, abs=0.01)


def test_split_column_decides_the_parts_and_is_not_a_feature(tmp_path: Path) -> None:
    frame = _credit()
    frame["fold"] = np.where(np.arange(len(frame)) % 4 == 0, "holdout", np.where(np.arange(len(frame)) % 4 == 1, "skip", "fit"))
    frame.to_csv(tmp_path / "data.csv", index=False)
    suite = _suite(tmp_path, {"path": "data.csv", "split": {"column": "fold", "train": "fit", "test": ["holdout"]}},
                   [{"name": "lr", "recipe": "logistic_regression"}], [{"name": "performance", "params": {"bootstrap": 20}}])
    out = run_suite(suite, log=None)
    assert out.results.manifest["rows"] == {"train": 500, "test": 250}
    assert "fold" not in out.results.suite["features"]
    assert out.results.manifest["data_notes"] == ["250 rows whose 'fold' is none of the listed split values were left out"]


def test_reference_file_with_planted_shifts_drift_flags_exactly_those(tmp_path: Path) -> None:
    frame = _credit()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    reference, current = frame.iloc[order[:500]].copy(), frame.iloc[order[500:]].copy()
    current["duration_months"] = current["duration_months"] * 2 + 6  # planted: longer loans
    current.loc[rng.random(len(current)) < 0.6, "purpose"] = "business"  # planted: a purpose takes over
    reference.drop(columns=["credit_risk"]).to_csv(tmp_path / "reference.csv", index=False)  # unlabelled reference
    current.to_csv(tmp_path / "current.csv", index=False)
    model = _fit_and_save(frame.iloc[order[:500]], tmp_path / "model.skops")
    suite = _suite(tmp_path, {"test": "current.csv", "reference": "reference.csv"}, [{"name": "prod", "load": {"path": "model.skops"}}],
                   ["performance", {"name": "drift", "params": {"correction": "bonferroni"}}, "privacy"])
    out = run_suite(suite, log=None)
    assert model is not None
    drifted = {row["feature"] for rec in out.results.checks if rec.check == "drift" for row in rec.tables["drift"] if row["drifted"]}
    assert drifted == {"duration_months", "purpose"}
    assert out.results.manifest["rows"] == {"train": 0, "test": 500, "reference": 500}
    privacy = next(r for r in out.results.checks if r.check == "privacy")
    assert privacy.status == "skipped" and "no training rows" in privacy.reason


def _fit_and_save(rows: pd.DataFrame, path: Path):
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    features = [c for c in rows.columns if c not in ("applicant", "credit_risk")]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(rows[c])]
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough")
    model = make_pipeline(pre, RandomForestClassifier(n_estimators=30, random_state=0)).fit(rows[features], rows["credit_risk"])
    sio.dump(model, path)
    return model


def test_predictions_only_model_matches_sklearn_and_skips_what_needs_the_model(tmp_path: Path) -> None:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    frame = _credit()
    test = frame.iloc[600:].reset_index(drop=True)
    test.to_csv(tmp_path / "test.csv", index=False)
    rng = np.random.default_rng(1)
    truth = (test["credit_risk"] == "good").to_numpy()
    score = np.clip(0.5 + 0.3 * (truth - 0.5) + rng.normal(0, 0.25, len(test)), 0.01, 0.99)
    preds = pd.DataFrame({"applicant": test["applicant"], "score": score}).sample(frac=1.0, random_state=0)  # any order
    preds.to_csv(tmp_path / "preds.csv", index=False)
    suite = _suite(tmp_path, {"test": "test.csv", "sensitive": ["foreign_worker"]}, [{"name": "prod", "predictions": "preds.csv"}],
                   [{"name": "performance", "params": {"bootstrap": 50}}, {"name": "fairness", "params": {"bootstrap": 50}}, "robustness", "latency"])
    out = run_suite(suite, log=None)
    m = _metrics(out)
    assert m["prod/performance/roc_auc"].value == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
    assert m["prod/performance/brier"].value == pytest.approx(brier_score_loss(truth, score), abs=1e-12)
    fw = test["foreign_worker"].to_numpy()
    rates = {g: float((score[fw == g] >= 0.5).mean()) for g in ("yes", "no")}
    assert m["prod/fairness/demographic_parity_difference[foreign_worker]"].value == pytest.approx(abs(rates["yes"] - rates["no"]), abs=1e-12)
    skipped = {r.check: r.reason for r in out.results.checks if r.status == "skipped"}
    assert set(skipped) == {"robustness", "latency"} and all("predictions-only" in why for why in skipped.values())


@pytest.mark.parametrize(
    ("preds", "message"),
    [
        (lambda t: pd.DataFrame({"applicant": t["applicant"][:-1], "score": 0.5}), "no prediction for 1 of the 400 test rows"),
        (lambda t: pd.DataFrame({"applicant": t["applicant"], "score": 1.5}), "probabilities must be numbers in [0, 1]"),
        (lambda t: pd.DataFrame({"applicant": t["applicant"], "proba[good]": 0.5, "proba[bad]": 0.6}), "do not sum to 1"),
        (lambda t: pd.DataFrame({"row": t["applicant"], "score": 0.5}), "no join column 'applicant'"),
    ],
)
def test_bad_predictions_files_are_refused_naming_the_key(tmp_path: Path, preds, message: str) -> None:
    test = _credit().iloc[600:].reset_index(drop=True)
    test.to_csv(tmp_path / "test.csv", index=False)
    preds(test).to_csv(tmp_path / "preds.csv", index=False)
    suite = _suite(tmp_path, {"test": "test.csv"}, [{"name": "prod", "predictions": "preds.csv"}], ["performance"])
    with pytest.raises(AuditError, match=r"models\[0\]\.predictions") as info:
        run_suite(suite, log=None)
    assert message in str(info.value)
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").rglob("results.json"))


def test_recipe_without_training_rows_and_mismatched_files_are_refused(tmp_path: Path) -> None:
    from audit.suite import load_suite

    frame = _credit()
    frame.iloc[:600].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[600:].drop(columns=["age"]).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(AuditError, match="evaluation-only"):
        load_suite(_suite(tmp_path, {"test": "test.csv"}, [{"name": "lr", "recipe": "logistic_regression"}], ["performance"]))
    suite = _suite(tmp_path, {"train": "train.csv", "test": "test.csv"}, [{"name": "lr", "recipe": "logistic_regression"}], ["performance"])
    with pytest.raises(AuditError, match=r"test\.csv: data\.test: the test file lacks 'age'"):
        run_suite(suite, log=None)


def test_a_model_trained_on_every_row_fails_by_default(tmp_path: Path) -> None:
    """The issue's case: a forest fitted on the whole file, audited on a random split of that file,
    with a suite that never mentions integrity: the implicit integrity pillar fails the run."""
    frame = _credit()
    frame.to_csv(tmp_path / "data.csv", index=False)
    _fit_and_save(frame, tmp_path / "rf.skops")
    suite = _suite(tmp_path, {"path": "data.csv"}, [{"name": "rf", "load": {"path": "rf.skops"}}], [{"name": "performance", "params": {"bootstrap": 20}}])
    out = run_suite(suite, log=None)
    m = _metrics(out)
    assert m["rf/performance/accuracy"].value == 1.0  # what the user saw before: a perfect, passing model
    assert out.results.status == "fail" and out.exit_code == 1
    [gate] = [g for g in out.results.gates if g.status == "fail"]
    assert gate.expression == "rf/integrity/trained_on_test == 0" and gate.origin.startswith("default gate of 'integrity'")
    record = next(r for r in out.results.checks if r.check == "integrity" and r.model == "rf")
    assert any("it was most likely trained on them" in w for w in record.warnings)
    # the same forest fitted on the train split only passes
    honest = tmp_path / "honest"
    honest.mkdir()
    frame.iloc[:700].to_csv(honest / "train.csv", index=False)
    frame.iloc[700:].to_csv(honest / "test.csv", index=False)
    _fit_and_save(frame.iloc[:700], honest / "rf.skops")
    suite = _suite(honest, {"train": "train.csv", "test": "test.csv"}, [{"name": "rf", "load": {"path": "rf.skops"}}], [{"name": "performance", "params": {"bootstrap": 20}}])
    out = run_suite(suite, log=None)
    assert out.results.status == "pass", [(g.expression, g.status) for g in out.results.gates]
    assert _metrics(out)["rf/integrity/trained_on_test"].value == 0.0
