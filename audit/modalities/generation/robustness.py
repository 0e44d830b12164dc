"""``robustness`` for language models: how much a continuation changes when the prompt is perturbed.

Prompts are the first ``prompt_words`` words of a seeded sample of the test documents that have
more words than that (so there is something to continue). Each is
continued with the suite's generation settings, clean and after each perturbation of
:mod:`audit.text.perturb` (typos, casing, character noise, ...) at each severity. Per
``<kind>@<severity>``, averaged over prompts, with percentile-bootstrap intervals over prompts:

* ``continuation_overlap``: token F1 between the clean and the perturbed continuation (the
  model's own tokens, counted as multisets; 1: the same tokens);
* ``continuation_unchanged``: share of continuations left exactly the same;
* ``sentiment_flip_rate``: share whose sentiment label (P(negative) > 0.5, the fairness
  pillar's classifier) changed;
* ``continuation_nll_increase``: how much less likely (nats per token) the clean continuation
  becomes when the prompt is perturbed: the perplexity side of robustness.

With sampling (``generation.do_sample``) clean and perturbed continuations use the same seed,
so what differs is the prompt.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.modalities.generation.common import document_sample, shorten
from audit.modalities.generation.settings import GenerationSettings, generate
from audit.text.perturb import perturb_texts

if TYPE_CHECKING:
    from audit.context import Context


class GenerationRobustnessParams(CheckParams):
    perturbations: list[Literal["typos", "char_noise", "casing", "punctuation", "contractions"]] = Field(default_factory=lambda: ["typos", "casing", "char_noise"], min_length=1)
    severities: list[float] = Field(default_factory=lambda: [0.1, 0.3], min_length=1, max_length=10)
    max_prompts: int = Field(50, ge=5, le=10_000, description="Test documents whose opening words are the prompts (seeded sample).")
    prompt_words: int = Field(8, ge=1, le=200, description="Words of each document used as its prompt.")
    generation: GenerationSettings = Field(default_factory=lambda: GenerationSettings(max_new_tokens=12))
    sentiment: Literal["tweets"] | dict[Literal["huggingface"], str] | None = Field("tweets", description="Classifier for the label-flip rate (null: not measured).")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


class GenerationRobustnessCheck(Check):
    name = "generation_robustness"
    pillar = "robustness"
    Params = GenerationRobustnessParams
    modalities = ("generation",)
    metrics = (
        MetricSpec("continuation_overlap", "higher"),
        MetricSpec("continuation_unchanged", "higher"),
        MetricSpec("sentiment_flip_rate", "lower"),
        MetricSpec("continuation_nll_increase", "lower", "nats/token"),
    )

    def run(self, ctx: Context, model: Any) -> CheckResult:
        p: GenerationRobustnessParams = self.params
        result = CheckResult(self.check_name, model.name)
        longer = np.asarray([len(str(t).split()) > p.prompt_words for t in ctx.data.test.X])  # something left to continue
        if longer.sum() < 5:
            raise ValueError(f"fewer than 5 test documents have more than prompt_words={p.prompt_words} words; lower prompt_words")
        pool = ctx.data.test if longer.all() else ctx.derive(ctx.data.test, f"longer_than_{p.prompt_words}_words", rows=longer)
        sample = document_sample(ctx, pool, p.max_prompts, "generation.robustness")
        prompts = [" ".join(str(t).split()[: p.prompt_words]) for t in sample.X]
        clean = generate(model, prompts, p.generation)
        clean_ids = [model.tokenizer(c, add_special_tokens=False)["input_ids"] for c in clean]
        eos = model.tokenizer.eos_token
        clean_nll = _nll_per_token(model, [eos + pr for pr in prompts], clean)
        scorer = None
        if p.sentiment is not None:
            from audit.modalities.generation.sentiment import sentiment_scorer

            scorer = sentiment_scorer(p.sentiment, ctx.suite.base_dir if ctx.suite is not None else Path.cwd(), ctx.seed, ctx.shared)
            clean_label = scorer(clean) > 0.5
        idx = bootstrap_indices(len(prompts), p.bootstrap, ctx.rng(self.name, model.name)) if p.bootstrap else None
        rows, examples, curves = [], [], {}
        for kind in p.perturbations:
            xs, ys = [0.0], [1.0]
            for severity in sorted(p.severities):
                perturbed = perturb_texts(prompts, kind, severity, ctx.rng(self.name, kind, severity))
                out = generate(model, perturbed, p.generation)
                out_ids = [model.tokenizer(c, add_special_tokens=False)["input_ids"] for c in out]
                per_prompt = {
                    "continuation_overlap": np.asarray([_f1(a, b) for a, b in zip(clean_ids, out_ids, strict=True)]),
                    "continuation_unchanged": np.asarray([a == b for a, b in zip(clean, out, strict=True)], dtype=float),
                    "continuation_nll_increase": _nll_per_token(model, [eos + pr for pr in perturbed], clean) - clean_nll,
                }
                if scorer is not None:
                    per_prompt["sentiment_flip_rate"] = ((scorer(out) > 0.5) != clean_label).astype(float)
                label = f"{kind}@{severity}"
                row: dict[str, Any] = {"perturbation": kind, "severity": severity, "prompts": len(prompts)}
                for metric, values in per_prompt.items():
                    ci = percentile_ci(values[idx].mean(axis=1), p.confidence) if idx is not None else None
                    result.add(metric, float(values.mean()), ci=ci, n=len(prompts), group=label)
                    row[metric], row[f"{metric}_ci"] = float(values.mean()), list(ci) if ci else None
                rows.append(row)
                xs.append(severity)
                ys.append(row["continuation_overlap"])
                examples += [{"perturbation": label, "prompt": shorten(prompts[i]), "perturbed_prompt": shorten(perturbed[i]),
                              "continuation": shorten(clean[i]), "perturbed_continuation": shorten(out[i])} for i in range(min(2, len(prompts)))]
            curves[kind] = [xs, ys]
        result.table("robustness", rows)
        result.table("examples", examples)
        result.figure("line", title=f"Continuation overlap under prompt perturbations ({len(prompts)} prompts)", series=curves,
                      x_label="severity (share of words changed)", y_label="token F1 with the clean continuation", value_range=[0.0, 1.0])
        return result


def _f1(a: list[int], b: list[int]) -> float:
    if not a and not b:
        return 1.0
    common = sum((Counter(a) & Counter(b)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(b), common / len(a)
    return 2 * precision * recall / (precision + recall)


def _nll_per_token(model: Any, contexts: list[str], continuations: list[str]) -> np.ndarray:
    """Mean negative log-likelihood (nats per token) of each continuation after its context."""
    lengths = np.asarray([max(1, len(model.tokenizer(c, add_special_tokens=False)["input_ids"])) for c in continuations])
    return -model.loglikelihood(contexts, continuations) / lengths
