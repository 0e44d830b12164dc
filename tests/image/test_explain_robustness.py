"""Faithfulness of attributions and behaviour of the attacks on a small CNN trained in the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.data.tabular import build_bundle
from audit.modalities.image.explain import ImageExplainParams, attributions, delete_pixels, deletion_order
from audit.modalities.image.robustness import PIXELS, ImageRobustnessParams, area_under, gradient_attack, random_search
from audit.suite import parse_suite


def _suite(checks: list) -> object:
    return parse_suite({"version": 1, "name": "d", "data": {"modality": "image", "builtin": "digits"},
                        "models": [{"name": "cnn", "recipe": "digits_cnn"}], "checks": checks})


@pytest.fixture(scope="module")
def trained():  # noqa: ANN201
    from audit.models.cnn import DigitsCNNRecipe

    bundle = build_bundle(_suite(["performance"]))
    model = DigitsCNNRecipe(DigitsCNNRecipe.Params(epochs=6), seed=0).fit("cnn", bundle.train, bundle.schema)
    return bundle, model


def _deletion_curve(model, X: np.ndarray, y: np.ndarray, order: np.ndarray, steps: int = 16) -> list[float]:  # noqa: ANN001
    fractions = np.linspace(0.0, 1.0, steps + 1)
    return [float(model.predict_proba(delete_pixels(X, order, int(round(f * 64))))[np.arange(len(y)), y].mean()) for f in fractions]


def test_ig_deletion_curve_falls_faster_than_random(trained) -> None:  # noqa: ANN001
    bundle, model = trained
    X, y = bundle.test.X[:120], bundle.test.y[:120]
    assert (model.predict(X) == y).mean() > 0.9
    attr, delta = attributions(model, X, y, "ig", ImageExplainParams(ig_steps=32))
    assert attr.shape == X.shape and np.abs(delta).mean() < 0.1
    ig = _deletion_curve(model, X, y, deletion_order(attr))
    random = _deletion_curve(model, X, y, np.argsort(np.random.default_rng(0).random((len(X), 64)), axis=1))
    fractions = np.linspace(0.0, 1.0, 17).tolist()
    assert ig[0] == pytest.approx(random[0])  # nothing deleted yet
    assert ig[4] < random[4] - 0.3  # a quarter of the pixels gone
    assert area_under(fractions, ig) < area_under(fractions, random) - 0.2


def test_delete_pixels_known_answer() -> None:
    X = np.arange(2 * 4, dtype=np.float32).reshape(2, 1, 2, 2) + 1
    order = np.array([[3, 0, 1, 2], [1, 2, 3, 0]])
    out = delete_pixels(X, order, 2)
    np.testing.assert_array_equal(out[:, 0], [[[0, 2], [3, 0]], [[5, 0], [0, 8]]])
    np.testing.assert_array_equal(deletion_order(np.array([[[[0.1, 0.5], [-1.0, 0.2]]]])), [[1, 3, 0, 2]])


def test_pgd_stays_in_budget_and_beats_fgsm(trained) -> None:  # noqa: ANN001
    bundle, model = trained
    X, y = bundle.test.X[:150], bundle.test.y[:150]
    p = ImageRobustnessParams(pgd_steps=10)
    acc = {}
    for attack in ("fgsm", "pgd"):
        for eps in (0.05, 0.1, 0.2):
            adv = gradient_attack(model, X, y, attack, eps, p, seed=0)
            assert PIXELS.violations(adv, X, eps) == [] and adv.min() >= 0.0 and adv.max() <= 1.0
            acc[(attack, eps)] = (model.predict(adv) == y).mean()
    assert acc[("pgd", 0.05)] > acc[("pgd", 0.1)] > acc[("pgd", 0.2)]  # separate runs: not nested by construction
    assert acc[("pgd", 0.1)] <= acc[("fgsm", 0.1)] + 0.02
    again = gradient_attack(model, X, y, "pgd", 0.1, p, seed=0)
    np.testing.assert_array_equal(again, gradient_attack(model, X, y, "pgd", 0.1, p, seed=0))  # seeded random start
    assert not np.array_equal(again, gradient_attack(model, X, y, "pgd", 0.1, p, seed=1))


def test_attacks_on_the_pixel_logreg_match_the_exact_linear_answer() -> None:
    """A multiclass linear model over the [0, 1] box: image x is breakable at eps iff for some class
    j the box-and-ball maximum of logit_j - logit_y, reached pixel by pixel at
    clip(x + eps * sign(w_j - w_y), 0, 1), is positive. No attack may break more (that would be an
    invalid input); FGSM, whose one step goes to exactly that vertex for the runner-up class, and
    PGD with a clean start and a random one, break all but a few of them."""
    from audit.models.image_baseline import PixelLogRegParams, PixelLogRegRecipe

    bundle = build_bundle(_suite(["performance"]))
    model = PixelLogRegRecipe(PixelLogRegParams(), seed=0).fit("logreg", bundle.train, bundle.schema)
    layer = [m for m in model.torch_module.modules() if hasattr(m, "weight")][0]
    W, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
    X, y = np.asarray(bundle.test.X[:200], dtype=np.float32), bundle.test.y[:200]
    flat = X.reshape(len(X), -1).astype(np.float64)
    correct = model.predict(X) == y
    p = ImageRobustnessParams(pgd_steps=20, pgd_restarts=2)
    for eps in (0.05, 0.1, 0.2):
        breakable = np.zeros(len(X), dtype=bool)
        for j in range(W.shape[0]):
            d = W[j] - W[y]  # (n, 64): the direction raising logit_j - logit_y
            vertex = np.clip(flat + eps * np.sign(d), 0.0, 1.0)
            breakable |= (y != j) & ((d * vertex).sum(axis=1) + b[j] - b[y] > 0)
        breakable &= correct
        for attack in ("fgsm", "pgd"):
            adv = gradient_attack(model, X, y, attack, eps, p, seed=0)
            broken = correct & (model.predict(adv) != y)
            assert not (broken & ~breakable).any(), (attack, eps)
            assert (breakable & ~broken).sum() <= max(2, 0.05 * breakable.sum()), (attack, eps, breakable.sum(), broken.sum())
        if eps == 0.1:
            assert 0.2 * correct.sum() < breakable.sum() < correct.sum()  # the test has teeth


def test_random_search_flips_within_the_ball(trained) -> None:  # noqa: ANN001
    bundle, model = trained
    X, y = bundle.test.X[:60], bundle.test.y[:60]
    adv = random_search(model, X, y, 0.4, 30, np.random.default_rng(0))
    assert np.abs(adv - X).max() <= 0.4 + 1e-6
    flipped = model.predict(adv) != y
    assert flipped.any()
    unchanged = ~flipped & (model.predict(X) == y)
    np.testing.assert_array_equal(adv[unchanged], X[unchanged])  # only successful tries are kept


def test_checks_fall_back_for_models_without_gradients(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from audit.engine import Context
    from audit.models.image_baseline import PixelLogRegModel
    from audit.registry import CHECKS

    suite = _suite([{"name": "robustness", "params": {"epsilons": [0.1, 0.3], "n_samples": 40, "random_trials": 5, "bootstrap": 0}},
                    {"name": "explain", "params": {"n_samples": 20, "n_show": 4}}])
    bundle = build_bundle(suite)
    X = bundle.train.X.reshape(len(bundle.train), -1)
    model = PixelLogRegModel("tree", bundle.schema, DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, bundle.train.y))
    assert model.torch_module is None and model.kind == "other"
    ctx = Context(suite, bundle, {"tree": model}, 0, tmp_path, lambda m: None)
    robust = CHECKS.resolve("robustness", "image")(CHECKS.resolve("robustness", "image").Params.model_validate(suite.checks[0].params)).run(ctx, model)
    paths = {m.metric + (f"[{m.group}]" if m.group else ""): m for m in robust.metrics}
    assert {"robust_accuracy[random@0.1]", "robust_accuracy[random@0.3]", "robust_accuracy_auc[random]"} <= set(paths)
    assert "random-sign search" in robust.warnings[0] and "recorded as null" in robust.warnings[0]
    reason = "not applicable: tree has no gradients (gradient attacks need a torch model)"
    for path in ("robust_accuracy[pgd@0.1]", "attack_success_rate[fgsm@0.3]", "robust_accuracy_auc[pgd]"):
        assert paths[path].value is None and paths[path].reason == reason  # recorded, not silently dropped
    assert paths["robust_accuracy[random@0.3]"].value <= paths["clean_accuracy"].value
    explain = CHECKS.resolve("explain", "image")(CHECKS.resolve("explain", "image").Params.model_validate(suite.checks[1].params)).run(ctx, model)
    assert {m.group for m in explain.metrics if m.metric == "deletion_auc"} == {"occlusion", "random"}
    assert "only Occlusion ran" in explain.warnings[0]
    assert (tmp_path / "artefacts" / "tree" / "explain" / "attributions.png").is_file()  # under the pillar name
