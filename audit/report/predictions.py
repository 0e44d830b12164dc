"""``predictions.csv``: every model's test-set predictions, so anyone can recompute our numbers.

Columns: model, dataset, row_id, y_true, y_pred, score (binary tasks: the positive class's
probability), ``proba[<class>]`` for every class, then the sensitive columns.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, and not a plain number) are written with a leading apostrophe, the
OWASP CSV-injection defence; numeric columns and number-like text are written unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from audit.results import atomic_write_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from audit.data.base import Dataset


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def neutralise_cell(value: Any) -> Any:
    """``value``, with an apostrophe in front when a spreadsheet would evaluate it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text (object / string) column passed through :func:`neutralise_cell`."""
    out = frame.copy()
    for column in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column])):
            out[column] = out[column].map(neutralise_cell)
    return out


def prediction_table(test: Dataset, classes: Sequence[Any], probabilities: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (model, test row): truth, prediction, and every class probability.

    ``probabilities`` maps a model name to its (n_rows, n_classes) array on ``test``. Binary
    tasks also get ``score`` (the positive class's probability, what the metrics threshold).
    """
    frames = []
    for name, proba in probabilities.items():
        proba = np.asarray(proba, dtype=np.float64)
        frame = pd.DataFrame({
            "model": name,
            "dataset": test.name,
            "row_id": test.ids,
            "y_true": [classes[i] for i in test.y],
            "y_pred": [classes[i] for i in proba.argmax(axis=1)],
        })
        if proba.shape[1] == 2:
            frame["score"] = proba[:, 1]
        for k, label in enumerate(classes):
            frame[f"proba[{label}]"] = proba[:, k]
        for column in test.sensitive.columns:
            frame[column] = test.sensitive[column].to_numpy()
        frames.append(frame)
    table = neutralise_frame(pd.concat(frames, ignore_index=True))
    table.columns = [neutralise_cell(str(c)) for c in table.columns]
    return table


def write_predictions(test: Dataset, classes: Sequence[Any], probabilities: dict[str, np.ndarray], path: Path) -> None:
    atomic_write_text(path, prediction_table(test, classes, probabilities).to_csv(index=False, float_format="%.17g"))
