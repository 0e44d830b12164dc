"""FedAvg training of the credit MLP (recipe ``credit_mlp_fedavg``): known answers.

One client, one round of E local epochs is central training for E epochs, bit for bit; the
aggregation is the row-count weighted mean; a zero learning rate keeps the initialisation; the
federated encoder equals a central fit when no value is missing; a small client whose label
rule differs is served worse, visibly per client in an audited run; a bad clients_column is
named; saved models reload with their federated facts.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from audit.data.base import Dataset, Schema
from audit.errors import ModelError
from audit.models.federated import FederatedMLPParams, FederatedMLPRecipe, assign_clients, client_labels, fedavg
from audit.models.preprocess import make_preprocessor
from audit.models.torch_mlp import CreditMLPParams, CreditMLPRecipe
from audit.registry import RECIPES

if "credit_mlp_fedavg" not in RECIPES:  # until audit/registry.py registers it
    RECIPES.add("credit_mlp_fedavg", "audit.models.federated:FederatedMLPRecipe")

NUMERIC = ("x0", "x1", "x2")
SCHEMA = Schema(target="y", classes=(0, 1), features=(*NUMERIC, "c", "site"), numeric=NUMERIC, categorical=("c", "site"), sensitive=("region",))


def frame(n: int = 400, seed: int = 0) -> Dataset:
    """x0..x2 numeric, c categorical; 'site' a feature with sites s0 (big), s1, s2 (tiny); 'region' sensitive."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.normal(size=n) for c in NUMERIC})
    X["c"] = rng.choice(["a", "b", "c"], n)
    X["site"] = rng.choice(["s0", "s1", "s2"], n, p=[0.6, 0.37, 0.03])
    X["const"] = "all"
    y = (X["x0"] - 0.5 * X["x1"] + (X["c"] == "a") + rng.normal(scale=0.5, size=n) > 0.3).astype(int).to_numpy()
    sensitive = pd.DataFrame({"region": np.where(np.arange(n) % 4 == 0, "north", "south")})
    return Dataset("train", X, y, sensitive)


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.torch_module.state_dict().items()}


def test_one_client_one_round_is_central_training_exactly():
    train = frame()
    schema = Schema(**{**SCHEMA.__dict__, "features": (*SCHEMA.features, "const"), "categorical": ("c", "site", "const")})
    mlp = {"hidden": [8, 4], "batch_size": 16, "learning_rate": 0.01}
    central = CreditMLPRecipe(CreditMLPParams(**mlp, epochs=3), seed=7).fit("central", train, schema)
    fed = FederatedMLPRecipe(FederatedMLPParams(**mlp, clients_column="const", rounds=1, local_epochs=3), seed=7).fit("fed", train, schema)
    assert fed.training_info["federated"]["clients"] == {"all": 400}
    np.testing.assert_array_equal(fed.transform(train.X), central.transform(train.X))  # no missing values: encoder = central fit
    a, b = state(central), state(fed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_fedavg_is_the_row_count_weighted_mean():
    s1 = {"w": torch.tensor([[0.0, 4.0]]), "b": torch.tensor([1.0])}
    s2 = {"w": torch.tensor([[8.0, 0.0]]), "b": torch.tensor([-3.0])}
    avg = fedavg([s1, s2], [1, 3])
    torch.testing.assert_close(avg["w"], torch.tensor([[6.0, 1.0]]))
    torch.testing.assert_close(avg["b"], torch.tensor([-2.0]))
    assert avg["w"].dtype == torch.float32
    with pytest.raises(ValueError, match="positive row count"):
        fedavg([s1, s2], [1, 0])


def test_zero_learning_rate_keeps_the_initialisation():
    # Adam with lr 0 moves nothing; the learning_rate field refuses 0, so bypass validation
    params = FederatedMLPParams(hidden=[8], clients_column="region", rounds=3, local_epochs=2).model_copy(update={"learning_rate": 0.0})
    fed = FederatedMLPRecipe(params, seed=3).fit("fed", frame(), SCHEMA)
    assert fed.training_info["federated"]["clients"] == {"north": 100, "south": 300}
    torch.manual_seed(3)
    from audit.models.torch_mlp import build_mlp

    init = build_mlp(fed.transform(frame().X[:1]).shape[1], [8]).state_dict()
    assert all(torch.equal(init[k], v) for k, v in state(fed).items())


def test_clients_from_a_feature_merge_small_ones_and_training_repeats(tmp_path):
    train = frame()
    labels = client_labels(train, "site")
    counts = labels.value_counts()
    clients = assign_clients(labels, min_rows=20)
    assert counts["s2"] < 20 and set(clients) == {"other", "s0", "s1"}
    assert {c: len(r) for c, r in clients.items()} == {"other": counts["s2"], "s0": counts["s0"], "s1": counts["s1"]}
    params = FederatedMLPParams(hidden=[8], clients_column="site", rounds=4, client_fraction=0.5, learning_rate=0.01)
    recipe = FederatedMLPRecipe(params, seed=1)
    one, two = recipe.fit("a", train, SCHEMA), recipe.fit("b", train, SCHEMA)
    assert all(torch.equal(state(one)[k], v) for k, v in state(two).items())
    info = one.training_info["federated"]
    assert info["clients_per_round"] == 2 and info["rounds"] == 4 and info["client_fraction"] == 0.5
    recipe.save(one, tmp_path)
    loaded = recipe.load("a", tmp_path, SCHEMA)
    assert loaded.training_info == one.training_info
    np.testing.assert_array_equal(loaded.predict_proba(train.X), one.predict_proba(train.X))


def test_encoder_statistics_are_aggregated_from_clients():
    train = frame()
    X = train.X.copy()
    X.loc[X.index % 7 == 0, "x0"] = np.nan
    data = Dataset("train", X, train.y, train.sensitive)
    params = FederatedMLPParams(hidden=[4], clients_column="region", rounds=1)
    pre = FederatedMLPRecipe(params, seed=0).fit("fed", data, SCHEMA).preprocessor
    central = make_preprocessor(SCHEMA).fit(X)
    num, cen = pre.named_transformers_["num"], central.named_transformers_["num"]
    # numeric fill: the non-missing-count weighted mean of the clients' medians (a median does not aggregate)
    north, south = X[data.sensitive["region"] == "north"], X[data.sensitive["region"] == "south"]
    fill = [(north[c].notna().sum() * north[c].median() + south[c].notna().sum() * south[c].median()) / X[c].notna().sum() for c in NUMERIC]
    np.testing.assert_allclose(num.named_steps["impute"].statistics_, fill, rtol=1e-12)
    assert not np.allclose(fill, cen.named_steps["impute"].statistics_)
    filled = X[list(NUMERIC)].fillna(dict(zip(NUMERIC, fill, strict=True)))
    np.testing.assert_allclose(num.named_steps["scale"].mean_, filled.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(num.named_steps["scale"].var_, filled.var(ddof=0).to_numpy(), rtol=1e-12)
    for fitted, expected in zip(pre.named_transformers_["cat"].named_steps["onehot"].categories_, central.named_transformers_["cat"].named_steps["onehot"].categories_, strict=True):
        assert list(fitted) == list(expected)


def test_a_clients_column_that_is_not_a_column_is_named():
    params = FederatedMLPParams(hidden=[4], clients_column="branch")
    with pytest.raises(ModelError, match=r"clients_column: 'branch' is not a feature or sensitive column.*region"):
        FederatedMLPRecipe(params, seed=0).fit("fed", frame(), SCHEMA)


def test_central_only_parameters_are_refused():
    with pytest.raises(ValidationError, match="'epochs' does not apply to FedAvg"):
        FederatedMLPParams(clients_column="site", epochs=5)
    with pytest.raises(ValidationError, match="'dp'.*not implemented for FedAvg"):
        FederatedMLPParams(clients_column="site", dp={"epsilon": 1.0})
    with pytest.raises(ValidationError):
        FederatedMLPParams(clients_column="site", client_fraction=0)
    dumped = FederatedMLPParams(clients_column="site").model_dump()
    assert "epochs" not in dumped and "dp" not in dumped and dumped["rounds"] == 20


def planted(n_a: int = 900, n_b: int = 150, seed: int = 0) -> pd.DataFrame:
    """Client A: y = [x0 + 0.5 x1 > 0]; small client B: the opposite rule on x0. 'client' is not a feature."""
    rng = np.random.default_rng(seed)
    client = np.array(["A"] * n_a + ["B"] * n_b)
    x0, x1, x2 = rng.normal(size=(3, n_a + n_b))
    rule_a = x0 + 0.5 * x1 > 0
    rule_b = -x0 + 0.5 * x1 > 0
    y = np.where(client == "A", rule_a, rule_b).astype(int)
    return pd.DataFrame({"x0": x0, "x1": x1, "x2": x2, "client": client, "y": y})


def test_a_small_client_with_another_label_rule_is_served_worse_in_an_audit(suite_writer):
    from audit.engine import run_suite

    mlp = {"hidden": [16], "batch_size": 32, "learning_rate": 0.01}
    path = suite_writer(
        planted(),
        data={"sensitive": ["client"], "features": ["x0", "x1", "x2"]},
        models=[
            {"name": "fed", "recipe": "credit_mlp_fedavg", "params": {**mlp, "clients_column": "client", "rounds": 10, "local_epochs": 1}},
            {"name": "central", "recipe": "credit_mlp", "params": {**mlp, "epochs": 10}},
        ],
        checks=[{"name": "performance", "params": {"bootstrap": 50}}, {"name": "fairness", "params": {"bootstrap": 50}}],
    )
    outcome = run_suite(path, log=None)
    results = outcome.results
    acc = {(m, c): results.metric(f"{m}/performance/accuracy[client={c}]").value for m in ("fed", "central") for c in "AB"}
    assert acc["fed", "B"] < acc["fed", "A"] - 0.2 and acc["central", "B"] < acc["central", "A"] - 0.2
    saved = json.loads((outcome.run_dir / "results.json").read_text())["models"]
    federated = saved["fed"]["federated"]
    assert set(federated["clients"]) == {"A", "B"} and federated["rounds"] == 10 and federated["clients_column"] == "client"
    assert "federated" not in saved["central"]
