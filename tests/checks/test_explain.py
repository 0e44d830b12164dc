"""Known-answer and end-to-end tests of the ``explain`` check (SHAP, Captum, sensitive reliance)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.data.base import Dataset, Schema
from audit.explain.agreement import rank_agreement
from audit.explain.features import feature_order, global_importance, to_features
from audit.explain.proxies import cramers_v
from audit.explain.shap_tab import explain_rows

WEIGHTS = {"x1": 3.0, "x2": 1.0, "x3": 0.0}


def _synthetic(n: int = 1500, seed: int = 0, categorical: bool = False) -> tuple[Schema, Dataset, Dataset]:
    """logit = 3*x1 + 1*x2 + 0*x3 (+ a 3-level categorical with effects -1, 0, +1 when asked)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f: rng.normal(size=n) for f in WEIGHTS})
    logit = sum(w * X[f] for f, w in WEIGHTS.items())
    categorical_cols: tuple[str, ...] = ()
    if categorical:
        X["c"] = rng.choice(["a", "b", "c"], size=n).astype(object)
        logit = logit + X["c"].map({"a": -1.0, "b": 0.0, "c": 1.0})
        categorical_cols = ("c",)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(np.int64)
    features = tuple(X.columns)
    schema = Schema(target="y", classes=(0, 1), features=features, numeric=tuple(WEIGHTS), categorical=categorical_cols)
    data = Dataset("all", X, y, sensitive=pd.DataFrame(index=range(n)))
    cut = int(n * 0.7)
    return schema, data.subset(np.arange(cut), "train"), data.subset(np.arange(cut, n), "test")


def _fit(recipe: str, params: dict, schema: Schema, train: Dataset):
    from audit.registry import RECIPES

    cls = RECIPES.get(recipe)
    return cls(cls.Params.model_validate(params), 0).fit(recipe, train, schema)


def _shap(model, train: Dataset, test: Dataset, seed: int = 0, background_size: int = 100):
    p_pos = model.predict_proba(test.X)[:, 1]
    return explain_rows(
        model, train.X, test.X, rng=np.random.default_rng(seed), background_size=background_size, p_pos=p_pos
    )


def _importance(explanation, schema: Schema) -> dict[str, float]:
    features = feature_order(explanation.columns, explanation.sources, schema.features)
    values = global_importance(to_features(explanation.values, explanation.columns, explanation.sources, features))
    return dict(zip(features, values, strict=True))


@pytest.fixture(scope="module")
def known():
    schema, train, test = _synthetic()
    return schema, train, test


@pytest.fixture(scope="module")
def mlp(known):
    schema, train, _ = known
    return _fit("credit_mlp", {"hidden": [16], "epochs": 12, "batch_size": 64, "learning_rate": 0.01}, schema, train)


def test_linear_shap_is_coef_times_centred_input(known):
    schema, train, test = known
    model = _fit("logistic_regression", {}, schema, train)
    explanation = _shap(model, train, test)
    assert explanation.explainer.startswith("LinearExplainer") and explanation.output_space == "log-odds"
    Ztr, Z = model.transform(train.X), model.transform(test.X)
    expected = model.estimator.coef_[0] * (Z - Ztr.mean(axis=0))
    np.testing.assert_allclose(explanation.values, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(explanation.output, model.estimator.decision_function(Z), atol=1e-12)
    assert explanation.additivity_error < 1e-10
    imp = _importance(explanation, schema)
    assert imp["x1"] > imp["x2"] > imp["x3"]
    assert imp["x3"] < 0.1 * imp["x1"]  # zero weight: only estimation noise
    assert imp["x1"] / imp["x2"] == pytest.approx(3.0, rel=0.2)  # standardised inputs: ratio of weights


def test_mlp_deep_shap_and_captum_ig_rank_the_true_weights(known, mlp):
    from audit.explain.captum_tab import captum_attributions

    schema, train, test = known
    explanation = _shap(mlp, train, test)
    assert explanation.explainer.startswith("DeepExplainer") and explanation.output_space == "log-odds"
    assert explanation.additivity_error < 1e-4
    imp = _importance(explanation, schema)
    assert imp["x1"] > imp["x2"] > imp["x3"]
    assert imp["x3"] < 0.1 * imp["x1"]
    Ztr, Z = mlp.transform(train.X), mlp.transform(test.X)
    (ig,) = captum_attributions(
        mlp.torch_module,
        Ztr,
        Z,
        methods=["integrated_gradients"],
        ig_steps=64,
        baseline="train_mean",
        background_size=50,
        rng=np.random.default_rng(0),
    )
    ig_imp = global_importance(ig.values)
    assert int(np.argmax(ig_imp)) == 0  # x1
    assert np.mean(np.abs(ig.delta)) < 0.01
    agreement = rank_agreement(ig_imp, np.array([imp[f] for f in schema.features]), list(schema.features), k=2)
    assert agreement["spearman"] == pytest.approx(1.0) and agreement["top_overlap"] == 1.0


def test_tree_shap_is_exactly_additive_on_hist_gradient_boosting():
    schema, train, test = _synthetic(n=800, categorical=True)
    model = _fit("hist_gradient_boosting", {"max_iter": 50}, schema, train)
    explanation = _shap(model, train, test)
    assert explanation.explainer.startswith("TreeExplainer") and explanation.output_space == "log-odds"
    assert explanation.additivity_error < 1e-6
    np.testing.assert_allclose(1 / (1 + np.exp(-explanation.output)), model.predict_proba(test.X)[:, 1], atol=1e-12)


def test_one_hot_columns_sum_to_their_feature_and_rows_keep_their_total():
    schema, train, test = _synthetic(n=600, categorical=True)
    model = _fit("logistic_regression", {}, schema, train)
    e = _shap(model, train, test)
    features = feature_order(e.columns, e.sources, schema.features)
    per_feature = to_features(e.values, e.columns, e.sources, features)
    assert features == ["x1", "x2", "x3", "c"] and per_feature.shape == (len(test), 4)
    np.testing.assert_allclose(per_feature.sum(axis=1), e.values.sum(axis=1), atol=1e-12)
    onehot = [j for j, c in enumerate(e.columns) if e.sources[c] == "c"]
    assert len(onehot) == 3
    np.testing.assert_allclose(per_feature[:, 3], e.values[:, onehot].sum(axis=1), atol=1e-12)
    # importance is mean |sum| per row, not the sum of the columns' mean |.|: cancelling columns give 0
    cancel = to_features(
        np.array([[1.0, -1.0, 2.0]]), ["c=a", "c=b", "x"], {"c=a": "c", "c=b": "c", "x": "x"}, ["x", "c"]
    )
    np.testing.assert_array_equal(global_importance(cancel), [2.0, 0.0])


def test_shap_is_deterministic_and_leaves_numpy_global_rng_alone(known, mlp):
    schema, train, test = known
    small = test.subset(np.arange(60), "small")
    for model in (mlp, _fit("hist_gradient_boosting", {"max_iter": 20}, schema, train)):
        np.random.seed(123)
        before = np.random.get_state()[1].copy()
        first = _shap(model, train, small, seed=7, background_size=30)
        assert np.array_equal(np.random.get_state()[1], before)
        second = _shap(model, train, small, seed=7, background_size=30)
        np.testing.assert_array_equal(first.values, second.values)
        np.testing.assert_array_equal(first.base_values, second.base_values)
    other = _shap(mlp, train, small, seed=8, background_size=30)  # another seed draws another background
    assert not np.array_equal(other.base_values, _shap(mlp, train, small, seed=7, background_size=30).base_values)


def _alone_and_together(model, train: Dataset, X: pd.DataFrame, seed: int = 5, background_size: int = 30):
    """SHAP of the rows of ``X`` explained together, and of each row explained alone (same seed)."""
    together = explain_rows(model, train.X, X, rng=np.random.default_rng(seed), background_size=background_size)
    alone = [
        explain_rows(model, train.X, X.iloc[[i]], rng=np.random.default_rng(seed), background_size=background_size)
        for i in range(len(X))
    ]
    return together, alone


def _assert_row_independent(together, alone, atol: float = 0.0) -> None:
    for i, one in enumerate(alone):
        assert (one.explainer, one.output_space, one.background) == (
            together.explainer,
            together.output_space,
            together.background,
        )
        np.testing.assert_allclose(one.values[0], together.values[i], rtol=0, atol=atol)
        np.testing.assert_allclose(one.base_values[0], together.base_values[i], rtol=0, atol=atol)


@pytest.mark.parametrize("kind", ["linear", "tree", "mlp"])
def test_a_row_gets_the_same_shap_alone_or_among_other_rows(known, mlp, kind):
    """What lets the what-if reproduce the check: a row's values depend on that row only."""
    schema, train, test = known
    model = {
        "linear": lambda: _fit("logistic_regression", {}, schema, train),
        "tree": lambda: _fit("hist_gradient_boosting", {"max_iter": 20}, schema, train),
        "mlp": lambda: mlp,
    }[kind]()
    X = test.X.iloc[:8].reset_index(drop=True)
    together, alone = _alone_and_together(model, train, X)
    _assert_row_independent(together, alone, atol=1e-12)
    p_pos = model.predict_proba(X)[:, 1]  # p_pos defaults to the model's positive-class probability
    given = explain_rows(model, train.X, X, rng=np.random.default_rng(5), background_size=30, p_pos=p_pos)
    np.testing.assert_array_equal(given.values, together.values)


@pytest.mark.slow  # shap's permutation explainer JIT-compiles its maskers (numba) on first use
def test_permutation_fallback_seeds_each_row_from_its_own_values(known):
    """The permutation fallback draws a row's feature order from the seed and the row's values,
    so a row alone gets the values it gets among others, on encoded and on raw features."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from audit.models.tabular import SklearnModel

    schema, train, test = known
    encoded = _fit("logistic_regression", {}, schema, train)
    encoded.kind = "other"
    X = test.X.iloc[:6].reset_index(drop=True)
    together, alone = _alone_and_together(encoded, train, X)
    assert together.explainer == "PermutationExplainer (encoded features)"
    _assert_row_independent(together, alone)
    swapped = _alone_and_together(encoded, train, X.iloc[::-1].reset_index(drop=True))[0]
    np.testing.assert_array_equal(swapped.values[::-1], together.values)  # order of the rows is irrelevant

    schema, train, test = _synthetic(n=300, categorical=True)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["c"]), remainder="passthrough"),
        LogisticRegression(),
    ).fit(train.X, train.y)
    raw = SklearnModel("raw", schema, pipe)
    X = test.X.iloc[:6].reset_index(drop=True)
    together, alone = _alone_and_together(raw, train, X)
    assert together.explainer == "PermutationExplainer (raw features)"
    _assert_row_independent(together, alone)


def test_by_feature_sums_one_hot_columns_in_schema_order():
    schema, train, test = _synthetic(n=400, categorical=True)
    model = _fit("logistic_regression", {}, schema, train)
    e = explain_rows(model, train.X, test.X.iloc[:5], rng=np.random.default_rng(0))
    features, per_feature = e.by_feature(["c", "x1"])
    assert features == ["c", "x1", "x2", "x3"] and per_feature.shape == (5, 4)
    np.testing.assert_allclose(per_feature, to_features(e.values, e.columns, e.sources, features), atol=0)
    np.testing.assert_allclose(per_feature.sum(axis=1), e.output - e.base_values, atol=1e-12)


def test_captum_methods_are_seeded_and_leave_global_rngs_alone(known, mlp):
    import torch

    from audit.explain.captum_tab import captum_attributions

    _, train, test = known
    Ztr, Z = mlp.transform(train.X), mlp.transform(test.X)[:50]

    def attributions(seed: int) -> list[np.ndarray]:
        found = captum_attributions(
            mlp.torch_module,
            Ztr,
            Z,
            methods=["gradient_shap", "integrated_gradients", "saliency", "input_x_gradient"],
            ig_steps=16,
            baseline="zeros",
            background_size=20,
            rng=np.random.default_rng(seed),
        )
        assert [a.method for a in found] == ["gradient_shap", "integrated_gradients", "saliency", "input_x_gradient"]
        return [a.values for a in found]

    np.random.seed(5)
    torch.manual_seed(5)
    numpy_state, torch_state = np.random.get_state()[1].copy(), torch.random.get_rng_state()
    first = attributions(1)
    assert np.array_equal(np.random.get_state()[1], numpy_state) and torch.equal(
        torch.random.get_rng_state(), torch_state
    )
    for a, b in zip(first, attributions(1), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], attributions(2)[0])  # GradientShap is random: the seed matters
    np.testing.assert_allclose(
        np.abs(first[3]), np.abs(Z) * first[2], rtol=1e-5, atol=1e-7
    )  # |x * grad| = |x| * saliency


@pytest.mark.slow  # shap's permutation explainer JIT-compiles its maskers (numba) on first use: ~5-10 s
def test_permutation_fallback_is_seeded_additive_and_works_on_raw_features(known):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from audit.models.tabular import SklearnModel

    schema, train, test = known
    small = test.subset(np.arange(40), "small")
    other = _fit("logistic_regression", {}, schema, train)
    other.kind = "other"  # no specialised explainer: permutation on the encoded matrix
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = _shap(other, train, small, seed=7, background_size=20)
    assert np.array_equal(np.random.get_state()[1], before)
    np.testing.assert_array_equal(first.values, _shap(other, train, small, seed=7, background_size=20).values)
    assert first.explainer == "PermutationExplainer (encoded features)" and first.output_space == "probability"
    assert first.additivity_error < 1e-8  # each antithetic permutation telescopes exactly
    assert np.abs(first.values).mean(axis=0).argmax() == 0  # x1

    schema, train, test = _synthetic(n=500, categorical=True)
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough"), LogisticRegression()
    ).fit(train.X, train.y)
    model = SklearnModel("raw", schema, pipe)  # no preprocessor: the adapter has no transform
    e = _shap(model, train, test.subset(np.arange(40), "small"), background_size=20)
    assert e.explainer == "PermutationExplainer (raw features)" and e.columns == ["x1", "x2", "x3", "c"]
    assert e.additivity_error < 1e-8
    np.testing.assert_allclose(e.output, model.predict_proba(test.X.iloc[:40])[:, 1], atol=1e-12)


def test_cramers_v_and_rank_agreement_known_values():
    a = pd.Series(["m"] * 10 + ["f"] * 10)
    assert cramers_v(a, pd.Series(["x"] * 10 + ["y"] * 10)) == pytest.approx(1.0)
    assert cramers_v(a, pd.Series(["x", "y"] * 10)) == pytest.approx(0.0)
    assert cramers_v(a, pd.Series(["x"] * 20)) == 0.0
    names = ["a", "b", "c", "d"]
    assert rank_agreement(np.array([4, 3, 2, 1.0]), np.array([40, 30, 20, 10.0]), names, k=2) == {
        "spearman": pytest.approx(1.0),
        "kendall": pytest.approx(1.0),
        "top_overlap": 1.0,
    }
    reverse = rank_agreement(np.array([4, 3, 2, 1.0]), np.array([1, 2, 3, 4.0]), names, k=2)
    assert reverse["spearman"] == pytest.approx(-1.0) and reverse["top_overlap"] == 0.0


def _frame(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f: rng.normal(size=n) for f in WEIGHTS})
    frame["status"] = rng.choice(["female: single", "male: married", "male: single"], size=n)
    frame["sex"] = frame["status"].str.split(":").str[0]
    logit = 3 * frame["x1"] + frame["x2"]
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def test_end_to_end_explain_metrics_tables_and_local_artefact(suite_writer):
    from audit.engine import run_suite

    path = suite_writer(
        _frame(),
        data={"sensitive": ["sex"], "drop": ["sex"]},
        models=[
            {"name": "lr", "recipe": "logistic_regression"},
            {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 30}},
            {"name": "mlp", "recipe": "credit_mlp", "params": {"hidden": [8], "epochs": 5}},
        ],
        checks=[{"name": "explain", "params": {"local_rows": 7, "proxies": {"sex": ["status"]}, "ig_steps": 32}}],
    )
    outcome = run_suite(path, log=None)
    results = json.loads((outcome.run_dir / "results.json").read_text())
    records = {r["model"]: r for r in results["checks"]}
    assert {m: r["status"] for m, r in records.items()} == {"lr": "ok", "gbm": "ok", "mlp": "ok"}
    values = {m["path"]: m["value"] for m in results["metrics"]}
    for model in ("lr", "gbm", "mlp"):
        assert values[f"{model}/explain/additivity_error"] < 1e-4
        assert values[f"{model}/explain/importance[x1]"] > values[f"{model}/explain/importance[x3]"]
        assert 0 <= values[f"{model}/explain/sensitive_share[sex]"] <= 1
        assert {
            f"{model}/explain/mean_abs_shap[status|sex=female]",
            f"{model}/explain/mean_abs_shap[status|sex=male]",
        } <= set(values)
        proxies = records[model]["tables"]["proxies"]
        assert proxies[0] == {
            "attribute": "sex",
            "role": "declared",
            "feature": "status",
            "cramers_v": pytest.approx(1.0),
            "shap_share": pytest.approx(values[f"{model}/explain/sensitive_share[sex]"]),
        }
        (artefact,) = records[model]["artefacts"]
        local = json.loads((outcome.run_dir / artefact).read_text())
        assert artefact == f"artefacts/{model}/explain/local_shap.json" and len(local["rows"]) == 7
        row = local["rows"][0]
        assert row["base_value"] + sum(row["shap"].values()) == pytest.approx(row["prediction"], abs=1e-4)
    assert records["gbm"]["tables"]["method"][0]["explainer"].startswith("TreeExplainer")
    assert values["gbm/explain/additivity_error"] < 1e-6
    assert values["mlp/explain/ig_convergence_delta"] < 0.05
    assert {
        "mlp/explain/rank_agreement_spearman",
        "mlp/explain/captum_ig_importance[x1]",
        "mlp/explain/captum_gradient_shap_importance[x1]",
    } <= set(values)
    assert "lr/explain/ig_convergence_delta" not in values
    # the same local rows for every model, so the dashboard can compare them
    ids = {
        m: [r["row_id"] for r in json.loads((outcome.run_dir / records[m]["artefacts"][0]).read_text())["rows"]]
        for m in records
    }
    assert ids["lr"] == ids["gbm"] == ids["mlp"]


def test_unknown_proxy_column_is_refused_before_training_naming_the_key(suite_writer):
    from audit.engine import run_suite
    from audit.errors import ConfigError

    path = suite_writer(
        _frame(200),
        data={"sensitive": ["sex"], "drop": ["sex"]},
        checks=[{"name": "explain", "params": {"proxies": {"sex": ["statuss"]}}}],
    )
    with pytest.raises(ConfigError) as info:
        run_suite(path, log=None)
    assert str(info.value) == (
        f"{path}: checks[0].params.proxies.sex[0]: 'statuss' is not a feature column; did you mean 'status'? "
        "available: status, x1, x2, x3"
    )
    assert not (path.parent / "reports").exists()
