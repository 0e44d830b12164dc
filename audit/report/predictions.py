"""``predictions.csv``: every model's test-set predictions, so anyone can recompute our numbers.

Text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return, and not a plain number) are written with a leading apostrophe, the
OWASP CSV-injection defence; numeric columns and number-like text are written unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.results import atomic_write_text

if TYPE_CHECKING:
    from audit.engine import Context


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


def write_predictions(ctx: Context, path: Path) -> None:
    test = ctx.data.test
    classes = ctx.schema.classes
    frames = []
    for name, model in ctx.models.items():
        pred = ctx.predict(model, test)  # already cached by the checks in a normal run
        frame = pd.DataFrame({
            "model": name,
            "dataset": test.name,
            "row_id": test.ids,
            "y_true": [classes[i] for i in test.y],
            "y_pred": [classes[i] for i in pred.pred],
            "score": pred.score,
        })
        for column in test.sensitive.columns:
            frame[column] = test.sensitive[column].to_numpy()
        frames.append(frame)
    table = neutralise_frame(pd.concat(frames, ignore_index=True))
    table.columns = [neutralise_cell(str(c)) for c in table.columns]
    atomic_write_text(path, table.to_csv(index=False, float_format="%.17g"))
