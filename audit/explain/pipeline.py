"""Split a scikit-learn pipeline into its transform and final estimator, and trace each
transformed column back to the one original feature it comes from.

A user's pipeline (e.g. ``ColumnTransformer(OneHotEncoder, StandardScaler) -> RandomForest``)
arrives as one estimator that takes raw rows. Explaining its final step on the transformed
input is exact (TreeExplainer, LinearExplainer) and far faster than treating the whole pipeline
as a black box, provided every transformed column depends on a single original feature: then a
feature's SHAP value is the sum of its columns' values. ``column_sources`` finds that feature
for each column from the fitted transformers (ColumnTransformer blocks, then the names that
``get_feature_names_out`` gives inside a block) and confirms it on sample rows: changing one
feature's values may only move the columns attributed to it. A transform that mixes features
(PCA, polynomial features) raises ``Unmapped`` and the caller falls back to permutation SHAP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)


class Unmapped(ValueError):
    """The transform's columns cannot each be traced to a single original feature."""


def split_pipeline(estimator: Any) -> tuple[Any, Any] | None:
    """(``pipeline[:-1]``, final estimator) of a fitted sklearn Pipeline with a transform; else None."""
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    final = estimator.steps[-1][1]
    if final is None or final == "passthrough":
        return None
    return estimator[:-1], final


def dense(Z: Any) -> np.ndarray:
    """A transform's output as a float ndarray (sparse one-hot output densified)."""
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    return np.asarray(Z, dtype=np.float64)


def column_sources(transform: Any, sample: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """(transformed column names, column -> original feature) of a fitted transform.

    ``sample``: raw rows (a few dozen background rows) used to confirm the mapping. Raises
    ``Unmapped`` when a column cannot be traced to one feature of ``sample.columns``.
    """
    features = [str(c) for c in sample.columns]
    try:
        names = [str(n) for n in transform.get_feature_names_out(features)]
    except Exception as exc:  # noqa: BLE001 - a transformer without output names
        raise Unmapped(f"the transform does not name its output columns ({exc.__class__.__name__}: {exc})") from None
    traced = _trace(transform, features, features)
    if len(traced) != len(names) or len(set(names)) != len(names):
        raise Unmapped(f"traced {len(traced)} columns but the transform names {len(names)}")
    _confirm(transform, sample, traced)
    return names, dict(zip(names, traced, strict=True))


def _trace(step: Any, names: list[str], sources: list[str]) -> list[str]:
    """The original feature behind each output column of ``step``, whose inputs are ``names``
    (coming from the original features ``sources``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return list(sources)
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            if inner is None or (isinstance(inner, str) and inner == "passthrough"):
                continue
            sources = _trace(inner, names, sources)
            names = [str(n) for n in inner.get_feature_names_out(names)]
        return sources
    if isinstance(step, ColumnTransformer):
        out: list[str] = []
        for _, inner, columns in step.transformers_:
            if isinstance(inner, str) and inner == "drop":
                continue
            idx = _column_indices(columns, names)
            if not len(idx):
                continue
            out += _trace(inner, [names[i] for i in idx], [sources[i] for i in idx])
        return out
    try:
        out_names = [str(n) for n in step.get_feature_names_out(names)]
    except Exception as exc:  # noqa: BLE001
        raise Unmapped(f"{type(step).__name__} does not name its output columns ({exc})") from None
    if len(set(sources)) == 1:
        return [sources[0]] * len(out_names)
    if out_names == names:
        return list(sources)
    traced = []
    for out in out_names:  # e.g. OneHotEncoder: '<input>_<category>'; the longest matching input wins
        match = [i for i, n in enumerate(names) if out == n or out.startswith(n + "_")]
        if not match:
            raise Unmapped(f"{type(step).__name__}'s column '{out}' does not name one of its inputs")
        traced.append(sources[max(match, key=lambda i: len(names[i]))])
    return traced


def _column_indices(columns: Any, names: list[str]) -> list[int]:
    if callable(columns):
        raise Unmapped("a ColumnTransformer selects columns with a callable")
    if isinstance(columns, slice):
        return list(range(len(names)))[columns]
    if isinstance(columns, (str, int, np.integer)):
        columns = [columns]
    columns = list(columns)
    if columns and all(isinstance(c, (bool, np.bool_)) for c in columns):
        return [i for i, keep in enumerate(columns) if keep]
    return [int(c) if isinstance(c, (int, np.integer)) else names.index(str(c)) for c in columns]


def _confirm(transform: Any, sample: pd.DataFrame, traced: list[str]) -> None:
    """Each feature moved alone (its values rotated over the sample rows) moves only its columns."""
    sample = sample.reset_index(drop=True)
    n, features = len(sample), list(sample.columns)
    if n < 2:
        return
    moved = []
    for feature in features:
        copy = sample.copy()
        copy[feature] = sample[feature].take(np.roll(np.arange(n), 1)).to_numpy()
        moved.append(copy)
    Z0 = dense(transform.transform(sample))
    Z = dense(transform.transform(pd.concat(moved, ignore_index=True))).reshape(len(features), n, -1)
    changed = np.any((Z0[None] != Z) & ~(np.isnan(Z) & np.isnan(Z0[None])), axis=1)  # (features, columns)
    owner = np.array(traced, dtype=object)
    for k, feature in enumerate(features):
        strays = np.flatnonzero(changed[k] & (owner != str(feature)))
        if len(strays):
            raise Unmapped(
                f"transformed column {int(strays[0])} changes with '{feature}' but was traced to '{owner[strays[0]]}'"
            )
