"""``shift``: how a tabular model holds up when the data moves away from its training distribution.

Two kinds of scenario, both declared in the suite:

1. **Subpopulation shift** (``scenarios``): the model's own recipe is retrained on the train rows
   matching a condition (:mod:`audit.shift.conditions`) and scored on the test rows outside it
   (shifted) and inside it (reference). Models loaded from a file cannot be retrained; their
   scenarios are skipped with a warning.
2. **Covariate perturbation** (``perturbations`` x ``severities``): the test features are
   perturbed (:mod:`audit.shift.perturb`: ``noise``, ``missing``, ``resample``) and the audited
   model rescored. Perturbed sets are shared by every model of the run, so each model predicts
   each of them once.

Metric paths (``<p>`` = perturbation, ``<s>`` = severity as written by Python's ``str(float)``,
e.g. ``noise@0.5``, ``missing@1.0``; group labels as in the fairness check)::

    <model>/shift/<metric>_drop[<scenario>]        every performance metric, drop = how much worse
                                                   out-of-condition is than in-condition
    <model>/shift/accuracy[<p>@<s>]                accuracy on the perturbed test set
    <model>/shift/roc_auc[<p>@<s>]
    <model>/shift/accuracy_drop[<p>@<s>]           clean accuracy - perturbed accuracy
    <model>/shift/prediction_stability[<p>@<s>]    share of predicted labels left unchanged
    <model>/shift/accuracy_drop[<p>@<s>|<group>]   per sensitive group, at the highest severity only,
                                                   e.g. accuracy_drop[noise@1.0|sex=female]

All intervals are percentile bootstrap intervals. Perturbation metrics resample the test rows
with one shared index matrix (paired with the clean predictions); the per-group drops resample
within the group.

Scale: the perturbations act on at most ``max_rows`` test rows (a seeded sample shared by every
model; the metrics' ``n`` is the sample size), and each perturbed frame is encoded once for all
the models whose fitted preprocessors are equal (:mod:`audit.shift.encoded`), each model then
scoring the shared matrix through ``proba_from_encoded``. A ``ctx.log`` line follows about every
10% of the perturbed sets a model scores.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.context import Predictions
from audit.data.base import Dataset, group_label
from audit.errors import CheckError
from audit.metrics.binary import METRICS, binary_metrics, bootstrap_indices, percentile_ci
from audit.registry import suggest
from audit.shift import encoded, perturb
from audit.shift.conditions import Condition
from audit.shift.subpopulation import metric_drops, retrain

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

HEADLINE = ("accuracy", "balanced_accuracy", "recall", "f1", "roc_auc")


class ShiftParams(CheckParams):
    scenarios: list[Condition] = Field(default_factory=list, max_length=20, description="Subpopulation scenarios: train where the condition holds, test where it does not.")
    perturbations: list[Literal["noise", "missing", "resample"]] = Field(default_factory=lambda: list(perturb.KINDS), description="Covariate perturbations of the test set.")
    severities: list[float] = Field(default_factory=lambda: [0.1, 0.25, 0.5, 1.0], max_length=20, description="Severities in [0, 1]; 1 applies the full noise_scale / missing_rate / resample_rate.")
    noise_scale: float = Field(1.0, gt=0.0, le=10.0, description="Noise standard deviation at severity 1, in train standard deviations of each numeric feature.")
    missing_rate: float = Field(0.5, ge=0.0, le=1.0, description="Share of cells made missing at severity 1.")
    resample_rate: float = Field(0.5, ge=0.0, le=1.0, description="Share of categorical cells redrawn from the train marginal at severity 1.")
    features: list[str] | None = Field(None, min_length=1, description="Features to perturb (default: all).")
    groups: bool = Field(True, description="Break the highest severity down by sensitive group.")
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Interval coverage.")
    min_rows: int = Field(30, ge=1, description="Warn when a scenario side has fewer rows than this.")
    max_rows: int | None = Field(100_000, ge=100, description="Perturb and rescore at most this many test rows (a seeded sample shared by every model; the metrics' n says how many); null: all.")

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[float]) -> list[float]:
        if any(not 0.0 <= s <= 1.0 for s in value):
            raise ValueError("every severity must lie in [0, 1] (scale the perturbation with noise_scale, missing_rate, resample_rate)")
        if len(set(value)) != len(value):
            raise ValueError("severities must not repeat")
        return sorted(float(s) for s in value)

    @field_validator("scenarios")
    @classmethod
    def _unique_scenarios(cls, value: list[Condition]) -> list[Condition]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"scenario names must be unique; repeated: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        return value

    @field_validator("perturbations")
    @classmethod
    def _unique_kinds(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("perturbations must not repeat")
        return value


class ShiftCheck(Check):
    name = "shift"
    targets = ("binary",)  # compares the positive-class score
    Params = ShiftParams
    metrics = tuple(dict.fromkeys((*(f"{m}_drop" for m in METRICS), "accuracy", "roc_auc", "accuracy_drop", "prediction_stability")))

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: ShiftParams = self.params
        if len(ctx.schema.classes) != 2:
            raise CheckError("shift on tabular data supports binary targets; this target has more classes")
        for feature in p.features or []:
            if feature not in ctx.schema.features:
                raise CheckError(f"features: '{feature}' is not a feature column; {suggest(feature, list(ctx.schema.features))}")
        from threadpoolctl import threadpool_limits

        result = CheckResult(self.check_name, model.name)
        # Many small fits and predictions: OpenMP thread start-up and spinning (scikit-learn's
        # gradient boosting) cost far more than they save here, and on a busy machine 10x more.
        with threadpool_limits(limits=1, user_api="openmp"):
            if p.scenarios:
                rows = [row for scenario in p.scenarios for row in self._scenario(ctx, result, model, scenario)]
                result.table("subpopulation", rows)
            if p.perturbations and p.severities:
                self._perturbations(ctx, result, model)
        return result

    # -- subpopulation shift -------------------------------------------------------------------

    def _scenario(self, ctx: Context, result: CheckResult, model: ModelAdapter, scenario: Condition) -> list[dict[str, Any]]:
        p: ShiftParams = self.params
        refusal = ctx.retrain_refusal(model)
        if refusal is not None:
            result.warn(f"scenario '{scenario.name}' skipped: {refusal}")
            return []
        train, test = ctx.data.train, ctx.data.test
        in_train, in_test = scenario.mask(train), scenario.mask(test)
        sizes = {"train (in)": int(in_train.sum()), "test (in)": int(in_test.sum()), "test (out)": int((~in_test).sum())}
        if min(sizes.values()) == 0 or len(np.unique(train.y[in_train])) < 2:
            hint = "; check the condition's values against the data (categories compare as text, case-sensitive)" if min(sizes.values()) == 0 else ""
            result.warn(f"scenario '{scenario.name}' ({scenario.describe()}) skipped: {_sizes(sizes)}; training needs both classes and each test side a row{hint}")
            return []
        for side, n in sizes.items():
            if n < p.min_rows:
                result.warn(f"scenario '{scenario.name}': {side} has {n} rows (< {p.min_rows}); its numbers are unreliable")
        fitted, reason = retrain(ctx, model, in_train, scenario.name)
        if fitted is None:
            result.warn(f"scenario '{scenario.name}' skipped: {reason}")
            return []
        sides = {}
        for side, mask in (("in", in_test), ("out", ~in_test)):
            subset = ctx.derive(test, f"shift.{scenario.name}.{side}", rows=mask)
            pred = ctx.predict(fitted, subset)
            sides[side] = (subset.y, pred.pred, pred.score)
        rngs = (ctx.rng(self.name, model.name, scenario.name, "in"), ctx.rng(self.name, model.name, scenario.name, "out"))
        drops = metric_drops(sides["in"], sides["out"], rngs, p.bootstrap, p.confidence)
        rows = []
        for metric in METRICS:
            d = drops[metric]
            result.add(f"{metric}_drop", d["drop"], ci=d["ci"], n=sizes["test (out)"], group=scenario.name, direction="lower")
            rows.append({"scenario": scenario.name, "condition": scenario.describe(), "metric": metric, **{k: d[k] for k in ("reference", "reference_ci", "shifted", "shifted_ci", "drop")}, "drop_ci": d["ci"], **sizes})
        result.figure(
            "grouped_bar", title=f"Subpopulation shift '{scenario.name}': trained where {scenario.describe()}",
            categories=list(HEADLINE), value_range=[0.0, 1.0],
            series={"reference (in)": [drops[m]["reference"] for m in HEADLINE], "shifted (out)": [drops[m]["shifted"] for m in HEADLINE]},
            ci={"reference (in)": [drops[m]["reference_ci"] for m in HEADLINE], "shifted (out)": [drops[m]["shifted_ci"] for m in HEADLINE]},
            caption=f"{model.name}'s recipe retrained on the {sizes['train (in)']} train rows where {scenario.describe()}; scored on the {sizes['test (in)']} test rows inside (reference) and the {sizes['test (out)']} outside (shifted) the condition.",
        )
        return rows

    # -- covariate perturbations -----------------------------------------------------------------

    def _perturbations(self, ctx: Context, result: CheckResult, model: ModelAdapter) -> None:
        p: ShiftParams = self.params
        if ctx.data.background is None:
            result.warn("perturbations skipped: noise scales and resampled values come from the feature distribution, and the run has no training or reference rows (set data.reference)")
            return
        test, sample = self._rows(ctx)
        y = test.y
        clean = _clean_predictions(ctx, model, sample)
        idx = bootstrap_indices(len(y), p.bootstrap, ctx.rng(self.name, model.name, "perturb")) if p.bootstrap else None
        clean_acc = (clean.pred == y).astype(np.float64)
        clean_boot = clean_acc[idx].mean(axis=1) if idx is not None else None
        curves: dict[str, dict[str, list]] = {}
        rows: list[dict[str, Any]] = []
        worst: dict[str, np.ndarray] = {}
        scorer = encoded.EncodedScorer(ctx, model)  # perturbed frames encoded once for every model sharing a preprocessor
        progress, done, total = ctx.progress(model.name, "shift: perturbed set"), 0, len(p.perturbations) * len(p.severities)
        for kind in p.perturbations:
            datasets = self._perturbed(ctx, kind, test)
            if not datasets:
                result.warn(f"perturbation '{kind}' has no features to act on; skipped")
                continue
            curve = curves.setdefault(kind, {"x": [0.0], "acc": [float(clean_acc.mean())], "acc_ci": [percentile_ci(clean_boot, p.confidence) if clean_boot is not None else None], "stab": [1.0]})
            for severity, dataset in datasets:
                label = f"{kind}@{severity}"
                try:
                    pred = ctx.predict(scorer, dataset)
                    done += 1
                    progress(done, total, f"{label}, {len(dataset)} rows")
                except (ValueError, TypeError, RuntimeError) as exc:
                    result.warn(f"perturbation '{kind}': model cannot score the perturbed rows ({exc.__class__.__name__}: {exc}); skipped")
                    curves.pop(kind, None)
                    worst.pop(kind, None)
                    break
                point = binary_metrics(y, pred.pred, pred.score)
                boot = _bootstrap_accuracy_auc(y, pred.pred, pred.score, idx) if idx is not None else None
                same = (pred.pred == clean.pred).astype(np.float64)
                correct = (pred.pred == y).astype(np.float64)
                values = {
                    "accuracy": (float(point["accuracy"]), boot["accuracy"] if boot is not None else None, "higher"),
                    "roc_auc": (float(point["roc_auc"]), boot["roc_auc"] if boot is not None else None, "higher"),
                    "accuracy_drop": (float(clean_acc.mean() - correct.mean()), clean_boot - correct[idx].mean(axis=1) if idx is not None else None, "lower"),
                    "prediction_stability": (float(same.mean()), same[idx].mean(axis=1) if idx is not None else None, "higher"),
                }
                row: dict[str, Any] = {"perturbation": kind, "severity": severity}
                for metric, (value, samples, direction) in values.items():
                    ci = percentile_ci(samples, p.confidence) if samples is not None else None
                    result.add(metric, value, ci=ci, n=len(y), group=label, direction=direction)
                    row[metric], row[f"{metric}_ci"] = value, ci
                rows.append(row)
                if severity == 0.0:
                    curve["acc"][0], curve["acc_ci"][0], curve["stab"][0] = row["accuracy"], row["accuracy_ci"], row["prediction_stability"]
                else:
                    curve["x"].append(severity)
                    curve["acc"].append(row["accuracy"])
                    curve["acc_ci"].append(row["accuracy_ci"])
                    curve["stab"].append(row["prediction_stability"])
                worst[kind] = correct
        result.table("perturbations", rows)
        if curves:
            self._curve_figures(result, curves)
        if p.groups and worst and ctx.schema.group_columns:
            self._groups(ctx, result, model, test, clean_acc, worst)

    def _rows(self, ctx: Context) -> tuple[Dataset, np.ndarray | None]:
        """The test rows the perturbations act on: all, or a seeded sample of ``max_rows`` (shared
        by every model of the run); the sample's positions in the test set, None for all."""
        p: ShiftParams = self.params
        test = ctx.data.test
        if p.max_rows is None or len(test) <= p.max_rows:
            return test, None
        key = (self.name, "rows", p.max_rows, test.name, len(test))
        if key not in ctx.shared:
            rows = np.sort(ctx.rng(self.name, "rows", p.max_rows).choice(len(test), size=p.max_rows, replace=False))
            ctx.shared[key] = (ctx.derive(test, f"shift.sample{p.max_rows}", rows=rows), rows)
        return ctx.shared[key]

    def _perturbed(self, ctx: Context, kind: str, test: Dataset) -> list[tuple[float, Dataset]]:
        """The (severity, dataset) pairs of one perturbation of ``test``, built once per run and shared."""
        p: ShiftParams = self.params
        schema, train = ctx.schema, ctx.data.background  # the reference rows, else train
        columns = perturb.perturb_columns(kind, list(p.features or schema.features), schema.numeric, schema.categorical)
        if not columns:
            return []
        strength = {"noise": p.noise_scale, "missing": p.missing_rate, "resample": p.resample_rate}[kind]
        config = json.dumps({"kind": kind, "columns": columns, "strength": strength, **({"rows": len(test), "max_rows": p.max_rows} if test is not ctx.data.test else {})}, sort_keys=True)
        tag = hashlib.sha256(config.encode()).hexdigest()[:8]
        key = (self.name, "perturbed", config)
        if key not in ctx.shared:
            draws = perturb.draw(kind, train.X, len(test), columns, ctx.rng(self.name, "perturb", config))
            spread = perturb.train_spread(train.X, columns) if kind == "noise" else {}
            ctx.shared[key] = [
                (s, ctx.derive(test, f"shift.{kind}@{s}.{tag}", X=perturb.apply(kind, test.X, s, columns=columns, draws=draws, spread=spread, strength=strength)))
                for s in p.severities
            ]
        return ctx.shared[key]

    def _curve_figures(self, result: CheckResult, curves: dict[str, dict[str, list]]) -> None:
        bands = {}
        for kind, c in curves.items():
            if all(ci is not None for ci in c["acc_ci"]):
                bands[kind] = [[ci[0] for ci in c["acc_ci"]], [ci[1] for ci in c["acc_ci"]]]
        result.figure(
            "line", title="Accuracy under covariate perturbation (severity 0 = clean test set)",
            series={k: [c["x"], c["acc"]] for k, c in curves.items()}, bands=bands or None,
            x_label="severity", y_label="accuracy", caption="Shaded: bootstrap interval of the accuracy.",
        )
        result.figure(
            "line", title="Prediction stability: share of predicted labels unchanged",
            series={k: [c["x"], c["stab"]] for k, c in curves.items()}, x_label="severity", y_label="share unchanged", value_range=[0.0, 1.0],
        )

    def _groups(self, ctx: Context, result: CheckResult, model: ModelAdapter, test: Dataset, clean_acc: np.ndarray, worst: dict[str, np.ndarray]) -> None:
        """Accuracy drop per sensitive group at the highest severity of each perturbation."""
        p: ShiftParams = self.params
        top = p.severities[-1]
        rows, categories = [], []
        series: dict[str, list[float]] = {f"{k}@{top}": [] for k in worst}
        cis: dict[str, list[Any]] = {f"{k}@{top}": [] for k in worst}
        for column in ctx.schema.group_columns:
            groups = test.groups(column).to_numpy(dtype=str)
            for value in sorted(set(groups)):
                members = np.flatnonzero(groups == value)
                label = group_label(column, value)
                categories.append(label)
                idx = members[bootstrap_indices(len(members), p.bootstrap, ctx.rng(self.name, model.name, "group", label))] if p.bootstrap else None
                for kind, correct in worst.items():
                    name = f"{kind}@{top}"
                    drop = float(clean_acc[members].mean() - correct[members].mean())
                    ci = percentile_ci(clean_acc[idx].mean(axis=1) - correct[idx].mean(axis=1), p.confidence) if idx is not None else None
                    result.add("accuracy_drop", drop, ci=ci, n=len(members), group=f"{name}|{label}", direction="lower")
                    rows.append({"perturbation": name, "group": label, "n": int(len(members)), "clean_accuracy": float(clean_acc[members].mean()), "perturbed_accuracy": float(correct[members].mean()), "accuracy_drop": drop, "accuracy_drop_ci": ci})
                    series[name].append(drop)
                    cis[name].append(ci)
        result.table("groups", rows)
        result.figure(
            "grouped_bar", title=f"Accuracy drop by group at severity {top}", categories=categories, series=series, ci=cis,
            horizontal=True, x_label="clean accuracy - perturbed accuracy",
        )


def _bootstrap_accuracy_auc(y: np.ndarray, pred: np.ndarray, score: np.ndarray, idx: np.ndarray, chunk_elements: int = 1 << 21) -> dict[str, np.ndarray]:
    """Accuracy and tie-aware ROC-AUC of every bootstrap replicate (row of ``idx``), the two
    metrics the perturbation rows report, in O(B x n) time and O(chunk) memory.

    The scores are sorted once; a replicate is the multiplicity of each row (``bincount`` of its
    indices), summed per tie block of scores: AUC = sum over blocks of positives x (negatives in
    lower blocks + half the tied negatives) / (P x N), the Mann-Whitney statistic with average
    ranks, as :func:`audit.metrics.binary.binary_metrics` defines it (NaN without both classes).
    """
    y = np.asarray(y, dtype=np.int64)
    n, n_boot = len(y), len(idx)
    correct = (np.asarray(pred) == y).astype(np.float64)
    order = np.argsort(np.asarray(score, dtype=np.float64), kind="stable")  # ascending
    ranked = np.empty(n, dtype=np.int64)
    ranked[order] = np.arange(n)
    sorted_score = np.asarray(score, dtype=np.float64)[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])  # tie blocks
    positive = y[order] == 1
    accuracy = np.empty(n_boot)
    auc = np.empty(n_boot)
    step = max(1, chunk_elements // max(n, 1))
    for a in range(0, n_boot, step):
        rows = idx[a : a + step]
        r = len(rows)
        accuracy[a : a + r] = correct[rows].mean(axis=1)
        flat = (np.arange(r)[:, None] * n + ranked[rows]).ravel()
        weights = np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)  # multiplicity, in score order
        pos = np.add.reduceat(np.where(positive, weights, 0.0), starts, axis=1)
        neg = np.add.reduceat(np.where(positive, 0.0, weights), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg  # negatives in strictly lower blocks
        n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
        num = (pos * (below + 0.5 * neg)).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc[a : a + r] = np.where((n_pos > 0) & (n_neg > 0), num / (n_pos * n_neg), np.nan)
    return {"accuracy": accuracy, "roc_auc": auc}


def _clean_predictions(ctx: Context, model: ModelAdapter, sample: np.ndarray | None) -> Predictions:
    """The model's predictions on the sampled test rows (``sample``; None: all), taken from the
    full test set's, which the run caches."""
    full = ctx.predict(model, ctx.data.test)
    return full if sample is None else Predictions(full.proba[sample])


def _sizes(sizes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v} rows" for k, v in sizes.items())
