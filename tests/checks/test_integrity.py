"""The integrity pillar on planted effects: copies, overlaps, conflicts, leaks, broken columns, and
a model trained on the rows it is audited on (the German Credit random forest of issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from audit.checks import integrity_stats as st
from audit.checks.integrity import DataIntegrityCheck, ModelIntegrityCheck
from audit.engine import run_suite
from audit.registry import CHECKS
from audit.results import NOT_APPLICABLE

CREDIT = Path(__file__).resolve().parents[2] / "suites" / "data" / "german_credit.csv"
DEFAULT_GATES = [*DataIntegrityCheck.default_gates, *ModelIntegrityCheck.default_gates]


def _forest(frame: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = frame.drop(columns="credit_risk"), frame["credit_risk"]
    categorical = X.select_dtypes(exclude="number").columns.tolist()
    pre = ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough")
    return Pipeline([("pre", pre), ("rf", RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1))]).fit(
        X, y
    )


def _credit_suite(folder: Path, data: dict, *, forest_rows: pd.DataFrame) -> Path:
    from audit.models.safe_load import dump_skops

    dump_skops(_forest(forest_rows), folder / "rf.skops")
    suite = {
        "version": 1,
        "name": "rf",
        "seed": 0,
        "data": {"target": "credit_risk", "positive_label": "good", **data},
        "models": [{"name": "rf", "load": {"path": "rf.skops"}}],
        "checks": [
            {"name": "performance", "params": {"bootstrap": 100}},
            "integrity",
            {"name": "integrity", "variant": "model"},
        ],
        "gates": DEFAULT_GATES,  # what the engine applies when a suite sets no gate on the check
        "output": {"dir": str(folder / "reports"), "formats": []},
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def _values(outcome) -> dict[str, object]:
    return {m.path: m for m in outcome.results.metrics}


def test_integrity_is_a_pillar_with_the_data_variant_first():
    for modality in ("tabular", "image", "text"):
        assert CHECKS.resolve("integrity", modality) is DataIntegrityCheck
        assert CHECKS.resolve("integrity", modality, "model") is ModelIntegrityCheck
    assert DataIntegrityCheck.scope == "data" and ModelIntegrityCheck.scope == "model"
    assert DataIntegrityCheck.requires == () == ModelIntegrityCheck.requires


def test_a_forest_trained_on_every_row_and_audited_on_a_split_of_them_fails(tmp_path):
    frame = pd.read_csv(CREDIT)
    frame.to_csv(tmp_path / "credit.csv", index=False)
    suite = _credit_suite(tmp_path, {"path": "credit.csv", "split": {"test_size": 0.3}}, forest_rows=frame)
    outcome = run_suite(suite, output=tmp_path / "reports", log=None)
    v = _values(outcome)
    assert v["rf/performance/roc_auc"].value == 1.0  # what the audit showed before: a perfect score
    assert v["rf/integrity/trained_on_test"].value == 1.0
    assert v["rf/integrity/roc_auc"].value == 1.0 and v["rf/integrity/accuracy"].value == 1.0
    yard = v["rf/integrity/yardstick_roc_auc"].value
    assert 0.6 < yard < 0.9 and v["rf/integrity/roc_auc_excess"].value == pytest.approx(1.0 - yard)
    record = {(r.model, r.check): r for r in outcome.results.checks}["rf", "integrity"]
    assert any(
        w.startswith(
            "model 'rf' scores ROC-AUC 1.000 on the test rows, above what a model cross-validated on those rows reaches"
        )
        and w.endswith("it was most likely trained on them; audit it on held-out data")
        for w in record.warnings
    )
    failed = [g for g in outcome.results.gates if g.status == "fail"]
    assert [g.metric for g in failed] == ["rf/integrity/trained_on_test"]
    assert outcome.results.status == "fail" and outcome.exit_code == 1
    # the real German Credit rows themselves are clean: no copies, no overlap, no leaking feature
    assert (
        v["data/integrity/train_test_overlap"].value == 0.0 and v["data/integrity/train_test_near_overlap"].value == 0.0
    )
    assert (
        v["data/integrity/duplicate_share[train]"].value == 0.0 and v["data/integrity/conflicting_labels"].value == 0.0
    )
    assert v["data/integrity/leaky_features"].value == 0 and v["data/integrity/max_leakage_auc"].value < 0.75
    assert v["data/integrity/constant_columns"].value == 0 and v["data/integrity/mixed_type_columns"].value == 0


def test_the_same_forest_trained_on_the_train_file_only_passes_and_an_evaluation_only_run_still_catches_the_leak(
    tmp_path,
):
    from sklearn.model_selection import train_test_split

    frame = pd.read_csv(CREDIT)
    train, test = train_test_split(frame, test_size=0.3, random_state=1, stratify=frame["credit_risk"])
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    honest = run_suite(_credit_suite(tmp_path, {"train": "train.csv", "test": "test.csv"}, forest_rows=train), log=None)
    v = _values(honest)
    assert v["rf/integrity/trained_on_test"].value == 0.0
    assert 0.65 < v["rf/integrity/roc_auc"].value < 0.9 and v["rf/integrity/confident_correct_share"].value < 0.05
    assert v["data/integrity/train_test_overlap"].value == 0.0
    assert [g.metric for g in honest.results.gates if g.status != "pass"] == [] and honest.exit_code == 0

    only_test = run_suite(_credit_suite(tmp_path, {"test": "test.csv"}, forest_rows=frame), log=None)
    v = _values(only_test)
    assert v["rf/integrity/trained_on_test"].value == 1.0
    overlap = v["data/integrity/train_test_overlap"]
    assert overlap.value is None and overlap.reason.startswith(NOT_APPLICABLE)  # no training rows: not 0
    gates = {g.metric: g.status for g in only_test.results.gates}
    assert gates["data/integrity/train_test_overlap"] == "skipped" and gates["rf/integrity/trained_on_test"] == "fail"


def _planted(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Train and test tables with known copies, overlaps, conflicts and broken columns."""
    rng = np.random.default_rng(seed)

    def rows(n: int, offset: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = np.where(x + rng.normal(scale=1.0, size=n) > 0, "yes", "no")
        leak = (y == "yes").astype(int)
        flipped = rng.choice(n, size=n // 100, replace=False)
        leak[flipped] = 1 - leak[flipped]  # a copy of the label with 1% of it flipped
        ages = rng.integers(20, 70, size=n).astype(str).astype(object)
        ages[rng.random(n) < 0.1] = "unknown"
        return pd.DataFrame(
            {
                "x": x,
                "z": rng.normal(size=n),
                "g": rng.choice(["a", "b", "c"], size=n),
                "leak": leak,
                "record_no": offset + rng.permutation(n),  # an identifier, unrelated to the label
                "const": 7,
                "age_text": ages,
                "y": y,
            }
        )

    train, test = rows(400, 0), rows(150, 10_000)
    counts = {"train_copies": 8, "test_exact": 6, "test_near": 4, "conflicts": 3}
    copies = train.iloc[:8].copy()
    conflicts = train.iloc[20:23].copy()
    conflicts["y"] = np.where(conflicts["y"] == "yes", "no", "yes")
    exact = train.iloc[40:46].copy()
    near = train.iloc[60:64].copy()
    near["x"] += 0.01 * train["x"].std()
    train = pd.concat([train, copies, conflicts], ignore_index=True)
    test = pd.concat([test, exact, near], ignore_index=True)
    test.loc[rng.choice(150, size=15, replace=False), "z"] = np.nan  # original test rows only
    return train, test, counts


def test_planted_copies_overlap_conflicts_leak_and_broken_columns_are_found(suite_writer, tmp_path):
    train, test, planted = _planted()
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    path = suite_writer(
        train,
        data={"train": "train.csv", "test": "test.csv", "path": None, "positive_label": "yes"},
        checks=["integrity", {"name": "integrity", "variant": "model"}],
        gates=DEFAULT_GATES,
    )
    outcome = run_suite(path, log=None)
    v = _values(outcome)
    n_train, n_test = len(train), len(test)
    assert v["data/integrity/duplicate_share[train]"].value == pytest.approx(planted["train_copies"] / n_train)
    assert v["data/integrity/duplicate_share[test]"].value == 0.0
    assert v["data/integrity/train_test_overlap"].value == pytest.approx(planted["test_exact"] / n_test)
    assert v["data/integrity/train_test_near_overlap"].value == pytest.approx(
        (planted["test_exact"] + planted["test_near"]) / n_test
    )
    assert v["data/integrity/conflicting_labels"].value == pytest.approx(2 * planted["conflicts"] / (n_train + n_test))
    both = pd.concat([train, test], ignore_index=True)
    for column in ("x", "z", "g", "age_text"):
        assert v[f"data/integrity/missing_rate[{column}]"].value == pytest.approx(both[column].isna().mean())
    assert v["data/integrity/missing_rate[z]"].value == pytest.approx(15 / (n_train + n_test))
    assert v["data/integrity/constant_columns"].value == 1 and v["data/integrity/mixed_type_columns"].value == 1
    assert v["data/integrity/leakage_auc[leak]"].value >= 0.98 and v["data/integrity/leaky_features"].value == 1
    assert v["data/integrity/leakage_auc[record_no]"].value < 0.6 and v["data/integrity/leakage_auc[x]"].value < 0.9
    record = {(r.model, r.check): r for r in outcome.results.checks}["data", "integrity"]
    columns = {r["column"]: r for r in record.tables["columns"]}
    assert columns["const"]["constant"] and columns["age_text"]["mixed_type"] and columns["leak"]["leaky"]
    assert 0.85 < columns["age_text"]["numeric_share"] < 0.95
    text = " ".join(record.warnings)
    for phrase in (
        f"8 of {n_train} train rows",
        f"6 of {n_test} test rows (3.8%) also occur in the training rows",
        "conflicting labels",
        "feature 'leak' alone predicts the label",
        "constant column(s) carry no information: const",
        "age_text",
    ):
        assert phrase in text
    distances = [r["distance"] for r in record.tables["train_test_overlap"]]  # 5 exact examples, then the 4 near ones
    assert distances[:5] == [0.0] * 5 and len(distances) == 9 and all(0 < d <= 0.1 for d in distances[5:])
    # a suite-trained model reaching the leak's near-perfect score is explained by the data, never flagged
    assert v["lr/integrity/trained_on_test"].value is None
    assert v["lr/integrity/trained_on_test"].reason == "not applicable: the suite trained 'lr' on the train split"
    gates = {g.metric: g.status for g in outcome.results.gates}
    assert gates["data/integrity/leaky_features"] == "warn" and gates["data/integrity/train_test_overlap"] == "pass"


def test_text_and_image_keys_find_normalised_copies():
    texts = ["Great  flight!", "great flight!", "Delayed again", " delayed AGAIN ", "fine"]
    keys = st.row_keys(texts)
    assert st.first_copies(keys).tolist() == [False, True, False, True, False]
    images = np.random.default_rng(0).random((6, 1, 4, 4)).astype(np.float32)
    images[5] = images[2]
    keys = st.row_keys(images)
    assert st.first_copies(keys).tolist() == [False] * 5 + [True]
    assert st.conflicting_rows(keys, np.array([0, 1, 0, 1, 0, 1])).tolist() == [False, False, True, False, False, True]


def test_single_feature_scores_ignore_identifiers_and_catch_copies_of_the_label():
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=600)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(600), y))
    ident = st.feature_codes(pd.Series(rng.permutation(600).astype(str)), 20)
    assert st.single_feature_auc(ident, y, 2, folds) == pytest.approx(0.5, abs=0.02)  # unseen codes: the fold prior
    copy = st.feature_codes(pd.Series(np.where(y == 1, "yes", "no")), 20)
    assert st.single_feature_auc(copy, y, 2, folds) == 1.0
    assert st.mixed_type(pd.Series(["1", "2", "x"], dtype=object)) == (True, pytest.approx(2 / 3))
    assert st.mixed_type(pd.Series([1, "a", None], dtype=object))[0]
    assert st.mixed_type(pd.Series(["a", "b"]))[0] is False
