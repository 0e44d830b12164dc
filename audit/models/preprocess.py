"""Tabular preprocessing shared by every tabular recipe.

Numeric columns: median imputation then standardisation; categorical columns: most-frequent
imputation then one-hot encoding that ignores unseen categories. ``feature_sources`` maps each
encoded column back to its original feature so attributions can be reported per feature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.data.base import Schema
from audit.errors import ModelError


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


def save_fitted(obj: Any, folder: Path, stem: str) -> None:
    """Save a fitted scikit-learn object of a cache entry: the own format (``audit.models.own_format``,
    no skops on load), else ``<stem>.skops`` when it holds something that format does not store."""
    from audit.models import own_format

    try:
        own_format.dump(obj, folder, stem)
    except own_format.UnsupportedObject:
        for suffix in (".json", ".npz"):
            (folder / f"{stem}{suffix}").unlink(missing_ok=True)
        from audit.models.safe_load import dump_skops

        dump_skops(obj, folder / f"{stem}.skops")


def load_fitted(folder: Path, stem: str, key: str) -> Any:
    """Load what ``save_fitted`` wrote (the own format, else the skops file through the allow-list)."""
    from audit.models import own_format

    if own_format.exists(folder, stem):
        try:
            return own_format.load(folder, stem)
        except own_format.FormatError as exc:
            raise ModelError(f"{key}: cannot load '{folder / stem}' ({exc}); delete that cache folder to retrain") from None
    from audit.models.safe_load import load_skops

    return load_skops(folder / f"{stem}.skops", key=key)


def cache_version(base: str) -> str:
    """A recipe's cache ``version`` for artefacts holding fitted scikit-learn objects: ``base`` plus
    the installed scikit-learn's version (their fitted attributes are private and change between
    releases, so an upgrade retrains instead of loading an incompatible entry)."""
    from audit.models.own_format import sklearn_version

    return f"{base}+sklearn-{sklearn_version()}"
