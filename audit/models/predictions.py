"""Predictions-only models: a file of scores on the test rows, joined to the data by row id."""

from __future__ import annotations

from typing import Any

from audit.data.base import DataBundle
from audit.models.base import ModelAdapter
from audit.suite import ModelSpec, Suite


def load_predictions_model(spec: ModelSpec, index: int, suite: Suite, bundle: DataBundle) -> tuple[ModelAdapter, dict[str, Any]]:
    raise NotImplementedError
