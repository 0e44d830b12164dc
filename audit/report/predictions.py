"""``predictions.csv``: every model's test-set predictions, so anyone can recompute our numbers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from audit.results import atomic_write_text

if TYPE_CHECKING:
    from audit.engine import Context


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
    atomic_write_text(path, pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.17g"))
