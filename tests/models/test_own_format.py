"""The toolkit's own cache format (JSON + npz, no skops, no pickle) and the batched DeepLIFT SHAP."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.models import own_format


@pytest.fixture(scope="module")
def credit():
    from audit.data.tabular import build_bundle
    from audit.suite import load_suite

    suite = load_suite("suites/credit.yaml")
    return suite, build_bundle(suite)


def _fit(suite, bundle, index):
    from audit.registry import RECIPES

    spec = suite.models[index]
    cls = RECIPES.get(spec.recipe)
    recipe = cls(cls.Params.model_validate(spec.params), 42)
    return recipe, recipe.fit(spec.name, bundle.train, bundle.schema)


@pytest.mark.parametrize("index", [0, 1])
def test_pipelines_round_trip_bit_for_bit_without_skops(credit, index, tmp_path):
    suite, bundle = credit
    recipe, model = _fit(suite, bundle, index)
    recipe.save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz"]
    assert "+sklearn-" in recipe.version
    loaded = recipe.load(model.name, tmp_path, bundle.schema)
    np.testing.assert_array_equal(loaded.predict_proba(bundle.test.X), model.predict_proba(bundle.test.X))
    np.testing.assert_array_equal(loaded.transform(bundle.test.X), model.transform(bundle.test.X))


def test_a_class_outside_the_allow_list_is_refused(tmp_path):
    own_format.dump({"a": np.arange(3), "b": ("x", 1.5, None)}, tmp_path, "m")
    assert own_format.load(tmp_path, "m")["b"] == ("x", 1.5, None)
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["root"] = {"object": "subprocess.Popen", "state": {}}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(own_format.FormatError, match="not an allowed class"):
        own_format.load(tmp_path, "m")
    with pytest.raises(own_format.UnsupportedObject):
        own_format.dump({"f": print}, tmp_path, "n")


def test_another_sklearn_version_is_refused(tmp_path):
    own_format.dump([1, 2], tmp_path, "m")
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["sklearn"] = "0.0"
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(own_format.FormatError, match="scikit-learn 0.0"):
        own_format.load(tmp_path, "m")


def test_batched_deeplift_matches_shaps_deep_explainer(credit):
    """Cross-check against shap's per-row DeepExplainer (float32): values within 1e-5, additivity
    exact in float64, and a row's values do not depend on the rows explained with it (1e-12)."""
    from audit.explain import shap_tab

    suite, bundle = credit
    _, mlp = _fit(suite, bundle, 2)
    Ztr, Z = mlp.transform(bundle.train.X), mlp.transform(bundle.test.X)[:40]
    B = Ztr[shap_tab._sample(len(Ztr), 50, np.random.default_rng(0))]
    layers = shap_tab._sequential_layers(mlp.torch_module)
    assert layers is not None
    values, base, output = shap_tab.deeplift_rescale(layers, Z, B)
    import torch

    ref_values, ref_base, ref_output = shap_tab._shap_deep(mlp.torch_module, Z, B, torch.float32, 0)
    np.testing.assert_allclose(values, ref_values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(base, ref_base, rtol=0, atol=1e-5)
    np.testing.assert_allclose(output, ref_output, rtol=0, atol=1e-5)
    assert np.max(np.abs(base + values.sum(axis=1) - output)) < 1e-10
    alone = np.vstack([shap_tab.deeplift_rescale(layers, Z[i : i + 1], B)[0] for i in range(5)])
    np.testing.assert_allclose(alone, values[:5], rtol=0, atol=1e-12)


def test_thread_plan_rule():
    from audit.threads import choose_threads

    assert choose_threads({}, cores=2).threads == 1
    assert choose_threads({}, cores=16).threads == 8
    assert choose_threads({}, cores=8).threads == 4
    assert choose_threads({"OMP_NUM_THREADS": "3"}, cores=16).threads == 3
    assert choose_threads({"AUDIT_THREADS": "2", "OMP_NUM_THREADS": "3"}, cores=16).reason == "AUDIT_THREADS"
