"""SHAP for user pipelines (a model file holding ``Pipeline(ColumnTransformer, estimator)``):
exact explainers on the final step over the transformed rows, and permutation SHAP with one
player per original feature for black boxes, cross-checked against shap itself and against
Shapley values enumerated by brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from audit.data.base import Schema
from audit.explain.permutation import permutation_shap
from audit.explain.shap_tab import explain_rows
from audit.models.base import ModelAdapter
from audit.models.tabular import SklearnModel

NUMERIC = ("x1", "x2", "x3")
LEVELS = {"a": -1.0, "b": 0.0, "c": 1.0, "d": 0.5}


def _data(n: int = 400, seed: int = 0) -> tuple[Schema, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f: rng.normal(size=n) for f in NUMERIC})
    X["c"] = rng.choice(list(LEVELS), size=n).astype(object)
    logit = 2 * X["x1"] - X["x2"] + X["x1"] * X["x3"] + X["c"].map(LEVELS)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(np.int64)
    schema = Schema(target="y", classes=(0, 1), features=tuple(X.columns), numeric=NUMERIC, categorical=("c",))
    return schema, X, y


def _pipe(final, sparse: bool = True):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=sparse), ["c"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", final)])


def _model(final, kind: str | None = None, n: int = 400, sparse: bool = True):
    from audit.models.build import _kind_of  # how a model file's kind is decided

    schema, X, y = _data(n)
    pipe = _pipe(final, sparse).fit(X.iloc[: n // 2], y[: n // 2])
    model = SklearnModel("user", schema, pipe, kind=kind or _kind_of(pipe))
    return model, pipe, X.iloc[: n // 2].reset_index(drop=True), X.iloc[n // 2 :].reset_index(drop=True)


def _dense(Z):
    return np.asarray(Z.toarray() if hasattr(Z, "toarray") else Z, dtype=np.float64)


class Opaque(ModelAdapter):
    """A black box on raw rows: no estimator, no transform (permutation over raw features)."""

    def __init__(self, pipe, schema: Schema) -> None:
        super().__init__("opaque", schema.classes)
        self.pipe = pipe

    def predict_proba(self, X):
        return self.pipe.predict_proba(X)


TREES = {
    "random_forest": ("RandomForestClassifier", {"n_estimators": 30, "max_depth": 6, "random_state": 0}),
    "gradient_boosting": ("GradientBoostingClassifier", {"n_estimators": 40, "random_state": 0}),
    "hist_gradient_boosting": ("HistGradientBoostingClassifier", {"max_iter": 40}),
}


@pytest.mark.parametrize("name", list(TREES))
def test_tree_pipeline_is_explained_exactly_on_its_transformed_input(name):
    import shap
    from sklearn import ensemble

    cls, params = TREES[name]
    model, pipe, train, test = _model(getattr(ensemble, cls)(**params), sparse=name != "hist_gradient_boosting")
    assert model.kind == "tree"
    e = explain_rows(model, train, test, rng=np.random.default_rng(0))
    assert e.explainer.startswith("TreeExplainer") and f"final {cls}" in e.explainer and e.permutations == 0
    Z = _dense(pipe[:-1].transform(test))
    reference = shap.TreeExplainer(pipe[-1], feature_perturbation="tree_path_dependent")(Z)
    values, base = np.asarray(reference.values), np.asarray(reference.base_values)
    if values.ndim == 3:  # the forest explains each class's probability
        values, base = values[..., 1], base.reshape(len(Z), -1)[:, 1]
    np.testing.assert_allclose(e.values, values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(e.base_values, np.broadcast_to(base, len(Z)), rtol=0, atol=1e-10)
    p = pipe.predict_proba(test)[:, 1]
    if name == "random_forest":
        assert e.output_space == "probability"
        np.testing.assert_allclose(e.output, p, atol=1e-12)
    else:
        assert e.output_space == "log-odds"
        np.testing.assert_allclose(1 / (1 + np.exp(-e.output)), p, atol=1e-10)
    assert e.additivity_error < 1e-8
    # one-hot columns are traced to their feature and summed per row
    assert e.columns == list(pipe[:-1].get_feature_names_out())
    assert [e.sources[c] for c in e.columns] == ["x1", "x2", "x3", "c", "c", "c", "c"]
    features, per_feature = e.by_feature(model.schema.features)
    assert features == ["x1", "x2", "x3", "c"]
    np.testing.assert_allclose(per_feature[:, 3], e.values[:, 3:].sum(axis=1), atol=1e-12)
    np.testing.assert_allclose(per_feature.sum(axis=1) + e.base_values, e.output, atol=1e-8)


def test_linear_pipeline_matches_shap_linear_explainer_on_the_transformed_background():
    import shap
    from sklearn.linear_model import LogisticRegression

    model, pipe, train, test = _model(LogisticRegression(), n=300)
    assert model.kind == "linear"
    e = explain_rows(model, train, test, rng=np.random.default_rng(0))
    assert e.explainer.startswith("LinearExplainer (interventional) on the final LogisticRegression")
    assert e.output_space == "log-odds"
    Ztr, Z = _dense(pipe[:-1].transform(train)), _dense(pipe[:-1].transform(test))
    masker = shap.maskers.Independent(Ztr, max_samples=len(Ztr))  # every background row
    reference = shap.LinearExplainer(pipe[-1], masker)(Z)
    np.testing.assert_allclose(e.values, reference.values, rtol=0, atol=1e-10)
    np.testing.assert_allclose(e.values, pipe[-1].coef_[0] * (Z - Ztr.mean(axis=0)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(e.output, pipe.decision_function(test), atol=1e-12)
    assert e.additivity_error < 1e-10


def test_a_transform_that_mixes_features_falls_back_to_permutation_saying_why():
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    schema, X, y = _data(200)
    pre = ColumnTransformer([("num", PCA(2), list(NUMERIC)), ("cat", OneHotEncoder(), ["c"])])
    pipe = Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(X, y)
    model = SklearnModel("pca", schema, pipe, kind="linear")
    e = explain_rows(model, X.iloc[:100], X.iloc[100:110], rng=np.random.default_rng(0), background_size=20)
    assert e.explainer == "PermutationExplainer (raw features)" and e.columns == ["x1", "x2", "x3", "c"]
    assert any("cannot be split per feature" in note for note in e.notes)
    assert e.additivity_error < 1e-12


def _exact_shapley(f, background: pd.DataFrame, x: pd.DataFrame) -> np.ndarray:
    """Shapley values of v(S) = mean_b f(x_S, b_rest), every coalition enumerated (an independent reference)."""
    features = list(background.columns)
    d, cache = len(features), {}

    def v(S: tuple[int, ...]) -> float:
        if S not in cache:
            frame = background.copy()
            for j in S:
                frame[features[j]] = x[features[j]].iloc[0]
            cache[S] = float(np.mean(f(frame)))
        return cache[S]

    phi = np.zeros(d)
    for j in range(d):
        others = [k for k in range(d) if k != j]
        for size in range(d):
            weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for S in itertools.combinations(others, size):
                phi[j] += weight * (v(tuple(sorted(S + (j,)))) - v(S))
    return phi


@pytest.fixture(scope="module")
def black_box():
    from sklearn.neural_network import MLPClassifier

    model, pipe, train, test = _model(MLPClassifier(hidden_layer_sizes=(16,), max_iter=600, random_state=0), n=400)
    background, rows = train.iloc[:12].reset_index(drop=True), test.iloc[:4].reset_index(drop=True)
    f = lambda frame: pipe.predict_proba(frame)[:, 1]  # noqa: E731
    exact = np.array([_exact_shapley(f, background, rows.iloc[[i]]) for i in range(len(rows))])
    return model, pipe, background, rows, exact


def test_permutation_shap_converges_to_the_exact_shapley_values(black_box):
    """One player per original feature (the 4 one-hot columns of 'c' move together); the error
    against brute-force enumeration shrinks like 1/sqrt(permutations), additivity is exact."""
    model, pipe, background, rows, exact = black_box
    errors = {}
    for permutations in (12, 192, 3072):
        e = explain_rows(
            model,
            background,
            rows,
            rng=np.random.default_rng(3),
            background_size=len(background),
            permutations=permutations,
        )
        assert e.explainer == "PermutationExplainer (raw features)" and e.columns == ["x1", "x2", "x3", "c"]
        assert e.permutations == permutations
        assert e.additivity_error < 1e-12
        np.testing.assert_allclose(e.base_values, pipe.predict_proba(background)[:, 1].mean(), atol=1e-12)
        errors[permutations] = float(np.abs(e.values - exact).max())
    scale = float(np.abs(exact).max())
    assert errors[192] < errors[12] / 2 and errors[3072] < errors[192] / 2
    assert errors[3072] < 0.01 * scale


def test_permutation_shap_equals_shap_permutation_explainer_given_the_same_background_and_orders(black_box):
    """shap's PermutationExplainer over the raw features (categories as integer codes, as the old
    fallback did) with an Independent masker on the same background rows, reseeded per row as
    our engine is: ``pairing='full'`` (every order with every background row) is its estimate."""
    import shap

    _, pipe, background, rows, _ = black_box
    categories = sorted(LEVELS)

    def decode(M: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(M[:, :3], columns=list(NUMERIC))
        frame["c"] = np.array(categories, dtype=object)[np.rint(M[:, 3]).astype(int)]
        return frame

    def encode(frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([frame[list(NUMERIC)].to_numpy(float), frame["c"].map(categories.index).to_numpy(float)])

    f = lambda M: pipe.predict_proba(decode(M))[:, 1]  # noqa: E731
    seeds = [101, 202, 303, 404]
    explainer = shap.PermutationExplainer(f, shap.maskers.Independent(encode(background), max_samples=len(background)))
    for permutations in (1, 3):
        ours = permutation_shap(
            lambda frame: pipe.predict_proba(frame)[:, 1], background, rows, row_seeds=seeds,
            permutations=permutations, pairing="full",
        )  # fmt: skip
        theirs = []
        for i, seed in enumerate(seeds):
            np.random.seed(seed)
            theirs.append(explainer(encode(rows.iloc[[i]]), max_evals=permutations * 9, silent=True).values[0])
        np.testing.assert_allclose(ours.values, np.array(theirs), rtol=0, atol=1e-12)


def test_encoded_and_raw_permutation_agree_and_rows_are_independent(black_box):
    """The pipeline's black box is permuted over its transformed rows (encoded once); a model
    without a transform is permuted over the raw rows and re-encodes per call: the same values."""
    model, pipe, _, _, _ = black_box
    _, _, train, test = _model(pipe[-1], n=400)  # same data as the fixture
    rows = test.iloc[:6].reset_index(drop=True)
    kwargs = {"background_size": 40, "permutations": 80}
    encoded = explain_rows(model, train, rows, rng=np.random.default_rng(9), **kwargs)
    raw = explain_rows(Opaque(pipe, model.schema), train, rows, rng=np.random.default_rng(9), **kwargs)
    assert encoded.explainer == raw.explainer == "PermutationExplainer (raw features)"
    np.testing.assert_allclose(encoded.values, raw.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(encoded.base_values, raw.base_values, rtol=0, atol=1e-12)
    assert encoded.permutations == 80 and any("80 antithetic feature orders" in n for n in encoded.notes)
    for i in range(len(rows)):  # what the what-if relies on: a row alone gets its values bit for bit
        alone = explain_rows(model, train, rows.iloc[[i]], rng=np.random.default_rng(9), **kwargs)
        np.testing.assert_array_equal(alone.values[0], encoded.values[i])


def test_permutations_round_up_to_whole_rounds_of_the_background_and_progress_is_reported():
    rng = np.random.default_rng(0)
    background, rows = rng.normal(size=(10, 3)), rng.normal(size=(7, 3))
    seen: list[tuple[int, int]] = []
    f = lambda M: np.tanh(M[:, 0] * M[:, 1]) + M[:, 2]  # noqa: E731
    out = permutation_shap(f, background, rows, row_seeds=range(7), permutations=25, progress=lambda *a: seen.append(a))
    assert out.permutations == 30  # every background row paired with 3 orders: the base is exact
    np.testing.assert_allclose(out.base_values, f(background).mean(), atol=1e-15)
    np.testing.assert_allclose(out.values[:, 2], rows[:, 2] - background[:, 2].mean(), atol=1e-12)  # additive term
    assert seen == [(i, 7) for i in range(1, 8)]
    few = permutation_shap(f, background, rows, row_seeds=range(7), permutations=3)
    assert few.permutations == 3  # 3 orders dealt over the 10 background rows
    np.testing.assert_allclose(few.base_values + few.values.sum(axis=1), f(rows), atol=1e-12)


def test_the_check_logs_progress_about_every_tenth_of_the_rows(tmp_path):
    from audit.context import Context

    lines: list[str] = []
    ctx = Context(None, None, {}, 0, tmp_path, lines.append)
    report = ctx.progress("svc", "explain: permutation SHAP rows", min_seconds=0.0)  # what the explain check passes, minus the quiet first second
    quiet: list[str] = []
    short = Context(None, None, {}, 0, tmp_path, quiet.append).progress("svc", "explain")
    short(300, 300)
    assert quiet == []  # a loop done within a second says nothing
    for done in range(1, 301):
        report(done, 300)
    assert 9 <= len(lines) <= 11 and lines[-1].startswith("        svc · explain: permutation SHAP rows 300/300 (100%)")
    assert "ETA" in lines[0]
