"""Shift: perturbation severity curves, subpopulation retraining, the condition language,
per-group breakdown, one prediction per dataset, and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.checks.shift import ShiftCheck, ShiftParams
from audit.data.base import DataBundle, Dataset, Schema
from audit.engine import Context, run_suite
from audit.errors import CheckError, ConfigError
from audit.registry import RECIPES
from audit.shift import perturb
from audit.shift.conditions import Condition
from audit.suite import parse_suite


def perturbation_context(tmp_path: Path, n: int = 1200, seed: int = 0) -> tuple[Context, object]:
    """y depends on numeric x only; z (numeric) and c (categorical) are noise; s is sensitive."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "x": rng.normal(0.0, 1.0, n),
        "z": rng.normal(5.0, 2.0, n),
        "c": rng.choice(["p", "q", "r"], size=n, p=[0.5, 0.3, 0.2]),
    })
    y = (X["x"] + rng.normal(0.0, 0.2, n) > 0).to_numpy(dtype=np.int64)
    sensitive = pd.DataFrame({"s": np.where(np.arange(n) % 3 == 0, "u", "v")})
    schema = Schema(target="t", classes=(0, 1), features=("x", "z", "c"), numeric=("x", "z"), categorical=("c",), sensitive=("s",))
    full = Dataset("all", X, y, sensitive)
    half = np.arange(n) < n // 2
    bundle = DataBundle(schema, full.subset(half, "train"), full.subset(~half, "test"), pd.DataFrame(), "synthetic", "0")
    recipe = RECIPES.get("logistic_regression")
    model = recipe(recipe.Params(), 0).fit("lr", bundle.train, schema)
    return Context(None, bundle, {"lr": model}, 0, tmp_path, lambda m: None), model


def values(result) -> dict[str, float | None]:
    return {m.path: m.value for m in result.metrics}


def test_noise_severity_zero_keeps_predictions_and_accuracy_falls_with_severity(tmp_path):
    ctx, model = perturbation_context(tmp_path)
    severities = [0.0, 0.25, 0.5, 1.0]
    params = ShiftParams(perturbations=["noise"], severities=severities, noise_scale=2.0, bootstrap=200, groups=False)
    result = ShiftCheck(params).run(ctx, model)
    v = values(result)
    test = ctx.data.test
    clean_accuracy = float((ctx.predict(model, test).pred == test.y).mean())
    assert v["lr/shift/prediction_stability[noise@0.0]"] == 1.0
    assert v["lr/shift/accuracy[noise@0.0]"] == clean_accuracy and v["lr/shift/accuracy_drop[noise@0.0]"] == 0.0
    accuracy = [v[f"lr/shift/accuracy[noise@{s}]"] for s in severities]
    stability = [v[f"lr/shift/prediction_stability[noise@{s}]"] for s in severities]
    assert (np.diff(accuracy) <= 0.01).all(), accuracy
    assert (np.diff(stability) <= 0).all(), stability
    assert accuracy[-1] < clean_accuracy - 0.15 and stability[-1] < 0.8
    for metric in result.metrics:
        if metric.ci is not None and metric.value is not None:
            assert metric.ci[0] - 1e-12 <= metric.value <= metric.ci[1] + 1e-12, metric.path
    line = result.figures[0]
    assert line["kind"] == "line" and line["series"]["noise"] == [severities, accuracy]
    assert len(line["bands"]["noise"][0]) == len(severities)


def test_all_cells_missing_gives_the_constant_imputed_prediction(tmp_path):
    ctx, model = perturbation_context(tmp_path)
    result = ShiftCheck(ShiftParams(perturbations=["missing"], severities=[1.0], missing_rate=1.0, bootstrap=0, groups=False)).run(ctx, model)
    v = values(result)
    test = ctx.data.test
    constant = model.predict(pd.DataFrame({"x": [np.nan], "z": [np.nan], "c": [np.nan]}))[0]
    clean = ctx.predict(model, test).pred
    assert v["lr/shift/accuracy[missing@1.0]"] == pytest.approx(float((test.y == constant).mean()), abs=1e-15)
    assert v["lr/shift/prediction_stability[missing@1.0]"] == pytest.approx(float((clean == constant).mean()), abs=1e-15)
    assert v["lr/shift/roc_auc[missing@1.0]"] == pytest.approx(0.5)  # one score for every row
    assert all(m.ci is None for m in result.metrics)


def test_perturbations_match_their_definitions_and_are_nested():
    rng = np.random.default_rng(1)
    n = 20_000
    train = pd.DataFrame({"x": rng.normal(0.0, 3.0, n), "k": rng.integers(0, 10, n), "c": rng.choice(["a", "b", "c"], size=n, p=[0.7, 0.2, 0.1])})
    test = train.sample(frac=1.0, random_state=0).reset_index(drop=True)
    spread = perturb.train_spread(train, ["x", "k"])
    draws = perturb.draw("noise", train, n, ["x", "k"], np.random.default_rng(2))
    noisy = perturb.apply("noise", test, 0.5, columns=["x", "k"], draws=draws, spread=spread, strength=2.0)
    assert np.std(noisy["x"] - test["x"]) == pytest.approx(0.5 * 2.0 * train["x"].std(), rel=0.02)
    assert np.std(noisy["k"] - test["k"]) == pytest.approx(0.5 * 2.0 * train["k"].std(), rel=0.02)
    assert noisy["c"].equals(test["c"])
    draws = perturb.draw("missing", train, n, ["x", "c"], np.random.default_rng(3))
    low, high = (perturb.apply("missing", test, s, columns=["x", "c"], draws=draws, spread={}, strength=0.5) for s in (0.4, 1.0))
    assert low["x"].isna().mean() == pytest.approx(0.2, abs=0.01) and high["c"].isna().mean() == pytest.approx(0.5, abs=0.01)
    assert not (low["x"].isna() & ~high["x"].isna()).any()  # nested: missing at 0.4 => missing at 1.0
    draws = perturb.draw("resample", train, n, ["c"], np.random.default_rng(4))
    swapped = perturb.apply("resample", test.assign(c="z"), 1.0, columns=["c"], draws=draws, spread={}, strength=1.0)
    shares = swapped["c"].value_counts(normalize=True)
    assert shares.to_dict() == pytest.approx({"a": 0.7, "b": 0.2, "c": 0.1}, abs=0.015)
    half = perturb.apply("resample", test.assign(c="z"), 0.5, columns=["c"], draws=draws, spread={}, strength=0.6)
    assert (half["c"] != "z").mean() == pytest.approx(0.3, abs=0.015)


def test_group_breakdown_at_the_highest_severity_equals_a_hand_computation(tmp_path):
    ctx, model = perturbation_context(tmp_path)
    result = ShiftCheck(ShiftParams(perturbations=["noise", "resample"], severities=[0.5, 1.0], bootstrap=100)).run(ctx, model)
    v = values(result)
    test = ctx.data.test
    clean = ctx.predict(model, test).pred == test.y
    (name,) = [d for (m, d) in ctx.cached_predictions() if d.startswith("test~shift.noise@1.0")]
    noisy = ctx.cached_predictions()[("lr", name)].pred == test.y
    for group in ("u", "v"):
        rows = test.sensitive["s"].to_numpy() == group
        expected = clean[rows].mean() - noisy[rows].mean()
        assert v[f"lr/shift/accuracy_drop[noise@1.0|s={group}]"] == pytest.approx(expected, abs=1e-15)
        assert f"lr/shift/accuracy_drop[resample@1.0|s={group}]" in v
    assert not [p for p in v if "@0.5|" in p]  # only the highest severity is broken down
    assert {r["group"] for r in result.tables["groups"]} == {"s=u", "s=v"}


def test_each_perturbed_set_is_built_once_and_predicted_once_per_model(tmp_path):
    ctx, model = perturbation_context(tmp_path)
    recipe = RECIPES.get("logistic_regression")
    other = recipe(recipe.Params(C=0.01), 0).fit("lr_strong_l2", ctx.data.train, ctx.schema)
    check = ShiftCheck(ShiftParams(severities=[0.5, 1.0], bootstrap=50))
    check.run(ctx, model)
    assert ctx.predict_calls == 1 + 3 * 2  # clean + 3 perturbations x 2 severities
    check.run(ctx, model)
    assert ctx.predict_calls == 7
    check.run(ctx, other)
    assert ctx.predict_calls == 14
    names = {d for (_, d) in ctx.cached_predictions()}
    assert len(names) == 7 and all(n == "test" or n.startswith("test~shift.") for n in names)


def test_perturbation_metrics_are_deterministic(tmp_path):
    params = ShiftParams(severities=[0.25, 1.0], bootstrap=100)
    dumps = []
    for _ in range(2):
        ctx, model = perturbation_context(tmp_path)
        dumps.append([m.model_dump() for m in ShiftCheck(params).run(ctx, model).metrics])
    assert dumps[0] == dumps[1] and len(dumps[0]) > 20
    ctx, model = perturbation_context(tmp_path)
    ctx.seed = 1  # another run seed draws other perturbations
    assert [m.model_dump() for m in ShiftCheck(params).run(ctx, model).metrics] != dumps[0]


# -- subpopulation scenarios ------------------------------------------------------------------------


def reversed_relationship_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """good iff x > 0 in region A, iff x < 0 in region B; 'noise' carries no signal."""
    rng = np.random.default_rng(seed)
    region = np.where(np.arange(n) % 2 == 0, "A", "B")
    x = rng.normal(0.0, 1.0, n)
    y = np.where((x > 0) == (region == "A"), "good", "bad")
    return pd.DataFrame({"x": x, "noise": rng.normal(0.0, 1.0, n), "region": region, "sex": rng.choice(["f", "m"], n), "y": y})


def test_subpopulation_with_a_reversed_relationship_shows_a_large_drop(suite_writer, tmp_path):
    import sklearn.compose
    import sklearn.linear_model
    import sklearn.pipeline
    import sklearn.preprocessing

    from audit.models.safe_load import dump_skops

    frame = reversed_relationship_frame()
    pipe = sklearn.pipeline.Pipeline([
        ("pre", sklearn.compose.ColumnTransformer([("oh", sklearn.preprocessing.OneHotEncoder(), ["region"])], remainder="passthrough")),
        ("lr", sklearn.linear_model.LogisticRegression()),
    ]).fit(frame[["x", "noise", "region"]], frame["y"])
    dump_skops(pipe, tmp_path / "user.skops")
    scenarios = [
        {"name": "a_to_b", "column": "region", "op": "==", "value": "A"},
        {"name": "noise_split", "column": "noise", "op": "<", "value": 0},
    ]
    suite = suite_writer(
        frame,
        data={"positive_label": "good", "sensitive": ["sex"], "features": ["x", "noise", "region"]},
        models=[{"name": "lr", "recipe": "logistic_regression"}, {"name": "user", "load": {"path": "user.skops"}}],
        checks=[{"name": "shift", "params": {"scenarios": scenarios, "perturbations": [], "bootstrap": 300}}],
    )
    outcome = run_suite(suite, log=None)
    v = {m.path: m for m in outcome.results.metrics}
    drop = v["lr/shift/accuracy_drop[a_to_b]"]
    assert drop.value > 0.8 and drop.ci[0] > 0.6 and drop.direction == "lower"
    assert v["lr/shift/roc_auc_drop[a_to_b]"].value > 0.8
    assert v["lr/shift/log_loss_drop[a_to_b]"].value > 0.5  # lower-is-better metrics: shifted - reference
    control = v["lr/shift/accuracy_drop[noise_split]"]
    assert abs(control.value) < 0.05 and control.ci[0] < 0 < control.ci[1]
    record = {(r.model, r.check): r for r in outcome.results.checks}
    table = {r["metric"]: r for r in record["lr", "shift"].tables["subpopulation"] if r["scenario"] == "a_to_b"}
    assert table["accuracy"]["reference"] > 0.95 and table["accuracy"]["shifted"] < 0.1
    assert table["accuracy"]["drop"] == pytest.approx(table["accuracy"]["reference"] - table["accuracy"]["shifted"])
    assert table["accuracy"]["train (in)"] + table["accuracy"]["test (in)"] == 1000
    user = record["user", "shift"]
    assert user.status == "warn" and not [p for p in v if p.startswith("user/shift/")]
    assert any("loaded from a file" in w and "cannot be retrained" in w for w in user.warnings)
    again = run_suite(suite, log=None)  # determinism, retrained artefacts now come from the cache
    assert [m.model_dump() for m in again.results.metrics] == [m.model_dump() for m in outcome.results.metrics]


def test_condition_mistakes_in_the_suite_are_config_errors_naming_the_key():
    base = {"version": 1, "name": "x", "data": {"path": "d.csv", "target": "y"}, "models": [{"name": "lr", "recipe": "logistic_regression"}]}
    cases = {
        "condition 's': op '<' compares numbers; got value 'old'": {"name": "s", "column": "age", "op": "<", "value": "old"},
        "condition 's': give either 'op' with 'value' or 'in', not both": {"name": "s", "column": "age", "op": "<", "value": 3, "in": [1]},
        "condition 's': give 'op' and 'value' (e.g. op: '<', value: 30) or 'in: [...]'": {"name": "s", "column": "age"},
        "condition 's': op '>=' needs a 'value'": {"name": "s", "column": "age", "op": ">="},
    }
    for message, scenario in cases.items():
        with pytest.raises(ConfigError) as info:
            parse_suite({**base, "checks": [{"name": "shift", "params": {"scenarios": [scenario]}}]}, "suite.yaml")
        assert str(info.value) == f"suite.yaml: checks[0].params.scenarios[0]: {message}"
    with pytest.raises(ConfigError, match=r"scenarios\[0\]\.op: Input should be '<', '<=', '>', '>=', '==' or '!=' \(got '~'\)"):
        parse_suite({**base, "checks": [{"name": "shift", "params": {"scenarios": [{"name": "s", "column": "a", "op": "~", "value": 1}]}}]}, "suite.yaml")
    with pytest.raises(ConfigError, match=r"scenarios\[0\]\.in: YAML read True as a boolean; quote category names such as 'yes' or 'no'"):
        parse_suite({**base, "checks": [{"name": "shift", "params": {"scenarios": [{"name": "s", "column": "a", "in": ["no", True]}]}}]}, "suite.yaml")
    with pytest.raises(ConfigError, match=r"params\.severities: every severity must lie in \[0, 1\]"):
        parse_suite({**base, "checks": [{"name": "shift", "params": {"severities": [1.5]}}]}, "suite.yaml")
    with pytest.raises(ConfigError, match=r"scenario names must be unique; repeated: s"):
        parse_suite({**base, "checks": [{"name": "shift", "params": {"scenarios": [{"name": "s", "column": "a", "in": [1]}] * 2}}]}, "suite.yaml")


def test_condition_semantics_and_runtime_errors():
    data = Dataset(
        "d",
        pd.DataFrame({"age": [20.0, 30.0, np.nan, 45.0], "purpose": ["car", "tv", "car", np.nan]}),
        np.array([0, 1, 0, 1]),
        pd.DataFrame({"sex": ["f", "m", "f", "m"]}),
    )

    def mask(**spec) -> list[bool]:
        return Condition.model_validate({"name": "s", **spec}).mask(data).tolist()

    assert mask(column="age", op="<", value=30) == [True, False, False, False]  # missing never matches
    assert mask(column="age", op="!=", value=30) == [True, False, False, True]
    assert mask(column="age", **{"in": [30, 45]}) == [False, True, False, True]
    assert mask(column="purpose", **{"in": ["car"]}) == [True, False, True, False]
    assert mask(column="purpose", op="!=", value="car") == [False, True, False, False]
    assert mask(column="sex", op="==", value="m") == [False, True, False, True]  # sensitive columns too
    with pytest.raises(CheckError, match=r"^scenario 's': no column 'agee' among the features or sensitive columns; did you mean 'age'\?"):
        mask(column="agee", op="<", value=30)
    with pytest.raises(CheckError, match=r"^scenario 's': op '<' needs a numeric column; 'purpose' is categorical \(use '==', '!=' or 'in'\)$"):
        mask(column="purpose", op="<", value=3)
    with pytest.raises(CheckError, match=r"^scenario 's': column 'age' is numeric, but the condition compares it with 'old'$"):
        mask(column="age", **{"in": ["old"]})


def test_a_condition_matching_nothing_is_skipped_with_a_hint(tmp_path):
    ctx, model = perturbation_context(tmp_path)
    params = ShiftParams(scenarios=[{"name": "none", "column": "c", "in": ["True"]}], perturbations=[])
    result = ShiftCheck(params).run(ctx, model)
    assert result.metrics == [] and result.tables["subpopulation"] == []
    assert "skipped: train (in) 0 rows" in result.warnings[0] and "categories compare as text" in result.warnings[0]


@pytest.mark.slow
def test_credit_suite_reports_shift_for_every_model_and_drift_once(credit_run):
    results = credit_run.results
    for model in ("logreg", "gbm", "mlp"):
        record = next(r for r in results.checks if r.model == model and r.check == "shift")
        assert record.status in ("ok", "warn") and record.error is None
        assert results.metric(f"{model}/shift/accuracy_drop[older_to_young]").ci is not None
        assert results.metric(f"{model}/shift/prediction_stability[noise@1.0]").value < 1.0
        assert results.metric(f"{model}/shift/accuracy_drop[missing@1.0|sex=female]").value is not None
    drift = [r for r in results.checks if r.check == "drift"]
    assert [r.model for r in drift] == ["data"] and drift[0].status == "ok"
    assert results.metric("data/drift/n_drifted").value == 0  # a random split does not drift
    assert len([m for m in results.metrics if m.path.startswith("data/drift/psi[")]) == 20
