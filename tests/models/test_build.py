"""Model recipes, the content-hash artefact cache, and safe loading of users' model files."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from audit.cli import main
from audit.data.tabular import build_bundle
from audit.errors import ModelError
from audit.models.build import build_model
from audit.suite import load_suite


def frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "blue", "green"], size=n)
    logit = 2 * x + (colour == "red")
    return pd.DataFrame({"x": x, "colour": colour, "y": np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no")})


@pytest.fixture
def suite(suite_writer):
    path = suite_writer(
        frame(),
        data={"positive_label": "yes"},
        models=[
            {"name": "lr", "recipe": "logistic_regression"},
            {"name": "gbm", "recipe": "hist_gradient_boosting", "params": {"max_iter": 20}},
            {"name": "mlp", "recipe": "credit_mlp", "params": {"epochs": 3}},
        ],
    )
    return load_suite(path)


def test_each_recipe_trains_caches_and_reloads_identically(suite):
    bundle = build_bundle(suite)
    for i, spec in enumerate(suite.models):
        first, info1 = build_model(spec, i, suite, bundle, suite.seed)
        second, info2 = build_model(spec, i, suite, bundle, suite.seed)
        assert (info1["cached"], info2["cached"]) == (False, True)
        assert info1["hash"] == info2["hash"]
        np.testing.assert_allclose(first.predict_proba(bundle.test.X), second.predict_proba(bundle.test.X), rtol=0, atol=1e-12)
        proba = second.predict_proba(bundle.test.X)
        assert proba.shape == (len(bundle.test), 2) and np.allclose(proba.sum(axis=1), 1)
        files = {p.name for p in second.artefact.iterdir()}
        assert not {f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))}
        assert files & {"model.skops", "model.safetensors", "model.json"}  # model.json + .npz: the own format (no pickle)


def test_cache_key_changes_with_params_and_seed(suite):
    bundle = build_bundle(suite)
    spec = suite.models[0]
    _, base = build_model(spec, 0, suite, bundle, 0)
    _, other_seed = build_model(spec, 0, suite, bundle, 1)
    _, other_params = build_model(spec.model_copy(update={"params": {"C": 0.5}}), 0, suite, bundle, 0)
    assert len({base["hash"], other_seed["hash"], other_params["hash"]}) == 3


def test_credit_mlp_has_the_documented_architecture(suite):
    bundle = build_bundle(suite)
    model, _ = build_model(suite.models[2], 2, suite, bundle, suite.seed)
    shapes = [tuple(p.shape) for p in model.torch_module.parameters()]
    n_in = len(model.feature_names_out)
    assert shapes == [(32, n_in), (32,), (16, 32), (16,), (1, 16), (1,)]


def _user_model(tmp_path, suite):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from audit.models.preprocess import make_preprocessor

    bundle = build_bundle(suite)
    pipe = make_pipeline(make_preprocessor(bundle.schema), LogisticRegression()).fit(bundle.train.X, [bundle.schema.classes[i] for i in bundle.train.y])
    return pipe, bundle


def _suite_with_load(suite_writer, load: dict):
    return suite_writer(frame(), data={"positive_label": "yes"}, models=[{"name": "user", "load": load}])


def test_user_skops_model_is_audited(tmp_path, suite, suite_writer):
    import skops.io as sio

    pipe, bundle = _user_model(tmp_path, suite)
    sio.dump(pipe, tmp_path / "user.skops")
    path = _suite_with_load(suite_writer, {"path": "user.skops"})
    assert main(["run", str(path), "-q"]) == 0


def test_pickle_is_refused_without_trust_and_loaded_with_it(tmp_path, suite, suite_writer, capsys):
    pipe, _ = _user_model(tmp_path, suite)
    (tmp_path / "user.pkl").write_bytes(pickle.dumps(pipe))
    refused = _suite_with_load(suite_writer, {"path": "user.pkl"})
    assert main(["run", str(refused), "-q"]) == 2
    err = capsys.readouterr().err
    assert "refusing to load 'user.pkl' as pickle: unpickling can run arbitrary code" in err
    assert "Traceback" not in err
    assert not (tmp_path / "reports").exists()  # bad input writes nothing
    trusted = _suite_with_load(suite_writer, {"path": "user.pkl", "trust": True})
    assert main(["run", str(trusted), "-q"]) == 0


def test_file_that_is_not_what_it_claims(tmp_path, suite, suite_writer, capsys):
    (tmp_path / "fake.skops").write_bytes(b"this is not a zip file")
    path = _suite_with_load(suite_writer, {"path": "fake.skops"})
    assert main(["run", str(path), "-q"]) == 2
    assert "is not a valid skops file" in capsys.readouterr().err


def test_untrusted_types_in_skops_are_refused(tmp_path, suite):
    import skops.io as sio

    from audit.models.safe_load import load_skops

    sio.dump({"f": np.float64(1.0), "custom": pd.Timestamp("2020-01-01")}, tmp_path / "odd.skops")
    with pytest.raises(ModelError, match="would construct objects outside the allow-list.*pandas"):
        load_skops(tmp_path / "odd.skops")


def test_user_text_pipeline_in_skops_is_audited(tmp_path, capsys):
    import skops.io as sio
    import yaml
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    good, bad = ["great", "lovely", "fine"], ["awful", "bad", "poor"]
    label = rng.integers(0, 2, 300)
    texts = [f"the flight was {rng.choice(good if y else bad)} today" for y in label]
    frame = pd.DataFrame({"text": texts, "y": np.where(label == 1, "pos", "neg")})
    frame.to_csv(tmp_path / "texts.csv", index=False)
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(frame["text"], frame["y"])
    sio.dump(pipe, tmp_path / "text.skops")
    suite = {
        "version": 1, "name": "usertext",
        "data": {"modality": "text", "path": "texts.csv", "text_column": "text", "target": "y", "positive_label": "pos"},
        "models": [{"name": "user", "load": {"path": "text.skops"}}],
        "checks": [{"name": "performance", "params": {"bootstrap": 50}}],
        "gates": ["user/performance/accuracy >= 0.99"],
        "output": {"dir": str(tmp_path / "reports")},
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "suite.yaml"), "-q"]) == 0, capsys.readouterr().err
