"""The source documents' credit-scoring MLP: Dense 32-16-1, ReLU, Adam, binary cross-entropy.

The network sees the shared tabular preprocessor's output. It is saved as a safetensors state
dict plus the preprocessor in skops, so neither needs pickle to load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.errors import ModelError
from audit.models.base import ModelAdapter, Recipe, RecipeParams
from audit.models.preprocess import encoded_feature_sources, make_preprocessor
from audit.models.safe_load import dump_skops, load_safetensors, load_skops


def build_mlp(n_inputs: int, hidden: list[int]) -> Any:
    import torch.nn as nn

    layers: list[Any] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class TorchTabularModel(ModelAdapter):
    """A torch module giving one logit for the positive class, behind a fitted preprocessor."""

    kind = "mlp"

    def __init__(self, name: str, schema: Schema, preprocessor: Any, module: Any) -> None:
        super().__init__(name, schema.classes)
        if len(schema.classes) != 2:
            raise ModelError(f"model '{name}': the credit MLP is a binary classifier; the target has {len(schema.classes)} classes")
        self.schema = schema
        self.preprocessor = preprocessor
        self.torch_module = module.eval()

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(self.preprocessor.transform(X), dtype=np.float32)

    def proba_from_encoded(self, Z: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = self.torch_module(torch.as_tensor(np.asarray(Z, dtype=np.float32))).reshape(-1)
            p = torch.sigmoid(logits).double().numpy()
        return np.column_stack([1.0 - p, p])

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.proba_from_encoded(self.transform(X))

    @property
    def feature_names_out(self) -> list[str]:
        return list(self.feature_sources)

    @property
    def feature_sources(self) -> dict[str, str]:
        return encoded_feature_sources(self.preprocessor, self.schema)


class CreditMLPParams(RecipeParams):
    hidden: list[int] = Field(default_factory=lambda: [32, 16], min_length=1, max_length=8)
    epochs: int = Field(20, ge=1, le=5000)
    batch_size: int = Field(32, ge=1, le=65536)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0)


class CreditMLPRecipe(Recipe):
    Params = CreditMLPParams

    def fit(self, name: str, train: Dataset, schema: Schema) -> TorchTabularModel:
        import torch

        preprocessor = make_preprocessor(schema).fit(train.X, train.y)
        Z = torch.as_tensor(np.asarray(preprocessor.transform(train.X), dtype=np.float32))
        y = torch.as_tensor(train.y, dtype=torch.float32)
        p = self.params
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        module = build_mlp(Z.shape[1], p.hidden)
        optimiser = torch.optim.Adam(module.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        module.train()
        for _ in range(p.epochs):
            order = torch.randperm(len(y), generator=generator)
            for start in range(0, len(y), p.batch_size):
                batch = order[start : start + p.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(module(Z[batch]).reshape(-1), y[batch])
                loss.backward()
                optimiser.step()
        return TorchTabularModel(name, schema, preprocessor, module)

    def save(self, model: TorchTabularModel, folder: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in model.torch_module.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        dump_skops(model.preprocessor, folder / "preprocessor.skops")
        (folder / "network.json").write_text(json.dumps({"hidden": self.params.hidden}))

    def load(self, name: str, folder: Path, schema: Schema) -> TorchTabularModel:
        key = f"model '{name}'"
        preprocessor = load_skops(folder / "preprocessor.skops", key=key)
        state = load_safetensors(folder / "model.safetensors", key=key)
        n_inputs = len(encoded_feature_sources(preprocessor, schema))
        module = build_mlp(n_inputs, self.params.hidden)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"{key}: the state dict does not fit Dense {self.params.hidden}-1 on {n_inputs} inputs: {exc}") from None
        model = TorchTabularModel(name, schema, preprocessor, module)
        model.artefact = folder
        return model
