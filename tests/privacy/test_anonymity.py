"""privacy (anonymity): k-anonymity, l-diversity and uniqueness equal hand counts on a small table;
generalising a numeric quasi-identifier into quantile bins raises k as counted by hand; unknown
columns are refused by name; an end-to-end suite reports ``data/privacy/k_anonymity`` and gates it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from audit.checks.anonymity import AnonymityCheck, AnonymityParams
from audit.checks.base import metric_specs
from audit.data.base import DataBundle, Dataset, Schema
from audit.engine import Context
from audit.errors import CheckError

# Ten people. Quasi-identifiers: age (numeric feature) and sex (a sensitive column, not a feature,
# as in the German credit suite). diagnosis is a feature; the target y has labels bad/good.
AGE = [23, 24, 23, 35, 35, 35, 47, 47, 52, 61]
SEX = ["f", "f", "f", "m", "m", "m", "f", "f", "f", "f"]
DIAGNOSIS = ["flu", "flu", "cold", "flu", "flu", "asthma", "cold", "asthma", "flu", "cold"]
Y = [1, 0, 1, 1, 1, 1, 0, 1, 1, 0]  # index into classes ("bad", "good")


def bundle(split_at: int = 6) -> DataBundle:
    """Rows [0, split_at) are train, the rest test, so ``dataset: all`` must put them back together."""
    X = pd.DataFrame({"age": AGE, "diagnosis": DIAGNOSIS, "income": np.arange(10, dtype=float)})
    sens = pd.DataFrame({"sex": SEX})
    schema = Schema(target="y", classes=("bad", "good"), features=("age", "diagnosis", "income"), numeric=("age", "income"), categorical=("diagnosis",), sensitive=("sex",))
    full = Dataset("all", X, np.array(Y), sens)
    rows = np.arange(10)
    return DataBundle(schema, full.subset(rows[:split_at], "train"), full.subset(rows[split_at:], "test"), pd.DataFrame(), "synthetic", "0")


def run(tmp_path: Path, **params) -> dict[str, float | None]:
    ctx = Context(None, bundle(), {}, 0, tmp_path, lambda m: None)
    result = AnonymityCheck(AnonymityParams(**params)).run(ctx, None)
    assert result.model == "data" and result.check == "privacy"
    run.last = result  # type: ignore[attr-defined]
    return {m.path: m.value for m in result.metrics}


def test_k_l_and_uniqueness_equal_hand_counts(tmp_path):
    # Classes over (age, sex):
    #   (23,f): rows 0,2  -> 2    (24,f): row 1 -> 1     (35,m): rows 3,4,5 -> 3
    #   (47,f): rows 6,7  -> 2    (52,f): row 8 -> 1     (61,f): row 9      -> 1
    # k = 1; 6 classes; unique rows 1,8,9 -> 3/10; classes smaller than 3 hold 2+1+2+1+1 = 7 rows.
    # diagnosis per class: {flu,cold} {flu} {flu,asthma} {cold,asthma} {flu} {cold} -> l = 1.
    # age alone: 24, 52, 61 occur once -> 3/10 unique; sex alone: f x7, m x3 -> 0.
    v = run(tmp_path, quasi_identifiers=["age", "sex"], sensitive_attribute="diagnosis", k_threshold=3)
    assert v["data/privacy/k_anonymity"] == 1
    assert v["data/privacy/equivalence_classes"] == 6
    assert v["data/privacy/unique_share"] == pytest.approx(0.3)
    assert v["data/privacy/share_below_k"] == pytest.approx(0.7)
    assert v["data/privacy/l_diversity"] == 1
    assert v["data/privacy/uniqueness[age]"] == pytest.approx(0.3)
    assert v["data/privacy/uniqueness[sex]"] == 0.0
    result = run.last  # type: ignore[attr-defined]
    smallest = result.tables["smallest_classes"]
    assert [r["rows"] for r in smallest] == [1, 1, 1, 2, 2, 3]
    assert {(r["age"], r["sex"]) for r in smallest[:3]} == {(24, "f"), (52, "f"), (61, "f")}
    assert smallest[-1] == {"age": 35, "sex": "m", "rows": 3, "distinct diagnosis": 2}
    per_qi = {r["quasi_identifier"]: r for r in result.tables["quasi_identifiers"]}
    assert per_qi["age"]["distinct_values"] == 6 and per_qi["sex"]["distinct_values"] == 2
    specs = metric_specs(AnonymityCheck)
    assert specs["k_anonymity"].direction == "higher" and specs["unique_share"].direction == "lower"
    assert specs["share_below_k"].direction == "lower" and specs["l_diversity"].direction == "higher"


def test_binning_age_raises_k_as_counted_by_hand(tmp_path):
    # Two quantile bins of age: the median of the 10 ages is 35, so the bins are [23, 35] (rows
    # 0-5) and (35, 61] (rows 6-9). Classes over (age bin, sex):
    #   (low,f): rows 0,1,2 -> 3   (low,m): rows 3,4,5 -> 3   (high,f): rows 6,7,8,9 -> 4
    # k = 3; 3 classes; no unique row; with k_threshold 4 the two classes of 3 hold 6/10 rows.
    # diagnosis: {flu,cold} {flu,asthma} {cold,asthma,flu} -> l = 2.
    # target (the default sensitive attribute): {good,bad} {good} {bad,good} -> l = 1.
    v = run(tmp_path, quasi_identifiers=["age", "sex"], bins={"age": 2}, sensitive_attribute="diagnosis", k_threshold=4)
    assert v["data/privacy/k_anonymity"] == 3
    assert v["data/privacy/equivalence_classes"] == 3
    assert v["data/privacy/unique_share"] == 0.0
    assert v["data/privacy/share_below_k"] == pytest.approx(0.6)
    assert v["data/privacy/l_diversity"] == 2
    assert v["data/privacy/uniqueness[age]"] == 0.0
    per_qi = {r["quasi_identifier"]: r for r in run.last.tables["quasi_identifiers"]}  # type: ignore[attr-defined]
    assert per_qi["age"]["generalised"] == "2 quantile bins" and per_qi["age"]["distinct_values"] == 2
    v = run(tmp_path, quasi_identifiers=["age", "sex"], bins={"age": 2})
    assert v["data/privacy/k_anonymity"] == 3 and v["data/privacy/l_diversity"] == 1


def test_one_split_only(tmp_path):
    # test rows 6-9: ages 47, 47, 52, 61, all f -> classes 2, 1, 1: k = 1, unique 2/4.
    v = run(tmp_path, quasi_identifiers=["age", "sex"], dataset="test")
    assert v["data/privacy/k_anonymity"] == 1 and v["data/privacy/unique_share"] == pytest.approx(0.5)
    assert v["data/privacy/equivalence_classes"] == 3


def test_unknown_columns_are_refused_by_name(tmp_path):
    with pytest.raises(CheckError, match=r"quasi_identifiers\[1\]: 'sexx' is not a feature or sensitive column.*did you mean 'sex'"):
        run(tmp_path, quasi_identifiers=["age", "sexx"])
    with pytest.raises(CheckError, match=r"quasi_identifiers\[0\]: 'y' is the target"):
        run(tmp_path, quasi_identifiers=["y"])
    with pytest.raises(CheckError, match=r"sensitive_attribute: 'diag' is not a column"):
        run(tmp_path, quasi_identifiers=["age"], sensitive_attribute="diag")
    with pytest.raises(CheckError, match=r"bins: 'sex' is not numeric"):
        run(tmp_path, quasi_identifiers=["sex"], bins={"sex": 3})
    with pytest.raises(ValidationError, match="bins: 'income' is not one of the quasi_identifiers"):
        AnonymityParams(quasi_identifiers=["age"], bins={"income": 3})
    with pytest.raises(ValidationError, match="also a quasi-identifier"):
        AnonymityParams(quasi_identifiers=["age", "diagnosis"], sensitive_attribute="diagnosis")
    with pytest.raises(ValidationError):
        AnonymityParams(quasi_identifiers=[])
    with pytest.raises(ValidationError):
        AnonymityParams(quasi_identifiers=["age"], k=3)  # extra keys are refused


def test_suite_reports_k_anonymity_and_gates_it(suite_writer):
    from audit.engine import run_suite

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "age": rng.integers(20, 70, n),
        "sex": rng.choice(["f", "m"], n),
        "x": rng.normal(size=n),
    })
    frame["y"] = (frame["x"] + rng.normal(size=n) > 0).astype(int)
    checks = [{"name": "privacy", "variant": "anonymity", "params": {"quasi_identifiers": ["age", "sex"], "bins": {"age": 4}}}]
    suite = suite_writer(frame, data={"sensitive": ["sex"]}, checks=checks, gates=["data/privacy/k_anonymity >= 2", "data/privacy/unique_share <= 0"])
    outcome = run_suite(suite, log=None)
    results = outcome.results
    # by hand over the whole CSV (dataset: all = train + test): quartiles of age crossed with sex
    expected = int(frame.groupby([pd.qcut(frame["age"], 4), frame["sex"]], observed=True).size().min())
    metric = results.metric("data/privacy/k_anonymity")
    assert metric.value == expected and expected >= 2 and metric.n == n and metric.direction == "higher"
    assert results.metric("data/privacy/uniqueness[age]").value == pytest.approx(float((frame["age"].map(frame["age"].value_counts()) == 1).mean()))
    assert [(g.metric, g.status) for g in results.gates] == [("data/privacy/k_anonymity", "pass"), ("data/privacy/unique_share", "pass")]
    record = next(c for c in results.checks if c.check == "privacy")
    assert record.implementation == "privacy_anonymity" and record.status == "ok"
    assert outcome.exit_code == 0
