"""Helpers the generation checks share: a seeded document sample and cached document scores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from audit.modalities.generation.scoring import DocumentScores, score_documents

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset


def document_sample(ctx: Context, dataset: Dataset, n: int, owner: str) -> Dataset:
    """At most ``n`` documents of ``dataset`` (seeded by ``owner``, in row order); the same
    documents for every model, so their numbers compare."""
    if len(dataset) <= n:
        return dataset
    key = ("generation.sample", dataset.name, n, owner)
    if key not in ctx.shared:
        rows = np.sort(ctx.rng(owner, "sample", dataset.name).choice(len(dataset), size=n, replace=False))
        ctx.shared[key] = ctx.derive(dataset, f"{owner}~sample{n}", rows=rows)
    return ctx.shared[key]


def cached_scores(ctx: Context, model: Any, dataset: Dataset, batch_size: int = 32) -> DocumentScores:
    """The model's document scores on ``dataset``, computed once per run (shared by the checks:
    'predict once' for language models)."""
    from audit.context import content_key

    key = ("generation.scores", model.name, content_key(dataset))
    if key not in ctx.shared:
        ctx.shared[key] = score_documents(model, [str(t) for t in dataset.X], batch_size=batch_size)
    return ctx.shared[key]


def shorten(text: str, limit: int = 160) -> str:
    """A table cell of generated or source text, cut to ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
