"""scikit-learn training recipes: logistic regression and histogram gradient boosting.

Both fit the shared tabular preprocessor and the estimator as one Pipeline and save it with
skops, so cached artefacts load without pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.models.base import Recipe, RecipeParams
from audit.models.preprocess import make_preprocessor
from audit.models.safe_load import dump_skops, load_skops
from audit.models.tabular import SklearnModel


class _PipelineRecipe(Recipe):
    kind: ClassVar[str] = "other"

    def make_estimator(self) -> Any:
        raise NotImplementedError

    def fit(self, name: str, train: Dataset, schema: Schema) -> SklearnModel:
        from sklearn.pipeline import Pipeline

        pipeline = Pipeline([("pre", make_preprocessor(schema)), ("model", self.make_estimator())])
        pipeline.fit(train.X, train.y)
        return SklearnModel(name, schema, pipeline[-1], pipeline[0], kind=self.kind)

    def save(self, model: SklearnModel, folder: Path) -> None:
        dump_skops({"pre": model.preprocessor, "model": model.estimator}, folder / "model.skops")

    def load(self, name: str, folder: Path, schema: Schema) -> SklearnModel:
        parts = load_skops(folder / "model.skops", key=f"model '{name}' cache")
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
