"""``text_robustness``: adversarial text attacks (TextAttack recipes that run offline).

A seeded sample of ``sample_size`` test texts (the same rows for every model) is attacked with
each recipe in ``recipes`` (:mod:`audit.text.attack`), each attack limited to ``query_budget``
model queries. Every text is attacked on its own, by an attack seeded from the run seed and the
text's row, so the texts are independent shards (``Context.map``: Ray tasks with
``execution: {backend: ray}``) and a text's outcome does not depend on the others. Texts the model already gets wrong are *skipped*, as in TextAttack's own summary.

Metric paths (``<r>`` = recipe name)::

    <model>/robustness/attack_success_rate[<r>]     successful / (successful + failed)
    <model>/robustness/accuracy_under_attack[<r>]   failed / sample (still right after the attack)
    <model>/robustness/original_accuracy[<r>]       (failed + successful) / sample
    <model>/robustness/avg_perturbed_word_share[<r>] mean share of words changed, successful attacks
    <model>/robustness/avg_queries[<r>]             mean model queries per attacked (not skipped) text

Success rate and accuracy under attack carry percentile bootstrap intervals over the sampled
texts. The table ``examples_<r>`` holds successful adversarial examples (original and
perturbed text, true label, predictions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.registry import suggest
from audit.text.attack import KNOWN, OFFLINE, require_offline, run_attack

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter


class TextRobustnessParams(CheckParams):
    recipes: list[str] = Field(default_factory=lambda: ["deepwordbug", "pruthi"], min_length=1, max_length=len(KNOWN), description=f"TextAttack recipes; offline: {', '.join(OFFLINE)}.")
    sample_size: int = Field(30, ge=1, le=5000, description="Test texts attacked (seeded sample, same for every model).")
    query_budget: int = Field(200, ge=1, le=100_000, description="Most model queries one attack may spend.")
    max_examples: int = Field(8, ge=0, le=200, description="Successful adversarial examples kept in the table per recipe.")
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Interval coverage.")

    @field_validator("recipes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in KNOWN:
                raise ValueError(f"unknown recipe '{name}'; {suggest(name, list(KNOWN))}")
        if len(set(value)) != len(value):
            raise ValueError("recipes must not repeat")
        return value


class TextRobustnessCheck(Check):
    name = "text_robustness"  # implementation id (also the key of its seeded RNG streams)
    pillar = "robustness"
    Params = TextRobustnessParams
    modalities = ("text",)
    metrics = ("attack_success_rate", "accuracy_under_attack", "original_accuracy", "avg_perturbed_word_share", "avg_queries")

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: TextRobustnessParams = self.params
        require_offline(p.recipes)
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        n = min(p.sample_size, len(test))
        rows = np.sort(ctx.rng(self.name, "sample").choice(len(test), size=n, replace=False))
        texts, labels = [test.X[i] for i in rows], test.y[rows]
        summary: list[dict[str, Any]] = []
        # shards: blocks of examples per recipe; every example seeds its own attack
        job = _AttackBlock(model, texts, labels, rows, p.query_budget, ctx.seed, self.name)
        spans = [(start, min(start + EXAMPLES_PER_SHARD, n)) for start in range(0, n, EXAMPLES_PER_SHARD)]
        items = [(recipe, start, stop) for recipe in p.recipes for start, stop in spans]
        found = ctx.map(job, items, label=f"{model.name} · {self.check_name} examples")
        for recipe in p.recipes:
            outcomes = [o for (r, _, _), block in zip(items, found, strict=True) if r == recipe for o in block]
            summary.append(self._record(ctx, result, model, recipe, outcomes))
        result.table("summary", summary)
        names = [s["recipe"] for s in summary]
        result.figure(
            "grouped_bar", title=f"Attacks on {n} test texts (query budget {p.query_budget})", categories=names, value_range=[0.0, 1.0],
            series={"original accuracy": [s["original_accuracy"] for s in summary], "accuracy under attack": [s["accuracy_under_attack"] for s in summary], "attack success rate": [s["attack_success_rate"] for s in summary]},
        )
        return result

    def _record(self, ctx: Context, result: CheckResult, model: ModelAdapter, recipe: str, outcomes: list[Any]) -> dict[str, Any]:
        p: TextRobustnessParams = self.params
        status = np.asarray([o.status for o in outcomes])
        success, failed = (status == "success").astype(float), (status == "failed").astype(float)
        attacked = success + failed
        n = len(outcomes)
        rate = float(success.sum() / attacked.sum()) if attacked.sum() else None
        ci_rate = ci_acc = None
        if p.bootstrap and n > 1:
            idx = bootstrap_indices(n, p.bootstrap, ctx.rng(self.name, model.name, recipe, "boot"))
            with np.errstate(invalid="ignore", divide="ignore"):
                ci_rate = percentile_ci(success[idx].sum(axis=1) / attacked[idx].sum(axis=1), p.confidence)
            ci_acc = percentile_ci(failed[idx].mean(axis=1), p.confidence)
        done = [o for o in outcomes if o.status != "skipped"]
        wins = [o for o in outcomes if o.status == "success"]
        values = {
            "attack_success_rate": rate,
            "accuracy_under_attack": float(failed.mean()),
            "original_accuracy": float(attacked.mean()),
            "avg_perturbed_word_share": float(np.mean([o.perturbed_share for o in wins])) if wins else None,
            "avg_queries": float(np.mean([o.queries for o in done])) if done else None,
        }
        result.add("attack_success_rate", values["attack_success_rate"], ci=ci_rate, n=int(attacked.sum()), group=recipe, direction="lower")
        result.add("accuracy_under_attack", values["accuracy_under_attack"], ci=ci_acc, n=n, group=recipe, direction="higher")
        result.add("original_accuracy", values["original_accuracy"], n=n, group=recipe, direction="higher")
        result.add("avg_perturbed_word_share", values["avg_perturbed_word_share"], n=len(wins), group=recipe)
        result.add("avg_queries", values["avg_queries"], n=len(done), group=recipe)
        classes = [str(c) for c in ctx.schema.classes]
        result.table(f"examples_{recipe}", [
            {"original": o.original, "perturbed": o.perturbed, "label": classes[o.label], "original_pred": classes[o.original_pred],
             "perturbed_pred": classes[o.perturbed_pred], "words_changed": o.words_changed, "queries": o.queries}
            for o in wins[: p.max_examples]
        ])
        budget_hits = sum(o.status == "failed" and o.queries >= p.query_budget for o in outcomes)
        if budget_hits:
            result.warn(f"{recipe}: {budget_hits} of {len(done)} attacks stopped at the query budget ({p.query_budget}); a larger budget may raise the success rate")
        ctx.log(f"    text_robustness {model.name}/{recipe}: success {rate if rate is None else round(rate, 3)}, {len(done)} attacked, {n - len(done)} skipped")
        return {"recipe": recipe, "n": n, "successful": len(wins), "failed": int(failed.sum()), "skipped": n - len(done), **values}


EXAMPLES_PER_SHARD = 4


class _AttackBlock:
    """Attack the sampled texts ``[start, stop)`` with one recipe: a shard ``Context.map`` may send elsewhere.

    Each text gets a fresh attack (no cache carried over from other texts) seeded from the run
    seed and the text's test row (``keyed_rng(seed, check, model, recipe, row)``), so its outcome
    does not depend on which texts are attacked with it, in which order, or where.
    """

    def __init__(self, model: ModelAdapter, texts: list[Any], labels: np.ndarray, rows: np.ndarray, budget: int, seed: int, check: str) -> None:
        self.model, self.texts, self.labels, self.rows = model, texts, labels, rows
        self.budget, self.seed, self.check = budget, seed, check

    def __call__(self, item: tuple[str, int, int]) -> list[Any]:
        from audit.context import keyed_rng

        recipe, start, stop = item
        out = []
        for i in range(start, stop):
            seed = int(keyed_rng(self.seed, self.check, self.model.name, recipe, int(self.rows[i])).integers(2**31))
            out += run_attack(recipe, self.model, [self.texts[i]], self.labels[i : i + 1], self.budget, seed)
        return out
