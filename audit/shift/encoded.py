"""Encode each perturbed frame once for every model that shares a preprocessor.

The suite's tabular recipes put the same preprocessor (:func:`audit.models.preprocess.make_preprocessor`,
fitted on the same training rows) in front of every estimator, so two models fitted by the run
hold preprocessors in the same state. Re-running that ColumnTransformer (imputation, scaling,
one-hot) per model and perturbed frame is most of the cost of rescoring perturbed rows;
:class:`EncodedScorer` runs it once per (dataset content, preprocessor state) and hands each
model the encoded matrix through its ``proba_from_encoded``.

A model qualifies when it exposes ``preprocessor``, ``transform`` and ``proba_from_encoded``,
and its own ``transform`` of the first row equals the shared encoding cast to its dtype (so a
model whose transform does more than run its preprocessor is scored the ordinary way). The
preprocessors are compared by the digest of their pickled state, computed once per object.
Each encoded matrix is dropped once every model sharing it has used it.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter

ENABLED = True  # tests switch it off to compare with encoding per model
_SHARED = "shift.encoded"


def preprocessor_digest(ctx: Context, preprocessor: Any) -> str | None:
    """A digest of a fitted preprocessor's state, computed once per object (None: unpicklable)."""
    memo = ctx.shared.setdefault((_SHARED, "digests"), {})
    entry = memo.get(id(preprocessor))
    if entry is None or entry[0] is not preprocessor:  # the object is kept, so its id stays unique
        try:
            digest = hashlib.sha256(pickle.dumps(preprocessor, protocol=4)).hexdigest()
        except Exception:  # noqa: BLE001 - a preprocessor that cannot be pickled is simply not shared
            digest = None
        entry = memo[id(preprocessor)] = (preprocessor, digest)
    return entry[1]


class EncodedScorer:
    """Stands in for ``model`` in ``ctx.predict`` (same name, so the same prediction cache entry):
    probabilities from the shared encoded matrix when the model qualifies, else its own scoring."""

    def __init__(self, ctx: Context, model: ModelAdapter) -> None:
        self.ctx, self.model, self.name = ctx, model, model.name
        self.preprocessor = getattr(model, "preprocessor", None)
        usable = ENABLED and self.preprocessor is not None and callable(getattr(model, "proba_from_encoded", None)) and callable(getattr(model, "transform", None))
        self.digest = preprocessor_digest(ctx, self.preprocessor) if usable else None
        self.dtype: Any = None
        self.sharers = self._sharers() if self.digest is not None else set()

    def _sharers(self) -> set[str]:
        """Names of the run's models whose preprocessor has this one's state (this model included)."""
        names = {self.name}
        for name, other in (getattr(self.ctx, "models", None) or {}).items():
            pre = getattr(other, "preprocessor", None)
            if pre is not None and name != self.name and callable(getattr(other, "proba_from_encoded", None)) and preprocessor_digest(self.ctx, pre) == self.digest:
                names.add(name)
        return names

    def predict_dataset(self, dataset: Dataset) -> np.ndarray:
        if self.digest is None or len(self.sharers) < 2:  # nothing to share: the model's own path
            return self._own(dataset)
        from audit.context import content_key

        raw = self._encoded(dataset, content_key(dataset))
        if raw is None or not self._consistent(dataset, raw):
            return self._own(dataset)
        return np.asarray(self.model.proba_from_encoded(np.asarray(raw, dtype=self.dtype)))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model.predict_proba(X)

    def _own(self, dataset: Dataset) -> np.ndarray:
        scorer = getattr(self.model, "predict_dataset", None)
        return scorer(dataset) if scorer is not None else self.model.predict_proba(dataset.X)

    def _encoded(self, dataset: Dataset, content: str) -> np.ndarray | None:
        cache = self.ctx.shared.setdefault((_SHARED, "matrices"), {})
        key = (content, self.digest)
        entry = cache.get(key)
        if entry is None:
            raw = self.preprocessor.transform(dataset.X)
            if not isinstance(raw, np.ndarray):  # sparse or another container: not shared
                return None
            entry = cache[key] = {"raw": raw, "left": set(self.sharers)}
        entry["left"].discard(self.name)
        if not entry["left"]:  # every model sharing it has used it
            del cache[key]
        return entry["raw"]

    def _consistent(self, dataset: Dataset, raw: np.ndarray) -> bool:
        """Whether the model's own transform is its preprocessor's output (checked on one row)."""
        if self.dtype is None:
            try:
                own = np.asarray(self.model.transform(dataset.X.iloc[:1]))
            except Exception:  # noqa: BLE001 - no usable transform: score the ordinary way
                self.digest = None
                return False
            if own.shape != raw[:1].shape or not np.array_equal(own, np.asarray(raw[:1], dtype=own.dtype), equal_nan=True):
                self.digest = None
                return False
            self.dtype = own.dtype
        return True
