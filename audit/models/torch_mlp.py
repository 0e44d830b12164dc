"""The source documents' credit-scoring MLP: Dense 32-16-1, ReLU, Adam, binary cross-entropy.

The network sees the shared tabular preprocessor's output. It is saved as a safetensors state
dict plus the fitted preprocessor in the toolkit's own format (``audit.models.own_format``),
so neither needs pickle (nor skops) to load.

With the ``dp`` parameter the network is trained with differential privacy (DP-SGD through
Opacus, see ``train_private``, shared with the digits CNN): per-example gradients clipped to
``max_grad_norm``, Gaussian noise calibrated so that the whole training run spends at most
``epsilon`` at ``delta`` (RDP accountant, Poisson sampling of each batch). The budget actually
spent is recorded on the model (``training_info["dp"]``) and saved next to the weights; the saved
network is the plain module, so loading and predicting never import Opacus.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.errors import MissingExtra, ModelError
from audit.models.base import ModelAdapter, Recipe, RecipeParams
from audit.models.preprocess import cache_version, encoded_feature_sources, load_fitted, make_preprocessor, save_fitted
from audit.models.safe_load import load_safetensors


def build_mlp(n_inputs: int, hidden: list[int]) -> Any:
    import torch.nn as nn

    layers: list[Any] = []
    width = n_inputs
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


DP_FILE = "dp.json"  # the privacy budget of a DP-trained network, saved next to its weights


class DPParams(RecipeParams):
    """Differentially private training (DP-SGD): the (epsilon, delta) budget of the whole run."""

    epsilon: float = Field(..., gt=0, allow_inf_nan=False, description="Privacy budget of the whole training run (smaller: more private, noisier).")
    delta: float = Field(1e-5, gt=0, lt=1, description="Probability the epsilon guarantee fails; keep it well below 1 / training rows.")
    max_grad_norm: float = Field(1.0, gt=0, allow_inf_nan=False, description="Per-example gradients are clipped to this L2 norm before noise is added.")


def train_private(
    module: Any,
    optimiser: Any,
    step_loss: Callable[[Any, Any, Any], Any],
    X: Any,
    y: Any,
    *,
    dp: DPParams,
    epochs: int,
    batch_size: int,
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train ``module`` with DP-SGD (Opacus); returns (state dict of the plain module, dp info).

    ``step_loss(module, xb, yb)`` is the mean loss of one batch. Batches are Poisson-sampled
    with rate ``batch_size / len(y)`` (``epochs`` passes); the noise multiplier is the smallest
    that keeps the RDP accountant's epsilon at ``delta`` within ``dp.epsilon`` after all steps.
    Sampling and noise use torch generators seeded by ``seed`` (Opacus' ``secure_mode`` is off:
    reproducible runs, not a cryptographically secure noise source).
    """
    try:
        from opacus import PrivacyEngine
    except ImportError:
        raise MissingExtra("opacus", "privacy", "Differentially private training (the model parameter 'dp')") from None
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
        warnings.filterwarnings("ignore", message=".*Optimal order is the (largest|smallest) alpha.*")
        engine = PrivacyEngine(accountant="rdp", secure_mode=False)
        try:
            private, dp_optimiser, dp_loader = engine.make_private_with_epsilon(
                module=module, optimizer=optimiser, data_loader=loader, target_epsilon=dp.epsilon, target_delta=dp.delta,
                epochs=epochs, max_grad_norm=dp.max_grad_norm, poisson_sampling=True,
                noise_generator=torch.Generator().manual_seed(seed + 1),
            )
        except ValueError as exc:  # "The privacy budget is too low.": no noise level reaches it
            raise ModelError(
                f"dp: no noise level reaches epsilon {dp.epsilon:g} at delta {dp.delta:g} over {epochs} epochs of "
                f"{len(loader)} batches (Opacus: {exc}); raise epsilon or delta, or train fewer epochs"
            ) from None
        private.train()
        steps = 0
        for _ in range(epochs):
            for xb, yb in dp_loader:
                if len(yb) == 0:  # Poisson sampling can draw an empty batch: no step, no budget spent
                    continue
                dp_optimiser.zero_grad()
                step_loss(private, xb, yb).backward()
                dp_optimiser.step()
                steps += 1
        spent = float(engine.get_epsilon(dp.delta))
    state = {k: v.detach().clone() for k, v in private._module.state_dict().items()}
    private.remove_hooks()
    info = {
        "epsilon_target": dp.epsilon,
        "epsilon_spent": spent,
        "delta": dp.delta,
        "max_grad_norm": dp.max_grad_norm,
        "noise_multiplier": float(dp_optimiser.noise_multiplier),
        "sample_rate": 1 / len(loader),
        "steps": steps,
        "accountant": "rdp",
    }
    return state, info


def save_dp_info(model: ModelAdapter, folder: Path) -> None:
    dp = getattr(model, "training_info", {}).get("dp")
    if dp is not None:
        (folder / DP_FILE).write_text(json.dumps(dp, sort_keys=True))


def load_dp_info(folder: Path) -> dict[str, Any]:
    path = folder / DP_FILE
    return {"dp": json.loads(path.read_text())} if path.is_file() else {}


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
        # how it was trained, for the run's model manifest (``dp``: the privacy budget spent)
        self.training_info: dict[str, Any] = {}

    def transform(self, X: Any) -> np.ndarray:
        from audit.models.fast_encode import encode

        return encode(self, X).astype(np.float32)  # compiled replay of the preprocessor (equal to sklearn's)

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
    dp: DPParams | None = Field(None, description="Train with differential privacy (DP-SGD, needs the 'privacy' extra).")


class CreditMLPRecipe(Recipe):
    Params = CreditMLPParams
    version = cache_version("2")  # 2: the preprocessor in the own format instead of skops

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
        if p.dp is not None:
            state, dp_info = train_private(
                module, optimiser, lambda m, xb, yb: loss_fn(m(xb).reshape(-1), yb), Z, y,
                dp=p.dp, epochs=p.epochs, batch_size=p.batch_size, seed=self.seed,
            )
            module = build_mlp(Z.shape[1], p.hidden)  # the plain network, free of Opacus' hooks
            module.load_state_dict(state)
            model = TorchTabularModel(name, schema, preprocessor, module)
            model.training_info["dp"] = dp_info
            return model
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
        save_fitted(model.preprocessor, folder, "preprocessor")
        (folder / "network.json").write_text(json.dumps({"hidden": self.params.hidden}))
        save_dp_info(model, folder)

    def load(self, name: str, folder: Path, schema: Schema) -> TorchTabularModel:
        key = f"model '{name}'"
        preprocessor = load_fitted(folder, "preprocessor", key=key)
        state = load_safetensors(folder / "model.safetensors", key=key)
        n_inputs = len(encoded_feature_sources(preprocessor, schema))
        module = build_mlp(n_inputs, self.params.hidden)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"{key}: the state dict does not fit Dense {self.params.hidden}-1 on {n_inputs} inputs: {exc}") from None
        model = TorchTabularModel(name, schema, preprocessor, module)
        model.training_info.update(load_dp_info(folder))
        model.artefact = folder
        return model
