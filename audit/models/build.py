"""Turn the suite's model entries into adapters: train (with a content-hash cache) or load.

A trained artefact is keyed by the hash of the training data, the recipe (name, version,
validated parameters) and the seed; a second run with the same key loads it instead of training,
after ``audit.models.cache`` has verified the entry's sealed manifest.
"""

from __future__ import annotations

import hashlib
import json
import time
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
    key = f"{suite.source or '<suite>'}: models[{index}].load"
    path = suite.resolve(spec.load.path)
    if not path.exists():
        raise ModelError(f"{key}.path: model file '{path}' not found")
    fmt = detect_format(path, spec.load.format, f"{key}.format")
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    info: dict[str, Any] = {"load": str(path), "format": fmt, "hash": digest, "cached": False}
    if fmt == "safetensors":
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
        obj = load_skops(path, trust=spec.load.trust, key=key) if fmt == "skops" else load_pickle_like(path, fmt, trust=spec.load.trust, key=key)
        model = _wrap_estimator(spec.name, obj, bundle, key)
    model.artefact = path
    info["kind"] = model.kind
    info["size_bytes"] = path.stat().st_size if path.is_file() else model.size_bytes()
    return model, info


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
