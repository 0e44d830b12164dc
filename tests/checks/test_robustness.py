"""Robustness: attacks against models whose exact robustness is known, and counterfactual flips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from audit.attacks.blackbox import blackbox_attack
from audit.attacks.gradient import fgsm, pgd
from audit.checks.robustness import RobustnessCheck, RobustnessParams, wilson_interval
from audit.data.tabular import build_bundle
from audit.engine import Context, run_suite
from audit.errors import CheckError
from audit.models.base import ModelAdapter
from audit.suite import load_suite

torch = pytest.importorskip("torch")

W = np.array([2.0, -1.0, 3.0, 0.5], dtype=np.float32)  # columns: mutable, mutable, immutable, one-hot
MASK = np.array([1, 1, 0, 0], dtype=bool)


def linear_module(weights: np.ndarray = W, bias: float = 0.0):
    module = torch.nn.Linear(len(weights), 1)
    with torch.no_grad():
        module.weight[:] = torch.as_tensor(weights)[None, :]
        module.bias[:] = bias
    return module


def linear_rows(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 4)).astype(np.float32)
    Z[:, 3] = rng.integers(0, 2, n)  # a one-hot column
    return Z, rng.integers(0, 2, n)


def linear_proba(Z: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-(np.asarray(Z, dtype=np.float64) @ W.astype(np.float64))))
    return np.column_stack([1 - p, p])


def exact_broken(Z: np.ndarray, y: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """For w.z, the worst case over the masked ball moves the logit by eps * |w_masked|_1 = 3 eps."""
    logit = Z.astype(np.float64) @ W.astype(np.float64)
    correct = (logit > 0) == (y == 1)
    return correct & (np.abs(logit) < 3 * eps), np.abs(np.abs(logit) - 3 * eps) < 1e-4


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "blackbox"])
def test_attacks_find_exactly_the_rows_a_linear_model_loses(attack):
    Z, y = linear_rows()
    for eps in (0.0, 0.05, 0.2, 0.5, 1.0):
        if attack == "fgsm":
            adv = fgsm(linear_module(), Z, y, eps, MASK)
        elif attack == "pgd":
            adv = pgd(linear_module(), Z, y, eps, MASK, steps=20, seed=1)
        else:
            adv = blackbox_attack(linear_proba, Z, y, eps, MASK, np.random.default_rng(0)).Z
        assert np.abs(adv - Z).max() <= eps + 1e-6 and np.array_equal(adv[:, ~MASK], Z[:, ~MASK])
        broken = (linear_proba(adv).argmax(axis=1) != y) & (linear_proba(Z).argmax(axis=1) == y)
        expected, tie = exact_broken(Z, y, eps)
        assert np.array_equal(broken[~tie], expected[~tie]), (attack, eps)
        if eps == 1.0:
            assert expected.sum() > 50  # the test has teeth


def test_blackbox_flips_a_boundary_within_eps_and_nothing_at_eps_zero():
    def threshold(Z):
        p = (np.asarray(Z)[:, 0] > 0.1).astype(float)
        return np.column_stack([1 - p, p])

    Z, y = np.zeros((30, 3)), np.zeros(30, dtype=int)
    rng = np.random.default_rng(0)
    out = blackbox_attack(threshold, Z, y, 0.2, np.array([True, True, False]), rng)
    assert (out.pred == 1).all() and (out.Z[:, 0] > 0.1).all() and (out.queries >= 2).all()
    for eps in (0.0, 0.05):
        out = blackbox_attack(threshold, Z, y, eps, np.array([True, True, False]), rng)
        assert (out.pred == 0).all() and np.array_equal(out.Z, Z)
    assert (blackbox_attack(threshold, Z, y, 0.0, np.ones(3, bool), rng).queries == 1).all()
    # the boundary sits on a frozen column: no budget helps
    out = blackbox_attack(threshold, Z, y, 5.0, np.array([False, True, True]), rng)
    assert (out.pred == 0).all()


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0 and wilson_interval(0, 0) is None
    assert wilson_interval(0, 20)[1] == pytest.approx(0.1611, abs=1e-4)


# --- the check, end to end on synthetic suites -----------------------------------------------

def synthetic(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({
        "x1": x1, "x2": x2, "age": rng.integers(18, 70, n),
        "grp": rng.choice(["a", "b"], n),
        "y": np.where(x1 + 0.5 * x2 + 0.3 * rng.normal(size=n) > 0, "good", "bad"),
    })


DATA = {"positive_label": "good", "sensitive": ["grp"]}


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory: pytest.TempPathFactory, write_suite_fn):
    write_suite = write_suite_fn
    folder = tmp_path_factory.mktemp("robustness")
    suite = write_suite(
        folder, synthetic(), data=DATA,
        models=[{"name": "mlp", "recipe": "credit_mlp", "params": {"epochs": 30}}, {"name": "lr", "recipe": "logistic_regression"}],
        checks=[{"name": "performance", "params": {"bootstrap": 0, "slices": False}},
                {"name": "robustness", "params": {"epsilons": [0, 0.1, 0.3, 0.6, 1.0], "pgd_steps": 30}}],
    )
    return run_suite(suite, log=None)


def values(outcome, model: str) -> dict[str, float]:
    return {m.path.split("/", 2)[2]: m for m in outcome.results.metrics if m.model == model and m.check == "robustness"}


def test_curves_start_at_the_performance_accuracy_and_agree_with_the_success_rates(mlp_run):
    m = values(mlp_run, "mlp")
    accuracy = mlp_run.results.metric("mlp/performance/accuracy").value
    assert m["clean_accuracy"].value == pytest.approx(accuracy) and m["clean_accuracy"].n == 120
    for attack in ("fgsm", "pgd", "blackbox"):
        curve = [m[f"robust_accuracy[{attack}@{e:g}]"].value for e in (0, 0.1, 0.3, 0.6, 1.0)]
        assert curve[0] == pytest.approx(accuracy)  # the encoded path predicts like ctx.predict
        assert curve[-1] < curve[0] - 0.2  # a one-std budget on x1 breaks many rows
        for e in (0.3, 1.0):
            asr = m[f"attack_success_rate[{attack}@{e:g}]"]
            assert m[f"robust_accuracy[{attack}@{e:g}]"].value == pytest.approx(accuracy * (1 - asr.value))
            assert asr.ci[0] <= asr.value <= asr.ci[1] and asr.n == round(accuracy * 120)
    assert m["robust_accuracy[pgd@1]"].value <= m["robust_accuracy[fgsm@1]"].value + 1e-9
    assert m["average_queries[blackbox@0]"].value == 1 and m["average_queries[blackbox@1]"].value > 1
    assert {"robust_accuracy[pgd@1,grp=a]", "robust_accuracy[pgd@1,grp=b]"} <= set(m)


def test_sklearn_models_get_the_blackbox_curve_and_null_gradient_metrics_with_the_reason(mlp_run):
    m = values(mlp_run, "lr")
    assert m["robust_accuracy[blackbox@1]"].value is not None
    reason = "not applicable: lr has no gradients (gradient attacks need a torch model)"
    for attack in ("fgsm", "pgd"):
        for e in (0, 0.1, 0.3, 0.6, 1.0):
            for metric in ("robust_accuracy", "attack_success_rate"):
                record = m[f"{metric}[{attack}@{e:g}]"]
                assert record.value is None and record.reason == reason
        assert m[f"robust_accuracy[{attack}@1,grp=a]"].reason == reason
    [record] = [r for r in mlp_run.results.checks if r.model == "lr" and r.check == "robustness"]
    setup = record.tables["setup"][0]
    assert setup["perturbed_columns"] == ["x1", "x2"] and setup["immutable"] == ["age"]
    assert setup["integer_features"] == [] and setup["valid_inputs"] is True  # x1, x2 are continuous
    assert "pgd skipped: model has no torch_module (no gradients)" in setup["notes"]
    assert record.status == "warn" and record.warnings == [
        "fgsm, pgd not applicable to model 'lr': lr has no gradients (gradient attacks need a torch model); "
        "their metrics are recorded as null"]
    kinds = [f["kind"] for f in record.figures]
    assert kinds == ["line", "grouped_bar", "bar"]
    mlp = values(mlp_run, "mlp")
    assert all(r.value is not None for k, r in mlp.items() if "gd@" in k)  # the MLP's own are measured
    [mlp_record] = [r for r in mlp_run.results.checks if r.model == "mlp" and r.check == "robustness"]
    assert mlp_record.status == "ok"


def test_a_wildcard_gate_on_a_gradient_metric_lists_models_without_gradients_as_skipped(mlp_run):
    from audit.gates import evaluate_gates
    from audit.suite import GateSpec

    [outcome_lr, outcome_mlp] = sorted(evaluate_gates([GateSpec.model_validate("*/robustness/robust_accuracy[pgd@0.3] >= 0.1")],
                                                      mlp_run.results.metrics, mlp_run.results.checks), key=lambda o: o.metric)
    assert outcome_lr.status == "skipped" and "not measured on lr: lr has no gradients" in outcome_lr.message
    value = mlp_run.results.metric("mlp/robustness/robust_accuracy[pgd@0.3]").value
    assert (outcome_mlp.status, outcome_mlp.observed) == ("pass" if value >= 0.1 else "fail", value)
    [named] = evaluate_gates([GateSpec.model_validate("lr/robustness/robust_accuracy[pgd@0.3] >= 0.1")], mlp_run.results.metrics)
    assert named.status == "error" and "not applicable: lr has no gradients" in named.message  # named explicitly: an error


def test_default_counterfactual_swaps_a_two_valued_sensitive_feature(mlp_run):
    m = values(mlp_run, "lr")
    flip = m["counterfactual_flip_rate[grp]"]
    assert flip.n == 120 and 0 <= flip.value < 0.2  # grp carries no signal
    assert {"counterfactual_flip_rate[grp=a]", "counterfactual_flip_rate[grp=b]", "counterfactual_score_change[grp]"} <= set(m)


@pytest.fixture
def ctx(suite_writer, tmp_path: Path) -> Context:
    frame = synthetic(200)
    frame["age_group"] = np.where(frame["age"] < 25, "<25", ">=25")
    data = {"positive_label": "good", "sensitive": ["grp", "age_group"], "drop": ["age_group"]}
    suite = load_suite(suite_writer(frame, data=data))
    bundle = build_bundle(suite)
    return Context(suite, bundle, {}, seed=0, run_dir=tmp_path, log=lambda m: None)


class RawModel(ModelAdapter):
    """A hand-written rule on raw rows (no encoded space: attacks are skipped)."""

    def __init__(self, name, rule):
        super().__init__(name, (0, 1))
        self.rule = rule

    def predict_proba(self, X):
        p = np.asarray(self.rule(X), dtype=float)
        return np.column_stack([1 - p, p])


def run_check(ctx, model, **params):
    return RobustnessCheck(RobustnessParams(**params)).run(ctx, model)


def flip_rates(result) -> dict[str, float]:
    return {m.group: m.value for m in result.metrics if m.metric == "counterfactual_flip_rate"}


def test_flip_rate_is_one_when_only_the_attribute_matters_and_zero_when_it_is_ignored(suite_writer, tmp_path):
    frame = synthetic(200)
    suite = load_suite(suite_writer(frame, data={"positive_label": "good", "sensitive": ["grp"]}))
    ctx = Context(suite, build_bundle(suite), {}, seed=0, run_dir=tmp_path, log=lambda m: None)
    spec = {"grp": {"feature": "grp", "swap": {"a": "b", "b": "a"}}}
    only = run_check(ctx, RawModel("only_grp", lambda X: X["grp"] == "a"), counterfactuals=spec)
    assert flip_rates(only) == {"grp": 1.0, "grp=a": 1.0, "grp=b": 1.0}
    assert only.warnings == ["model 'only_grp' exposes no encoded input space (transform / proba_from_encoded); attacks skipped"]
    score = [m for m in only.metrics if m.metric == "counterfactual_score_change"]
    assert score[0].value == 1.0 and score[0].n == 60
    ignores = run_check(ctx, RawModel("ignores", lambda X: X["x1"] > 0), counterfactuals=spec)
    assert flip_rates(ignores) == {"grp": 0.0, "grp=a": 0.0, "grp=b": 0.0}
    assert ignores.tables["counterfactuals"][0]["changed_rows"] + ignores.tables["counterfactuals"][1]["changed_rows"] == 60
    # the counterfactual set was scored through the shared cache under its own name
    assert any("~counterfactual[grp]" in name for _, name in ctx.cached_predictions())


def test_numeric_counterfactual_sets_a_value_per_group(ctx):
    model = RawModel("age_rule", lambda X: X["age"] >= 25)
    spec = {"age_group": {"feature": "age", "set_to": {"<25": 35, ">=25": 23}}}
    assert flip_rates(run_check(ctx, model, counterfactuals=spec))["age_group"] == 1.0
    shifted = run_check(ctx, model, counterfactuals={"age_group": {"feature": "age", "shift_by": 100}})
    rates = flip_rates(shifted)
    assert rates["age_group=>=25"] == 0.0 and rates["age_group=<25"] == 1.0
    none = run_check(ctx, model, counterfactuals={"age_group": {"feature": "age", "shift_by": 0}})
    assert "counterfactual for 'age_group' changes no test row; check its shift_by values" in none.warnings


def test_counterfactual_values_are_checked_against_the_data(ctx):
    model = RawModel("m", lambda X: X["x1"] > 0)
    with pytest.raises(CheckError, match=r"^robustness: counterfactuals.grp.swap: value 'c' is not a value of 'grp'; available: a, b$"):
        run_check(ctx, model, counterfactuals={"grp": {"feature": "grp", "swap": {"a": "c"}}})
    with pytest.raises(CheckError, match=r"^robustness: counterfactuals.grp.set_to: 'grp' is categorical; use swap$"):
        run_check(ctx, model, counterfactuals={"grp": {"feature": "grp", "set_to": 1}})
    with pytest.raises(CheckError, match=r"^robustness: counterfactuals.x1: 'x1' is not a sensitive column; available: age_group, grp$"):
        run_check(ctx, model, counterfactuals={"x1": {"feature": "x1", "shift_by": 1}})
    with pytest.raises(CheckError, match=r"^robustness: immutable: 'agee' is not a feature; did you mean 'age'\? available: age, grp, x1, x2$"):
        run_check(ctx, _mlp(ctx), immutable=["agee"])


def test_params_are_validated_with_clear_messages():
    with pytest.raises(ValidationError, match=r"give exactly one of swap, set_to, shift_by \(got swap, set_to\)"):
        RobustnessParams(counterfactuals={"sex": {"feature": "s", "swap": {"a": "b"}, "set_to": 1}})
    with pytest.raises(ValidationError, match="quote YAML words such as yes/no/on/off/null"):
        RobustnessParams(counterfactuals={"fw": {"feature": "fw", "swap": {True: "no"}}})
    with pytest.raises(ValidationError, match=r"group_epsilon 0.4 must be one of the epsilons \[0.0, 0.5\]"):
        RobustnessParams(epsilons=[0.5, 0, 0.5], group_epsilon=0.4)
    assert RobustnessParams(epsilons=[0.5, 0, 0.5]).epsilons == [0.0, 0.5]


def _mlp(ctx: Context):
    from audit.models.torch_mlp import CreditMLPParams, CreditMLPRecipe

    return CreditMLPRecipe(CreditMLPParams(epochs=3), seed=0).fit("mlp", ctx.data.train, ctx.schema)


class LinearTorchModel(ModelAdapter):
    """Logistic regression on the shared preprocessor, served by an equivalent torch linear layer."""

    kind = "linear"

    def __init__(self, name, schema, train):
        from sklearn.linear_model import LogisticRegression

        from audit.models.preprocess import make_preprocessor

        super().__init__(name, schema.classes)
        self.schema = schema
        self.preprocessor = make_preprocessor(schema).fit(train.X)
        fit = LogisticRegression(C=10.0).fit(self.transform(train.X), train.y)
        self.w, self.b = fit.coef_[0].astype(np.float32), np.float32(fit.intercept_[0])
        self.torch_module = linear_module(self.w, float(self.b)).eval()

    def transform(self, X):
        return np.asarray(self.preprocessor.transform(X), dtype=np.float32)

    def proba_from_encoded(self, Z):
        with torch.no_grad():
            p = torch.sigmoid(self.torch_module(torch.as_tensor(np.asarray(Z, dtype=np.float32))).reshape(-1)).double().numpy()
        return np.column_stack([1 - p, p])

    def predict_proba(self, X):
        return self.proba_from_encoded(self.transform(X))

    @property
    def feature_sources(self):
        from audit.models.preprocess import encoded_feature_sources

        return encoded_feature_sources(self.preprocessor, self.schema)


def exact_and_reported(ctx, valid_inputs: bool, budgets: tuple[float, ...]) -> tuple[dict, dict, float]:
    """(closed-form robust accuracy per budget, what the check reports per attack and budget, clean accuracy).

    For logit w.z + b the worst row in the budget moves each mutable column by eps against its
    weight's sign, clipped to the training range (widened to the row) when inputs must stay valid."""
    model = LinearTorchModel("linear", ctx.schema, ctx.data.train)
    result = run_check(ctx, model, epsilons=[0, *budgets], valid_inputs=valid_inputs, pgd_steps=20, counterfactuals={})
    got = {m.group: m.value for m in result.metrics if m.metric == "robust_accuracy"}
    Z, y = model.transform(ctx.data.test.X), ctx.data.test.y
    mutable = np.array([source in ("x1", "x2") for source in model.feature_sources.values()])
    Z_train = model.transform(ctx.data.train.X)
    lo, hi = np.minimum(Z_train.min(axis=0), Z), np.maximum(Z_train.max(axis=0), Z)
    correct = model.proba_from_encoded(Z).argmax(axis=1) == y
    away = (np.where(y[:, None] == 1, -np.sign(model.w), np.sign(model.w)) * mutable).astype(np.float32)
    expected = {}
    for eps in budgets:
        worst = Z + np.float32(eps) * away
        if valid_inputs:
            worst = np.clip(worst, lo, hi)
        expected[eps] = float((correct & (model.proba_from_encoded(worst).argmax(axis=1) == y)).mean())
    return expected, got, float(correct.mean())


BUDGETS = (0.1, 0.3, 1.0, 2.0, 3.0)


@pytest.mark.parametrize("valid_inputs", [True, False])
def test_every_attack_gives_the_exact_robust_accuracy_of_a_linear_model(ctx, valid_inputs):
    expected, got, clean = exact_and_reported(ctx, valid_inputs, BUDGETS)
    for eps in BUDGETS:
        for attack in ("fgsm", "pgd", "blackbox"):
            assert got[f"{attack}@{eps:g}"] == pytest.approx(expected[eps]), (attack, eps, got, expected)
    assert expected[3.0] < expected[0.1] < clean  # the budgets matter


@pytest.fixture
def skewed_ctx(suite_writer, tmp_path: Path) -> Context:
    """x2 is exponential (its training minimum near 0 is a real floor) and as predictive as x1."""
    rng = np.random.default_rng(5)
    frame = synthetic(400, seed=5)
    frame["x2"] = rng.exponential(size=400)
    frame["y"] = np.where(frame["x1"] + 3 * (frame["x2"] - 0.7) + 0.3 * rng.normal(size=400) > 0, "good", "bad")
    suite = load_suite(suite_writer(frame, data=DATA))
    return Context(suite, build_bundle(suite), {}, seed=0, run_dir=tmp_path, log=lambda m: None)


@pytest.mark.parametrize("valid_inputs", [True, False])
def test_the_exact_answer_where_the_training_range_binds(skewed_ctx, valid_inputs):
    expected, got, _ = exact_and_reported(skewed_ctx, valid_inputs, BUDGETS)
    for eps in BUDGETS:
        for attack in ("fgsm", "pgd", "blackbox"):
            assert got[f"{attack}@{eps:g}"] == pytest.approx(expected[eps]), (attack, eps, got, expected)


def test_valid_inputs_keep_the_training_range_and_so_change_the_answer(skewed_ctx):
    valid, _, _ = exact_and_reported(skewed_ctx, True, BUDGETS)
    free, _, _ = exact_and_reported(skewed_ctx, False, BUDGETS)
    assert all(valid[e] >= free[e] for e in BUDGETS) and any(valid[e] > free[e] + 0.015 for e in BUDGETS), (valid, free)


def test_the_check_is_deterministic(ctx, tmp_path):
    model = _mlp(ctx)
    params = {"epsilons": [0, 0.3, 1.0], "pgd_steps": 5}
    first = run_check(ctx, model, **params)
    again = run_check(Context(ctx.suite, ctx.data, {}, seed=0, run_dir=tmp_path, log=lambda m: None), model, **params)
    assert [(m.path, m.value, m.ci) for m in first.metrics] == [(m.path, m.value, m.ci) for m in again.metrics]
    assert first.tables == again.tables


def test_attacks_run_single_threaded_and_restore_the_thread_count():
    from threadpoolctl import threadpool_info

    from audit.attacks import limit_threads

    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_credit_suite_curves_and_flip_rates(credit_run):
    results = credit_run.results
    budgets = (0, 0.05, 0.1, 0.2, 0.3, 0.5)
    for model in ("logreg", "gbm", "mlp"):
        m = values(credit_run, model)
        attacks = ("fgsm", "pgd", "blackbox") if model == "mlp" else ("blackbox",)
        for attack in attacks:
            curve = [m[f"robust_accuracy[{attack}@{e:g}]"].value for e in budgets]
            assert curve[0] == pytest.approx(results.metric(f"{model}/performance/accuracy").value)
            assert curve[-1] < curve[0] - 0.02  # half a standard deviation on the mutable features flips decisions
        for attack in {"fgsm", "pgd"} - set(attacks):  # no gradients: recorded, not dropped
            record = m[f"robust_accuracy[{attack}@0.1]"]
            assert record.value is None and record.reason.startswith(f"not applicable: {model} has no gradients")
        for attribute in ("sex", "age_group", "foreign_worker"):
            flip = m[f"counterfactual_flip_rate[{attribute}]"]
            assert 0 <= flip.value <= 1 and flip.n == 300 and flip.ci[0] <= flip.value <= flip.ci[1]
        assert {"robust_accuracy[blackbox@0.5,sex=female]", "robust_accuracy[blackbox@0.5,sex=male&age_group=<25]"} <= set(m)
    setup = next(r for r in results.checks if r.check == "robustness").tables["setup"][0]
    assert "age" not in setup["perturbed_columns"] and "duration_months" in setup["perturbed_columns"]
    assert {"duration_months", "credit_amount"} <= set(setup["integer_features"])  # attacked in whole months and amounts
