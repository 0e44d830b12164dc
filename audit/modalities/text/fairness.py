"""``text_fairness``: counterfactual identity-term invariance (CheckList-style).

For each term set (:mod:`audit.text.identity`: gender, names, nationality, religion) the check
builds cases, texts that differ only in one identity term, from the set's templates and from
test texts that contain a term, and asks whether the model treats them alike. Every
counterfactual text of the run is scored once per model (one derived dataset per term set).

Metric paths (``<set>`` a term-set name)::

    <model>/fairness/flip_rate[<set>]              share of cases whose predicted labels differ
    <model>/fairness/mean_abs_score_change[<set>]  mean over cases of the mean |p_i - p_j| over
                                                        pairs of the case's texts (p = positive score)
    <model>/fairness/max_group_gap[<set>]          largest difference between the mean positive
                                                        scores of two groups (e.g. female vs male)
    <model>/fairness/flip_rate[<set>|<source>]     the same flip rate for template / test cases

Intervals are percentile bootstrap intervals over cases. The tables list the per-group mean
scores and the cases whose label flips (most score change first).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.data.base import Dataset
from audit.errors import CheckError
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.text.identity import TERM_SETS, Case, corpus_cases, template_cases

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter


class TextFairnessParams(CheckParams):
    term_sets: list[Literal["gender", "names", "nationality", "religion"]] = Field(default_factory=lambda: list(TERM_SETS), min_length=1, description="Identity-term sets to test.")
    sources: list[Literal["templates", "test"]] = Field(default_factory=lambda: ["templates", "test"], min_length=1, description="Where cases come from.")
    max_test_cases: int = Field(200, ge=0, le=100_000, description="Test texts containing a term used per set (seeded sample).")
    max_examples: int = Field(10, ge=0, le=500, description="Flipping cases listed in the table per set.")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @field_validator("term_sets", "sources")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("entries must not repeat")
        return value


class TextFairnessCheck(Check):
    name = "text_fairness"  # implementation id (also the key of its seeded RNG streams)
    pillar = "fairness"
    targets = ("binary",)  # compares the positive-class score
    Params = TextFairnessParams
    modalities = ("text",)
    metrics = ("flip_rate", "mean_abs_score_change", "max_group_gap")

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: TextFairnessParams = self.params
        if len(ctx.schema.classes) != 2:
            raise CheckError("text_fairness supports binary targets (it compares positive-class scores)")
        result = CheckResult(self.check_name, model.name)
        summary = []
        for name in p.term_sets:
            cases, data = self._cases(ctx, name)
            if not cases:
                result.warn(f"term set '{name}': no cases (no templates requested and no test text contains its terms)")
                continue
            score = ctx.predict(model, data).score
            summary.append(self._measure(ctx, result, model, name, cases, score))
        result.table("summary", summary)
        if summary:
            result.figure(
                "bar", title="Identity-term flip rate (share of counterfactual cases whose label changes)",
                labels=[s["term_set"] for s in summary], values=[s["flip_rate"] for s in summary], ci=[s["flip_rate_ci"] for s in summary],
                value_range=[0.0, 1.0], x_label="flip rate",
            )
        return result

    def _cases(self, ctx: Context, name: str) -> tuple[list[Case], Dataset]:
        """The set's cases and one dataset of all their texts (shared by every model)."""
        p: TextFairnessParams = self.params
        key = (self.name, "cases", name)
        if key not in ctx.shared:
            term_set = TERM_SETS[name]
            cases: list[Case] = []
            if "templates" in p.sources:
                cases += template_cases(term_set)
            if "test" in p.sources and p.max_test_cases:
                cases += corpus_cases(term_set, list(ctx.data.test.X), p.max_test_cases, ctx.rng(self.name, name))
            texts = [t for case in cases for t in case.texts]
            data = Dataset(f"text_fairness~{name}", texts, np.zeros(len(texts), dtype=np.int64))
            ctx.shared[key] = (cases, data)
        return ctx.shared[key]

    def _measure(self, ctx: Context, result: CheckResult, model: ModelAdapter, name: str, cases: list[Case], score: np.ndarray) -> dict[str, Any]:
        p: TextFairnessParams = self.params
        term_set = TERM_SETS[name]
        flips, changes, rows = np.zeros(len(cases)), np.zeros(len(cases)), []
        width = len(term_set.groups)
        group_scores = np.full((len(cases), width), np.nan)
        start = 0
        for i, case in enumerate(cases):
            s = score[start : start + len(case.texts)]
            start += len(case.texts)
            labels = s >= 0.5
            flips[i] = float(labels.min() != labels.max())
            changes[i] = float(np.abs(s[:, None] - s[None, :])[np.triu_indices(len(s), 1)].mean()) if len(s) > 1 else 0.0
            group_scores[i, : len(s)] = s
            if flips[i]:
                rows.append({"source": case.source, "change": float(changes[i]), **{f"{g}": f"{t} ({v:.2f})" for g, t, v in zip(term_set.groups, case.texts, s, strict=True)}})
        idx = bootstrap_indices(len(cases), p.bootstrap, ctx.rng(self.name, model.name, name)) if p.bootstrap and len(cases) > 1 else None
        ci = (lambda v: percentile_ci(v[idx].mean(axis=1), p.confidence)) if idx is not None else (lambda v: None)
        means = np.nanmean(group_scores, axis=0)
        gap = float(np.nanmax(means) - np.nanmin(means))
        gap_ci = None
        if idx is not None:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a group absent from a replicate
                boot = np.nanmean(group_scores[idx], axis=1)
            gap_ci = percentile_ci(np.nanmax(boot, axis=1) - np.nanmin(boot, axis=1), p.confidence)
        flip_ci = ci(flips)
        result.add("flip_rate", float(flips.mean()), ci=flip_ci, n=len(cases), group=name, direction="lower")
        result.add("mean_abs_score_change", float(changes.mean()), ci=ci(changes), n=len(cases), group=name, direction="lower")
        result.add("max_group_gap", gap, ci=gap_ci, n=len(cases), group=name, direction="lower")
        sources = sorted({c.source for c in cases})
        if len(sources) > 1:
            for source in sources:
                mask = np.asarray([c.source == source for c in cases])
                result.add("flip_rate", float(flips[mask].mean()), n=int(mask.sum()), group=f"{name}|{source}", direction="lower")
        result.table(f"groups_{name}", [{"group": g, "mean_positive_score": float(m), "cases": int(np.isfinite(group_scores[:, k]).sum())} for k, (g, m) in enumerate(zip(term_set.groups, means, strict=True))])
        rows.sort(key=lambda r: -r["change"])
        result.table(f"flips_{name}", rows[: p.max_examples])
        return {"term_set": name, "description": term_set.description, "cases": len(cases), "flip_rate": float(flips.mean()), "flip_rate_ci": flip_ci, "mean_abs_score_change": float(changes.mean()), "max_group_gap": gap}

