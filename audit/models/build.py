"""Turn the suite's model entries into adapters: train (with a content-hash cache) or load.

A trained artefact is keyed by the hash of the training data, the recipe (name, version,
validated parameters) and the seed; a second run with the same key loads it instead of training,
after ``audit.models.cache`` has verified the entry's sealed manifest.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from audit.data.base import DataBundle, take
from audit.errors import ModelError
from audit.models.base import ModelAdapter
from audit.models.cache import entry_folder, load_entry, store_entry
from audit.models.safe_load import detect_format, load_pickle_like, load_skops
from audit.models.tabular import SklearnModel
from audit.registry import RECIPES
from audit.suite import ModelSpec, Suite


def artefact_key(spec: ModelSpec, params: Any, bundle: DataBundle, seed: int) -> str:
    recipe = RECIPES.get(spec.recipe)
    payload = {
        "recipe": spec.recipe,
        "version": recipe.version,
        "params": params.model_dump(mode="json"),
        "seed": seed,
        "train": bundle.train.fingerprint(),
        "classes": [str(c) for c in bundle.schema.classes],
        "numeric": bundle.schema.numeric,
        "categorical": bundle.schema.categorical,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def build_model(spec: ModelSpec, index: int, suite: Suite, bundle: DataBundle, seed: int) -> tuple[ModelAdapter, dict[str, Any]]:
    """One adapter plus its manifest entry (recipe, hash, whether it came from the cache)."""
    if spec.predictions is not None:
        from audit.models.predictions import load_predictions_model

        return load_predictions_model(spec, index, suite, bundle)
    if spec.source == "memory":
        from audit.models.memory import memory_model

        return memory_model(spec, suite, bundle)
    if spec.load is not None:
        return _load_user_model(spec, index, suite, bundle)
    recipe_cls = RECIPES.get(spec.recipe)
    params = recipe_cls.Params.model_validate(spec.params)
    recipe = recipe_cls(params, seed)
    key = artefact_key(spec, params, bundle, seed)
    folder = entry_folder(spec.recipe, key)
    info: dict[str, Any] = {"recipe": spec.recipe, "params": params.model_dump(mode="json"), "hash": key}
    start = time.perf_counter()
    if folder.exists() or folder.is_symlink():
        model = load_entry(folder, key, spec.recipe, lambda f: recipe.load(spec.name, f, bundle.schema))
        info["cached"] = True
    else:
        try:
            model = recipe.fit(spec.name, bundle.train, bundle.schema)
        except ModelError:
            raise
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"models[{index}] ('{spec.name}'): training with recipe '{spec.recipe}' failed: {exc}") from None
        store_entry(folder, key, spec.recipe, lambda tmp: recipe.save(model, tmp))
        model.artefact = folder
        info["cached"] = False
    info["seconds"] = round(time.perf_counter() - start, 4)
    info["kind"] = model.kind
    info["artefact"] = str(folder.resolve())
    info["size_bytes"] = model.size_bytes()
    info.update(model.training_info)  # e.g. dp: the privacy budget a DP recipe spent
    return model, info


def _load_user_model(spec: ModelSpec, index: int, suite: Suite, bundle: DataBundle) -> tuple[ModelAdapter, dict[str, Any]]:
    """A model the user trained: a file (skops, ONNX, safetensors, trusted pickle) or a Hugging Face folder."""
    key = f"{suite.source or '<suite>'}: models[{index}].load"
    load = spec.load
    if load.huggingface is not None:
        return _load_huggingface(spec, suite, bundle, key)
    path = suite.resolve(load.path)
    if not path.exists():
        raise ModelError(f"{key}.path: model file '{path}' not found")
    fmt = detect_format(path, load.format, f"{key}.format")
    info: dict[str, Any] = {"load": str(path), "format": fmt, "hash": _digest(path), "cached": False}
    if fmt == "onnx":
        from audit.models.onnx_model import load_onnx_model

        if not path.is_file():
            raise ModelError(f"{key}.path: '{path}' is a folder; give the .onnx file")
        model: ModelAdapter = load_onnx_model(spec.name, path, bundle, key)
    elif fmt == "safetensors" and load.module is not None:
        from audit.models.torch_user import load_torch_user_model

        if not path.is_file():
            raise ModelError(f"{key}.path: '{path}' is a folder; give the .safetensors file of the state dict")
        model = load_torch_user_model(spec.name, load, path, suite.base_dir, bundle, key)
        info["module"] = load.module
    elif fmt == "safetensors":
        if path.is_file() and path.name != "model.safetensors":  # recipes read <folder>/model.safetensors
            raise ModelError(
                f"{key}.path: '{path.name}': a safetensors model is read from the folder the recipe saved "
                "(model.safetensors plus its companion files); name the file model.safetensors or give the folder"
            )
        recipe_cls = RECIPES.get(spec.recipe)
        recipe = recipe_cls(recipe_cls.Params.model_validate(spec.params), suite.seed)
        folder = path if path.is_dir() else path.parent
        model = recipe.load(spec.name, folder, bundle.schema)
    else:
        obj = load_skops(path, trust=load.trust, key=key) if fmt == "skops" else load_pickle_like(path, fmt, trust=load.trust, key=key)
        model = _wrap_estimator(spec.name, obj, bundle, key)
    model.artefact = path
    info["kind"] = model.kind
    info["size_bytes"] = path.stat().st_size if path.is_file() else model.size_bytes()
    info.update(model.training_info)
    return model, info


def _load_huggingface(spec: ModelSpec, suite: Suite, bundle: DataBundle, key: str) -> tuple[Any, dict[str, Any]]:
    from audit.models import huggingface as hf

    load = spec.load
    folder = suite.resolve(load.huggingface)
    modality = bundle.schema.modality
    if load.task == "causal-lm":
        if modality != "generation":  # the generation suite (issue 15) will take the model from load_causal_lm
            raise hf.causal_lm_refused(folder, modality=modality, trust=load.trust, key=key)
        model: Any = hf.load_causal_lm(folder, name=spec.name, trust=load.trust, key=key)
        details: dict[str, Any] = {"task": "causal-lm"}
    else:
        hf.read_config(folder, trust=load.trust, key=key)  # a missing folder is reported before the modality
        if modality != "text":
            raise ModelError(f"{key}.huggingface: a Hugging Face sequence classifier reads text; this suite's data are {modality} (data.modality)")
        model, details = hf.load_sequence_classifier(spec.name, folder, bundle.schema.classes, trust=load.trust, key=key)
    model.artefact = folder
    info: dict[str, Any] = {"load": str(folder), "format": "huggingface", "hash": _digest(folder), "cached": False, **details}
    info["kind"] = model.kind
    info["size_bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return model, info


def _digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in name order)."""
    if path.is_file():
        return _file_digest(path)
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(file.relative_to(path).as_posix().encode() + b"\x00" + _file_digest(file).encode())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _wrap_estimator(name: str, obj: Any, bundle: DataBundle, key: str) -> ModelAdapter:
    if isinstance(obj, dict) and {"pre", "model"} <= set(obj):
        return SklearnModel(name, bundle.schema, obj["model"], obj["pre"], kind=_kind_of(obj["model"]))
    if not hasattr(obj, "predict_proba"):
        raise ModelError(f"{key}: the file holds a {type(obj).__name__}, which has no predict_proba")
    modality = bundle.schema.modality
    if modality == "image":  # flattens the pixels; exact gradients when the estimator is linear
        from audit.models.image_baseline import PixelLogRegModel

        model: ModelAdapter = PixelLogRegModel(name, bundle.schema, obj)
    else:  # tabular rows, or raw texts for a text pipeline (e.g. TfidfVectorizer + classifier)
        model = SklearnModel(name, bundle.schema, obj, None, kind=_kind_of(obj))
        model.modality = modality
    try:
        model.predict_proba(take(bundle.test.X, np.arange(min(5, len(bundle.test)))))
    except Exception as exc:
        raise ModelError(f"{key}: the model cannot score the suite's {modality} inputs ({exc.__class__.__name__}: {exc})") from None
    return model


def _kind_of(estimator: Any) -> str:
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    name = type(last).__name__.lower()
    if any(k in name for k in ("forest", "boost", "tree")):
        return "tree"
    if any(k in name for k in ("logistic", "linear", "ridge", "sgd")):
        return "linear"
    return "other"
