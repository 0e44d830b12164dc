"""A NumPy replay of the toolkit's fitted tabular preprocessor, equal to it bit for bit.

``make_preprocessor`` fits a ColumnTransformer of (median imputation, standardisation) for the
numeric columns and (most-frequent imputation, one-hot ignoring unknown categories) for the
categorical ones. scikit-learn's ``transform`` validates and converts a DataFrame on every call,
which costs milliseconds for one row: most of a one-row prediction, and so most of what the
latency check measures for the toolkit's own models. This module reads the fitted statistics
once and replays the same arithmetic in NumPy: missing numbers become the fitted median,
``(x - mean_) / scale_`` in float64 in that order (as StandardScaler does), missing categories
become the fitted most frequent value, and each known category sets its one-hot column
(unknown ones leave the row's block at zero, as ``handle_unknown='ignore'`` does).

``compile_preprocessor`` returns None for anything else (other transformers, options or
remainders), and the adapters keep calling scikit-learn. ``CompiledEncoder.transform`` falls
back to the ColumnTransformer itself for inputs it does not take (a column that is not plain
numbers or text). Tests check equality with scikit-learn on rows with missing values and unseen
categories.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.lazy import pandas as pd

SMALL = 64  # up to this many rows, categories are looked up in a dict; above, pandas does it vectorised


class CompiledEncoder:
    """``transform(X)`` equal to the fitted ColumnTransformer's, without its per-call overhead."""

    def __init__(self, preprocessor: Any, numeric: list[str], median: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 categorical: list[str], fill: list[Any], categories: list[np.ndarray]) -> None:
        self.preprocessor = preprocessor
        self.numeric, self.median, self.mean, self.scale = numeric, median, mean, scale
        self.categorical, self.fill, self.categories = categorical, fill, categories
        self.index = [{value: k for k, value in enumerate(cats.tolist())} for cats in categories]
        widths = [len(c) for c in categories]
        self.offsets = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64) + len(numeric)
        self.width = len(numeric) + int(sum(widths))

    def transform(self, X: Any) -> np.ndarray:
        if not isinstance(X, pd.DataFrame):
            return np.asarray(self.preprocessor.transform(X), dtype=np.float64)
        n = len(X)
        out = np.zeros((n, self.width), dtype=np.float64)
        dtypes = X.dtypes
        if any(not isinstance(dtypes[c], np.dtype) or dtypes[c].kind not in "iuf" for c in self.numeric):  # numpy int / float only
            return np.asarray(self.preprocessor.transform(X), dtype=np.float64)
        if n <= SMALL:  # one conversion of the few rows, then plain array slicing
            position = {c: k for k, c in enumerate(X.columns)}
            table = X.to_numpy(dtype=object)
            numbers = table[:, [position[c] for c in self.numeric]].astype(np.float64) if self.numeric else None
            texts = [table[:, position[c]] for c in self.categorical]
        else:
            numbers = X[self.numeric].to_numpy(dtype=np.float64, copy=True) if self.numeric else None
            texts = [X[c].to_numpy(dtype=object) for c in self.categorical]
        if self.numeric:
            values = numbers
            missing = np.isnan(values)
            if missing.any():
                values[missing] = np.broadcast_to(self.median, values.shape)[missing]
            values -= self.mean
            values /= self.scale
            out[:, : len(self.numeric)] = values
        rows = np.arange(n)
        for j, column in enumerate(texts):
            codes = self._codes(column, j)
            if codes is None:
                return np.asarray(self.preprocessor.transform(X), dtype=np.float64)
            known = codes >= 0
            out[rows[known], self.offsets[j] + codes[known]] = 1.0
        return out

    def _codes(self, values: np.ndarray, j: int) -> np.ndarray | None:
        missing = pd.isna(values)
        if missing.any():
            values = values.copy()
            values[missing] = self.fill[j]
        if any(not isinstance(v, str) for v in (values if len(values) <= SMALL else values[:SMALL])):
            return None  # categories are text in the toolkit's frames; anything else goes to sklearn
        if len(values) <= SMALL:
            lookup = self.index[j]
            return np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int64, count=len(values))
        return pd.Categorical(values, categories=self.categories[j]).codes.astype(np.int64)


def compile_preprocessor(preprocessor: Any) -> CompiledEncoder | None:
    """The compiled form of a fitted ``make_preprocessor`` ColumnTransformer; None for any other object."""
    try:
        return _compile(preprocessor)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        return None


def _compile(pre: Any) -> CompiledEncoder | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if type(pre) is not ColumnTransformer or getattr(pre, "sparse_output_", False):
        return None
    numeric: list[str] = []
    categorical: list[str] = []
    median = mean = scale = np.empty(0)
    fill: list[Any] = []
    categories: list[np.ndarray] = []
    names = []
    for name, transformer, columns in pre.transformers_:
        if name == "remainder":
            if transformer != "drop" or len(columns):
                return None
            continue
        names.append(name)
        if not isinstance(transformer, Pipeline) or len(transformer.steps) != 2:
            return None
        (_, impute), (_, last) = transformer.steps
        if type(impute) is not SimpleImputer or impute.add_indicator or not (impute.missing_values is np.nan or impute.missing_values != impute.missing_values):
            return None
        if name == "num" and type(last) is StandardScaler and impute.strategy == "median" and last.with_mean and last.with_std:
            median = np.asarray(impute.statistics_, dtype=np.float64)
            if np.isnan(median).any():
                return None  # an all-missing column would be dropped by the imputer
            numeric = list(columns)
            mean, scale = np.asarray(last.mean_, dtype=np.float64), np.asarray(last.scale_, dtype=np.float64)
        elif name == "cat" and type(last) is OneHotEncoder and impute.strategy == "most_frequent":
            if last.handle_unknown != "ignore" or last.drop is not None or getattr(last, "sparse_output", True) or last.dtype is not np.float64:
                return None
            if getattr(last, "_infrequent_enabled", False):
                return None
            categorical = list(columns)
            fill = list(impute.statistics_)
            categories = [np.asarray(c, dtype=object) for c in last.categories_]
            if not all(isinstance(v, str) for c in categories for v in c.tolist()) or not all(isinstance(v, str) for v in fill):
                return None
        else:
            return None
    if names not in (["num"], ["cat"], ["num", "cat"]):
        return None  # the output order is numeric block, then the one-hot blocks
    return CompiledEncoder(pre, numeric, median, mean, scale, categorical, fill, categories)


_UNSET = object()


def encode(owner: Any, X: Any) -> np.ndarray:
    """``owner.preprocessor.transform(X)`` as float64, through the compiled encoder when it applies.

    The encoder is compiled on the first call and kept only if it reproduces scikit-learn's
    output on that call's rows exactly; otherwise (or for a preprocessor it does not know) every
    call goes to scikit-learn.
    """
    encoder = owner.__dict__.get("_compiled_encoder", _UNSET)
    if encoder is _UNSET:
        reference = np.asarray(owner.preprocessor.transform(X), dtype=np.float64)
        encoder = compile_preprocessor(owner.preprocessor)
        if encoder is not None:
            try:
                same = np.array_equal(encoder.transform(X), reference)
            except Exception:  # noqa: BLE001 - any failure means: keep scikit-learn
                same = False
            encoder = encoder if same else None
        owner.__dict__["_compiled_encoder"] = encoder
        return reference
    if encoder is None:
        return np.asarray(owner.preprocessor.transform(X), dtype=np.float64)
    return encoder.transform(X)
