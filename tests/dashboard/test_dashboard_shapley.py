"""The what-if explains with the explain pillar's SHAP (``audit.explain.shap_tab.explain_rows``).

Known answers (a linear model: coef x centred input on the log-odds; an additive model without an
encoder: its exact terms), shap's model-agnostic Exact explainer and TreeExplainer as references,
and, on a small credit-like run, the what-if's values for an unedited row equal the explain
check's saved ``local_shap.json`` row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.dashboard.whatif import WhatIf, open_whatif, saved_local_shap
from audit.data.base import Dataset, Schema
from audit.explain.features import aggregation_matrix

WEIGHTS = {"x1": 1.5, "x2": -2.0, "n": 0.25}
BONUS = {"red": 1.0, "green": -0.5, "blue": 0.0}


def _synthetic(n: int = 300, seed: int = 0) -> tuple[Schema, Dataset, Dataset]:
    """Two normal features, an integer count and a 3-level colour; logit additive in all four."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "n": rng.integers(0, 10, size=n).astype(np.int64),
            "colour": rng.choice(list(BONUS), size=n).astype(object),
        }
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-_additive(X)))).astype(np.int64)
    schema = Schema(
        target="y", classes=(0, 1), features=tuple(X.columns), numeric=("x1", "x2", "n"), categorical=("colour",)
    )
    data = Dataset("all", X, y, sensitive=pd.DataFrame(index=range(n)))
    cut = int(n * 0.7)
    return schema, data.subset(np.arange(cut), "train"), data.subset(np.arange(cut, n), "test")


def _additive(X: pd.DataFrame) -> np.ndarray:
    numeric = sum(w * X[f].to_numpy(dtype=np.float64) for f, w in WEIGHTS.items())
    return numeric + X["colour"].map(BONUS).to_numpy(dtype=np.float64)


class Additive:
    """An adapter without an encoder (``transform`` raises): its score is an additive function."""

    kind = "other"
    name = "additive"

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        f = 0.5 + 0.01 * _additive(X)
        return np.column_stack([1 - f, f])


def _fit(recipe: str, params: dict, schema: Schema, train: Dataset):
    from audit.registry import RECIPES

    cls = RECIPES.get(recipe)
    return cls(cls.Params.model_validate(params), 0).fit(recipe, train, schema)


def _whatif(model, schema: Schema, train: Dataset, test: Dataset, background_size: int = 100) -> WhatIf:
    rows = test.X.reset_index(drop=True)
    rows.index = pd.Index([str(i) for i in range(len(rows))], name="row_id")
    return WhatIf(
        model=model,
        features=list(schema.features),
        numeric=list(schema.numeric),
        categories={c: sorted(map(str, train.X[c].unique())) for c in schema.categorical},
        rows=rows,
        labels=pd.Series([str(v) for v in test.y], index=rows.index),
        train=train.X,
        background_size=background_size,
        shap_rng=lambda: np.random.default_rng(7),
        positive="1",
        seed=0,
    )


@pytest.fixture(scope="module")
def data() -> tuple[Schema, Dataset, Dataset]:
    return _synthetic()


def test_linear_model_gets_coef_times_centred_input_per_feature(data) -> None:
    """Logistic regression: SHAP on the log-odds is coef * (z - mean z over all training rows),
    the colour's one-hot columns summed; base + sum = decision function, score = probability."""
    schema, train, test = data
    model = _fit("logistic_regression", {}, schema, train)
    what = _whatif(model, schema, train, test)
    edited, changed = what.edit("0", {"x1": 2.5, "colour": "red" if test.X["colour"].iloc[0] != "red" else "blue"})
    assert changed == ["x1", "colour"]
    out = what.explain(edited)
    Z, Ztr = model.transform(edited), model.transform(train.X)
    fold = aggregation_matrix(model.feature_names_out, model.feature_sources, what.features)
    coef = model.estimator.coef_[0]
    assert out.explainer.startswith("LinearExplainer") and out.output_space == "log-odds"
    assert out.features == ["x1", "x2", "n", "colour"]
    np.testing.assert_allclose(out.values, (coef * (Z[0] - Ztr.mean(axis=0))) @ fold, rtol=0, atol=1e-12)
    assert out.base == pytest.approx(model.estimator.intercept_[0] + coef @ Ztr.mean(axis=0), abs=1e-12)
    assert out.output == pytest.approx(model.estimator.decision_function(Z)[0], abs=1e-12)
    assert out.base + out.values.sum() == pytest.approx(out.output, abs=1e-12)
    assert out.score == pytest.approx(model.predict_proba(edited)[0, 1], abs=1e-15)
    assert list(out.frame()["feature"])[0] == out.features[int(np.argmax(np.abs(out.values)))]


@pytest.mark.slow  # shap's permutation explainer JIT-compiles its maskers (numba) on first use
def test_additive_model_without_encoder_gets_its_exact_terms(data) -> None:
    """No ``transform``: the permutation fallback over raw features. For an additive score every
    feature order gives f_j(x_j) - mean over the background of f_j; with ``background_size`` at
    least the training rows, the background is every training row. An integer column takes 2.5."""
    schema, train, test = data
    what = _whatif(Additive(), schema, train, test, background_size=len(train))
    edited, changed = what.edit("3", {"n": 2.5, "colour": "green"})
    assert edited["n"].dtype == np.float64 and "n" in changed
    out = what.explain(edited)
    row, bg = edited.iloc[0], train.X
    expected = [0.01 * w * (float(row[f]) - bg[f].astype(float).mean()) for f, w in WEIGHTS.items()]
    expected.append(0.01 * (BONUS[row["colour"]] - bg["colour"].map(BONUS).mean()))
    assert out.explainer == "PermutationExplainer (raw features)" and out.output_space == "probability"
    np.testing.assert_allclose(out.values, expected, rtol=0, atol=1e-12)
    assert out.score == out.output == pytest.approx(0.5 + 0.01 * _additive(edited)[0], abs=1e-15)
    assert out.base == pytest.approx(0.5 + 0.01 * _additive(bg).mean(), abs=1e-12)


@pytest.mark.slow  # importing shap's Exact explainer and 2^6 coalitions x 210 background rows
def test_linear_values_match_shap_exact_explainer_on_the_log_odds(data) -> None:
    """Reference: shap's model-agnostic Exact explainer on the decision function, every encoded
    training row as the (interventional) background, folded per feature the same way."""
    shap = pytest.importorskip("shap")
    schema, train, test = data
    model = _fit("logistic_regression", {"C": 0.5}, schema, train)
    what = _whatif(model, schema, train, test)
    row = what.row("5")
    out = what.explain(row)
    Ztr = model.transform(train.X)
    masker = shap.maskers.Independent(Ztr, max_samples=len(Ztr))
    reference = shap.explainers.Exact(model.estimator.decision_function, masker)(model.transform(row))
    fold = aggregation_matrix(model.feature_names_out, model.feature_sources, what.features)
    np.testing.assert_allclose(out.values, reference.values[0] @ fold, rtol=0, atol=1e-10)
    assert out.base == pytest.approx(float(reference.base_values[0]), abs=1e-10)


def test_tree_values_are_shap_tree_explainer_folded_per_feature(data) -> None:
    """Reference: shap.TreeExplainer (tree_path_dependent) on the estimator and the encoded row;
    the what-if's values are its values summed per feature, on the log-odds of the score."""
    shap = pytest.importorskip("shap")
    schema, train, test = data
    model = _fit("hist_gradient_boosting", {"max_iter": 30}, schema, train)
    what = _whatif(model, schema, train, test)
    edited, _ = what.edit("1", {"x2": -1.0, "colour": "blue"})
    out = what.explain(edited)
    Z = model.transform(edited)
    reference = shap.TreeExplainer(model.estimator, feature_perturbation="tree_path_dependent")(Z)
    fold = aggregation_matrix(model.feature_names_out, model.feature_sources, what.features)
    assert out.explainer.startswith("TreeExplainer") and out.output_space == "log-odds"
    np.testing.assert_allclose(out.values, reference.values[0] @ fold, rtol=0, atol=1e-12)
    assert out.output == pytest.approx(np.log(out.score / (1 - out.score)), abs=1e-9)
    assert out.base + out.values.sum() == pytest.approx(out.output, abs=1e-9)


def test_edit_marks_only_changed_features_and_keeps_missing(data) -> None:
    schema, train, test = data
    what = _whatif(Additive(), schema, train, test)
    original = what.row("2").iloc[0]
    same, changed = what.edit("2", {f: original[f] for f in what.features})
    assert changed == [] and same["n"].dtype == np.int64
    pd.testing.assert_frame_equal(same, what.row("2"))
    edited, changed = what.edit("2", {"n": float(original["n"]), "colour": None})  # 3.0 == 3: unchanged
    assert changed == ["colour"] and edited["n"].dtype == np.int64 and pd.isna(edited.loc[0, "colour"])
    with pytest.raises(KeyError, match="not a feature"):
        what.edit("2", {"y": 1})
    with pytest.raises(ValueError, match="one row at a time"):
        what.explain(what.rows.iloc[:2])


@pytest.fixture(scope="module")
def credit_like(tmp_path_factory: pytest.TempPathFactory, write_suite_fn):
    """A small credit-like run (one-hot categoricals, integer columns) with only the explain check."""
    from audit.engine import run_suite

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "duration_months": rng.integers(6, 60, size=n),
            "credit_amount": rng.lognormal(8, 0.6, size=n).round(0),
            "age": rng.integers(19, 70, size=n),
            "checking_status": rng.choice(["A11", "A12", "A13", "A14"], size=n),
            "purpose": rng.choice(["car", "furniture", "education", "business", "other"], size=n),
            "sex": rng.choice(["female", "male"], size=n),
        }
    )
    logit = (
        0.8
        - 0.04 * (frame["duration_months"] - 24)
        + 0.02 * (frame["age"] - 35)
        + frame["checking_status"].map({"A11": -1.0, "A12": -0.4, "A13": 0.3, "A14": 1.0})
    )
    frame["y"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "good", "bad")
    path = write_suite_fn(
        tmp_path_factory.mktemp("credit-like"),
        frame,
        name="credit_like",
        data={"positive_label": "good", "sensitive": ["sex"], "drop": ["sex"]},
        models=[
            {"name": "logreg", "recipe": "logistic_regression"},
            {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 40}},
            {"name": "mlp", "recipe": "credit_mlp", "params": {"hidden": [8], "epochs": 5}},
        ],
        checks=[{"name": "explain", "params": {"local_rows": 6, "background_size": 40, "captum_methods": []}}],
        seed=11,
    )
    return run_suite(path, log=None)


@pytest.mark.slow  # trains three small models and runs the explain check
@pytest.mark.parametrize(("model", "output_atol"), [("logreg", 1e-9), ("gbm", 1e-9), ("mlp", 1e-6)])
def test_unedited_row_equals_the_explain_checks_saved_local_shap(credit_like, model: str, output_atol: float) -> None:
    """The what-if's SHAP of an unedited test row = the row of artefacts/<model>/explain/local_shap.json
    (values per feature and base value to 1e-9, output space, explainer, background). The MLP's own
    output is a float32 forward pass, whose last bits depend on the batch: it agrees to 1e-6."""
    results, run = credit_like.results, credit_like.run_dir
    what = open_whatif(
        results, run, model, trusted_paths={results.manifest["suite_file"], results.models[model]["artefact"]}
    )
    saved = saved_local_shap(run, model)
    assert saved is not None and len(saved["rows"]) == 6
    assert what.background_size == 40
    for row in saved["rows"]:
        out = what.explain(what.row(str(row["row_id"])))
        assert (out.explainer, out.output_space, out.background) == (
            saved["explainer"],
            saved["output_space"],
            saved["background"],
        )
        assert out.features == saved["features"]
        np.testing.assert_allclose(out.values, [row["shap"][f] for f in out.features], rtol=0, atol=1e-9)
        assert out.base == pytest.approx(row["base_value"], abs=1e-9)
        assert out.output == pytest.approx(row["prediction"], abs=output_atol)
        assert out.score == pytest.approx(row["probability"], abs=1e-12)
    assert {"logreg": "LinearExplainer", "gbm": "TreeExplainer", "mlp": "DeepExplainer"}[model] in saved["explainer"]
    assert Path(run, "artefacts", model, "explain", "local_shap.json").is_file()
