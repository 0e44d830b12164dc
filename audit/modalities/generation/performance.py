"""``performance`` for language models: perplexity, bits per byte and next-token accuracy.

On a seeded sample of at most ``max_documents`` test documents (the same for every model), each
scored as in :mod:`audit.modalities.generation.scoring`. Perplexity is token-weighted over the
corpus (``exp`` of the mean token loss, the number transformers' ``loss`` gives on one batch);
bits per byte divides the summed loss by the documents' UTF-8 bytes, so models with different
tokenizers compare. Intervals: percentile bootstrap over documents (whole documents resampled,
their tokens kept together). Per slice (each value of every ``data.sensitive`` column) the same
numbers; a slice with fewer than ``min_documents`` documents is null with the reason.

Metric paths: ``<model>/performance/perplexity``, ``bits_per_byte``, ``next_token_accuracy``,
``loss`` (nats per token), each also ``[topic=airline]`` per slice, and
``perplexity_gap[topic]`` (largest minus smallest slice perplexity).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.data.base import group_label
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.modalities.generation.common import cached_scores, document_sample
from audit.modalities.generation.scoring import bootstrap_metrics, corpus_metrics

if TYPE_CHECKING:
    from audit.context import Context

DIRECTIONS = {"perplexity": "lower", "bits_per_byte": "lower", "next_token_accuracy": "higher", "loss": "lower"}
UNITS = {"perplexity": None, "bits_per_byte": "bits/byte", "next_token_accuracy": None, "loss": "nats/token"}


class GenerationPerformanceParams(CheckParams):
    max_documents: int = Field(1000, ge=10, le=1_000_000, description="Test documents scored (seeded sample, same for every model).")
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates over documents (0: no intervals).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    min_documents: int = Field(20, ge=1, le=100_000, description="Slices with fewer documents get null metrics with the reason.")
    batch_size: int = Field(32, ge=1, le=1024)


class GenerationPerformanceCheck(Check):
    name = "generation_performance"
    pillar = "performance"
    Params = GenerationPerformanceParams
    modalities = ("generation",)
    requires = ("scoring",)
    metrics = (
        *(MetricSpec(m, d, UNITS[m]) for m, d in DIRECTIONS.items()),
        MetricSpec("perplexity_gap", "lower"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        p: GenerationPerformanceParams = self.params
        result = CheckResult(self.check_name, model.name)
        sample = document_sample(ctx, ctx.data.test, p.max_documents, "generation")
        scores = cached_scores(ctx, model, sample, p.batch_size)
        rows = [self._block(result, scores, None, ctx.rng(self.name, model.name, "all"))]
        for column in ctx.schema.sensitive:
            values = np.asarray(sample.groups(column), dtype=str)
            perplexities = {}
            for value in sorted(set(values)):
                mask = values == value
                label = group_label(column, value)
                if mask.sum() < p.min_documents:
                    reason = f"needs at least {p.min_documents} documents (n={int(mask.sum())})"
                    for metric, direction in DIRECTIONS.items():
                        result.add(metric, None, n=int(mask.sum()), group=label, direction=direction, reason=reason)
                    result.warn(f"slice {label}: {int(mask.sum())} documents (< min_documents {p.min_documents}); its metrics are null")
                    continue
                row = self._block(result, scores.subset(np.flatnonzero(mask)), label, ctx.rng(self.name, model.name, label))
                rows.append(row)
                perplexities[value] = row["perplexity"]
            if len(perplexities) >= 2:
                gap = max(perplexities.values()) - min(perplexities.values())
                result.add("perplexity_gap", gap, n=len(values), group=column, direction="lower")
        result.table("perplexity", rows)
        result.table("setup", [{"documents": len(sample), "test_documents": len(ctx.data.test), "context_tokens": int(model.max_length),
                                "documents_in_rolling_windows": scores.windows, "note": "documents longer than the context are scored in rolling windows (half-context overlap)"}])
        sliced = [r for r in rows if r["slice"] != "all"]
        if sliced:
            result.figure("bar", title=f"Perplexity by slice ({len(sample)} test documents)", labels=[r["slice"] for r in sliced],
                          values=[r["perplexity"] for r in sliced], ci=[r["perplexity_ci"] for r in sliced], x_label="perplexity (lower is better)", horizontal=True)
        return result

    def _block(self, result: CheckResult, scores: Any, label: str | None, rng: np.random.Generator) -> dict[str, Any]:
        p: GenerationPerformanceParams = self.params
        values = corpus_metrics(scores)
        idx = bootstrap_indices(len(scores), p.bootstrap, rng) if p.bootstrap and len(scores) >= 2 else None
        reps = bootstrap_metrics(scores, idx)
        row: dict[str, Any] = {"slice": label or "all", "documents": len(scores), "tokens": int(scores.tokens.sum()), "bytes": int(scores.bytes.sum())}
        for metric, direction in DIRECTIONS.items():
            ci = percentile_ci(reps[metric], p.confidence) if reps else None
            result.add(metric, values[metric], ci=ci, n=len(scores), group=label, direction=direction, unit=UNITS[metric])
            row[metric], row[f"{metric}_ci"] = values[metric], list(ci) if ci else None
        return row
