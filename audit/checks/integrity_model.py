"""``integrity`` (variant ``model``): does a model score suspiciously well on the test rows?

The usual cause is a model trained on the rows it is audited on (a model fitted on a whole file
and audited on a split of the same file). Its test scores are then set against a *yardstick*:
simple models cross-validated on the test rows themselves (logistic regression on standardised
and one-hot features, plus gradient boosting for tabular data; TF-IDF + logistic regression for
text; logistic regression on pixels for images), the best of them. Fitting on the test rows is
fine here: the yardstick is never audited, it only says what those rows let a model learn.

A model whose training rows the run does not know (``load``, ``predictions``, or a model object
passed to the Python API) is flagged, ``trained_on_test = 1``, when its test ROC-AUC or accuracy
is near-perfect (>= ``near_perfect``) *and* at least ``margin`` above the yardstick's. A model
trained by the suite's recipe was fitted on the train split, so it is never flagged
(``trained_on_test`` is null, not applicable); when it still scores far above the yardstick, the check warns that
the data leaks (the ``data`` variant says where). See :mod:`audit.checks.integrity` for paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.results import NOT_APPLICABLE

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

SUITE_TRAINED = ("recipe",)  # ModelSpec.source values whose training rows the run knows
MIN_ROWS = 20  # fewer test rows give no yardstick worth the name


class ModelIntegrityParams(CheckParams):
    near_perfect: float = Field(
        0.99, gt=0.5, le=1.0, description="A test ROC-AUC or accuracy at least this high counts as near-perfect."
    )
    margin: float = Field(
        0.10, gt=0.0, le=0.5, description="...and flags the model when it is at least this far above the yardstick's."
    )
    confidence: float = Field(
        0.99,
        gt=0.5,
        le=1.0,
        description="Top-class probability from which a correct prediction counts towards confident_correct_share.",
    )
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds of the yardstick on the test rows.")
    max_rows: int = Field(5_000, ge=100, description="At most this many test rows (seeded sample) train the yardstick.")


class ModelIntegrityCheck(Check):
    """A model's test scores against what the test rows let a model learn."""

    name = "integrity_model"
    pillar = "integrity"
    Params = ModelIntegrityParams
    scope = "model"
    requires = ()
    modalities = ("tabular", "image", "text")
    metrics = (
        MetricSpec("roc_auc", "higher"),
        MetricSpec("accuracy", "higher"),
        MetricSpec("yardstick_roc_auc"),
        MetricSpec("yardstick_accuracy"),
        MetricSpec("roc_auc_excess", "lower"),
        MetricSpec("confident_correct_share"),
        MetricSpec("trained_on_test", "lower"),
    )
    default_gates: ClassVar[tuple[str, ...]] = ("*/integrity/trained_on_test == 0",)

    def run(self, ctx: Context, model: ModelAdapter | None) -> CheckResult:
        p: ModelIntegrityParams = self.params
        assert model is not None
        test = ctx.data.test
        result = CheckResult(self.check_name, model.name)
        y = np.asarray(test.y, dtype=np.int64)
        n = len(y)
        proba = ctx.predict(model, test).proba
        mine = _scores(proba, y)
        top = proba.max(axis=1)
        result.add("roc_auc", mine["roc_auc"], n=n, reason="undefined: the test rows hold one class")
        result.add("accuracy", mine["accuracy"], n=n, reason="no test rows")
        result.add(
            "confident_correct_share",
            float(((top >= p.confidence) & (proba.argmax(axis=1) == y)).mean()) if n else None,
            n=n,
            reason="no test rows",
        )
        yard, why, table = self._yardstick(ctx)
        for metric in ("roc_auc", "accuracy"):
            result.add(f"yardstick_{metric}", yard.get(metric), n=n, reason=why)
        excess = (
            mine["roc_auc"] - yard["roc_auc"]
            if mine["roc_auc"] is not None and yard.get("roc_auc") is not None
            else None
        )
        result.add("roc_auc_excess", excess, n=n, reason=why or "the model's ROC-AUC is undefined")
        source = _source(ctx, model.name)
        hits = [
            m
            for m in ("roc_auc", "accuracy")
            if mine[m] is not None
            and yard.get(m) is not None
            and mine[m] >= p.near_perfect
            and mine[m] - yard[m] >= p.margin
        ]
        label = {"roc_auc": "ROC-AUC", "accuracy": "accuracy"}
        if hits:
            m = hits[0]
            said = f"model '{model.name}' scores {label[m]} {mine[m]:.3f} on the test rows, above what a model cross-validated on those rows reaches ({yard[m]:.2f})"
            if source in SUITE_TRAINED:
                result.warn(
                    f"{said}; the suite trained it on the train split, so the data most likely leaks the label (see the data integrity findings)"
                )
            else:
                result.warn(f"{said}: it was most likely trained on them; audit it on held-out data")
        flagged = bool(hits) and source not in SUITE_TRAINED
        if source in SUITE_TRAINED:  # its training rows are the train split: nothing to suspect
            result.add("trained_on_test", None, n=n, reason=f"{NOT_APPLICABLE}the suite trained '{model.name}' on the train split")
        elif why is not None:  # undefined, not 0: a gate on it errors with the reason
            result.add("trained_on_test", None, n=n, reason=f"no yardstick: {why}")
            result.warn(f"no yardstick for model '{model.name}': {why}; whether it was trained on the test rows is undetermined")
        else:
            result.add("trained_on_test", 1.0 if flagged else 0.0, n=n)
        table.insert(
            0,
            {"model": f"{model.name} ({_describe(source)})", "roc_auc": mine["roc_auc"], "accuracy": mine["accuracy"]},
        )
        result.table("yardstick", table)
        result.figure(
            "bar",
            title=f"Test scores of '{model.name}' and of models cross-validated on the test rows",
            labels=[r["model"] for r in table],
            values=[r["roc_auc"] for r in table],
            horizontal=True,
            ref_line=p.near_perfect,
            ref_label=f"near-perfect ({p.near_perfect:g})",
            x_label="ROC-AUC",
            caption=f"Flagged when near-perfect and at least {p.margin:g} above the best cross-validated model ({p.folds} folds on the test rows).",
        )
        return result

    def _yardstick(self, ctx: Context) -> tuple[dict[str, float | None], str | None, list[dict[str, Any]]]:
        """Best ROC-AUC and accuracy of the cross-validated yardsticks (shared by every model)."""
        key = ("integrity_yardstick", ctx.data.test.name, self.params.model_dump_json())
        if key not in ctx.shared:
            ctx.shared[key] = self._fit_yardstick(ctx)
        return ctx.shared[key]

    def _fit_yardstick(self, ctx: Context) -> tuple[dict[str, float | None], str | None, list[dict[str, Any]]]:
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from threadpoolctl import threadpool_limits

        p: ModelIntegrityParams = self.params
        test = ctx.data.test
        rows = (
            np.arange(len(test))
            if len(test) <= p.max_rows
            else np.sort(ctx.rng(self.name, "sample").choice(len(test), size=p.max_rows, replace=False))
        )
        y = np.asarray(test.y, dtype=np.int64)[rows]
        counts = np.bincount(y) if len(y) else np.zeros(0, dtype=int)
        present = counts[counts > 0]
        if len(y) < MIN_ROWS or len(present) < 2 or present.min() < 2:
            return {}, f"the yardstick needs at least {MIN_ROWS} test rows and two rows of each of two classes", []
        X = _take(test.X, rows)
        seed = int(ctx.rng(self.name, "folds").integers(2**31))
        cv = StratifiedKFold(n_splits=min(p.folds, int(present.min())), shuffle=True, random_state=seed)
        best: dict[str, float | None] = {"roc_auc": None, "accuracy": None}
        table = []
        with threadpool_limits(1):  # the engine's workers share the machine's cores
            for label, estimator in _yardsticks(ctx, X, seed):
                proba = cross_val_predict(estimator, X, y, cv=cv, method="predict_proba")
                full = np.zeros((len(y), len(ctx.schema.classes)))
                full[:, np.unique(y)] = proba
                scores = _scores(full, y)
                table.append({"model": label, **scores})
                for metric, value in scores.items():
                    if value is not None and (best[metric] is None or value > best[metric]):
                        best[metric] = value
        return best, None, table


def _yardsticks(ctx: Context, X: Any, seed: int) -> list[tuple[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    modality = ctx.schema.modality
    if modality == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer

        return [
            (
                "tf-idf + logistic regression, cross-validated on the test rows",
                make_pipeline(
                    TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=1000)
                ),
            )
        ]
    if modality == "image":
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        flat = FunctionTransformer(lambda a: np.asarray(a, dtype=np.float64).reshape(len(a), -1))
        return [
            (
                "logistic regression on pixels, cross-validated on the test rows",
                make_pipeline(flat, StandardScaler(), LogisticRegression(max_iter=1000)),
            )
        ]
    from sklearn.ensemble import HistGradientBoostingClassifier

    return [
        (
            "logistic regression, cross-validated on the test rows",
            make_pipeline(_encoder(ctx, X), LogisticRegression(max_iter=2000)),
        ),
        (
            "gradient boosting, cross-validated on the test rows",
            make_pipeline(
                _encoder(ctx, X), HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
            ),
        ),
    ]


def _encoder(ctx: Context, X: pd.DataFrame) -> Any:
    """Numeric features imputed and standardised, the rest as text one-hot (unseen: ignored)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = [c for c in ctx.schema.numeric if c in X.columns and pd.api.types.is_numeric_dtype(X[c])]
    other = [c for c in ctx.schema.features if c in X.columns and c not in numeric]
    as_text = FunctionTransformer(
        lambda f: pd.DataFrame(f).astype(object).where(pd.DataFrame(f).notna(), "<missing>").astype(str)
    )
    parts = []
    if numeric:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric))
    if other:
        parts.append(
            ("cat", make_pipeline(as_text, OneHotEncoder(handle_unknown="ignore", sparse_output=False)), other)
        )
    return ColumnTransformer(parts)


def _scores(proba: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    from sklearn.metrics import roc_auc_score

    if len(y) == 0:
        return {"roc_auc": None, "accuracy": None}
    accuracy = float((proba.argmax(axis=1) == y).mean())
    present = np.unique(y)
    if len(present) < 2:
        return {"roc_auc": None, "accuracy": accuracy}
    if proba.shape[1] == 2:
        auc = roc_auc_score(y, proba[:, 1])
    else:
        sub = proba[:, present]
        sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
        auc = roc_auc_score(
            np.searchsorted(present, y), sub if len(present) > 2 else sub[:, 1], multi_class="ovr", average="macro"
        )
    return {"roc_auc": float(auc), "accuracy": accuracy}


def _take(X: Any, rows: np.ndarray) -> Any:
    from audit.data.base import take

    return take(X, rows)


def _source(ctx: Context, name: str) -> str:
    """How the suite declares the model: 'recipe', 'load', 'predictions' or 'memory'."""
    for spec in getattr(ctx.suite, "models", None) or []:
        if spec.name == name:
            return spec.source
    return "memory"


def _describe(source: str) -> str:
    return {
        "recipe": "trained by the suite",
        "load": "loaded from a file",
        "predictions": "predictions only",
        "memory": "passed in",
    }.get(source, source)
