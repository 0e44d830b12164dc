"""Differentially private training (the ``dp`` parameter of the credit MLP and the digits CNN):
the budget spent stays within the target and close to it, the saved network loads and predicts
without Opacus, a huge budget costs (almost) nothing, a small one costs accuracy, runs repeat."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from audit.data.base import DataBundle, Dataset, Schema
from audit.errors import MissingExtra, ModelError
from audit.models.torch_mlp import CreditMLPParams, CreditMLPRecipe, DPParams

needs_opacus = pytest.mark.skipif(
    importlib.util.find_spec("opacus") is None,
    reason="opacus is not installed (pip install 'audit[privacy]'); differentially private training cannot run",
)

FEATURES = ("x0", "x1", "x2", "x3", "x4", "c")
NUMERIC = ("x0", "x1", "x2", "x3", "x4")
SCHEMA = Schema(target="y", classes=(0, 1), features=FEATURES, numeric=NUMERIC, categorical=("c",))
FAST = {"hidden": [16], "epochs": 3, "batch_size": 32, "learning_rate": 0.01}  # 29 batches of ~32 per epoch


def credit_like(n: int = 1200, seed: int = 0) -> tuple[Dataset, Dataset]:
    """A logistic signal on x0, x1, x2 and c == 'a'; x3, x4 are noise. 900 train, 300 test rows."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.normal(size=n) for c in NUMERIC})
    X["c"] = rng.choice(["a", "b", "c"], n)
    logit = 1.5 * X["x0"] - 1.0 * X["x1"] + 0.8 * X["x2"] + (X["c"] == "a") * 1.0 - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return Dataset("train", X.iloc[:900].reset_index(drop=True), y[:900]), Dataset("test", X.iloc[900:].reset_index(drop=True), y[900:])


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, Dataset]:
    return credit_like()


def fit(train: Dataset, dp: dict | None, seed: int = 0):
    return CreditMLPRecipe(CreditMLPParams(**FAST, dp=dp), seed=seed).fit("mlp", train, SCHEMA)


def accuracy(model, test: Dataset) -> float:
    return float((model.predict(test.X) == test.y).mean())


@pytest.fixture(scope="module")
def plain_accuracy(data) -> float:
    train, test = data
    return accuracy(fit(train, None), test)


def test_dp_params_are_strict():
    assert DPParams(epsilon=1.0).model_dump() == {"epsilon": 1.0, "delta": 1e-5, "max_grad_norm": 1.0}
    for bad in ({"epsilon": 0}, {"epsilon": 1, "delta": 1}, {"epsilon": 1, "delta": 0}, {"epsilon": 1, "max_grad_norm": 0}, {"epsilon": 1, "sigma": 2}, {}, {"epsilon": float("inf")}, {"epsilon": 1, "max_grad_norm": float("inf")}):
        with pytest.raises(ValidationError):
            CreditMLPParams(dp=bad)


def test_without_opacus_dp_training_names_the_extra(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "opacus", None)  # ``import opacus`` now raises ImportError
    with pytest.raises(MissingExtra, match=r"opacus.*pip install 'audit\[privacy\]'"):
        fit(data[0], {"epsilon": 1.0})


@needs_opacus
def test_epsilon_one_is_spent_within_budget_and_the_saved_network_needs_no_opacus(data, tmp_path):
    train, test = data
    model = fit(train, {"epsilon": 1.0})
    dp = model.training_info["dp"]
    assert 0.5 < dp["epsilon_spent"] <= 1.0 + 1e-6
    assert dp["epsilon_target"] == 1.0 and dp["delta"] == 1e-5 and dp["max_grad_norm"] == 1.0
    assert dp["noise_multiplier"] > 0.5 and dp["steps"] == 3 * 29  # 3 epochs at sample rate 1/29
    assert not any(type(m).__module__.startswith("opacus") for m in model.torch_module.modules())
    recipe = CreditMLPRecipe(CreditMLPParams(**FAST, dp={"epsilon": 1.0}), seed=0)
    recipe.save(model, tmp_path)
    assert json.loads((tmp_path / "dp.json").read_text()) == dp
    expected = model.predict_proba(test.X)
    test.X.to_csv(tmp_path / "rows.csv", index=False)
    script = f"""
import sys
class NoOpacus:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "opacus":
            raise ImportError("opacus is blocked in this process")
sys.meta_path.insert(0, NoOpacus())
import numpy as np, pandas as pd
from pathlib import Path
from audit.data.base import Schema
from audit.models.torch_mlp import CreditMLPParams, CreditMLPRecipe
schema = Schema(target="y", classes=(0, 1), features={FEATURES!r}, numeric={NUMERIC!r}, categorical=("c",))
recipe = CreditMLPRecipe(CreditMLPParams(**{FAST!r}, dp={{"epsilon": 1.0}}), seed=0)
folder = Path({str(tmp_path)!r})
model = recipe.load("mlp", folder, schema)
np.save(folder / "proba.npy", model.predict_proba(pd.read_csv(folder / "rows.csv")))
assert "opacus" not in sys.modules
print(model.training_info["dp"]["epsilon_spent"])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) == dp["epsilon_spent"]
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), expected, rtol=1e-6, atol=1e-7)


@needs_opacus
def test_huge_epsilon_costs_almost_nothing_and_small_epsilon_costs_accuracy(data, plain_accuracy):
    train, test = data
    loose = fit(train, {"epsilon": 1e6})
    tight = fit(train, {"epsilon": 0.5})
    assert loose.training_info["dp"]["epsilon_spent"] <= 1e6 and loose.training_info["dp"]["noise_multiplier"] < 0.05
    assert 0.25 < tight.training_info["dp"]["epsilon_spent"] <= 0.5 + 1e-6
    acc_loose, acc_tight = accuracy(loose, test), accuracy(tight, test)
    assert abs(acc_loose - plain_accuracy) <= 0.05  # clipping alone barely matters here
    assert acc_tight <= plain_accuracy and acc_tight <= acc_loose  # the planted cost of privacy


@needs_opacus
def test_dp_training_repeats_and_the_budget_is_part_of_the_cache_key(data):
    from audit.models.build import artefact_key, build_model
    from audit.suite import ModelSpec

    train, test = data
    bundle = DataBundle(SCHEMA, train, test, pd.DataFrame(), "synthetic", "0")
    spec = ModelSpec(name="mlp", recipe="credit_mlp", params={**FAST, "dp": {"epsilon": 1.0}})
    first, info = build_model(spec, 0, None, bundle, 0)
    again, info_again = build_model(spec, 0, None, bundle, 0)
    assert info["cached"] is False and info_again["cached"] is True
    assert again.training_info == first.training_info  # read back from the artefact's dp.json
    assert info["params"]["dp"] == {"epsilon": 1.0, "delta": 1e-5, "max_grad_norm": 1.0}
    twin = fit(train, {"epsilon": 1.0})  # same seed, trained afresh: same weights, same budget
    np.testing.assert_array_equal(twin.predict_proba(test.X), first.predict_proba(test.X))
    assert twin.training_info == first.training_info
    keys = {
        artefact_key(s, CreditMLPParams.model_validate(s.params), bundle, 0)
        for s in (spec, spec.model_copy(update={"params": {**FAST, "dp": {"epsilon": 0.5}}}), spec.model_copy(update={"params": FAST}))
    }
    assert len(keys) == 3


@needs_opacus
def test_an_unreachable_budget_is_a_model_error(data):
    with pytest.raises(ModelError, match=r"dp: no noise level reaches epsilon 0.01 at delta 1e-05 over 3 epochs of 29 batches"):
        fit(data[0], {"epsilon": 0.01})


@needs_opacus
def test_digits_cnn_trains_privately_and_reloads_its_budget(tmp_path):
    from sklearn.datasets import load_digits

    from audit.models.cnn import DigitsCNNParams, DigitsCNNRecipe

    digits = load_digits()
    X, y = (digits.images / 16.0).astype(np.float32)[:, None], digits.target
    schema = Schema(target="digit", classes=tuple(range(10)), features=(), numeric=(), categorical=(), modality="image", extra=(("image_shape", (1, 8, 8)),))
    train, test = Dataset("train", X[:1200], y[:1200]), Dataset("test", X[1200:], y[1200:])
    recipe = DigitsCNNRecipe(DigitsCNNParams(channels=[8], dense=32, epochs=3, learning_rate=0.01, dp={"epsilon": 2.0}), seed=0)
    model = recipe.fit("cnn", train, schema)
    dp = model.training_info["dp"]
    assert 1.0 < dp["epsilon_spent"] <= 2.0 + 1e-6
    assert (model.predict(test.X) == test.y).mean() > 0.3  # learns despite the noise (measured 0.64; chance 0.1)
    recipe.save(model, tmp_path)
    loaded = recipe.load("cnn", tmp_path, schema)
    assert loaded.training_info == {"dp": dp}
    np.testing.assert_allclose(loaded.predict_proba(test.X), model.predict_proba(test.X), rtol=1e-6, atol=1e-7)
