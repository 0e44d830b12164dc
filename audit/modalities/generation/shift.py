"""``shift`` for language models: out-of-domain text and perturbed text against in-domain text.

1. **Out of domain**: the corpus' out-of-domain part (``data.options.out_of_domain``, by default
   Python standard-library docstrings next to the tweets) against the in-domain test documents
   (the performance pillar's seeded sample, scored once). ``perplexity_ratio[out_of_domain]`` is
   out-of-domain over in-domain perplexity, ``bits_per_byte_increase[out_of_domain]`` the
   difference in bits per byte (comparable across tokenizers); intervals resample the documents
   of each side independently.
2. **Perturbations** (:mod:`audit.text.perturb`: typos, character noise, casing, ...) of the
   in-domain sample at each severity: ``perplexity_ratio[<kind>@<severity>]`` and
   ``bits_per_byte_increase[...]`` against the clean documents, with a paired bootstrap (the same
   documents resampled on both sides).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.modalities.generation.common import cached_scores, document_sample
from audit.modalities.generation.scoring import DocumentScores, bootstrap_metrics, corpus_metrics
from audit.text.perturb import distinct_severities, perturb_texts

if TYPE_CHECKING:
    from audit.context import Context


class GenerationShiftParams(CheckParams):
    out_of_domain: bool = Field(True, description="Compare the out-of-domain part of the corpus with the in-domain test documents.")
    perturbations: list[Literal["typos", "char_noise", "casing", "punctuation", "contractions"]] = Field(default_factory=lambda: ["typos", "casing", "char_noise"])
    severities: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.6], min_length=1, max_length=10, description="Share of eligible words changed, in (0, 1].")
    max_documents: int = Field(1000, ge=10, le=1_000_000, description="In-domain test documents (the performance pillar's sample when equal).")
    max_perturbed_documents: int = Field(300, ge=10, le=100_000, description="Documents perturbed (a seeded subsample of the in-domain sample).")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    batch_size: int = Field(32, ge=1, le=1024)

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[float]) -> list[float]:
        return distinct_severities(value)


class GenerationShiftCheck(Check):
    name = "generation_shift"
    pillar = "shift"
    Params = GenerationShiftParams
    modalities = ("generation",)
    metrics = (
        MetricSpec("in_domain_perplexity", "lower"),
        MetricSpec("out_of_domain_perplexity", "lower"),
        MetricSpec("out_of_domain_bits_per_byte", "lower", "bits/byte"),
        MetricSpec("perplexity_ratio", "lower"),
        MetricSpec("bits_per_byte_increase", "lower", "bits/byte"),
        MetricSpec("perplexity", "lower"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        p: GenerationShiftParams = self.params
        result = CheckResult(self.check_name, model.name)
        sample = document_sample(ctx, ctx.data.test, p.max_documents, "generation")
        clean = cached_scores(ctx, model, sample, p.batch_size)
        rows: list[dict[str, Any]] = []
        if p.out_of_domain:
            ood = ctx.data.extra.get("out_of_domain")
            if ood is None:
                result.warn("no out-of-domain documents (data.options.out_of_domain); out-of-domain shift not measured")
            else:
                scores = cached_scores(ctx, model, document_sample(ctx, ood, p.max_documents, "generation"), p.batch_size)
                rows.append(self._compare(ctx, result, model, clean, scores, "out_of_domain", paired=False))
                result.add("in_domain_perplexity", corpus_metrics(clean)["perplexity"], n=len(clean), direction="lower")
                result.add("out_of_domain_perplexity", rows[-1]["perplexity"], n=len(scores), direction="lower")
                result.add("out_of_domain_bits_per_byte", rows[-1]["bits_per_byte"], n=len(scores), direction="lower")
        if p.perturbations:
            sub = document_sample(ctx, sample, p.max_perturbed_documents, "generation.perturb")
            base = cached_scores(ctx, model, sub, p.batch_size)
            curves: dict[str, list[list[float]]] = {}
            examples = []
            for kind in p.perturbations:
                xs, ys = [0.0], [corpus_metrics(base)["perplexity"]]
                for severity in p.severities:
                    key = ("generation.perturbed", sub.name, kind, severity)
                    if key not in ctx.shared:
                        texts = perturb_texts([str(t) for t in sub.X], kind, severity, ctx.rng(self.name, kind, severity))
                        ctx.shared[key] = ctx.derive(sub, f"{kind}@{severity}", X=texts)
                    data = ctx.shared[key]
                    row = self._compare(ctx, result, model, base, cached_scores(ctx, model, data, p.batch_size), f"{kind}@{severity}", paired=True)
                    rows.append(row)
                    xs.append(severity)
                    ys.append(row["perplexity"])
                    if severity == p.severities[-1]:
                        examples.append({"perturbation": kind, "severity": severity, "original": str(sub.X[0]), "perturbed": str(data.X[0])})
                curves[kind] = [xs, ys]
            result.table("perturbation_examples", examples)
            result.figure("line", title=f"Perplexity under text perturbations ({len(sub)} test documents)", series=curves,
                          x_label="severity (share of words changed)", y_label="perplexity")
        result.table("shift", rows)
        return result

    def _compare(self, ctx: Context, result: CheckResult, model: Any, clean: DocumentScores, shifted: DocumentScores, label: str, *, paired: bool) -> dict[str, Any]:
        p: GenerationShiftParams = self.params
        a, b = corpus_metrics(clean), corpus_metrics(shifted)
        ratio = b["perplexity"] / a["perplexity"]
        increase = b["bits_per_byte"] - a["bits_per_byte"]
        ci_ratio = ci_increase = None
        if p.bootstrap:
            rng = ctx.rng(self.name, model.name, label)
            idx_a = bootstrap_indices(len(clean), p.bootstrap, rng)
            idx_b = idx_a if paired else bootstrap_indices(len(shifted), p.bootstrap, rng)
            ra, rb = bootstrap_metrics(clean, idx_a), bootstrap_metrics(shifted, idx_b)
            ci_ratio = percentile_ci(rb["perplexity"] / ra["perplexity"], p.confidence)
            ci_increase = percentile_ci(rb["bits_per_byte"] - ra["bits_per_byte"], p.confidence)
        result.add("perplexity_ratio", ratio, ci=ci_ratio, n=len(shifted), group=label, direction="lower")
        result.add("bits_per_byte_increase", increase, ci=ci_increase, n=len(shifted), group=label, direction="lower", unit="bits/byte")
        if label != "out_of_domain":
            result.add("perplexity", b["perplexity"], n=len(shifted), group=label, direction="lower")
        return {"condition": label, "documents": len(shifted), "perplexity": b["perplexity"], "reference_perplexity": a["perplexity"],
                "perplexity_ratio": ratio if math.isfinite(ratio) else None, "perplexity_ratio_ci": list(ci_ratio) if ci_ratio else None,
                "bits_per_byte": b["bits_per_byte"], "bits_per_byte_increase": increase, "bits_per_byte_increase_ci": list(ci_increase) if ci_increase else None}
