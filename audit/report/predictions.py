"""``predictions.csv``: every model's test-set predictions, so anyone can recompute our numbers.

Columns: model, dataset, row_id, y_true, y_pred, score (binary tasks: the positive class's
probability), ``proba[<class>]`` for every class, then the sensitive columns.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, and not a plain number) are written with a leading apostrophe, the
OWASP CSV-injection defence; numeric columns and number-like text are written unchanged.

Large test sets: the table is written model by model in chunks of rows to a temporary file
renamed over ``predictions.csv``; text cells are tested for a formula start column-wise and only
the candidates go through :func:`neutralise_cell`; floats are written as ``%.17g`` (exact).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from audit.data.base import Dataset


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def neutralise_cell(value: Any) -> Any:
    """``value``, with an apostrophe in front when a spreadsheet would evaluate it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_values(values: Any) -> np.ndarray:
    """:func:`neutralise_cell` over an array-like: a vectorised test of the first character picks
    the few candidate cells, and only those go through :func:`neutralise_cell`."""
    out = np.array(values, dtype=object, copy=True)
    if out.ndim != 1 or len(out) == 0:
        return out
    try:
        starts = pd.Series(out, dtype=object).str.startswith(FORMULA_START, na=False).to_numpy(dtype=bool)
    except AttributeError:  # no text in the column at all
        return out
    for i in np.flatnonzero(starts):
        out[i] = neutralise_cell(out[i])
    return out


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text (object / string) column passed through :func:`neutralise_cell`."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            out[column] = neutralise_values(out[column].to_numpy(dtype=object))
    return out


def prediction_table(test: Dataset, classes: Sequence[Any], probabilities: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (model, test row): truth, prediction, and every class probability.

    ``probabilities`` maps a model name to its (n_rows, n_classes) array on ``test``. Binary
    tasks also get ``score`` (the positive class's probability, what the metrics threshold).
    """
    return pd.concat(list(_model_tables(test, classes, probabilities)), ignore_index=True)


def _model_tables(test: Dataset, classes: Sequence[Any], probabilities: dict[str, np.ndarray]) -> Iterator[pd.DataFrame]:
    """The table of :func:`prediction_table`, one model at a time, text cells neutralised."""
    labels = np.empty(len(classes), dtype=object)
    labels[:] = [neutralise_cell(c) for c in classes]  # classes stay Python objects (str, int, ...)
    y_true = labels[np.asarray(test.y, dtype=np.int64)] if len(test.y) else np.empty(0, dtype=object)
    sensitive = {column: neutralise_values(test.sensitive[column].to_numpy(dtype=object)) for column in test.sensitive.columns}
    columns = None
    for name, proba in probabilities.items():
        proba = np.asarray(proba, dtype=np.float64)
        frame = pd.DataFrame({
            "model": np.full(len(test.ids), neutralise_cell(name), dtype=object),
            "dataset": np.full(len(test.ids), neutralise_cell(test.name), dtype=object),
            "row_id": test.ids if np.asarray(test.ids).dtype != object else neutralise_values(test.ids),
            "y_true": y_true,
            "y_pred": labels[proba.argmax(axis=1)] if len(proba) else np.empty(0, dtype=object),
        })
        if proba.shape[1] == 2:
            frame["score"] = proba[:, 1]
        for k, label in enumerate(classes):
            frame[f"proba[{label}]"] = proba[:, k]
        for column, values in sensitive.items():
            frame[column] = values
        if columns is None:
            columns = [neutralise_cell(str(c)) for c in frame.columns]
        frame.columns = columns
        yield frame


def _formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Float columns as ``%.17g`` text (what ``to_csv(float_format="%.17g")`` writes, missing as an
    empty cell), formatted in one pass per column instead of pandas' per-cell formatter."""
    out = frame.copy()
    for column in out.columns:
        values = out[column].to_numpy()
        if values.dtype.kind == "f":
            text = np.array([format(v, ".17g") for v in values.tolist()], dtype=object)
            text[np.isnan(values)] = ""
            out[column] = text
    return out


def write_predictions(test: Dataset, classes: Sequence[Any], probabilities: dict[str, np.ndarray], path: Path, chunk_rows: int = 200_000) -> None:
    """Write the table model by model, ``chunk_rows`` rows at a time, to a temporary file renamed
    over ``path`` (a 1M-row test set never becomes one string in memory)."""
    from audit.results import atomic_writer

    with atomic_writer(path, newline="") as handle:
        header = True
        for frame in _model_tables(test, classes, probabilities):
            for start in range(0, max(len(frame), 1 if header else 0), chunk_rows):
                _formatted(frame.iloc[start : start + chunk_rows]).to_csv(handle, index=False, header=header, lineterminator="\n")
                header = False
        if header:  # no model: the header alone
            handle.write(",".join(["model", "dataset", "row_id", "y_true", "y_pred"]) + "\n")
