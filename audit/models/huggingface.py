"""A local Hugging Face model folder (``save_pretrained``): a text classifier, or a causal LM.

``load: {huggingface: FOLDER, task: sequence-classification}`` (the default) loads
``AutoModelForSequenceClassification`` and ``AutoTokenizer`` from the folder and wraps them in
the text adapter (:class:`HuggingFaceTextModel`, a ``TransformerTextModel``), so every text check
works on it: Integrated Gradients, TextAttack, identity-term swaps. The model's labels
(``config.id2label``) are matched to the data's classes by name, case-insensitively; when the
names do not match (e.g. the default ``LABEL_0``, ``LABEL_1``) but their number does, label ``k``
is the data's class ``k``.

``task: causal-lm`` loads ``AutoModelForCausalLM`` (:func:`load_causal_lm`, a
:class:`CausalLanguageModel` with ``generate`` and ``loglikelihood``) for the generation suite
(``data.modality: generation``); with a classification suite it is refused with that explanation.

Safety: nothing is downloaded (``local_files_only``, ``HF_HUB_OFFLINE``). Weights are read from
``model.safetensors`` only; a folder holding only ``pytorch_model.bin`` (a pickle) needs
``trust: true``. A config with ``auto_map`` (custom modelling code shipped with the folder) is
refused unless ``trust: true``, which is what lets transformers run that code
(``trust_remote_code``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import MissingExtra, ModelError
from audit.models.text_models import TransformerTextModel, _offline, _quietly

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")
MAX_TOKENS = 512
CLASSIFIER_HINT = "ForSequenceClassification"
CAUSAL_HINTS = ("ForCausalLM", "LMHeadModel")


def read_config(folder: Path, *, trust: bool, key: str) -> dict[str, Any]:
    """The folder's config.json, after the checks that need no code: present, no unapproved code."""
    if not folder.exists():
        raise ModelError(f"{key}.huggingface: model folder '{folder}' not found")
    if not folder.is_dir():
        raise ModelError(f"{key}.huggingface: '{folder}' is a file; give the folder written by save_pretrained")
    path = folder / "config.json"
    if not path.is_file():
        raise ModelError(f"{key}.huggingface: '{folder}' has no config.json; is it a save_pretrained folder?")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{key}.huggingface: cannot read '{path}' ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{key}.huggingface: '{path}' does not hold a JSON object")
    if config.get("auto_map") and not trust:
        raise ModelError(
            f"{key}.huggingface: the config in '{folder}' names custom modelling code (auto_map: "
            f"{', '.join(sorted(config['auto_map']))}), which would run on loading. Nothing was loaded; "
            "review the code and set load.trust: true to accept"
        )
    return config


def _weights_option(folder: Path, *, trust: bool, key: str) -> bool | None:
    """``use_safetensors`` for from_pretrained: True, or None (pickle allowed) with trust."""
    if any((folder / name).is_file() for name in SAFE_WEIGHTS):
        return True
    if any((folder / name).is_file() for name in PICKLE_WEIGHTS):
        if trust:
            return None
        raise ModelError(
            f"{key}.huggingface: '{folder}' holds its weights as pytorch_model.bin (a pickle, which can run code) "
            "and no model.safetensors. Re-save with save_pretrained(safe_serialization=True), or set load.trust: true"
        )
    raise ModelError(f"{key}.huggingface: '{folder}' holds no weights (model.safetensors)")


def _architectures(config: dict[str, Any]) -> list[str]:
    return [str(a) for a in config.get("architectures") or []]


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise MissingExtra("transformers", "text", "Loading a Hugging Face model folder") from None
    _offline()
    return transformers


def _from_pretrained(loader: Any, folder: Path, what: str, key: str, **kwargs: Any) -> Any:
    try:
        return _quietly(loader.from_pretrained, str(folder), local_files_only=True, **kwargs)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, ... on a bad folder
        raise ModelError(
            f"{key}.huggingface: cannot load the {what} in '{folder}' ({exc.__class__.__name__}: {exc})"
        ) from None


def _tokenizer(folder: Path, *, trust: bool, key: str) -> Any:
    return _from_pretrained(_transformers().AutoTokenizer, folder, "tokenizer", key, trust_remote_code=trust)


def _max_tokens(tokenizer: Any, config: Any) -> int:
    limits = [MAX_TOKENS, int(getattr(config, "max_position_embeddings", MAX_TOKENS) or MAX_TOKENS)]
    if 0 < int(min(tokenizer.model_max_length, 10**9)) < 10**9:  # "unset" is a huge sentinel
        limits.append(int(tokenizer.model_max_length))
    return min(limits)


# -- sequence classification -------------------------------------------------------------------
class HuggingFaceTextModel(TransformerTextModel):
    """A sequence classifier from a folder; its label columns put in the data's class order."""

    def __init__(
        self, name: str, classes: tuple[Any, ...], module: Any, tokenizer: Any, max_length: int, columns: np.ndarray
    ) -> None:
        super().__init__(name, classes, module, tokenizer, max_length)
        self.columns = None if np.array_equal(columns, np.arange(len(columns))) else np.asarray(columns)

    def predict_proba(self, X: Any) -> np.ndarray:
        proba = super().predict_proba(X)
        return proba if self.columns is None else proba[:, self.columns]

    def forward(self, ids: Any, mask: Any) -> Any:
        logits = super().forward(ids, mask)
        return logits if self.columns is None else logits[:, self.columns]


def label_columns(id2label: dict[Any, Any], classes: tuple[Any, ...], key: str) -> tuple[np.ndarray, str]:
    """(model output column of each data class, how they were matched)."""
    labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(len(id2label))]
    folded = [label.strip().lower() for label in labels]
    wanted = [str(c).strip().lower() for c in classes]
    if len(set(folded)) == len(folded) and all(w in folded for w in wanted) and len(labels) == len(classes):
        return np.asarray([folded.index(w) for w in wanted]), "by label name"
    if len(labels) == len(classes):
        return np.arange(len(classes)), "by index"
    raise ModelError(
        f"{key}.huggingface: the model has {len(labels)} labels ({', '.join(labels)}); the data has "
        f"{len(classes)} classes ({', '.join(map(str, classes))}). Labels are matched by name (case-insensitive) "
        "or, when the names differ, by position; neither is possible"
    )


def load_sequence_classifier(
    name: str, folder: Path, classes: tuple[Any, ...], *, trust: bool, key: str
) -> tuple[HuggingFaceTextModel, dict[str, Any]]:
    """The text adapter for a ``save_pretrained`` sequence-classification folder, and facts for the manifest."""
    config = read_config(folder, trust=trust, key=key)
    architectures = _architectures(config)
    if architectures and not any(a.endswith(CLASSIFIER_HINT) for a in architectures):
        hint = (
            "; it is a causal language model: set load.task: causal-lm (for a generation suite)"
            if any(a.endswith(CAUSAL_HINTS) for a in architectures)
            else "; fine-tune a classification head and save it with save_pretrained"
        )
        raise ModelError(
            f"{key}.huggingface: '{folder}' holds a {', '.join(architectures)}, not a sequence classifier{hint}"
        )
    use_safetensors = _weights_option(folder, trust=trust, key=key)
    transformers = _transformers()
    tokenizer = _tokenizer(folder, trust=trust, key=key)
    module, loading = _from_pretrained(
        transformers.AutoModelForSequenceClassification, folder, "sequence classifier", key,
        use_safetensors=use_safetensors, trust_remote_code=trust, output_loading_info=True,
    )  # fmt: skip
    missing = list(loading.get("missing_keys") or [])
    if missing:
        raise ModelError(
            f"{key}.huggingface: the weights in '{folder}' lack {', '.join(missing[:6])}"
            + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
            + "; loading would start those from random values (an untrained classification head?)"
        )
    columns, matched = label_columns(dict(module.config.id2label), classes, key)
    if tokenizer.pad_token is None:
        raise ModelError(
            f"{key}.huggingface: the tokenizer in '{folder}' has no padding token; set one before save_pretrained"
        )
    model = HuggingFaceTextModel(name, classes, module, tokenizer, _max_tokens(tokenizer, module.config), columns)
    info = {
        "task": "sequence-classification",
        "architecture": type(module).__name__,
        "labels": matched,
        "max_length": model.max_length,
    }
    return model, info


# -- causal language models --------------------------------------------------------------------
class CausalLanguageModel:
    """A causal LM and its tokenizer: greedy/sampled generation and continuation log-likelihoods.

    Not a ``ModelAdapter`` (it has no classes): the generation modality's checks
    (:mod:`audit.modalities.generation`) score it through :mod:`audit.modalities.generation.scoring`.
    """

    modality = "generation"
    kind = "causal-lm"

    def __init__(self, name: str, module: Any, tokenizer: Any, max_length: int) -> None:
        self.name = name
        self.torch_module = module.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.artefact: Path | None = None
        if tokenizer.pad_token is None:  # batching needs one; the end-of-text token is the usual choice
            tokenizer.pad_token = tokenizer.eos_token

    def generate(
        self,
        prompts: list[str],
        *,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        seed: int = 0,
        batch_size: int = 16,
    ) -> list[str]:
        """The completion of each prompt (prompt text excluded); greedy unless ``do_sample``."""
        import torch

        self.tokenizer.padding_side = "left"  # generation continues from the right edge
        out: list[str] = []
        with torch.inference_mode(), torch.random.fork_rng():
            torch.manual_seed(seed)
            for start in range(0, len(prompts), batch_size):
                enc = self.tokenizer(
                    list(prompts[start : start + batch_size]),
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                )
                ids = self.torch_module.generate(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature if do_sample else None,
                    pad_token_id=self.tokenizer.pad_token_id, top_k=None, top_p=None,
                )  # fmt: skip
                out += self.tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return out

    def loglikelihood(self, contexts: list[str], continuations: list[str]) -> np.ndarray:
        """Sum of log-probabilities of each continuation's tokens given its context."""
        import torch

        scores = np.zeros(len(contexts), dtype=np.float64)
        with torch.inference_mode():
            for i, (context, continuation) in enumerate(zip(contexts, continuations, strict=True)):
                head = self.tokenizer(context)["input_ids"]
                tail = self.tokenizer(continuation)["input_ids"]
                ids = torch.tensor([(head + tail)[-self.max_length :]])
                n_tail = min(len(tail), ids.shape[1] - 1)
                logprobs = torch.log_softmax(self.torch_module(input_ids=ids).logits[0].double(), dim=-1)
                targets = ids[0, -n_tail:]
                scores[i] = float(logprobs[-n_tail - 1 : -1].gather(1, targets[:, None]).sum()) if n_tail else 0.0
        return scores


def load_causal_lm(folder: Path, *, name: str = "lm", trust: bool = False, key: str = "load") -> CausalLanguageModel:
    """A ``save_pretrained`` causal-LM folder (local files only; see the module doc for trust)."""
    config = read_config(folder, trust=trust, key=key)
    architectures = _architectures(config)
    if architectures and not any(a.endswith(CAUSAL_HINTS) for a in architectures):
        raise ModelError(
            f"{key}.huggingface: '{folder}' holds a {', '.join(architectures)}, not a causal language model"
        )
    use_safetensors = _weights_option(folder, trust=trust, key=key)
    transformers = _transformers()
    tokenizer = _tokenizer(folder, trust=trust, key=key)
    module = _from_pretrained(
        transformers.AutoModelForCausalLM,
        folder,
        "causal language model",
        key,
        use_safetensors=use_safetensors,
        trust_remote_code=trust,
    )
    model = CausalLanguageModel(name, module, tokenizer, _max_tokens(tokenizer, module.config))
    model.artefact = folder
    return model


def causal_lm_refused(folder: Path, *, modality: str, trust: bool, key: str) -> ModelError:
    """The error for a causal LM in a suite whose data are not prompts (checked without loading weights)."""
    read_config(folder, trust=trust, key=key)
    return ModelError(
        f"{key}.task: a causal language model (task: causal-lm) generates text; audit it with a generation suite "
        f"(data.modality: generation). This suite's data are {modality} rows with classes, which need "
        "a classifier (task: sequence-classification, or a model file)"
    )
