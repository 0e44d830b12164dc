"""The source documents' digit CNN: two conv + max-pool blocks, a dense layer, softmax.

Conv(3x3, same padding) -> ReLU -> MaxPool(2), twice, then Dense -> ReLU -> Dense(classes);
trained with Adam on cross-entropy. The module returns logits; ``predict_proba`` applies the
softmax. Weights are saved as a safetensors state dict (no pickle), the architecture follows from
the recipe parameters and the image shape in the data schema. With the ``dp`` parameter the CNN is
trained with differential privacy (DP-SGD through Opacus, as the credit MLP: see
``audit.models.torch_mlp.train_private``); the budget spent is kept in ``training_info["dp"]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.errors import ModelError
from audit.models.base import ModelAdapter, Recipe, RecipeParams
from audit.models.safe_load import load_safetensors
from audit.models.torch_mlp import DPParams, load_dp_info, save_dp_info, train_private


def build_cnn(image_shape: tuple[int, int, int], n_classes: int, channels: list[int], dense: int) -> Any:
    """Conv-ReLU-MaxPool blocks (one per entry of ``channels``), then a dense layer and the logits."""
    import torch.nn as nn

    c, h, w = image_shape
    layers: list[Any] = []
    for width in channels:
        layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = width, h // 2, w // 2
    if h < 1 or w < 1:
        raise ModelError(f"{len(channels)} max-pool blocks shrink a {image_shape[1]}x{image_shape[2]} image to nothing; use fewer channels entries")
    layers += [nn.Flatten(), nn.Linear(c * h * w, dense), nn.ReLU(), nn.Linear(dense, n_classes)]
    return nn.Sequential(*layers)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` CPU threads, then restore the previous setting.

    Small images make tiny kernels: on a shared machine extra threads mostly wait for each
    other (measured: training the digits CNN took 6 s on one thread, 107 s on two busy cores).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_proba(module: Any, X: np.ndarray, batch_size: int = 1024, threads: int = 1) -> np.ndarray:
    """Softmax of a logits module over float32 images, in batches, without gradients."""
    import torch

    X = np.asarray(X, dtype=np.float32)
    out = []
    with torch.no_grad(), torch_threads(threads):
        for start in range(0, len(X), batch_size):
            out.append(torch.softmax(module(torch.from_numpy(X[start : start + batch_size])), dim=1).double().numpy())
    return np.concatenate(out) if out else np.empty((0, 0))


class TorchImageModel(ModelAdapter):
    """A torch module mapping (n, C, H, W) pixels in [0, 1] to class logits."""

    modality = "image"
    kind = "cnn"

    def __init__(self, name: str, schema: Schema, module: Any, threads: int = 1) -> None:
        super().__init__(name, schema.classes)
        self.schema = schema
        self.torch_module = module.eval()
        self.threads = threads
        # how it was trained, for the run's model manifest (``dp``: the privacy budget spent)
        self.training_info: dict[str, Any] = {}

    def transform(self, X: Any) -> np.ndarray:
        """Pixels are the module's input: the transform only fixes the dtype."""
        return np.asarray(X, dtype=np.float32)

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = torch_proba(self.torch_module, self.transform(X), threads=self.threads)
        return proba.reshape(len(X), len(self.classes))


class DigitsCNNParams(RecipeParams):
    channels: list[int] = Field(default_factory=lambda: [16, 32], min_length=1, max_length=4, description="Filters of each conv + max-pool block.")
    dense: int = Field(64, ge=1, le=4096, description="Units of the dense layer before the output.")
    epochs: int = Field(20, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=65536)
    learning_rate: float = Field(1e-3, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    threads: int = Field(1, ge=1, le=256, description="CPU threads for training and prediction (small images run fastest on one).")
    dp: DPParams | None = Field(None, description="Train with differential privacy (DP-SGD, needs the 'privacy' extra).")


class DigitsCNNRecipe(Recipe):
    Params = DigitsCNNParams
    modality = "image"

    def _module(self, schema: Schema) -> Any:
        shape = schema.info("image_shape")
        if shape is None or len(shape) != 3:
            raise ModelError("the CNN recipe needs image data (data.modality: image)")
        return build_cnn(tuple(shape), len(schema.classes), self.params.channels, self.params.dense)

    def fit(self, name: str, train: Dataset, schema: Schema) -> TorchImageModel:
        import torch

        p = self.params
        X = torch.as_tensor(np.asarray(train.X, dtype=np.float32))
        y = torch.as_tensor(train.y, dtype=torch.long)
        generator = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            module = self._module(schema)
        optimiser = torch.optim.Adam(module.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
        loss_fn = torch.nn.CrossEntropyLoss()
        if p.dp is not None:
            with torch_threads(p.threads):
                state, dp_info = train_private(
                    module, optimiser, lambda m, xb, yb: loss_fn(m(xb), yb), X, y,
                    dp=p.dp, epochs=p.epochs, batch_size=p.batch_size, seed=self.seed,
                )
            module = self._module(schema)  # the plain network, free of Opacus' hooks
            module.load_state_dict(state)
            model = TorchImageModel(name, schema, module, p.threads)
            model.training_info["dp"] = dp_info
            return model
        module.train()
        with torch_threads(p.threads):
            for _ in range(p.epochs):
                order = torch.randperm(len(y), generator=generator)
                for start in range(0, len(y), p.batch_size):
                    batch = order[start : start + p.batch_size]
                    optimiser.zero_grad()
                    loss_fn(module(X[batch]), y[batch]).backward()
                    optimiser.step()
        return TorchImageModel(name, schema, module, p.threads)

    def save(self, model: TorchImageModel, folder: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in model.torch_module.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"))
        info = {"channels": self.params.channels, "dense": self.params.dense, "image_shape": list(model.schema.info("image_shape")), "classes": [str(c) for c in model.classes]}
        (folder / "network.json").write_text(json.dumps(info))
        save_dp_info(model, folder)

    def load(self, name: str, folder: Path, schema: Schema) -> TorchImageModel:
        key = f"model '{name}'"
        state = load_safetensors(folder / "model.safetensors", key=key)
        module = self._module(schema)
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"{key}: the state dict does not fit the CNN (channels {self.params.channels}, dense {self.params.dense}) on {schema.info('image_shape')} images with {len(schema.classes)} classes: {exc}") from None
        model = TorchImageModel(name, schema, module, self.params.threads)
        model.training_info.update(load_dp_info(folder))
        model.artefact = folder
        return model
