"""The compiled preprocessor replays scikit-learn's fitted ColumnTransformer exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.data.base import Schema
from audit.models.fast_encode import compile_preprocessor, encode
from audit.models.preprocess import make_preprocessor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fitted():
    frame = pd.read_csv(ROOT / "suites" / "data" / "german_credit.csv")
    features = [c for c in frame.columns if c != "credit_risk"]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in features if c not in categorical]
    schema = Schema(target="credit_risk", classes=("bad", "good"), features=tuple(features), numeric=tuple(numeric), categorical=tuple(categorical))
    X = frame[features].copy()
    for c in categorical:
        X[c] = X[c].astype(object)
    X.loc[5, "age"] = np.nan  # the fitted medians and modes see missing values too
    X.loc[7, "purpose"] = np.nan
    pre = make_preprocessor(schema).fit(X.iloc[:700])
    test = X.iloc[700:].reset_index(drop=True)
    test.loc[0, "age"] = np.nan
    test.loc[1, "purpose"] = np.nan
    test.loc[2, "purpose"] = "never seen in training"
    test.loc[3, "credit_amount"] = np.nan
    return pre, test


def test_equal_to_sklearn_on_missing_values_unseen_categories_and_any_batch_size(fitted) -> None:
    pre, test = fitted
    encoder = compile_preprocessor(pre)
    assert encoder is not None
    for rows in (test.iloc[:1], test.iloc[:5], test, pd.concat([test] * 40, ignore_index=True)):  # dict and pandas paths
        expected = np.asarray(pre.transform(rows), dtype=np.float64)
        assert np.array_equal(encoder.transform(rows), expected)
    assert encoder.transform(test.iloc[2:3])[0, encoder.offsets[0]:].sum() == len(encoder.categorical) - 1  # unseen: a zero block


def test_other_preprocessors_and_inputs_go_to_sklearn(fitted) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import MinMaxScaler

    pre, test = fitted
    numeric = [c for c in test.columns if pd.api.types.is_numeric_dtype(test[c])]
    other = ColumnTransformer([("num", MinMaxScaler(), numeric)]).fit(test)
    assert compile_preprocessor(other) is None
    encoder = compile_preprocessor(pre)
    odd = test.astype({"age": "Int64"})  # a nullable extension dtype: scikit-learn handles it
    assert np.array_equal(encoder.transform(odd), np.asarray(pre.transform(odd), dtype=np.float64))


def test_encode_keeps_the_compiled_form_only_when_it_reproduces_sklearn(fitted) -> None:
    pre, test = fitted

    class Owner:
        preprocessor = pre

    owner = Owner()
    first = encode(owner, test)
    assert owner._compiled_encoder is not None and np.array_equal(first, encode(owner, test))

    class Broken:
        preprocessor = pre

    broken = Broken()
    encoder = compile_preprocessor(pre)
    encoder.mean = encoder.mean + 1e-9  # a replay that would differ
    import audit.models.fast_encode as fe

    original = fe.compile_preprocessor
    fe.compile_preprocessor = lambda _pre: encoder
    try:
        encode(broken, test)
    finally:
        fe.compile_preprocessor = original
    assert broken._compiled_encoder is None  # verified on the first call and dropped
