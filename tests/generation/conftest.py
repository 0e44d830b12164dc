"""Fixtures for the generation tests: tiny GPT-2 models trained in seconds and a Context over a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audit.data.base import DataBundle, Dataset, Schema


def _tiny_lm(documents: list[str], seed: int = 0, canaries: list[dict[str, Any]] | None = None, **params: Any) -> Any:
    """A GPT-2 trained by the recipe's own training function (default: 2 layers, 64 hidden)."""
    from audit.models.gpt2 import GPT2Model, GPT2Params, train_gpt2

    settings = {"n_layer": 2, "n_embd": 64, "n_head": 2, "n_positions": 48, "vocab_size": 400, "epochs": 1, "batch_size": 16, **params}
    module, tokenizer, _ = train_gpt2(documents, GPT2Params(**settings), seed, canaries)
    return GPT2Model("lm", module, tokenizer, settings["n_positions"], canaries)


def _corpus_context(tmp_path: Path, train: list[str], test: list[str], *, ood: list[str] | None = None, models: dict[str, Any] | None = None,
                   topic: list[str] | None = None, seed: int = 0) -> Any:
    """A Context over a corpus bundle (no suite: the checks' defaults for shipped files apply)."""
    from audit.context import Context

    def dataset(name: str, texts: list[str], slices: list[str] | None = None) -> Dataset:
        sens = pd.DataFrame({"topic": slices}) if slices is not None else pd.DataFrame(index=range(len(texts)))
        return Dataset(name, list(texts), np.zeros(len(texts), dtype=np.int64), sens)

    schema = Schema(target="", classes=(), features=("text",), numeric=(), categorical=(), sensitive=("topic",) if topic else (), modality="generation")
    bundle = DataBundle(schema=schema, train=dataset("train", train), test=dataset("test", test, topic), frame=pd.DataFrame(), source="test", data_hash="x",
                        extra={"out_of_domain": dataset("out_of_domain", ood)} if ood is not None else {})
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return Context(None, bundle, models or {}, seed, run_dir, lambda message: None)


@pytest.fixture(scope="session")
def tweets() -> pd.DataFrame:
    from audit.data.text import load_tweets

    frame, _ = load_tweets(labels=["negative", "neutral", "positive"])
    return frame


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models train and score faster on one thread, above all on a shared machine (OpenMP spin-waits)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lm():
    """``tiny_lm(documents, seed=0, canaries=None, **gpt2_params)`` -> a trained tiny GPT2Model."""
    return _tiny_lm


@pytest.fixture(scope="session")
def corpus_context():
    """``corpus_context(tmp_path, train, test, ood=None, models=None, topic=None)`` -> a Context over a corpus."""
    return _corpus_context
