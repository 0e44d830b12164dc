"""Model objects handed over by the Python API (``audit.audit``): estimators, pipelines, callables.

An object with ``predict_proba`` (a fitted scikit-learn estimator or pipeline, or anything that
behaves like one) is wrapped like a loaded skops model, so pipelines keep their exact
explainers. Any other callable is called with the feature rows and must return probabilities:
``(n, n_classes)`` in the order of the data's classes, or for a binary target a vector of the
positive class's probabilities. The output is checked on a few test rows before any check runs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from audit.data.base import DataBundle, take
from audit.errors import ModelError
from audit.models.base import ModelAdapter
from audit.suite import ModelSpec, Suite

PROBE_ROWS = 8
TOLERANCE = 1e-6


class CallableModel(ModelAdapter):
    """A function from feature rows to class probabilities."""

    def __init__(self, name: str, classes: tuple[Any, ...], fn: Any, array_input: bool, modality: str) -> None:
        super().__init__(name, classes)
        self.fn = fn
        self.array_input = array_input
        self.modality = modality

    def predict_proba(self, X: Any) -> np.ndarray:
        out = np.asarray(self.fn(X.to_numpy() if self.array_input and hasattr(X, "to_numpy") else X))
        if out.dtype.kind not in "fiub":
            raise ModelError(f"audit(): model '{self.name}' returned {out.dtype} values; expected probabilities (numbers in [0, 1])")
        out = out.astype(np.float64)
        if out.ndim == 1 and len(self.classes) == 2:
            out = np.column_stack([1.0 - out, out])
        return out


class _ArrayEstimator:
    """An estimator fitted on a NumPy array, fed the rows as one (no column names)."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.classes_ = getattr(estimator, "classes_", None)
        if self.classes_ is None:
            del self.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator.predict_proba(np.asarray(X))


def memory_model(spec: ModelSpec, suite: Suite, bundle: DataBundle) -> tuple[ModelAdapter, dict[str, Any]]:
    from audit.models.build import _kind_of
    from audit.models.tabular import SklearnModel

    memory = suite._memory
    obj = memory.get("models", {}).get(spec.name)
    if obj is None:
        raise ModelError(f"model '{spec.name}' has no recipe, file or predictions: in-memory models come from the Python API (audit.audit)")
    array_input = "test" in memory.get("array_input", set())
    schema = bundle.schema
    if hasattr(obj, "predict_proba"):
        estimator = _ArrayEstimator(obj) if array_input else obj
        try:
            model: ModelAdapter = SklearnModel(spec.name, schema, estimator, None, kind=_kind_of(obj))
        except ModelError as exc:
            raise ModelError(f"audit(): {exc}") from None
        model.modality = schema.modality
    else:
        model = CallableModel(spec.name, schema.classes, obj, array_input, schema.modality)
    probe = check_probabilities(model, bundle)
    digest = hashlib.sha256(np.ascontiguousarray(probe).tobytes()).hexdigest()
    info = {"source": "memory", "object": f"{type(obj).__module__}.{type(obj).__qualname__}", "hash": digest, "cached": False, "kind": model.kind}
    return model, info


def check_probabilities(model: ModelAdapter, bundle: DataBundle) -> np.ndarray:
    """Score a few test rows and refuse anything that is not a probability per class."""
    rows = take(bundle.test.X, np.arange(min(PROBE_ROWS, len(bundle.test))))
    k = len(bundle.schema.classes)
    try:
        out = np.asarray(model.predict_proba(rows))
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"audit(): model '{model.name}' failed on {len(rows)} test rows ({exc.__class__.__name__}: {exc})") from None
    if out.dtype.kind not in "fiub":
        raise ModelError(f"audit(): model '{model.name}' returned {out.dtype} values; expected probabilities (numbers in [0, 1])")
    out = out.astype(np.float64)
    if out.shape != (len(rows), k):
        raise ModelError(
            f"audit(): model '{model.name}' returned shape {out.shape} for {len(rows)} rows; expected ({len(rows)}, {k}) class probabilities "
            f"in the order {list(map(str, bundle.schema.classes))}" + (" or a vector of the positive class's probabilities" if k == 2 else "")
        )
    if not np.all(np.isfinite(out)) or out.min() < 0 or out.max() > 1 or np.abs(out.sum(axis=1) - 1).max() > TOLERANCE:
        raise ModelError(f"audit(): model '{model.name}' returned values that are not probabilities (each row in [0, 1], summing to 1); first row: {out[0].tolist()}")
    return out
