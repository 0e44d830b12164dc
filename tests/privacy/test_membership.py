"""The privacy check (variant ``membership``): membership and attribute inference.

References: scikit-learn ``roc_auc_score`` / ``roc_curve`` / ``balanced_accuracy_score`` for the
vectorised statistics, ART 1.20's ``MembershipInferenceBlackBoxRuleBased`` for the
correct/incorrect rule, known answers from planted leaks (an overfit forest, a memorised group,
a model fed the sensitive attribute) and their controls (a regularised model, an independent one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, roc_curve
from sklearn.tree import DecisionTreeClassifier

from audit.checks.base import apply_declarations
from audit.checks.privacy import MembershipCheck, MembershipParams
from audit.context import Context
from audit.data.base import DataBundle, Dataset, Schema
from audit.models.base import ModelAdapter
from audit.privacy.attribute import balanced_accuracy
from audit.privacy.membership import loss_score, rates_at, roc_stats
from audit.privacy.shadow import keep_matrix, lira_offline

FEATURES = [f"x{i}" for i in range(5)]


class Sklearn(ModelAdapter):
    """A fitted scikit-learn classifier over some numeric columns of the frame."""

    def __init__(self, estimator, columns, name: str) -> None:
        super().__init__(name, (0, 1))
        self.estimator, self.columns = estimator, list(columns)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X[self.columns].to_numpy(dtype=float))


class Function(ModelAdapter):
    """P(class 1) = ``fn(X)`` (a hand-made model)."""

    def __init__(self, fn, name: str) -> None:
        super().__init__(name, (0, 1))
        self.fn = fn

    def predict_proba(self, X):
        p = np.asarray(self.fn(X), dtype=np.float64)
        return np.column_stack([1.0 - p, p])


def noisy_bundle(n_train: int = 300, n_test: int = 300, seed: int = 0) -> DataBundle:
    """Five numeric features, y = [x0 + N(0, 2^2) > 0] (test accuracy ~0.6 at best), a random
    sensitive column ``grp`` (a / b) that is also a categorical feature."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=FEATURES)
    X["grp"] = np.where(rng.random(n) < 0.5, "a", "b")
    y = ((X.x0 + rng.normal(scale=2.0, size=n)) > 0).to_numpy().astype(np.int64)
    full = Dataset("all", X, y, pd.DataFrame({"grp": X["grp"].to_numpy()}))
    schema = Schema(target="y", classes=(0, 1), features=(*FEATURES, "grp"), numeric=tuple(FEATURES), categorical=("grp",), sensitive=("grp",))
    return DataBundle(schema=schema, train=full.subset(np.arange(n_train), "train"), test=full.subset(np.arange(n_train, n), "test"), frame=X, source="memory", data_hash="x")


def run_check(bundle: DataBundle, model: ModelAdapter, tmp_path: Path, **params):
    ctx = Context(None, bundle, {model.name: model}, 0, tmp_path, lambda message: None)
    result = MembershipCheck(MembershipParams(**params), "privacy").run(ctx, model)
    apply_declarations(result, MembershipCheck)  # what the engine does: min_n, directions
    return result, {m.path: m for m in result.metrics}


def fitted(estimator, bundle: DataBundle, name: str) -> Sklearn:
    estimator.fit(bundle.train.X[FEATURES].to_numpy(), bundle.train.y)
    return Sklearn(estimator, FEATURES, name)


# --- the statistics against scikit-learn ---------------------------------------------------


def test_roc_stats_equal_sklearn_on_every_bootstrap_replicate_ties_included():
    rng = np.random.default_rng(1)
    member = np.r_[np.ones(150, int), np.zeros(170, int)]
    score = np.round(rng.normal(size=320) + 0.4 * member, 1)  # rounded: many ties
    idx = rng.integers(0, 320, size=(40, 320))
    boots = roc_stats(member, score, idx)
    for b in range(40):
        y, s = member[idx[b]], score[idx[b]]
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        assert boots["auc"][b] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert boots["advantage"][b] == pytest.approx(max(0.0, (tpr - fpr).max()), abs=1e-12)
        for a in (0.01, 0.001):
            assert boots[f"tpr@{a:g}"][b] == pytest.approx(tpr[fpr <= a].max(), abs=1e-12)
    point = roc_stats(member, score)
    assert point["auc"] == pytest.approx(roc_auc_score(member, score), abs=1e-12)
    assert np.isnan(roc_stats(np.ones(5, int), np.arange(5.0))["auc"])  # one side only: undefined


def test_balanced_accuracy_equals_sklearn_per_replicate():
    rng = np.random.default_rng(2)
    y, pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    idx = rng.integers(0, 200, size=(20, 200))
    boots = balanced_accuracy(y, pred, idx)
    for b in range(20):
        assert boots[b] == pytest.approx(balanced_accuracy_score(y[idx[b]], pred[idx[b]]), abs=1e-12)


# --- membership inference: known answers and references ------------------------------------


def test_overfit_forest_leaks_membership_and_regularised_logreg_does_not(tmp_path):
    bundle = noisy_bundle()
    forest = fitted(RandomForestClassifier(n_estimators=50, random_state=0), bundle, "forest")
    tree = fitted(DecisionTreeClassifier(random_state=0), bundle, "tree")
    logreg = fitted(LogisticRegression(C=0.1), bundle, "logreg")
    assert (forest.predict(bundle.train.X) == bundle.train.y).mean() == 1.0
    assert (forest.predict(bundle.test.X) == bundle.test.y).mean() < 0.7
    _, f = run_check(bundle, forest, tmp_path, attribute_inference=False)
    _, t = run_check(bundle, tree, tmp_path, attribute_inference=False)
    _, lr = run_check(bundle, logreg, tmp_path, attribute_inference=False)
    auc = f["forest/privacy/mia_auc"]
    assert auc.value > 0.8 and auc.ci[0] > 0.75 and auc.direction == "lower" and auc.n == 300
    assert f["forest/privacy/mia_advantage"].value > 0.5
    # a pure tree: every member has loss 0, so AUC = P(non-member wrong) + P(non-member right) / 2
    test_acc = (tree.predict(bundle.test.X) == bundle.test.y).mean()
    assert t["tree/privacy/mia_auc"].value == pytest.approx(1 - test_acc / 2, abs=1e-12)
    assert abs(lr["logreg/privacy/mia_auc"].value - 0.5) < 0.05
    assert lr["logreg/privacy/mia_auc"].ci[0] < 0.5 < lr["logreg/privacy/mia_auc"].ci[1]


def test_loss_auc_matches_sklearn_and_the_correctness_rule_matches_art(tmp_path):
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBoxRuleBased
    from art.estimators.classification.scikitlearn import SklearnClassifier

    bundle = noisy_bundle()
    model = fitted(RandomForestClassifier(n_estimators=51, random_state=0), bundle, "forest")  # odd: no p = 0.5 from pure leaves
    result, m = run_check(bundle, model, tmp_path, attribute_inference=False, slices=False)
    x_in, x_out = bundle.train.X[FEATURES].to_numpy(), bundle.test.X[FEATURES].to_numpy()
    member = np.r_[np.ones(len(x_in), int), np.zeros(len(x_out), int)]
    y = np.r_[bundle.train.y, bundle.test.y]
    proba = model.estimator.predict_proba(np.vstack([x_in, x_out]))
    score = loss_score(proba, y)
    assert np.allclose(score, -np.array([-np.log(max(p[k], 1e-12)) for p, k in zip(proba, y, strict=True)]))
    assert m["forest/privacy/mia_auc"].value == pytest.approx(roc_auc_score(member, score), abs=1e-12)
    # ART's rule: member <=> predicted label correct; with no p = 0.5 that is loss <= log 2
    assert not np.any(proba == 0.5)
    art = MembershipInferenceBlackBoxRuleBased(SklearnClassifier(model.estimator))
    art_tpr, art_fpr = art.infer(x_in, bundle.train.y).mean(), art.infer(x_out, bundle.test.y).mean()
    tpr, fpr = rates_at(member, score, np.log(0.5))
    assert (tpr, fpr) == (pytest.approx(art_tpr, abs=1e-12), pytest.approx(art_fpr, abs=1e-12))
    assert m["forest/privacy/mia_advantage"].value >= art_tpr - art_fpr - 1e-12  # the best threshold beats the rule
    summary = result.tables["membership"][0]
    assert summary["attack"] == "loss threshold" and summary["auc"] == m["forest/privacy/mia_auc"].value
    figure = result.figures[0]
    assert figure["kind"] == "line" and figure["diagonal"] and "loss threshold" in figure["series"]


def test_tpr_at_low_fpr_is_null_below_its_declared_minimum(tmp_path):
    bundle = noisy_bundle()
    model = fitted(RandomForestClassifier(n_estimators=20, random_state=0), bundle, "forest")
    result, m = run_check(bundle, model, tmp_path, attribute_inference=False, slices=False)
    low = m["forest/privacy/mia_tpr_at_fpr_01pct"]
    assert low.value is None and low.ci is None and "1000" in low.reason and low.n == 300
    assert m["forest/privacy/mia_tpr_at_fpr_1pct"].value is not None  # 300 >= 100 non-members
    assert any("mia_tpr_at_fpr_01pct" in w for w in result.warnings)
    _, small = run_check(noisy_bundle(300, 60), model, tmp_path, attribute_inference=False, slices=False)
    assert small["forest/privacy/mia_tpr_at_fpr_1pct"].value is None and "100" in small["forest/privacy/mia_tpr_at_fpr_1pct"].reason
    assert small["forest/privacy/mia_auc"].n == 60  # balanced: 60 members drawn from 300


def test_a_memorised_group_leaks_more_than_the_others(tmp_path):
    bundle = noisy_bundle()
    train = bundle.train
    memory = {tuple(np.round(row, 9)): label for row, label, g in zip(train.X[FEATURES].to_numpy(), train.y, train.X["grp"], strict=True) if g == "a"}

    def predict(X):  # a weak honest model, except that it recalls the training rows of group a
        honest = 1.0 / (1.0 + np.exp(-0.3 * X["x0"].to_numpy()))
        recalled = [memory.get(tuple(np.round(row, 9))) for row in X[FEATURES].to_numpy()]
        return np.array([h if r is None else (0.99 if r == 1 else 0.01) for h, r in zip(honest, recalled, strict=True)])

    result, m = run_check(bundle, Function(predict, "memo"), tmp_path, attribute_inference=False)
    a, b = m["memo/privacy/mia_auc[grp=a]"], m["memo/privacy/mia_auc[grp=b]"]
    assert a.value > 0.9 and abs(b.value - 0.5) < 0.1 and a.ci[0] > b.ci[1]
    gap = m["memo/privacy/max_group_mia_auc_gap[grp]"]
    assert gap.value == pytest.approx(a.value - b.value) and gap.value > 0.3 and gap.ci[0] > 0.2
    rows = {r["group"]: r for r in result.tables["by_group"]}
    from audit.report.html import render_figure

    for figure in result.figures:  # the ROC line and the per-group bars draw
        assert "svg" in render_figure(figure, None), figure["title"]
    assert rows["grp=a"]["members"] + rows["grp=b"]["members"] == 300


# --- attribute inference --------------------------------------------------------------------


def test_attribute_inference_finds_a_planted_leak_and_not_an_independent_model(tmp_path):
    bundle = noisy_bundle()
    leaky = Function(lambda X: np.where(X["grp"] == "a", 0.7, 0.4) + 0.05 * np.tanh(X["x0"]), "leaky")
    honest = Function(lambda X: 1.0 / (1.0 + np.exp(-0.5 * X["x0"].to_numpy())), "honest")
    result, m = run_check(bundle, leaky, tmp_path, bootstrap=200)
    up = m["leaky/privacy/attribute_inference_uplift[grp]"]
    assert up.value > 0.4 and up.ci[0] > 0.3 and up.n == 300
    assert m["leaky/privacy/attribute_inference_with_model[grp]"].value > 0.95
    assert abs(m["leaky/privacy/attribute_inference_baseline[grp]"].value - 0.5) < 0.1  # grp itself is left out
    assert result.tables["attribute_inference"][0]["features"] == 5
    _, h = run_check(bundle, honest, tmp_path, bootstrap=200)
    control = h["honest/privacy/attribute_inference_uplift[grp]"]
    assert control.ci[0] <= 0 <= control.ci[1] and abs(control.value) < 0.05


def test_shadow_metrics_are_not_applicable_without_a_recipe(tmp_path):
    bundle = noisy_bundle(100, 100)
    model = fitted(LogisticRegression(), bundle, "lr")
    result, m = run_check(bundle, model, tmp_path, shadow_models=4, attribute_inference=False, slices=False, bootstrap=0)
    for name in ("shadow_mia_auc", "lira_auc", "lira_tpr_at_fpr_1pct"):
        assert m[f"lr/privacy/{name}"].value is None and m[f"lr/privacy/{name}"].reason.startswith("not applicable: ")
    _, off = run_check(bundle, model, tmp_path, attribute_inference=False, slices=False, bootstrap=0)
    assert "shadow_models: 0" in off["lr/privacy/shadow_mia_auc"].reason


def test_lira_scores_a_row_far_above_its_out_shadows_as_a_member():
    rng = np.random.default_rng(3)
    keep = keep_matrix(rng, 4, 500)
    assert (keep.sum(axis=0) == 2).all()  # every row IN exactly half the shadows
    odd = keep_matrix(rng, 5, 2000).sum(axis=0)
    assert set(odd) == {2, 3}
    phi = rng.normal(size=(4, 3))
    scores = lira_offline(np.array([5.0, 0.0, -5.0]), phi, np.ones((4, 3), bool))
    assert scores[0] > scores[1] > scores[2]


def _shadow_simulation(seed: int, make, n_pool: int = 280, n_out: int = 120, shadows: int = 4):
    """LiRA and Shokri AUCs for a target trained on the pool (real) and on other rows (null)."""
    from sklearn.metrics import roc_auc_score

    from audit.privacy.membership import logit_confidence
    from audit.privacy.shadow import attack_features, shokri_attack

    rng = np.random.default_rng(seed)

    def draw(n):
        X = rng.normal(size=(n, 4))
        return X, (X[:, 0] + rng.normal(scale=1.5, size=n) > 0).astype(int)

    (Xp, yp), (Xt, yt), (Xo, yo) = draw(n_pool), draw(n_out), draw(n_pool)
    mem = rng.choice(n_pool, n_out, replace=False)
    keep = keep_matrix(rng, shadows, n_pool)
    Xe, ye, member = np.vstack([Xp[mem], Xt]), np.r_[yp[mem], yt], np.r_[np.ones(n_out, int), np.zeros(n_out, int)]
    probas = [make().fit(Xp[keep[i]], yp[keep[i]]).predict_proba(Xe) for i in range(shadows)]
    shadow_in = np.hstack([keep[:, mem], keep_matrix(rng, shadows, n_out)])
    phi = np.vstack([logit_confidence(pr, ye) for pr in probas])
    train_x = np.vstack([attack_features(pr, ye)[:n_out] for pr in probas])
    train_in = np.concatenate([shadow_in[i, :n_out] for i in range(shadows)])
    out = {}
    for label, (XT, yT) in {"real": (Xp, yp), "null": (Xo, yo)}.items():
        proba = make().fit(XT, yT).predict_proba(Xe)
        out[label] = (roc_auc_score(member, lira_offline(logit_confidence(proba, ye), phi, ~shadow_in)),
                      roc_auc_score(member, shokri_attack(train_x, train_in, attack_features(proba, ye), 0)))
    return out


def test_lira_and_shokri_find_a_memorising_model_and_are_unbiased_under_the_null():
    # null: the target never saw the "members" -> both attacks at chance, averaged over seeds
    runs = [_shadow_simulation(seed, LogisticRegression) for seed in range(6)]
    null = np.mean([r["null"] for r in runs], axis=0)
    assert abs(null[0] - 0.5) < 0.04 and abs(null[1] - 0.5) < 0.04
    # a fully grown tree memorises its rows: both attacks see it
    tree = _shadow_simulation(0, lambda: DecisionTreeClassifier(random_state=0))
    assert tree["real"][0] > 0.65 and tree["real"][1] > 0.65  # pure leaves: p in {0, 1}, so ~ 1 - accuracy / 2
    assert abs(tree["null"][0] - 0.5) < 0.1


# --- end to end: a suite with recipes (shadows, LiRA) and a loaded model --------------------


def test_suite_run_with_shadow_models_and_a_loaded_model(suite_writer, tmp_path):
    import sklearn.pipeline
    import sklearn.preprocessing

    from audit.engine import run_suite
    from audit.models.safe_load import dump_skops

    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    frame["sex"] = np.where(rng.random(n) < 0.5, "female", "male")
    frame["y"] = np.where(frame.a + rng.normal(scale=1.5, size=n) > 0, "good", "bad")
    pipe = sklearn.pipeline.make_pipeline(sklearn.preprocessing.StandardScaler(), LogisticRegression()).fit(frame[["a", "b", "c", "d"]], frame["y"])
    dump_skops(pipe, tmp_path / "user.skops")
    suite = suite_writer(
        frame,
        data={"positive_label": "good", "sensitive": ["sex"], "features": ["a", "b", "c", "d"]},
        models=[{"name": "lr", "recipe": "logistic_regression"},  # fast to retrain (gradient boosting: OpenMP, slow on busy cores)
                {"name": "user", "load": {"path": "user.skops"}}],
        checks=[{"name": "privacy", "params": {"shadow_models": 4, "bootstrap": 50}}],
    )
    outcome = run_suite(suite, log=None)
    v = {m.path: m for m in outcome.results.metrics}
    for name in ("mia_auc", "shadow_mia_auc", "lira_auc", "lira_tpr_at_fpr_1pct"):
        metric = v[f"lr/privacy/{name}"]
        assert metric.value is not None and np.isfinite(metric.value) and metric.ci is not None, name
    assert abs(v["lr/privacy/mia_auc"].value - 0.5) < 0.1  # a 4-feature logistic regression hardly leaks
    assert 0.4 < v["lr/privacy/lira_auc"].value < 0.75  # LiRA sees a little more (see the simulation test)
    assert v["lr/privacy/mia_tpr_at_fpr_01pct"].value is None  # 120 non-members < 1000
    assert v["lr/privacy/attribute_inference_uplift[sex]"].value is not None
    user = v["user/privacy/shadow_mia_auc"]
    assert user.value is None and user.reason.startswith("not applicable: ") and "loaded from a file" in user.reason
    assert v["user/privacy/mia_auc"].value is not None
    record = {(r.model, r.check): r for r in outcome.results.checks}
    assert [r["attack"] for r in record["lr", "privacy"].tables["membership"]] == ["loss threshold", "shadow models (Shokri)", "LiRA offline (4 shadows)"]
