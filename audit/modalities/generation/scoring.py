"""Token-level scoring of documents by a causal LM: the numbers every generation pillar reads.

A document is scored as GPT-2 is trained here: opened by the end-of-text token, each of its
tokens predicted from the ones before it (the opening token itself is context, never scored).
A document longer than the model's context is scored in rolling windows: the first window scores
every token it holds, each further one moves by half a context and scores only its new tokens,
with the half context before them as context (lm-evaluation-harness' rolling log-likelihood, with
overlap). Batches are right-padded with an attention mask, so a padded batch gives the same
numbers as one document at a time (checked in the tests against transformers' own loss).

``DocumentScores`` keeps, per document, the summed negative log-likelihood (nats), the number of
scored tokens, of correct greedy next-token guesses, and of UTF-8 bytes; corpus perplexity is the
token-weighted ``exp(sum nll / sum tokens)``, bits per byte ``sum nll / ln 2 / sum bytes``
(comparable across tokenizers), and their intervals resample whole documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

LOGITS_BUDGET = 1 << 25  # floats of logits held at once (batch x length x vocabulary)


@dataclass
class DocumentScores:
    """Per-document sums (arrays of the same length, one entry per document)."""

    nll: np.ndarray  # summed negative log-likelihood, nats
    tokens: np.ndarray  # scored tokens
    correct: np.ndarray  # tokens the model's argmax predicted
    bytes: np.ndarray  # UTF-8 bytes of the document
    windows: int = 0  # documents longer than the context (scored in rolling windows)

    def subset(self, rows: np.ndarray) -> DocumentScores:
        return DocumentScores(self.nll[rows], self.tokens[rows], self.correct[rows], self.bytes[rows])

    def __len__(self) -> int:
        return len(self.nll)


def encode_documents(lm: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each document, opened by the end-of-text token."""
    eos = lm.tokenizer.eos_token_id
    return [[eos, *ids] for ids in lm.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def windows(seq: list[int], context: int) -> list[tuple[list[int], int]]:
    """(token ids, first scored position) items covering targets 1..len(seq)-1 once each."""
    if len(seq) <= context:
        return [(seq, 1)]
    out = [(seq[:context], 1)]
    last, stride, final = context - 1, max(1, context // 2), len(seq) - 1
    while last < final:
        end = min(last + stride, final)
        begin = end + 1 - context
        out.append((seq[begin : end + 1], last + 1 - begin))
        last = end
    return out


def score_documents(lm: Any, texts: list[str], *, batch_size: int = 32) -> DocumentScores:
    """Summed NLL, token counts and next-token hits of each document (see the module doc)."""
    import torch

    seqs = encode_documents(lm, texts)
    context = int(lm.max_length)
    items = [(d, ids, start) for d, seq in enumerate(seqs) for ids, start in windows(seq, context)]
    nll = np.zeros(len(seqs))
    tokens = np.zeros(len(seqs), dtype=np.int64)
    correct = np.zeros(len(seqs), dtype=np.int64)
    order = sorted(range(len(items)), key=lambda i: len(items[i][1]))
    vocab = int(lm.torch_module.config.vocab_size)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    module = lm.torch_module
    i = 0
    with torch.inference_mode():
        while i < len(order):
            longest = len(items[order[min(i + batch_size, len(order)) - 1]][1])
            size = max(1, min(batch_size, LOGITS_BUDGET // max(1, longest * vocab)))
            chunk = [items[k] for k in order[i : i + size]]
            i += size
            width = max(len(ids) for _, ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            scored = torch.zeros((len(chunk), width - 1), dtype=torch.bool)
            for r, (_, seq, start) in enumerate(chunk):
                ids[r, : len(seq)] = torch.tensor(seq)
                mask[r, : len(seq)] = 1
                scored[r, start - 1 : len(seq) - 1] = True
            logits = module(input_ids=ids, attention_mask=mask).logits[:, :-1]
            logits = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
            targets = ids[:, 1:]
            logp = torch.log_softmax(logits, dim=-1).gather(2, targets[..., None])[..., 0]
            hit = logits.argmax(dim=-1) == targets
            for r, (d, _, _) in enumerate(chunk):
                row = scored[r]
                nll[d] -= float(logp[r][row].double().sum())
                tokens[d] += int(row.sum())
                correct[d] += int(hit[r][row].sum())
    n_bytes = np.asarray([len(t.encode("utf-8")) for t in texts], dtype=np.int64)
    return DocumentScores(nll, tokens, correct, n_bytes, windows=sum(len(s) > context for s in seqs))


def corpus_metrics(s: DocumentScores) -> dict[str, float]:
    """Token-weighted perplexity, bits per byte and next-token accuracy of the scored documents."""
    total = float(s.tokens.sum())
    if total == 0:
        return {"perplexity": math.nan, "bits_per_byte": math.nan, "next_token_accuracy": math.nan, "loss": math.nan}
    loss = float(s.nll.sum()) / total
    return {
        "perplexity": math.exp(loss),
        "bits_per_byte": float(s.nll.sum()) / math.log(2) / float(s.bytes.sum()),
        "next_token_accuracy": float(s.correct.sum()) / total,
        "loss": loss,
    }


def bootstrap_metrics(s: DocumentScores, idx: np.ndarray | None) -> dict[str, np.ndarray]:
    """The corpus metrics on each bootstrap replicate of documents (rows of ``idx``)."""
    if idx is None:
        return {}
    nll, tok, hit, nb = (s.nll[idx].sum(axis=1), s.tokens[idx].sum(axis=1), s.correct[idx].sum(axis=1), s.bytes[idx].sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "perplexity": np.exp(nll / tok),
            "bits_per_byte": nll / math.log(2) / nb,
            "next_token_accuracy": hit / tok,
            "loss": nll / tok,
        }


def sequence_logprob(lm: Any, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """Log-probability (nats) of each whole text after the end-of-text token."""
    return -score_documents(lm, texts, batch_size=batch_size).nll


def generate_ids(lm: Any, prompts: list[list[int]], max_new_tokens: int, *, batch_size: int = 32) -> list[list[int]]:
    """Greedy continuations (token ids) of prompts given as token ids (left-padded batches)."""
    import torch

    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    out: list[list[int]] = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start : start + batch_size]
            width = max(len(p) for p in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, p in enumerate(chunk):
                ids[r, width - len(p) :] = torch.tensor(p)
                mask[r, width - len(p) :] = 1
            gen = lm.torch_module.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                do_sample=False, pad_token_id=pad, eos_token_id=None, top_k=None, top_p=None, temperature=None,
            )  # fmt: skip
            out += [row[width:].tolist() for row in gen]
    return out
