"""The attribute-inference attacker's fast path equals scikit-learn's pipeline on the same folds.

Reference: ``cross_val_predict`` of ``ColumnTransformer(SimpleImputer(median) + StandardScaler;
OneHotEncoder(handle_unknown="ignore"))`` + ``LogisticRegression`` (what the check ran before
the columns were read once), on the real German Credit rows, with missing values and an unseen
category planted, for every sensitive column, with and without a model's outputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit.privacy.attribute import _columns, _fold_design, cv_predict, model_outputs


def reference(X, numeric, categorical, target, folds, seed, extra=None):
    frame = X[numeric + categorical].copy()
    num = list(numeric)
    if extra is not None:
        for j in range(extra.shape[1]):
            frame[f"__model_{j}"] = extra[:, j]
            num.append(f"__model_{j}")
    for c in categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), "(missing)").astype(str)
    prep = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), list(categorical))])
    model = make_pipeline(prep, LogisticRegression(max_iter=2000, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cross_val_predict(model, frame, target, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))


@pytest.fixture(scope="module")
def credit():
    from audit.data.builtin import load_german_credit

    frame = load_german_credit()[0].iloc[:400].reset_index(drop=True)
    rng = np.random.default_rng(3)
    frame.loc[rng.choice(400, 25, replace=False), "duration_months"] = np.nan  # missing numeric values
    frame["never_filled"] = np.nan  # missing on every row: dropped, as SimpleImputer drops it
    frame.loc[rng.choice(400, 15, replace=False), "purpose"] = None  # missing categories
    frame.loc[7, "job"] = "a value seen once"  # unseen by the folds that hold it out
    return frame


@pytest.mark.parametrize("column", ["personal_status_sex", "foreign_worker", "housing"])
@pytest.mark.parametrize("with_model", [False, True])
def test_equals_the_sklearn_pipeline_on_german_credit(credit, column, with_model):
    numeric = [c for c in credit.columns if c != column and pd.api.types.is_numeric_dtype(credit[c])]
    categorical = [c for c in credit.columns if c not in numeric and c not in (column, "credit_risk")]
    target = np.unique(credit[column].astype(str), return_inverse=True)[1]
    extra = None
    if with_model:
        proba = np.random.default_rng(0).uniform(0.02, 0.98, size=len(credit))
        extra = model_outputs(np.column_stack([1 - proba, proba]))
    ours = cv_predict(credit, numeric, categorical, target, 5, 42, extra=extra)
    theirs = reference(credit, numeric, categorical, target, 5, 42, extra=extra)
    np.testing.assert_array_equal(ours, theirs)


def test_the_fold_design_equals_the_column_transformer(credit):
    numeric, categorical = ["duration_months", "credit_amount", "age", "never_filled"], ["purpose", "job"]
    num, codes = _columns(credit, numeric, categorical, None)
    train, test = np.arange(0, 300), np.arange(300, 400)
    frame = credit[numeric + categorical].copy()
    for c in categorical:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), "(missing)").astype(str)
    prep = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                              ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Skipping features without any observed values"
        expected_train = prep.fit_transform(frame.iloc[train])
        expected_test = prep.transform(frame.iloc[test])
    Z_train, Z_test = _fold_design(num, codes, train, test)
    np.testing.assert_allclose(Z_train, expected_train, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Z_test, expected_test, rtol=0, atol=1e-12)
