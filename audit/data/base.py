"""In-memory datasets shared by models and checks.

A ``Dataset`` holds raw (un-encoded) features, integer-coded labels, the sensitive columns as
strings, and stable row ids. Its ``name`` is the key of the prediction cache, so a derived
dataset (a perturbed copy, a subpopulation) must get a new name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)

INTERSECTION_SEP = "&"


@dataclass(frozen=True)
class Schema:
    """What the columns mean: features by type, target classes, sensitive attributes."""

    target: str
    classes: tuple[Any, ...]  # label values; a row's y is the index into this tuple
    features: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    sensitive: tuple[str, ...] = ()
    intersections: tuple[tuple[str, ...], ...] = ()
    modality: str = "tabular"
    extra: tuple[tuple[str, Any], ...] = ()  # modality-specific facts, e.g. (("image_shape", (1, 8, 8)),)

    def info(self, key: str, default: Any = None) -> Any:
        return dict(self.extra).get(key, default)

    @property
    def positive_label(self) -> Any:
        return self.classes[-1] if self.classes else None  # a corpus (generation) has no classes

    @property
    def group_columns(self) -> tuple[str, ...]:
        """Every sensitive column followed by every intersection, as named in metric paths."""
        return self.sensitive + tuple(INTERSECTION_SEP.join(g) for g in self.intersections)


def take(X: Any, rows: np.ndarray) -> Any:
    """Rows of a feature container: DataFrame (tabular), ndarray (images) or list (texts)."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows].reset_index(drop=True)
    if isinstance(X, np.ndarray):
        return X[rows]
    return [X[i] for i in rows]


@dataclass
class Dataset:
    """Features ``X`` are a DataFrame (tabular), an ndarray (images, n x C x H x W) or a list of str (text)."""

    name: str
    X: Any
    y: np.ndarray
    sensitive: pd.DataFrame = field(default_factory=lambda: pd.DataFrame())
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.X)
        if self.ids is None:
            self.ids = np.arange(n)
        if len(self.y) != n or len(self.ids) != n or (len(self.sensitive.columns) and len(self.sensitive) != n):
            raise ValueError(f"dataset {self.name!r}: X, y, ids and sensitive differ in length")

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, rows: np.ndarray, name: str) -> Dataset:
        """Rows selected by a boolean mask or integer positions, under a new cache name."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return Dataset(
            name=name,
            X=take(self.X, rows),
            y=self.y[rows],
            sensitive=self.sensitive.iloc[rows].reset_index(drop=True),
            ids=self.ids[rows],
        )

    def with_features(self, X: Any, name: str) -> Dataset:
        """Same rows and labels with modified features (perturbations, counterfactuals)."""
        X = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else X
        return Dataset(name=name, X=X, y=self.y, sensitive=self.sensitive, ids=self.ids)

    def groups(self, column: str) -> pd.Series:
        """Group labels of a sensitive column or an intersection such as ``sex&age_group``."""
        if column in self.sensitive.columns:
            return self.sensitive[column]
        parts = column.split(INTERSECTION_SEP)
        labels = self.sensitive[parts[0]].astype(str)
        for part in parts[1:]:
            labels = labels + INTERSECTION_SEP + self.sensitive[part].astype(str)
        return labels.rename(column)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        if isinstance(self.X, pd.DataFrame):
            h.update(pd.util.hash_pandas_object(self.X, index=False).values.tobytes())
            h.update(",".join(map(str, self.X.columns)).encode())
        elif isinstance(self.X, np.ndarray):
            h.update(str(self.X.shape).encode())
            h.update(np.ascontiguousarray(self.X).tobytes())
        else:
            for text in self.X:
                h.update(str(text).encode("utf-8", "replace") + b"\x00")
        h.update(np.ascontiguousarray(self.y).tobytes())
        return h.hexdigest()


def group_label(column: str, value: str) -> str:
    """The bracket text of a per-group metric path: ``sex=female`` or ``sex=female&age_group=<25``."""
    names = column.split(INTERSECTION_SEP)
    values = str(value).split(INTERSECTION_SEP) if len(names) > 1 else [str(value)]
    return INTERSECTION_SEP.join(f"{n}={v}" for n, v in zip(names, values, strict=False))


@dataclass
class DataBundle:
    """Everything the run knows about its data: schema, the raw frame, train and test."""

    schema: Schema
    train: Dataset
    test: Dataset
    # the raw data as loaded; tabular loaders keep its columns and dtypes only (no rows: those
    # live in train / test / reference, so a 1M-row run holds one copy of them, not two)
    frame: pd.DataFrame
    source: str
    data_hash: str
    extra: dict[str, Dataset] = field(default_factory=dict)
    # rows from data.reference (or the split column's reference values): the drift baseline and
    # explainer background; labels may be missing (y == -1)
    reference: Dataset | None = None
    notes: list[str] = field(default_factory=list)  # what the loader did that the user should know

    @property
    def background(self) -> Dataset | None:
        """Rows that stand for the model's input distribution: the reference data, else the
        training rows; None in an evaluation-only run without a reference file."""
        if self.reference is not None and len(self.reference):
            return self.reference
        return self.train if len(self.train) else None
