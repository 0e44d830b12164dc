"""scikit-learn training recipes: logistic regression and histogram gradient boosting.

Both fit the shared tabular preprocessor and the estimator as one Pipeline. The fitted parts are
saved in the toolkit's own format (``audit.models.own_format``: JSON + npz, no pickle, no skops
on load); ``version`` names the scikit-learn release, so an upgrade retrains. Artefacts from
version 1 (skops) are no longer looked up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.models.base import Recipe, RecipeParams
from audit.models.preprocess import cache_version, load_fitted, make_preprocessor, save_fitted
from audit.models.tabular import SklearnModel


class _PipelineRecipe(Recipe):
    kind: ClassVar[str] = "other"
    version: ClassVar[str] = cache_version("2")  # 2: own format instead of skops

    def make_estimator(self) -> Any:
        raise NotImplementedError

    def fit(self, name: str, train: Dataset, schema: Schema) -> SklearnModel:
        from sklearn.pipeline import Pipeline

        from audit.attacks import limit_threads
        from audit.threads import rows_threads

        pipeline = Pipeline([("pre", make_preprocessor(schema)), ("model", self.make_estimator())])
        with limit_threads(rows_threads(len(train))):  # a large fit gets every usable core
            pipeline.fit(train.X, train.y)
        return SklearnModel(name, schema, pipeline[-1], pipeline[0], kind=self.kind)

    def save(self, model: SklearnModel, folder: Path) -> None:
        save_fitted({"pre": model.preprocessor, "model": model.estimator}, folder, "model")

    def load(self, name: str, folder: Path, schema: Schema) -> SklearnModel:
        parts = load_fitted(folder, "model", key=f"model '{name}' cache")
        model = SklearnModel(name, schema, parts["model"], parts["pre"], kind=self.kind)
        model.artefact = folder
        return model


class LogisticRegressionParams(RecipeParams):
    C: float = Field(1.0, gt=0, description="Inverse regularisation strength.")
    max_iter: int = Field(1000, ge=10, le=100_000)
    class_weight: Literal["balanced"] | None = None


class LogisticRegressionRecipe(_PipelineRecipe):
    Params = LogisticRegressionParams
    kind = "linear"

    def make_estimator(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        p = self.params
        return LogisticRegression(C=p.C, max_iter=p.max_iter, class_weight=p.class_weight, random_state=self.seed)


class HistGradientBoostingParams(RecipeParams):
    learning_rate: float = Field(0.1, gt=0, le=1)
    max_iter: int = Field(200, ge=1, le=10_000, description="Boosting rounds.")
    max_leaf_nodes: int = Field(15, ge=2, le=1024)
    max_depth: int | None = Field(None, ge=1, le=64)
    min_samples_leaf: int = Field(20, ge=1)
    l2_regularization: float = Field(0.0, ge=0)
    early_stopping: bool = False
    class_weight: Literal["balanced"] | None = None


class HistGradientBoostingRecipe(_PipelineRecipe):
    Params = HistGradientBoostingParams
    kind = "tree"

    def make_estimator(self) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(**self.params.model_dump(), random_state=self.seed)
