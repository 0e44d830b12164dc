"""The model contract: anything with ``predict_proba`` can be audited.

Class codes follow the dataset schema: column ``k`` of ``predict_proba`` is the probability of
``schema.classes[k]``; for binary tasks column 1 is the positive (favourable) label. Adapters of
differentiable models also expose ``torch_module`` and ``transform`` (raw rows -> the float
matrix the module takes) for gradient attacks and Captum.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from audit.data.base import Dataset, Schema


class ModelAdapter(ABC):
    """A trained model the checks can query. Subclasses implement ``predict_proba``."""

    modality: str = "tabular"
    kind: str = "other"  # "linear", "tree", "mlp", "cnn", "transformer", "other": picks explainers
    torch_module: Any = None
    # facts about how the model was trained that belong in results.json's model info (e.g.
    # ``{"dp": {...}}``: the privacy budget DP-SGD spent); set per instance by the recipes
    training_info: dict[str, Any] = {}  # noqa: RUF012 - read-only default, replaced per instance

    def __init__(self, name: str, classes: tuple[Any, ...]) -> None:
        self.name = name
        self.classes = tuple(classes)
        self.artefact: Path | None = None  # folder holding the saved model, when there is one

    @abstractmethod
    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, n_classes) probabilities, columns in ``self.classes`` order."""

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    # False for predictions-only models: they hold scores for the test rows and nothing else
    can_score: bool = True

    def predict_dataset(self, dataset: Dataset) -> np.ndarray:
        """Probabilities for a dataset's rows (``Context.predict`` calls this, once per content).

        Models that score features use ``dataset.X``; a predictions-only model looks the rows
        up by ``dataset.ids`` instead.
        """
        return self.predict_proba(dataset.X)

    def transform(self, X: Any) -> np.ndarray:
        """Raw rows -> the numeric matrix the underlying estimator sees (when known)."""
        raise NotImplementedError(f"model '{self.name}' does not expose its input transform")

    @property
    def feature_names_out(self) -> list[str]:
        return []

    @property
    def feature_sources(self) -> dict[str, str]:
        """Encoded column -> the original feature it came from (for one-hot aggregation)."""
        return {name: name for name in self.feature_names_out}

    def size_bytes(self) -> int | None:
        if self.artefact is None or not self.artefact.exists():
            return None
        return sum(p.stat().st_size for p in self.artefact.rglob("*") if p.is_file())


class RecipeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recipe(ABC):
    """Trains one kind of model from a dataset; saves and loads it without pickle."""

    Params: ClassVar[type[RecipeParams]] = RecipeParams
    modality: ClassVar[str] = "tabular"
    version: ClassVar[str] = "1"  # bump when training changes, to invalidate cached artefacts

    def __init__(self, params: RecipeParams, seed: int) -> None:
        self.params = params
        self.seed = seed

    @abstractmethod
    def fit(self, name: str, train: Dataset, schema: Schema) -> ModelAdapter: ...

    @abstractmethod
    def save(self, model: ModelAdapter, folder: Path) -> None: ...

    @abstractmethod
    def load(self, name: str, folder: Path, schema: Schema) -> ModelAdapter: ...
