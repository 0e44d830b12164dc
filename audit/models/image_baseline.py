"""Baseline for image suites: multinomial logistic regression on the flattened pixels.

Saved with skops. Because softmax(W x + b) is exactly what the fitted model computes, the
adapter also exposes an equivalent torch linear layer built from ``coef_`` and ``intercept_``,
so gradient attacks and Captum explainers get exact gradients for the baseline too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.errors import ModelError
from audit.models.base import ModelAdapter, Recipe, RecipeParams
from audit.models.safe_load import dump_skops, load_skops


class PixelLogRegModel(ModelAdapter):
    """A fitted sklearn classifier over (n, C*H*W) pixel rows (the baseline: ``LogisticRegression``).

    Its ``classes_`` may be class codes (as the recipe trains) or the data's labels. Only a
    linear model with ``coef_`` gets a ``torch_module``; any other estimator is audited through
    ``predict_proba`` alone.
    """

    modality = "image"

    def __init__(self, name: str, schema: Schema, estimator: Any) -> None:
        super().__init__(name, schema.classes)
        if not hasattr(estimator, "predict_proba"):
            raise ModelError(f"model '{name}': {type(estimator).__name__} has no predict_proba; audit needs probabilities")
        self.schema = schema
        self.estimator = estimator
        self._columns = _class_codes(name, list(getattr(estimator, "classes_", [])), schema)
        self.kind = "linear" if hasattr(estimator, "coef_") else "other"
        self._module: Any = None

    def transform(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        return X.reshape(len(X), -1)

    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self.estimator.predict_proba(self.transform(X))
        proba = np.zeros((len(raw), len(self.classes)))
        proba[:, self._columns] = raw
        return proba

    @property
    def torch_module(self) -> Any:
        """Flatten + Linear with the fitted weights, or None when its softmax would not equal ``predict_proba``.

        The equality is verified on a few seeded random images, so an estimator with ``coef_``
        but another link (e.g. one-vs-rest normalisation) is attacked model-agnostically instead.
        """
        if self._module is None and self.kind == "linear":
            from audit.models.cnn import torch_proba

            module = linear_module(self.estimator, self._columns, len(self.classes), self.schema.info("image_shape"))
            probe = np.random.default_rng(0).random((4, *self.schema.info("image_shape"))).astype(np.float32)
            if np.abs(torch_proba(module, probe) - self.predict_proba(probe)).max() < 1e-4:
                self._module = module
            else:
                self.kind = "other"
        return self._module


def _class_codes(name: str, known: list[Any], schema: Schema) -> np.ndarray:
    """Class code of each of the estimator's ``classes_`` (codes themselves, or the data's labels)."""
    labels = [str(c) for c in schema.classes]
    if known and all(isinstance(k, (int, np.integer)) for k in known) and set(map(int, known)) <= set(range(len(labels))):
        return np.asarray([int(k) for k in known])
    if known and all(str(k) in labels for k in known):
        return np.asarray([labels.index(str(k)) for k in known])
    raise ModelError(f"model '{name}': its classes {known} match neither the class codes nor the labels of the data ({', '.join(labels)})")


def linear_module(estimator: Any, codes: np.ndarray, n_classes: int, image_shape: tuple[int, ...]) -> Any:
    """The torch equivalent of a fitted (multinomial or binary) logistic regression."""
    import torch
    import torch.nn as nn

    coef, intercept = np.asarray(estimator.coef_, dtype=np.float32), np.asarray(estimator.intercept_, dtype=np.float32)
    if coef.shape[0] == 1:  # binary: sigmoid(z) == softmax([0, z])
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept]).astype(np.float32)
    weight = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    bias = np.full(n_classes, -1e4, dtype=np.float32)  # classes unseen in training get ~0 probability
    weight[codes], bias[codes] = coef, intercept
    linear = nn.Linear(weight.shape[1], n_classes)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(bias))
    if int(np.prod(image_shape)) != weight.shape[1]:
        raise ModelError(f"the logistic regression has {weight.shape[1]} inputs but the images have {int(np.prod(image_shape))} pixels")
    return nn.Sequential(nn.Flatten(), linear).eval()


class PixelLogRegParams(RecipeParams):
    C: float = Field(1.0, gt=0, description="Inverse regularisation strength.")
    max_iter: int = Field(2000, ge=10, le=100_000)


class PixelLogRegRecipe(Recipe):
    Params = PixelLogRegParams
    modality = "image"

    def fit(self, name: str, train: Dataset, schema: Schema) -> PixelLogRegModel:
        from sklearn.linear_model import LogisticRegression

        X = np.asarray(train.X, dtype=np.float64)
        estimator = LogisticRegression(C=self.params.C, max_iter=self.params.max_iter, random_state=self.seed)
        estimator.fit(X.reshape(len(X), -1), train.y)
        return PixelLogRegModel(name, schema, estimator)

    def save(self, model: PixelLogRegModel, folder: Path) -> None:
        dump_skops(model.estimator, folder / "model.skops")

    def load(self, name: str, folder: Path, schema: Schema) -> PixelLogRegModel:
        model = PixelLogRegModel(name, schema, load_skops(folder / "model.skops", key=f"model '{name}' cache"))
        model.artefact = folder
        return model
