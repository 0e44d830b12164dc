"""Fold attributions of encoded columns back onto the original features.

A one-hot encoded feature is spread over several columns; its attribution for a row is the sum
of its columns' attributions (SHAP values are additive, so the sum is the feature's SHAP value).
Global importance is the mean absolute per-row attribution, taken after the sum: summing mean
absolute values of one-hot columns instead would overstate a feature whose columns cancel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def feature_order(columns: Sequence[str], sources: dict[str, str], preferred: Sequence[str] = ()) -> list[str]:
    """Original features of ``columns``, in ``preferred`` order first, then in order of appearance."""
    present = {sources.get(c, c) for c in columns}
    order = [f for f in preferred if f in present]
    for column in columns:
        feature = sources.get(column, column)
        if feature not in order:
            order.append(feature)
    return order


def aggregation_matrix(columns: Sequence[str], sources: dict[str, str], features: Sequence[str]) -> np.ndarray:
    """(n_columns, n_features) 0/1 matrix: column j belongs to feature k."""
    index = {f: k for k, f in enumerate(features)}
    matrix = np.zeros((len(columns), len(features)))
    for j, column in enumerate(columns):
        matrix[j, index[sources.get(column, column)]] = 1.0
    return matrix


def to_features(
    values: np.ndarray, columns: Sequence[str], sources: dict[str, str], features: Sequence[str]
) -> np.ndarray:
    """(n, n_columns) attributions -> (n, n_features), summing each feature's columns per row."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[1] != len(columns):
        raise ValueError(f"attributions have {values.shape[1]} columns but the encoder names {len(columns)}")
    return values @ aggregation_matrix(columns, sources, features)


def global_importance(per_feature: np.ndarray) -> np.ndarray:
    """Mean |attribution| per feature over the explained rows."""
    return (
        np.abs(np.asarray(per_feature, dtype=np.float64)).mean(axis=0)
        if len(per_feature)
        else np.zeros(per_feature.shape[1])
    )


def shares(importance: np.ndarray) -> np.ndarray:
    """Each feature's fraction of the total importance (zeros when the total is zero)."""
    total = float(np.sum(importance))
    return np.asarray(importance, dtype=np.float64) / total if total > 0 else np.zeros(len(importance))
