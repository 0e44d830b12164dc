"""Tabular preprocessing shared by every tabular recipe.

Numeric columns: median imputation then standardisation; categorical columns: most-frequent
imputation then one-hot encoding that ignores unseen categories. ``feature_sources`` maps each
encoded column back to its original feature so attributions can be reported per feature.
"""

from __future__ import annotations

from typing import Any

from audit.data.base import Schema


def make_preprocessor(schema: Schema) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if schema.numeric:
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        parts.append(("num", numeric, list(schema.numeric)))
    if schema.categorical:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        categorical = Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("onehot", onehot)])
        parts.append(("cat", categorical, list(schema.categorical)))
    return ColumnTransformer(parts, verbose_feature_names_out=False)


def encoded_feature_sources(preprocessor: Any, schema: Schema) -> dict[str, str]:
    """Encoded column name -> original feature, in the transformer's output order."""
    sources: dict[str, str] = {}
    for name, transformer, columns in preprocessor.transformers_:
        if name == "num":
            sources.update({c: c for c in columns})
        elif name == "cat":
            encoder = transformer.named_steps["onehot"]
            for column, categories in zip(columns, encoder.categories_, strict=True):
                for category in categories:
                    sources[f"{column}={category}"] = column
    return sources
