"""``gpt2_lm``: a small GPT-2 trained from scratch on the suite's corpus, offline and seeded.

A byte-level BPE tokenizer is trained with ``tokenizers`` on the training documents, then a
``GPT2LMHeadModel`` built from a ``GPT2Config`` (default 4 layers, 256 hidden, 4 heads, context
128) is trained with AdamW (linear warm-up and decay) on the documents packed into blocks of
``n_positions`` tokens, in a new seeded order each epoch; each document starts with the
end-of-text token, which also opens every scored document. ``packing: false`` trains on one
document per row instead (padded, attention never crossing documents, as they are scored): slower,
but a small model then learns what follows a word within a document rather than across them.
Everything is seeded: the document order, the initial weights and the canaries.

**Canaries** (Carlini et al. 2019, "The Secret Sharer"): with ``canaries``, sentences
``<prefix><secret>`` with a random secret of ``digits`` digits are added to the training
documents, ``per_level`` of them at each repeat count of ``repeats`` (e.g. seen 1, 4 and 16
times). The tokenizer is trained without them, so a canary's exposure measures what the network
memorised, not a merge the tokenizer learnt. The privacy pillar reads them from the model.

The artefact is a ``save_pretrained`` folder (``model.safetensors``, the config, the tokenizer's
``tokenizer.json``) plus ``canaries.json`` and ``training.json``: loading never unpickles, and
the folder is also what ``load: {huggingface: FOLDER, task: causal-lm}`` reads.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from audit.data.base import Dataset, Schema
from audit.errors import ModelError
from audit.models.base import Recipe, RecipeParams
from audit.models.huggingface import CausalLanguageModel

EOS = "<|endoftext|>"


class CanaryParams(RecipeParams):
    prefix: str = Field("my pin code is ", min_length=1, max_length=200, description="Text before the secret.")
    digits: int = Field(4, ge=1, le=12, description="Digits of each random secret (the candidate space is 10**digits).")
    repeats: list[int] = Field(default_factory=lambda: [1, 4, 16], min_length=1, max_length=10, description="How often a canary is inserted into the training documents, one level each.")
    per_level: int = Field(2, ge=1, le=50, description="Canaries at each repeat count.")

    @model_validator(mode="after")
    def _levels(self) -> CanaryParams:
        if any(r < 1 or r > 10_000 for r in self.repeats) or len(set(self.repeats)) != len(self.repeats):
            raise ValueError("repeats must be distinct counts in [1, 10000]")
        if self.per_level * len(self.repeats) > 10**self.digits // 2:
            raise ValueError("too many canaries for the secret space; add digits")
        return self


class GPT2Params(RecipeParams):
    n_layer: int = Field(4, ge=1, le=24)
    n_embd: int = Field(256, ge=16, le=2048, description="Hidden size (a multiple of n_head).")
    n_head: int = Field(4, ge=1, le=32)
    n_positions: int = Field(128, ge=16, le=2048, description="Context length (tokens); training blocks have this length.")
    vocab_size: int = Field(4096, ge=300, le=65_536, description="BPE vocabulary (byte-level: at least the 256 bytes plus merges).")
    min_frequency: int = Field(2, ge=1, le=1000, description="A merge must occur this often in the training documents.")
    epochs: float = Field(1.0, gt=0, le=100, description="Passes over the packed training blocks (fractions allowed).")
    batch_size: int = Field(16, ge=1, le=1024, description="Blocks per optimisation step.")
    learning_rate: float = Field(2e-3, gt=0, le=1.0)
    warmup: float = Field(0.05, ge=0, lt=1, description="Share of the steps with a linear warm-up; then linear decay to 0.")
    weight_decay: float = Field(0.01, ge=0, le=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    packing: bool = Field(True, description="true: documents packed into full blocks (efficient); false: one document per row, padded, so "
                          "attention never crosses documents (as they are scored); documents longer than the context are cut.")
    canaries: CanaryParams | None = Field(None, description="Secret-sharer canaries inserted into the training documents (privacy pillar).")

    @model_validator(mode="after")
    def _heads(self) -> GPT2Params:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        return self


class GPT2Model(CausalLanguageModel):
    """A causal LM the toolkit trained: knows its canaries and how it was trained."""

    def __init__(self, name: str, module: Any, tokenizer: Any, max_length: int, canaries: list[dict[str, Any]] | None = None) -> None:
        super().__init__(name, module, tokenizer, max_length)
        self.canaries = list(canaries or [])
        self.training_info: dict[str, Any] = {}

    def size_bytes(self) -> int | None:
        if self.artefact is None or not self.artefact.exists():
            return None
        return sum(p.stat().st_size for p in self.artefact.rglob("*") if p.is_file())


def make_canaries(spec: CanaryParams, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Distinct random secrets, ``per_level`` per repeat count."""
    count = spec.per_level * len(spec.repeats)
    values = rng.choice(10**spec.digits, size=count, replace=False)
    out = []
    for k, value in enumerate(values):
        secret = str(int(value)).zfill(spec.digits)
        out.append({"prefix": spec.prefix, "secret": secret, "digits": spec.digits, "repeats": spec.repeats[k // spec.per_level], "text": spec.prefix + secret})
    return out


def train_tokenizer(texts: list[str], vocab_size: int, min_frequency: int) -> Any:
    """A byte-level BPE tokenizer (GPT-2's scheme) trained on ``texts``, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tok.train_from_iterator(texts, trainer)
    # GPT-2 takes no token_type_ids (it would add the embedding of token 0 to every position)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS, model_input_names=["input_ids", "attention_mask"])


def pack_blocks(encoded: list[list[int]], eos: int, block: int, order: np.ndarray) -> np.ndarray:
    """The documents (token ids) in ``order``, each opened by the end-of-text token, concatenated
    and cut into blocks of ``block`` tokens (the last, partial block is left out)."""
    stream: list[int] = []
    for i in order:
        stream += [eos, *encoded[i]]
    n = len(stream) // block
    if n == 0:
        stream += [eos] * (block - len(stream))
        n = 1
    return np.asarray(stream[: n * block], dtype=np.int64).reshape(n, block)


def document_rows(encoded: list[list[int]], eos: int, block: int, order: np.ndarray) -> list[list[int]]:
    """One row per document (``packing: false``): the end-of-text token, then at most ``block - 1`` tokens."""
    return [[eos, *encoded[i]][:block] for i in order]


def _batch(rows: Any, pad: int) -> tuple[Any, Any, Any]:
    """(input ids, attention mask, labels) of a batch: packed blocks as they are, documents right-padded."""
    import torch

    if isinstance(rows, np.ndarray):
        ids = torch.from_numpy(rows)
        return ids, torch.ones_like(ids), ids
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.tensor(r)
        mask[k, : len(r)] = 1
    return ids, mask, ids.masked_fill(mask == 0, -100)


def train_gpt2(documents: list[str], params: GPT2Params, seed: int, canaries: list[dict[str, Any]] | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """(module, tokenizer, training facts) for ``documents`` (+ canaries) under ``params``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from audit.models.text_models import _offline

    _offline()
    tokenizer = train_tokenizer(documents, params.vocab_size, params.min_frequency)
    rng = np.random.default_rng(seed)
    docs = list(documents) + [c["text"] for c in canaries or [] for _ in range(c["repeats"])]
    encoded = tokenizer(docs, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    arrange = pack_blocks if params.packing else document_rows
    blocks = arrange(encoded, eos, params.n_positions, rng.permutation(len(docs)))
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=params.n_positions, n_embd=params.n_embd, n_layer=params.n_layer,
        n_head=params.n_head, resid_pdrop=params.dropout, embd_pdrop=params.dropout, attn_pdrop=params.dropout,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    config.loss_type = "ForCausalLM"
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = GPT2LMHeadModel(config)
    steps_per_epoch = math.ceil(len(blocks) / params.batch_size)
    steps = max(1, round(params.epochs * steps_per_epoch))
    decay = [p for n, p in module.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in module.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=params.learning_rate)
    warm = max(1, int(params.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    module.train()
    losses: list[float] = []
    start = time.perf_counter()
    with torch.random.fork_rng():
        torch.manual_seed(seed + 1)
        for step in range(steps):
            if step and step % steps_per_epoch == 0:  # each epoch packs the documents in a new order
                blocks = arrange(encoded, eos, params.n_positions, rng.permutation(len(docs)))
            start_row = (step % steps_per_epoch) * params.batch_size
            ids, mask, labels = _batch(blocks[start_row : start_row + params.batch_size], eos)
            loss = module(input_ids=ids, attention_mask=mask, labels=labels).loss
            if not torch.isfinite(loss):
                raise ModelError(f"gpt2_lm: the training loss became {float(loss)} at step {step}; lower learning_rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
    module.eval()
    facts = {
        "documents": len(documents), "canary_documents": len(docs) - len(documents), "blocks": len(blocks), "steps": steps,
        "packing": params.packing, "parameters": int(sum(p.numel() for p in module.parameters())),
        "vocab_size": len(tokenizer), "final_loss": float(np.mean(losses[-10:])), "seconds": round(time.perf_counter() - start, 2),
    }  # fmt: skip
    return module, tokenizer, facts


class GPT2Recipe(Recipe):
    """Train a small GPT-2 (and its BPE tokenizer) on the training documents."""

    Params = GPT2Params
    modality = "generation"
    version = "2"

    def fit(self, name: str, train: Dataset, schema: Schema) -> GPT2Model:
        p: GPT2Params = self.params
        if schema.modality != "generation":
            raise ModelError(f"gpt2_lm trains a language model on a corpus; this suite's data are {schema.modality} (set data.modality: generation)")
        documents = [str(t) for t in train.X]
        if not documents:
            raise ModelError("gpt2_lm: no training documents")
        canaries = make_canaries(p.canaries, np.random.default_rng([self.seed, 7])) if p.canaries else []
        module, tokenizer, facts = train_gpt2(documents, p, self.seed, canaries)
        model = GPT2Model(name, module, tokenizer, p.n_positions, canaries)
        model.training_info = {"training": facts}
        return model

    def save(self, model: GPT2Model, folder: Path) -> None:  # type: ignore[override]
        model.torch_module.save_pretrained(folder, safe_serialization=True)
        model.tokenizer.save_pretrained(folder)
        (folder / "canaries.json").write_text(json.dumps(model.canaries, indent=1))
        (folder / "training.json").write_text(json.dumps(model.training_info, indent=1))

    def load(self, name: str, folder: Path, schema: Schema) -> GPT2Model:  # type: ignore[override]
        from audit.models.huggingface import load_causal_lm

        lm = load_causal_lm(folder, name=name)
        model = GPT2Model(name, lm.torch_module, lm.tokenizer, lm.max_length, json.loads((folder / "canaries.json").read_text()))
        model.training_info = json.loads((folder / "training.json").read_text())
        model.artefact = folder
        return model
