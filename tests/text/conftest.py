"""Fixtures for the text tests: tiny hand-built text models and a Context over a few texts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.data.base import DataBundle, Dataset, Schema
from audit.models.base import ModelAdapter


class KeywordModel(ModelAdapter):
    """P(positive) = ``high`` when the whole word ``keyword`` occurs (any case), else ``low``."""

    modality = "text"
    kind = "other"

    def __init__(self, keyword: str = "great", high: float = 0.9, low: float = 0.1, name: str = "keyword") -> None:
        super().__init__(name, ("negative", "positive"))
        self.pattern = re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)
        self.high, self.low = high, low
        self.calls = 0

    def predict_proba(self, X):
        self.calls += 1
        p = np.asarray([self.high if self.pattern.search(str(t)) else self.low for t in X], dtype=np.float64)
        return np.column_stack([1.0 - p, p])


@pytest.fixture
def keyword_model():
    """``keyword_model(keyword="great", high=0.9, low=0.1)`` -> a :class:`KeywordModel`."""
    return KeywordModel


def _text_bundle(texts: list[str], y: list[int], topic: list[str] | None = None) -> DataBundle:
    sens = pd.DataFrame({"topic": topic}) if topic is not None else pd.DataFrame(index=range(len(texts)))
    data = Dataset("test", list(texts), np.asarray(y, dtype=np.int64), sens)
    schema = Schema(target="label", classes=("negative", "positive"), features=("text",), numeric=(), categorical=(),
                    sensitive=("topic",) if topic is not None else (), modality="text", extra=(("text_column", "text"),))
    return DataBundle(schema=schema, train=data.subset(np.arange(len(texts)), "train"), test=data, frame=pd.DataFrame({"text": texts}), source="memory", data_hash="x")


@pytest.fixture
def text_bundle():
    """``text_bundle(texts, labels, topic=None)`` -> a DataBundle whose train and test are those texts."""
    return _text_bundle


@pytest.fixture
def make_context(tmp_path: Path):
    """``make_context(bundle, models)`` -> an engine Context without a suite (checks that need none)."""
    from audit.engine import Context

    def make(bundle: DataBundle, models: dict, seed: int = 0):
        return Context(None, bundle, models, seed, tmp_path, lambda message: None)

    return make
