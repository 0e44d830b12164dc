"""``text_explain``: which words drive a text model's predictions.

On a seeded sample of ``n_examples`` test texts (the same for every model) each requested
method (:mod:`audit.text.attributions`) attributes the predicted class's probability to the
words: Captum Layer Integrated Gradients on the input-embedding layer for transformer adapters,
SHAP's text explainer (partition algorithm, ``Text`` masker) for any model. ``methods: auto``
picks integrated gradients where the model exposes its embedding layer and SHAP otherwise.

Faithfulness is measured by deletion: removing each text's ``top_k`` most supporting words
should lower the predicted class's probability far more than removing ``top_k`` random words.

Metric paths (``<m>`` method)::

    <model>/explain/mean_abs_convergence_delta[integrated_gradients]  |sum(attr) - (f(x) - f(base))|
    <model>/explain/deletion_drop[<m>]         mean drop in the predicted class's probability, top-k words removed
    <model>/explain/random_deletion_drop[<m>]  the same with k random words removed (seeded)

Each explained text becomes a ``tokens`` figure (words shaded by weight) and a row of the
``attributions`` table (tokens and weights in full).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult
from audit.errors import CheckError
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.text.attributions import Attribution, delete_tokens, integrated_gradients, shap_text

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter


class TextExplainParams(CheckParams):
    methods: list[Literal["auto", "integrated_gradients", "shap"]] = Field(default_factory=lambda: ["auto"], min_length=1, description="Attribution methods (auto: integrated gradients for transformers, SHAP otherwise).")
    n_examples: int = Field(5, ge=1, le=500, description="Test texts explained (seeded sample).")
    max_words: int = Field(40, ge=3, le=500, description="Prefer texts with at most this many words (readable figures).")
    n_steps: int = Field(50, ge=2, le=1000, description="Integrated-gradients steps.")
    max_evals: int = Field(300, ge=10, le=100_000, description="SHAP model evaluations per text.")
    top_k: int = Field(3, ge=1, le=50, description="Words removed for the deletion test.")
    figures: int = Field(5, ge=0, le=50, description="Token figures per method.")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


class TextExplainCheck(Check):
    name = "text_explain"  # implementation id (also the key of its seeded RNG streams)
    pillar = "explain"
    Params = TextExplainParams
    modalities = ("text",)
    metrics = ("mean_abs_convergence_delta", "max_abs_convergence_delta", "mean_abs_additivity_gap", "deletion_drop", "random_deletion_drop")

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: TextExplainParams = self.params
        result = CheckResult(self.check_name, model.name)
        methods = self._methods(model)
        texts, labels = self._sample(ctx)
        classes = [str(c) for c in ctx.schema.classes]
        rows = []
        for method in methods:
            if method == "integrated_gradients":
                attributions = integrated_gradients(model, texts, n_steps=p.n_steps)
                deltas = np.abs([a.extra["convergence_delta"] for a in attributions])
                result.add("mean_abs_convergence_delta", float(deltas.mean()), n=len(deltas), group=method, direction="lower")
                result.add("max_abs_convergence_delta", float(deltas.max()), n=len(deltas), group=method, direction="lower")
            else:
                seed = int(ctx.rng(self.name, model.name, method).integers(2**31))
                attributions = shap_text(model, texts, max_evals=p.max_evals, seed=seed)
                gaps = np.abs([a.extra["additivity_gap"] for a in attributions])
                result.add("mean_abs_additivity_gap", float(gaps.mean()), n=len(gaps), group=method, direction="lower")
            ctx.shared[(self.name, model.name, method)] = attributions
            self._deletion(ctx, result, model, method, attributions)
            for i, (a, label) in enumerate(zip(attributions, labels, strict=True)):
                top = ", ".join(f"{t} ({w:+.3f})" for t, w in a.top(p.top_k))
                rows.append({"method": method, "example": i, "text": a.text, "label": classes[int(label)], "predicted": classes[a.target], "score": a.extra["score"], "top_tokens": top, "tokens": a.tokens, "weights": a.weights})
                if i < p.figures:
                    result.figure("tokens", tokens=a.tokens, weights=a.weights, title=f"{method}: predicted '{classes[a.target]}' ({a.extra['score']:.2f}), true '{classes[int(label)]}'",
                                  caption=f"blue: towards '{classes[a.target]}', orange: against; top words {top}")
        result.table("attributions", rows)
        return result

    def _methods(self, model: ModelAdapter) -> list[str]:
        from audit.models.text_models import TokenClassifier

        gradient_ready = isinstance(model, TokenClassifier)
        chosen: list[str] = []
        for method in self.params.methods:
            if method == "auto":
                method = "integrated_gradients" if gradient_ready else "shap"
            if method == "integrated_gradients" and not gradient_ready:
                raise CheckError(f"methods: integrated_gradients needs a model exposing its token embeddings (a transformer recipe); '{model.name}' is a {model.kind} model: use shap")
            if method not in chosen:
                chosen.append(method)
        return chosen

    def _sample(self, ctx: Context) -> tuple[list[str], np.ndarray]:
        p: TextExplainParams = self.params
        key = (self.name, "sample")
        if key not in ctx.shared:
            test = ctx.data.test
            lengths = np.asarray([len(str(t).split()) for t in test.X])
            pool = np.flatnonzero((lengths >= 4) & (lengths <= p.max_words))
            pool = pool if len(pool) >= p.n_examples else np.arange(len(test))
            rows = np.sort(ctx.rng(self.name, "sample").choice(pool, size=min(p.n_examples, len(pool)), replace=False))
            ctx.shared[key] = ([str(test.X[i]) for i in rows], test.y[rows])
        return ctx.shared[key]

    def _deletion(self, ctx: Context, result: CheckResult, model: ModelAdapter, method: str, attributions: list[Attribution]) -> None:
        p: TextExplainParams = self.params
        rng = ctx.rng(self.name, model.name, method, "random")
        top_texts, random_texts = [], []
        for a in attributions:
            k = min(p.top_k, len(a.tokens))
            top_texts.append(delete_tokens(a.text, [t for t, _ in a.top(k)]))
            random_texts.append(delete_tokens(a.text, [a.tokens[j] for j in rng.choice(len(a.tokens), size=k, replace=False)] if k else []))
        targets = np.asarray([a.target for a in attributions])
        before = np.asarray([a.extra["score"] for a in attributions])
        rows = np.arange(len(attributions))
        drops: dict[str, Any] = {}
        for name, texts in (("deletion_drop", top_texts), ("random_deletion_drop", random_texts)):
            after = np.asarray(model.predict_proba(texts))[rows, targets]
            drops[name] = before - after
        idx = bootstrap_indices(len(rows), p.bootstrap, ctx.rng(self.name, model.name, method, "boot")) if p.bootstrap and len(rows) > 1 else None
        for name, values in drops.items():
            ci = percentile_ci(values[idx].mean(axis=1), p.confidence) if idx is not None else None
            result.add(name, float(values.mean()), ci=ci, n=len(values), group=method, direction="higher" if name == "deletion_drop" else None)
