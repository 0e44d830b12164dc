"""The user's own ``torch.nn.Module`` class, rebuilt from a safetensors state dict (needs trust).

``load.module: "package.module:Class"`` names the class; ``load.module_params`` are its keyword
arguments. Importing the class runs the user's code, so the suite must say ``trust: true`` (the
schema refuses ``module`` without it). The import looks in the suite file's folder first (it is
put at the front of ``sys.path`` for the import only), so a ``mynet.py`` next to the suite is
found as ``mynet:Net``; an installed package is found as usual.

The weights are loaded strictly (every key of the module, no other key). What the module sees:

* tabular: the float32 matrix of the features in ``schema.features`` order; every feature must
  be numeric (the preprocessing is not part of a state dict: export it with the network as ONNX,
  or encode the columns in the data);
* image: the (N, C, H, W) float32 pixels.

It returns class logits, or one logit for a binary task (``[0, l]`` gives the same softmax).
A module that ends in a softmax (rows in [0, 1] summing to 1 on the probe rows) is accepted:
its output is read through ``log`` so that the adapter's ``torch_module`` still gives logits, which
the gradient attacks and Captum need.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from audit.data.base import DataBundle, Schema
from audit.errors import ModelError
from audit.models.base import ModelAdapter
from audit.models.onnx_model import numeric_matrix, probe_rows
from audit.models.safe_load import load_safetensors


class TorchUserModel(ModelAdapter):
    """A user's torch module giving class logits, on numeric feature rows or NCHW images."""

    def __init__(self, name: str, schema: Schema, module: Any, batch_size: int = 1024) -> None:
        super().__init__(name, schema.classes)
        self.schema = schema
        self.modality = schema.modality
        # "mlp" picks SHAP's DeepExplainer, which reads one logit per row; wider outputs get "other"
        # (SHAP over ``proba_from_encoded``); Captum and the gradient attacks use torch_module either way
        self.kind = "cnn" if schema.modality == "image" else "mlp"
        self.torch_module = module.eval()
        self.batch_size = batch_size
        self.training_info: dict[str, Any] = {}

    def transform(self, X: Any) -> np.ndarray:
        """Raw rows -> the float32 input of the module (numeric features, or the pixels)."""
        if self.modality == "tabular":
            return numeric_matrix(X, self.schema)
        return np.require(np.asarray(X, dtype=np.float32), requirements=["C", "W"])

    def proba_from_encoded(self, Z: np.ndarray) -> np.ndarray:
        import torch

        from audit.attacks.gradient import class_logits

        Z = np.require(np.asarray(Z, dtype=np.float32), requirements=["C", "W"])
        out = np.zeros((len(Z), len(self.classes)), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(Z), self.batch_size):
                logits = class_logits(self.torch_module(torch.from_numpy(Z[start : start + self.batch_size])))
                out[start : start + len(logits)] = torch.softmax(logits.double(), dim=1).numpy()
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.proba_from_encoded(self.transform(X))

    @property
    def feature_names_out(self) -> list[str]:
        return list(self.schema.features) if self.modality == "tabular" else []


@contextmanager
def _suite_folder_first(folder: Path) -> Iterator[None]:
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with suppress(ValueError):  # the user's code removed it itself
            sys.path.remove(entry)


def import_module_class(spec: str, folder: Path, key: str) -> Any:
    """The class named 'package.module:Class' (runs the module's code: callers need trust)."""
    import torch

    module_name, _, attr = spec.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    try:
        with _suite_folder_first(folder):
            module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module failed to import (or raised while importing)
        raise ModelError(
            f"{key}.module: cannot import '{module_name}' ({exc.__class__.__name__}: {exc}); "
            f"the suite's folder ({folder}) is searched first, then the installed packages"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ModelError(f"{key}.module: '{module_name}' has no '{attr}'")
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise ModelError(f"{key}.module: '{spec}' is not a torch.nn.Module class (got {type(target).__name__})")
    return target


def build_user_module(spec: str, params: dict[str, Any], state_path: Path, folder: Path, key: str) -> Any:
    """The user's module built with ``params``, its weights loaded strictly, in eval mode."""
    cls = import_module_class(spec, folder, key)
    try:
        module = cls(**params)
    except Exception as exc:
        raise ModelError(
            f"{key}.module_params: {cls.__name__}(**{params}) failed ({exc.__class__.__name__}: {exc})"
        ) from None
    state = load_safetensors(state_path, key=f"{key}.path")
    expected = set(module.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_shown(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_shown(unexpected)}")
        raise ModelError(
            f"{key}.path: the state dict in '{state_path.name}' does not fit {cls.__name__}: {'; '.join(parts)}"
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # shape mismatches
        raise ModelError(
            f"{key}.path: the state dict in '{state_path.name}' does not fit {cls.__name__}: {exc}"
        ) from None
    return module.eval()


def load_torch_user_model(
    name: str, spec: Any, state_path: Path, folder: Path, bundle: DataBundle, key: str
) -> TorchUserModel:
    """The adapter for ``load: {path: x.safetensors, module: ..., trust: true}``."""
    schema = bundle.schema
    if not spec.trust:  # the schema refuses this already; kept for adapters built in Python
        raise ModelError(f"{key}.module: importing '{spec.module}' runs your code; set trust: true to allow it")
    if schema.modality == "text":
        raise ModelError(
            f"{key}.module: a torch module on text needs its tokenizer; save it with save_pretrained and use load.huggingface"
        )
    if schema.modality == "tabular":
        categorical = [f for f in schema.features if f not in schema.numeric]
        if categorical:
            raise ModelError(
                f"{key}.module: a torch module gets the numeric feature matrix, but the features {categorical[:8]} are categorical; "
                "export the preprocessing with the network (ONNX) or encode those columns in the data"
            )
    module = build_user_module(spec.module, dict(spec.module_params), state_path, folder, key)
    model = TorchUserModel(name, schema, module)
    probe = probe_rows(bundle)
    if probe is not None:
        import torch

        try:
            with torch.no_grad():
                out = module(torch.from_numpy(model.transform(probe)))
        except Exception as exc:
            raise ModelError(
                f"{key}.module: {type(module).__name__} cannot score the suite's {schema.modality} rows ({exc.__class__.__name__}: {exc})"
            ) from None
        width = 1 if out.ndim == 1 else int(out.shape[-1])
        n_classes = len(schema.classes)
        if out.ndim > 2 or width not in (n_classes, 1) or (width == 1 and n_classes != 2):
            raise ModelError(
                f"{key}.module: {type(module).__name__} returns shape {tuple(out.shape)}; expected (rows, {n_classes}) class logits"
                + (" or (rows, 1)" if n_classes == 2 else "")
            )
        if schema.modality == "tabular" and width > 1:
            model.kind = "other"
        scores = out.double().numpy()
        if (
            width > 1
            and (scores >= 0).all()
            and (scores <= 1).all()
            and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
        ):
            model.torch_module = _log_of(module)
            model.training_info = {"outputs": "probabilities (read through log)"}
    return model


def _log_of(module: Any) -> Any:
    """A module giving log-probabilities (valid logits) from one that gives probabilities."""
    import torch

    class LogProbabilities(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return torch.log(self.inner(x).clamp_min(torch.finfo(torch.float32).tiny))

    return LogProbabilities(module).eval()


def _shown(keys: list[str]) -> str:
    return ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
