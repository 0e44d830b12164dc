"""Adapters for tabular models: a fitted preprocessor plus an sklearn estimator or torch module."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.data.base import Schema
from audit.errors import ModelError
from audit.models.base import ModelAdapter
from audit.models.preprocess import encoded_feature_sources


class SklearnModel(ModelAdapter):
    """An sklearn estimator; with ``preprocessor`` it sees encoded rows, without it raw rows."""

    def __init__(self, name: str, schema: Schema, estimator: Any, preprocessor: Any = None, kind: str = "other") -> None:
        super().__init__(name, schema.classes)
        self.schema = schema
        self.estimator = estimator
        self.preprocessor = preprocessor
        self.kind = kind
        self._columns = _class_columns(estimator, schema, name)

    def transform(self, X: Any) -> np.ndarray:
        if self.preprocessor is None:
            return super().transform(X)
        from audit.models.fast_encode import encode

        return encode(self, X)  # the compiled replay of the preprocessor: equal to sklearn's, without its per-call cost

    def predict_proba(self, X: Any) -> np.ndarray:
        features = self.transform(X) if self.preprocessor is not None else X
        return self.proba_from_encoded(features)

    def proba_from_encoded(self, Z: np.ndarray) -> np.ndarray:
        """Probabilities for already-encoded rows (explainers and attacks work in this space);
        a large batch is scored with every usable core (:func:`audit.threads.rows_threads`)."""
        from audit.threads import LARGE_ROWS

        if len(Z) < LARGE_ROWS:
            return np.asarray(self.estimator.predict_proba(Z), dtype=np.float64)[:, self._columns]
        from audit.attacks import limit_threads
        from audit.threads import rows_threads

        with limit_threads(rows_threads(len(Z))):
            return np.asarray(self.estimator.predict_proba(Z), dtype=np.float64)[:, self._columns]

    @property
    def feature_names_out(self) -> list[str]:
        return list(encoded_feature_sources(self.preprocessor, self.schema)) if self.preprocessor is not None else list(self.schema.features)

    @property
    def feature_sources(self) -> dict[str, str]:
        if self.preprocessor is None:
            return {f: f for f in self.schema.features}
        return encoded_feature_sources(self.preprocessor, self.schema)


def _class_columns(estimator: Any, schema: Schema, name: str) -> np.ndarray:
    """Column order that puts predict_proba in schema.classes order (codes or raw labels)."""
    known = list(getattr(estimator, "classes_", range(len(schema.classes))))
    if not hasattr(estimator, "predict_proba"):
        raise ModelError(f"model '{name}': {type(estimator).__name__} has no predict_proba; audit needs probabilities")
    order = []
    for code, label in enumerate(schema.classes):
        if code in known and all(isinstance(k, (int, np.integer)) for k in known):
            order.append(known.index(code))
        elif label in known:
            order.append(known.index(label))
        elif str(label) in [str(k) for k in known]:
            order.append([str(k) for k in known].index(str(label)))
        else:
            raise ModelError(f"model '{name}': its classes {known} do not match the data's classes {list(schema.classes)}")
    return np.asarray(order)
