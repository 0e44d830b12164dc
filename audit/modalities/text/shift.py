"""``text_shift``: domain shift and text perturbations.

1. **Domain shift** (``domain_column``, e.g. the tweets' ``topic``): for each source domain the
   audited model's own recipe is retrained on that domain's train rows (through the recipe
   registry and the artefact cache, with ``retrain_overrides[<recipe>]`` merged into that
   recipe's parameters, e.g. a smaller CPU budget) and scored on the source domain's test rows
   (reference) and on every other domain's test rows (shifted). Models loaded from a file are
   skipped with a warning (no recipe to retrain).
2. **Perturbations** (:mod:`audit.text.perturb`: typos, character noise, casing, punctuation,
   contractions) at each severity on a seeded sample of ``max_examples`` test texts, the same
   perturbed texts for every model.

Metric paths (``<d>`` source domain, ``<p>@<s>`` perturbation at severity, e.g. ``typos@0.3``)::

    <model>/shift/domain_<metric>_drop[<d>]    reference - shifted, for accuracy, roc_auc, f1
    <model>/shift/domain_accuracy_source[<d>]  accuracy on the source domain's test rows
    <model>/shift/domain_accuracy_target[<d>]  accuracy on the other domains' test rows
    <model>/shift/accuracy[<p>@<s>]            accuracy on the perturbed texts
    <model>/shift/accuracy_drop[<p>@<s>]       clean - perturbed accuracy (paired bootstrap)
    <model>/shift/prediction_stability[<p>@<s>] share of predicted labels left unchanged
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.errors import CheckError
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.registry import suggest
from audit.shift.subpopulation import retrain
from audit.text.perturb import KINDS, distinct_severities, perturb_texts

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter

DOMAIN_METRICS = ("accuracy", "roc_auc", "f1")


class TextShiftParams(CheckParams):
    domain_column: str | None = Field("topic", description="Sensitive column whose values are the domains (null: no domain shift).")
    sources: list[str] | None = Field(None, description="Domains to train on (default: every value of domain_column).")
    retrain_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per recipe name, parameters replaced when retraining on a domain, e.g. {minilm_classifier: {max_train_examples: 1500}}.")
    perturbations: list[Literal["typos", "char_noise", "casing", "punctuation", "contractions"]] = Field(default_factory=lambda: list(KINDS))
    severities: list[float] = Field(default_factory=lambda: [0.1, 0.3, 0.6], min_length=1, max_length=10, description="Share of eligible words changed, in (0, 1].")
    max_examples: int = Field(500, ge=10, le=100_000, description="Test texts perturbed (seeded sample, same for every model).")
    bootstrap: int = Field(1000, ge=0, le=20_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    min_rows: int = Field(30, ge=1, description="Warn when a domain has fewer train or test rows.")

    @field_validator("retrain_overrides")
    @classmethod
    def _recipes(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from audit.registry import RECIPES

        for name, params in value.items():
            if name not in RECIPES:
                raise ValueError(f"unknown model recipe '{name}'; {suggest(name, RECIPES.names())}")
            try:
                RECIPES.get(name).Params.model_validate(params)
            except ValidationError as exc:
                err = exc.errors()[0]
                raise ValueError(f"{name}.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        return value

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[float]) -> list[float]:
        return distinct_severities(value)


class TextShiftCheck(Check):
    name = "text_shift"  # implementation id (also the key of its seeded RNG streams)
    pillar = "shift"
    targets = ("binary",)  # compares the positive-class score
    Params = TextShiftParams
    modalities = ("text",)
    metrics = (
        *(f"domain_{m}_drop" for m in DOMAIN_METRICS), "domain_accuracy_source", "domain_accuracy_target",
        "accuracy", "accuracy_drop", "prediction_stability",
    )  # fmt: skip

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: TextShiftParams = self.params
        if len(ctx.schema.classes) != 2:
            raise CheckError("text_shift supports binary targets; this target has more classes")
        result = CheckResult(self.check_name, model.name)
        if p.domain_column:
            self._domains(ctx, result, model)
        if p.perturbations:
            self._perturbations(ctx, result, model)
        return result

    # -- domain shift ------------------------------------------------------------------------

    def _domains(self, ctx: Context, result: CheckResult, model: ModelAdapter) -> None:
        from audit.shift.subpopulation import metric_drops

        p: TextShiftParams = self.params
        column = p.domain_column
        if column not in ctx.data.train.sensitive.columns:
            raise CheckError(f"domain_column: '{column}' is not a sensitive column of the data; {suggest(column, list(ctx.data.train.sensitive.columns))}")
        train_dom = ctx.data.train.sensitive[column].to_numpy(dtype=str)
        test_dom = ctx.data.test.sensitive[column].to_numpy(dtype=str)
        values = sorted(set(train_dom) | set(test_dom))
        for source in p.sources or []:
            if source not in values:
                raise CheckError(f"sources: '{source}' is not a value of '{column}'; {suggest(source, values)}")
        rows_out = []
        for source in p.sources or values:
            fitted, reason = self._retrain(ctx, model, train_dom == source, source)
            if fitted is None:
                result.warn(f"domain shift from '{source}' skipped: {reason}")
                continue
            sides = {}
            for side, mask in (("source", test_dom == source), ("target", test_dom != source)):
                subset = ctx.derive(ctx.data.test, f"{column}.{source}.{side}", rows=mask)
                if len(subset) < p.min_rows:
                    result.warn(f"domain '{source}': {side} test side has {len(subset)} rows (< {p.min_rows}); its numbers are unreliable")
                pred = ctx.predict(fitted, subset)
                sides[side] = (subset.y, pred.pred, pred.score)
            rngs = (ctx.rng(self.name, model.name, source, "in"), ctx.rng(self.name, model.name, source, "out"))
            drops = metric_drops(sides["source"], sides["target"], rngs, p.bootstrap, p.confidence)
            n_target = len(sides["target"][0])
            for metric in DOMAIN_METRICS:
                result.add(f"domain_{metric}_drop", drops[metric]["drop"], ci=drops[metric]["ci"], n=n_target, group=source, direction="lower")
            result.add("domain_accuracy_source", drops["accuracy"]["reference"], n=len(sides["source"][0]), group=source, direction="higher")
            result.add("domain_accuracy_target", drops["accuracy"]["shifted"], n=n_target, group=source, direction="higher")
            rows_out += [{"source": source, "metric": m, **{k: drops[m][k] for k in ("reference", "shifted", "drop", "ci")}, "train_rows": int((train_dom == source).sum()), "test_source": len(sides["source"][0]), "test_target": n_target} for m in DOMAIN_METRICS]
        if rows_out:
            result.table("domain_shift", rows_out)
            accs = [r for r in rows_out if r["metric"] == "accuracy"]
            result.figure(
                "grouped_bar", title=f"Domain shift by {column}: {model.name}'s recipe trained on one domain", categories=[r["source"] for r in accs],
                series={"same-domain test": [r["reference"] for r in accs], "other-domain test": [r["shifted"] for r in accs]}, value_range=[0.0, 1.0],
                x_label="accuracy by training domain",
            )

    def _retrain(self, ctx: Context, model: ModelAdapter, rows: np.ndarray, source: str) -> tuple[ModelAdapter | None, str]:
        p: TextShiftParams = self.params
        if int(rows.sum()) < p.min_rows or len(np.unique(ctx.data.train.y[rows])) < 2:
            return None, f"domain '{source}' has {int(rows.sum())} train rows; training needs both classes and at least {p.min_rows} rows"
        return retrain(ctx, model, rows, f"{p.domain_column}.{source}", p.retrain_overrides)

    # -- perturbations -------------------------------------------------------------------------

    def _perturbed(self, ctx: Context, sample: Dataset, kind: str, severity: float) -> Dataset:
        key = (self.name, "perturbed", kind, severity, len(sample))
        if key not in ctx.shared:
            texts = perturb_texts(list(sample.X), kind, severity, ctx.rng(self.name, kind, severity))
            ctx.shared[key] = ctx.derive(sample, f"{kind}@{severity}", X=texts)
        return ctx.shared[key]

    def _perturbations(self, ctx: Context, result: CheckResult, model: ModelAdapter) -> None:
        p: TextShiftParams = self.params
        test = ctx.data.test
        n = min(p.max_examples, len(test))
        key = (self.name, "sample", n)
        if key not in ctx.shared:
            rows = np.sort(ctx.rng(self.name, "sample").choice(len(test), size=n, replace=False))
            ctx.shared[key] = test if n == len(test) else ctx.derive(test, f"text_sample{n}", rows=rows)
        sample = ctx.shared[key]
        y = sample.y
        clean = ctx.predict(model, sample)
        clean_ok = (clean.pred == y).astype(float)
        idx = bootstrap_indices(n, p.bootstrap, ctx.rng(self.name, model.name, "perturb")) if p.bootstrap else None
        rows_out, curves, examples = [], {}, []
        for kind in p.perturbations:
            xs, accs = [0.0], [float(clean_ok.mean())]
            for severity in p.severities:
                data = self._perturbed(ctx, sample, kind, severity)
                pred = ctx.predict(model, data)
                ok = (pred.pred == y).astype(float)
                same = (pred.pred == clean.pred).astype(float)
                values = {
                    "accuracy": (ok, "higher"),
                    "accuracy_drop": (clean_ok - ok, "lower"),
                    "prediction_stability": (same, "higher"),
                }
                row: dict[str, Any] = {"perturbation": kind, "severity": severity}
                for metric, (per_row, direction) in values.items():
                    ci = percentile_ci(per_row[idx].mean(axis=1), p.confidence) if idx is not None else None
                    result.add(metric, float(per_row.mean()), ci=ci, n=n, group=f"{kind}@{severity}", direction=direction)
                    row[metric], row[f"{metric}_ci"] = float(per_row.mean()), ci
                rows_out.append(row)
                xs.append(severity)
                accs.append(row["accuracy"])
                if severity == p.severities[-1]:
                    examples.append({"perturbation": kind, "severity": severity, "original": sample.X[0], "perturbed": data.X[0]})
            curves[kind] = [xs, accs]
        result.table("perturbations", rows_out)
        result.table("perturbation_examples", examples)
        result.figure("line", title=f"Accuracy under text perturbations ({n} test texts)", series=curves, x_label="severity (share of words changed)", y_label="accuracy", value_range=[0.0, 1.0])
