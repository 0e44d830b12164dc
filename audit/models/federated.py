"""Federated training of the credit MLP with FedAvg (McMahan et al. 2017), audited next to the central model.

The rows of each value of ``clients_column`` (a feature or a sensitive column) are one client's
private data; clients with fewer than ``min_client_rows`` train rows are merged into one client
named ``other``. Each of ``rounds`` rounds samples ``client_fraction`` of the clients (seeded, at
least one); each sampled client starts from the global weights and trains ``local_epochs`` on its
own rows only, with a fresh Adam optimiser of the central recipe's settings; the server replaces
the global weights by the clients' weights averaged with their train-row counts as weights.

The network, the adapter and the saved format (safetensors + skops) are the central recipe's
(:mod:`audit.models.torch_mlp`). With one client, one round and ``local_epochs = E`` the result
is the central model trained for ``E`` epochs, bit for bit: same initialisation, same seeded
batch order, same optimiser.

The feature encoder is fitted *federatedly*, from per-client summaries a server can aggregate
(no row leaves its client):

* one-hot categories: the union of the clients' category sets (equal to a central fit);
* categorical imputation (most frequent): the category with the largest summed per-client count
  (equal to a central fit);
* numeric imputation: the non-missing-count weighted mean of the clients' medians (a median
  does not decompose over clients; equal to a central fit only when no value is missing);
* standardisation: pooled mean and variance from per-client counts, means and sums of squared
  deviations of the imputed values (Chan et al.'s parallel update; equal to a central fit up to
  rounding).

The encoder is a fitted instance of the shared preprocessor (``make_preprocessor``): its sklearn
skeleton is fitted once to obtain the fitted object, then every learned statistic is replaced by
the aggregate above, so saving, loading and ``feature_sources`` work unchanged.

Flower (``flwr``) is not used: it pulls ~30 packages (grpcio, protobuf 6 over the project's 7,
fastapi, cryptography, SQLAlchemy, ...) and its simulation needs ray, for an algorithm that is a
weighted mean of state dicts here; the clients are simulated in process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from audit.data.base import Dataset, Schema
from audit.errors import ModelError
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.models.preprocess import make_preprocessor
from audit.models.torch_mlp import CreditMLPParams, CreditMLPRecipe, TorchTabularModel, build_mlp

FEDERATED_FILE = "federated.json"  # the clients and schedule of a FedAvg run, saved next to the weights
OTHER_CLIENT = "other"
MISSING_CLIENT = "(missing)"  # client of rows whose clients_column value is missing (as for sensitive groups)


class FederatedMLPParams(CreditMLPParams):
    """The credit MLP's parameters (less ``epochs`` and ``dp``) plus the FedAvg schedule."""

    clients_column: str = Field(..., min_length=1, description="Feature or sensitive column whose values define the clients.")
    rounds: int = Field(20, ge=1, le=5000, description="Communication rounds.")
    local_epochs: int = Field(1, ge=1, le=1000, description="Epochs each selected client trains on its own rows per round.")
    client_fraction: float = Field(1.0, gt=0, le=1, description="Share of the clients sampled (seeded) each round; at least one.")
    min_client_rows: int = Field(20, ge=1, description="Clients with fewer train rows are merged into one client 'other'.")
    # replaced by rounds x local_epochs; excluded from the dumped parameters (artefact hash, results.json)
    epochs: None = Field(None, exclude=True)
    dp: None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_central_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("epochs") is not None:
                raise ValueError("'epochs' does not apply to FedAvg: training runs 'rounds' rounds of 'local_epochs' epochs per selected client")
            if data.get("dp") is not None:
                raise ValueError("'dp' (DP-SGD) is not implemented for FedAvg; train the central credit_mlp with dp instead")
        return data

    @field_validator("clients_column")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


def client_labels(data: Dataset, column: str) -> pd.Series:
    """Each row's client: the value of ``column`` as text (sensitive columns first, then features)."""
    if column in data.sensitive.columns:
        values = data.sensitive[column]
    elif isinstance(data.X, pd.DataFrame) and column in data.X.columns:
        values = data.X[column]
    else:
        known = sorted({*map(str, data.sensitive.columns), *(map(str, data.X.columns) if isinstance(data.X, pd.DataFrame) else [])})
        raise ModelError(f"clients_column: '{column}' is not a feature or sensitive column of the data; columns: {', '.join(known)}")
    values = values.reset_index(drop=True)
    labels = values.astype(object).where(values.notna(), MISSING_CLIENT)
    return labels.map(lambda v: format(v, "g") if isinstance(v, float) else str(v)).rename(column)


def assign_clients(labels: pd.Series, min_rows: int) -> dict[str, np.ndarray]:
    """Client name -> its row positions (ascending), small clients merged into ``other``; sorted by name."""
    counts = labels.value_counts()
    small = set(counts.index[counts < min_rows])
    merged = labels.where(~labels.isin(small), OTHER_CLIENT) if small else labels
    clients = {str(name): np.flatnonzero((merged == name).to_numpy()) for name in sorted(merged.unique(), key=str)}
    return clients


def fedavg(states: list[dict[str, Any]], counts: list[int] | np.ndarray) -> dict[str, Any]:
    """The count-weighted mean of ``states`` (torch state dicts of one architecture), in float64, cast back."""
    import torch

    counts = np.asarray(counts, dtype=np.float64)
    if len(states) == 0 or len(states) != len(counts) or (counts <= 0).any():
        raise ValueError("fedavg: needs one positive row count per client state")
    weights = counts / counts.sum()
    out: dict[str, Any] = {}
    for key, first in states[0].items():
        total = torch.zeros_like(first, dtype=torch.float64)
        for state, weight in zip(states, weights, strict=True):
            total += state[key].to(torch.float64) * float(weight)
        out[key] = total.to(first.dtype)
    return out


def federated_preprocessor(schema: Schema, X: pd.DataFrame, clients: dict[str, np.ndarray]) -> Any:
    """The shared preprocessor with statistics aggregated from per-client summaries (module docstring)."""
    from sklearn.utils.validation import check_is_fitted

    pre = make_preprocessor(schema).fit(X)  # the fitted skeleton; every statistic is replaced below
    check_is_fitted(pre)
    parts = {name: (transformer, columns) for name, transformer, columns in pre.transformers_}
    parts_of = [X.iloc[rows] for rows in clients.values()]
    if "num" in parts:
        pipeline, columns = parts["num"]
        columns = list(columns)
        fill = np.empty(len(columns))
        for j, column in enumerate(columns):
            present = [(int(part[column].notna().sum()), part[column].median()) for part in parts_of]
            present = [(n, m) for n, m in present if n > 0]
            fill[j] = sum(n * m for n, m in present) / sum(n for n, _ in present)
        pipeline.named_steps["impute"].statistics_ = fill
        n_total, mean, m2 = 0, np.zeros(len(columns)), np.zeros(len(columns))
        for part in parts_of:  # Chan et al.: merge (count, mean, M2) of each client
            values = part[columns].to_numpy(dtype=np.float64)
            values = np.where(np.isnan(values), fill, values)
            n_b, mean_b = len(values), values.mean(axis=0)
            m2_b = ((values - mean_b) ** 2).sum(axis=0)
            delta = mean_b - mean
            n = n_total + n_b
            mean = mean + delta * n_b / n
            m2 = m2 + m2_b + delta**2 * n_total * n_b / n
            n_total = n
        scaler = pipeline.named_steps["scale"]
        var = m2 / n_total
        scaler.mean_, scaler.var_ = mean, var
        scaler.scale_ = np.where(var > 10 * np.finfo(np.float64).eps, np.sqrt(var), 1.0)
        scaler.n_samples_seen_ = n_total
    if "cat" in parts:
        pipeline, columns = parts["cat"]
        imputer, onehot = pipeline.named_steps["impute"], pipeline.named_steps["onehot"]
        modes, categories = [], []
        for column in columns:
            counts: dict[str, int] = {}
            for part in parts_of:
                for value, n in part[column].dropna().value_counts().items():
                    counts[value] = counts.get(value, 0) + int(n)
            # most frequent, ties to the smallest value (as SimpleImputer); missing rows count for it after imputation
            mode = min(counts, key=lambda v: (-counts[v], v)) if counts else np.nan
            modes.append(mode)
            categories.append(np.array(sorted(counts), dtype=object))
        imputer.statistics_ = np.array(modes, dtype=object)
        for j, (fitted, union) in enumerate(zip(onehot.categories_, categories, strict=True)):
            if list(fitted) != list(union):  # the union of client sets is the central set; guard the skeleton
                raise ModelError(f"federated encoder: categories of '{columns[j]}' differ from the union of the clients' sets")
    return pre


class FederatedMLPRecipe(CreditMLPRecipe):
    """The credit MLP trained with FedAvg over clients defined by a column of the data."""

    Params = FederatedMLPParams
    params: FederatedMLPParams

    def fit(self, name: str, train: Dataset, schema: Schema) -> TorchTabularModel:
        import torch

        p = self.params
        if not isinstance(train.X, pd.DataFrame):
            raise ModelError(f"model '{name}': FedAvg needs tabular rows")
        clients = assign_clients(client_labels(train, p.clients_column), p.min_client_rows)
        preprocessor = federated_preprocessor(schema, train.X, clients)
        Z = torch.as_tensor(np.asarray(preprocessor.transform(train.X), dtype=np.float32))
        y = torch.tensor(np.asarray(train.y), dtype=torch.float32)  # a copy: the dataset's labels may be read-only
        names = list(clients)
        rows = {c: torch.as_tensor(clients[c], dtype=torch.long) for c in names}
        # one batch-order generator for the whole run, drawn in (round, client) order: with one
        # client and one round it is consumed exactly as central training consumes it
        generator = torch.Generator().manual_seed(self.seed)
        sampler = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        module = build_mlp(Z.shape[1], p.hidden)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        per_round = max(1, int(round(p.client_fraction * len(names))))
        for _ in range(p.rounds):
            picked = names if per_round == len(names) else [names[i] for i in sorted(sampler.choice(len(names), per_round, replace=False))]
            global_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            states, counts = [], []
            for client in picked:
                module.load_state_dict(global_state)
                optimiser = torch.optim.Adam(module.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
                local_train(module, optimiser, loss_fn, Z[rows[client]], y[rows[client]], p.local_epochs, p.batch_size, generator)
                states.append({k: v.detach().clone() for k, v in module.state_dict().items()})
                counts.append(len(rows[client]))
            module.load_state_dict(fedavg(states, counts))
        model = TorchTabularModel(name, schema, preprocessor, module)
        model.training_info["federated"] = {
            "clients_column": p.clients_column,
            "clients": {c: len(clients[c]) for c in names},
            "rounds": p.rounds,
            "local_epochs": p.local_epochs,
            "client_fraction": p.client_fraction,
            "clients_per_round": per_round,
            "min_client_rows": p.min_client_rows,
            "aggregation": "fedavg (train-row weighted mean of client weights)",
            "encoder": "federated statistics (pooled mean/variance, union of categories, weighted mean of client medians)",
        }
        return model

    def save(self, model: TorchTabularModel, folder: Path) -> None:
        super().save(model, folder)
        federated = model.training_info.get("federated")
        if federated is not None:
            (folder / FEDERATED_FILE).write_text(json.dumps(federated, sort_keys=True))

    def load(self, name: str, folder: Path, schema: Schema) -> TorchTabularModel:
        model = super().load(name, folder, schema)
        path = folder / FEDERATED_FILE
        if path.is_file():
            model.training_info["federated"] = json.loads(path.read_text())
        return model


def local_train(module: Any, optimiser: Any, loss_fn: Any, Z: Any, y: Any, epochs: int, batch_size: int, generator: Any) -> None:
    """One client's local update: ``epochs`` shuffled passes of mini-batch steps (the central loop)."""
    import torch

    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            optimiser.zero_grad()
            loss_fn(module(Z[batch]).reshape(-1), y[batch]).backward()
            optimiser.step()
    module.eval()
