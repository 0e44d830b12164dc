"""Predictions-only models: a file of scores on the test rows, joined to the data by row id.

Teams often cannot hand over the model (a vendor's API, a model in another language, a batch
job's output), but they can hand over its scores. ``models: [{name: prod, predictions: p.csv}]``
audits such a model from those scores alone:

* the file is joined to the data on ``data.id_column`` (the file's column of that name, or
  ``predictions.key``); every test row must have exactly one prediction;
* probabilities come from ``proba[<class>]`` columns (audit's own predictions.csv layout), an
  explicit ``proba`` mapping, or a ``score`` column (the positive class of a binary target);
  they must lie in [0, 1] and, per row, sum to 1;
* a ``label`` column, when given, is compared with the probabilities' decision (argmax) and the
  rows where they disagree are counted in the model's info.

The adapter can only give its scores for the test rows as they are: asked for any other rows
(perturbed copies, training rows) it raises, and the engine skips the checks that need to score
inputs of their own (``Check.requires``), saying why.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from audit.data.base import DataBundle, Dataset
from audit.errors import ModelError
from audit.models.base import ModelAdapter
from audit.registry import suggest
from audit.suite import ModelSpec, Suite

TOLERANCE = 1e-6  # how far a row's probabilities may sum from 1 (float round-off in CSV files)


def row_digests(X: Any) -> np.ndarray:
    """One digest per row of a feature container (DataFrame, ndarray or list of texts)."""
    if isinstance(X, pd.DataFrame):
        return pd.util.hash_pandas_object(X.reset_index(drop=True), index=False).to_numpy()
    if isinstance(X, np.ndarray):
        flat = np.ascontiguousarray(X).reshape(len(X), -1)
        return np.array([int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little") for row in flat], dtype=np.uint64)
    return np.array([int.from_bytes(hashlib.blake2b(str(t).encode("utf-8", "replace"), digest_size=8).digest(), "little") for t in X], dtype=np.uint64)


class PredictionsModel(ModelAdapter):
    """Scores read from a file for the test rows; no model to query."""

    kind = "predictions"
    can_score = False

    def __init__(self, name: str, classes: tuple[Any, ...], proba_by_id: dict[Any, np.ndarray], test: Dataset) -> None:
        super().__init__(name, classes)
        self._proba = proba_by_id
        self._digest = dict(zip(test.ids.tolist(), row_digests(test.X).tolist(), strict=True))

    def predict_dataset(self, dataset: Dataset) -> np.ndarray:
        ids = dataset.ids.tolist()
        unknown = [i for i in ids if i not in self._digest]
        changed = [i for i, d in zip(ids, row_digests(dataset.X).tolist(), strict=True) if i in self._digest and self._digest[i] != d]
        if unknown or changed:
            why = f"{len(unknown)} rows are not test rows" if unknown else f"{len(changed)} rows differ from the test rows (perturbed inputs)"
            raise ModelError(f"model '{self.name}' is predictions-only: it has scores for the test rows as given, and {why}")
        return np.stack([self._proba[i] for i in ids]) if ids else np.empty((0, len(self.classes)))

    def predict_proba(self, X: Any) -> np.ndarray:
        raise ModelError(f"model '{self.name}' is predictions-only: it cannot score new inputs")


def load_predictions_model(spec: ModelSpec, index: int, suite: Suite, bundle: DataBundle) -> tuple[ModelAdapter, dict[str, Any]]:
    """The adapter and its manifest entry for ``models[index].predictions``."""
    from audit.data.tabular import read_table

    p = spec.predictions
    assert p is not None
    key = f"{suite.source or '<suite>'}: models[{index}].predictions"
    path = suite.resolve(p.path)
    id_column = suite.data.id_column
    if id_column is None:
        raise ModelError(f"{key}: a predictions file is joined to the data by row id; name the data's id column in data.id_column")
    join = p.key or id_column
    frame = read_table(path, None, f"models[{index}].predictions.path")
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    if join not in frame.columns:
        raise ModelError(f"{key}.key: '{path.name}' has no join column '{join}'; {suggest(join, columns)}")
    classes = bundle.schema.classes
    proba = _probabilities(frame, p, classes, key, path.name)
    bad = ~np.isfinite(proba) | (proba < 0) | (proba > 1)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ModelError(f"{key}: '{path.name}' row {row + 1}: probabilities must be numbers in [0, 1]; got {proba[row].tolist()}")
    sums = proba.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > TOLERANCE)
    if len(off):
        raise ModelError(f"{key}: '{path.name}': the probabilities of {len(off)} rows do not sum to 1 (row {off[0] + 1}: {sums[off[0]]:.6g}); give one column per class")
    keys = _join_values(frame[join], bundle.test.ids)
    repeated = pd.Series(keys).duplicated()
    if repeated.any():
        raise ModelError(f"{key}: '{path.name}': the key '{join}' repeats ({int(repeated.sum())} rows, e.g. {keys[int(np.flatnonzero(repeated)[0])]!r}); one prediction per row")
    by_id = dict(zip(keys.tolist(), proba, strict=True))
    missing = [i for i in bundle.test.ids.tolist() if i not in by_id]
    if missing:
        raise ModelError(
            f"{key}: '{path.name}' has no prediction for {len(missing)} of the {len(bundle.test)} test rows "
            f"(e.g. {id_column} = {', '.join(map(repr, missing[:3]))}); every audited row needs one"
        )
    info: dict[str, Any] = {"predictions": str(path), "hash": hashlib.sha256(path.read_bytes()).hexdigest(), "cached": False, "kind": "predictions"}
    extra = len(by_id) - len(bundle.test)
    if extra:
        info["rows_not_audited"] = extra  # predictions for rows outside the test data
    if p.label is not None:
        if p.label not in frame.columns:
            raise ModelError(f"{key}.label: '{path.name}' has no column '{p.label}'; {suggest(p.label, columns)}")
        decided = np.asarray([str(classes[k]) for k in proba.argmax(axis=1)])
        info["label_disagreements"] = int((frame[p.label].astype(str).to_numpy() != decided).sum())
    model = PredictionsModel(spec.name, classes, by_id, bundle.test)
    model.artefact = path
    info["size_bytes"] = path.stat().st_size
    return model, info


def _probabilities(frame: pd.DataFrame, p: Any, classes: tuple[Any, ...], key: str, name: str) -> np.ndarray:
    columns = list(frame.columns)
    if p.score is not None or (p.proba is None and "score" in frame.columns and not any(c.startswith("proba[") for c in columns)):
        column = p.score or "score"
        if len(classes) != 2:
            raise ModelError(f"{key}.score: a single score column is for a binary target; this data has {len(classes)} classes: give proba columns")
        if column not in frame.columns:
            raise ModelError(f"{key}.score: '{name}' has no column '{column}'; {suggest(column, columns)}")
        score = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        return np.column_stack([1.0 - score, score])
    mapping = {str(k): v for k, v in (p.proba or {}).items()} or {str(c): f"proba[{c}]" for c in classes}
    unknown = [k for k in mapping if k not in [str(c) for c in classes]]
    if unknown:
        raise ModelError(f"{key}.proba: '{unknown[0]}' is not a class of the target; classes: {', '.join(map(str, classes))}")
    out = []
    for label in classes:
        column = mapping.get(str(label))
        if column is None or column not in frame.columns:
            hint = suggest(column, columns) if column else "map every class to a column"
            raise ModelError(f"{key}: '{name}' has no probability column for class '{label}' (expected '{column}'); {hint}; or give 'score' for a binary target")
        out.append(pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64))
    return np.column_stack(out)


def _join_values(column: pd.Series, ids: np.ndarray) -> np.ndarray:
    """The key column converted to the type of the data's ids (so 7 and '7' join)."""
    values = column.to_numpy()
    if ids.dtype.kind in "iu" and column.dtype.kind not in "iu":
        converted = pd.to_numeric(column, errors="coerce")
        if converted.notna().all() and (converted % 1 == 0).all():
            return converted.astype(np.int64).to_numpy()
    if ids.dtype.kind in "OUS":
        return column.astype(str).to_numpy()
    return values
