"""Text recipes: training, cached save/load round trips without pickle, class order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.data.base import Dataset, Schema

SCHEMA = Schema(target="label", classes=("negative", "positive"), features=("text",), numeric=(), categorical=(), modality="text")


def _toy(n: int = 64, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    fillers = ["the flight", "my phone", "this song", "the game", "our crew", "the car"]
    texts, y = [], []
    for i in range(n):
        label = i % 2
        word = ["awful", "great"][label]
        texts.append(f"{fillers[rng.integers(len(fillers))]} was {word} today")
        y.append(label)
    return Dataset("train", texts, np.asarray(y))


def test_tfidf_logreg_learns_and_round_trips_through_its_artefact(tmp_path: Path) -> None:
    from audit.models.text_models import TfidfLogRegParams, TfidfLogRegRecipe

    recipe = TfidfLogRegRecipe(TfidfLogRegParams(min_df=1), seed=0)
    train = _toy()
    model = recipe.fit("tfidf", train, SCHEMA)
    texts = ["the song was great today", "the car was awful today"]
    proba = model.predict_proba(texts)
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.predict(texts)) == [1, 0]
    recipe.save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skops", "vectorizer.json"]
    loaded = recipe.load("tfidf", tmp_path, SCHEMA)
    assert np.array_equal(loaded.predict_proba(texts), proba)
    assert loaded.modality == "text" and loaded.kind == "linear" and "great" in loaded.feature_names_out


def _tiny_bert(folder: Path) -> Path:
    """A 1-layer, 16-wide BERT with the packaged MiniLM tokenizer, saved as a local base model."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from audit.models.text_models import packaged_minilm

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm()), local_files_only=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


def test_minilm_recipe_fine_tunes_a_local_base_and_round_trips(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from audit.models.text_models import MiniLMClassifierRecipe, MiniLMParams

    base = _tiny_bert(tmp_path / "base")
    params = MiniLMParams(base_model=str(base), max_train_examples=64, epochs=8, batch_size=16, learning_rate=5e-3, max_length=16, warmup_ratio=0.0)
    recipe = MiniLMClassifierRecipe(params, seed=0)
    model = recipe.fit("minilm", _toy(), SCHEMA)
    held_out = _toy(40, seed=1)
    accuracy = float((model.predict(held_out.X) == held_out.y).mean())
    assert accuracy >= 0.9  # 'great' vs 'awful' is learnable by a 1-layer BERT in 32 steps
    out = tmp_path / "artefact"
    out.mkdir()
    recipe.save(model, out)
    names = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "audit_text_model.json"} <= names
    assert not any(n.endswith((".bin", ".pkl", ".pt")) for n in names)
    loaded = recipe.load("minilm", out, SCHEMA)
    assert np.allclose(loaded.predict_proba(held_out.X), model.predict_proba(held_out.X), atol=1e-6)
    assert loaded.kind == "transformer" and loaded.max_length == 16


def test_transformer_batches_keep_row_order(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from audit.models.text_models import TransformerTextModel

    base = _tiny_bert(tmp_path / "base")
    module = AutoModelForSequenceClassification.from_pretrained(str(base), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    model = TransformerTextModel("m", ("negative", "positive"), module, tokenizer, max_length=32, batch_size=3)
    texts = ["a", "a much longer text than the others here", "mid length text", "b", "another fairly long one here"]
    together = model.predict_proba(texts)
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_minilm_base_model_must_be_a_local_folder(tmp_path: Path) -> None:
    from audit.errors import ModelError
    from audit.models.text_models import MiniLMClassifierRecipe, MiniLMParams

    recipe = MiniLMClassifierRecipe(MiniLMParams(base_model=str(tmp_path)), seed=0)
    with pytest.raises(ModelError, match="is not a local model folder"):
        recipe.fit("m", _toy(), SCHEMA)
