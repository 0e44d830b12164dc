"""``performance``: headline classification metrics with bootstrap intervals, overall and per slice.

Point estimates come from ``audit.metrics.binary`` (``audit.metrics.multiclass`` for more than
two classes), which equal scikit-learn. The bootstrap never materialises a (B, n) index matrix:
a replicate is its multinomial(n, 1/n) row counts, summed per cell of one sorted table of the
rows, and every metric (ROC / PR-AUC included, from cumulative weighted TP / FP over one sort of
the scores) follows from those sums (``audit.metrics.bootstrap``); on the same replicate the
numbers equal scikit-learn. Replicates come in blocks of ``audit.metrics.bootstrap.BLOCK``, block
``b`` of a slice seeded by ``ctx.rng("performance", model, <slice or "overall">, "block", b)``
and run through ``ctx.map``. Multiclass targets get macro averages overall and precision /
recall / F1 per class (group ``class=<label>``); the check only reads predictions, so it serves
every modality.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult
from audit.data.base import group_label
from audit.metrics import multiclass as mc
from audit.metrics.binary import (
    DIRECTION,
    METRICS,
    UNDEFINED,
    binary_metrics,
    calibration_curve,
    confusion_counts,
    percentile_ci,
)
from audit.metrics.bootstrap import bootstrap_binary, bootstrap_multiclass

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

HEADLINE = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")


class PerformanceParams(CheckParams):
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Interval coverage.")
    calibration_bins: int = Field(10, ge=2, le=100, description="Equal-width bins for ECE and the calibration curve.")
    slices: bool = Field(True, description="Repeat every metric per group of every sensitive column.")
    min_group_size: int = Field(30, ge=1, description="Warn when a slice is smaller than this.")


class PerformanceCheck(Check):
    requires = ()  # the test rows' predictions: works for predictions-only models
    name = "performance"
    Params = PerformanceParams
    metrics = tuple(dict.fromkeys((*METRICS, *mc.METRICS, *mc.PER_CLASS)))  # binary; multiclass; per class
    modalities = ("tabular", "image", "text")

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: PerformanceParams = self.params
        if len(ctx.schema.classes) != 2:
            return self._run_multiclass(ctx, model)
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        pred = ctx.predict(model, test)
        y, y_hat, score = test.y, pred.pred, pred.score

        point = self._measure(ctx, result, y, y_hat, score, None)
        curve_figures(result, model.name, y, score, point)
        cm = confusion_counts(y, y_hat)
        labels = [str(c) for c in ctx.schema.classes]
        result.table("confusion_matrix", [{"actual": labels[i], **{f"predicted {labels[j]}": int(cm[i, j]) for j in range(2)}} for i in range(2)])
        result.figure("heatmap", title="Confusion matrix (test)", matrix=cm.tolist(), row_labels=labels, col_labels=labels, x_label="predicted", y_label="actual")
        curve = calibration_curve(y, score, n_bins=p.calibration_bins)
        keep = curve["count"] > 0
        result.table("calibration", [{k: (float(curve[k][i]) if k != "count" else int(curve[k][i])) for k in curve} for i in np.flatnonzero(keep)])
        result.figure(
            "line",
            title="Calibration (test): observed rate of the positive class by predicted probability",
            series={model.name: (curve["mean_pred"][keep].tolist(), curve["frac_pos"][keep].tolist())},
            diagonal=True, x_label="mean predicted probability", y_label="observed frequency", value_range=(0.0, 1.0),
            x_range=(0.0, 1.0), counts={model.name: curve["count"][keep].astype(int).tolist()},
        )
        if p.slices:
            self._slices(ctx, result, y, y_hat, score)
        return result

    def _rng_of(self, ctx: Context, result: CheckResult, group: str | None):  # noqa: ANN202 - block -> Generator
        def rng_of(b: int) -> np.random.Generator:
            return ctx.rng(self.name, result.model, group or "overall", "block", b)

        return rng_of

    def _measure(self, ctx: Context, result: CheckResult, y: np.ndarray, y_hat: np.ndarray, score: np.ndarray, group: str | None) -> dict[str, float]:
        p: PerformanceParams = self.params
        point = binary_metrics(y, y_hat, score, n_bins=p.calibration_bins)
        boots = None
        if p.bootstrap:
            boots = bootstrap_binary(
                ctx, y, y_hat, score, p.bootstrap, self._rng_of(ctx, result, group),
                n_bins=p.calibration_bins, label=f"performance bootstrap [{group or 'overall'}]",
            )
        for name in METRICS:
            ci = percentile_ci(boots[name], p.confidence) if boots is not None else None
            value = float(point[name])
            reason = UNDEFINED.get(name, "undefined on these rows") if np.isnan(value) else None
            result.add(name, value, ci=ci, n=len(y), group=group, direction=DIRECTION[name], reason=reason)
            if boots is not None:
                dropped = int(np.count_nonzero(~np.isfinite(boots[name])))
                if dropped:  # replicates where the metric was undefined: left out, and counted
                    result.tables.setdefault("undefined_replicates", []).append(
                        {"metric": name, "group": group or "overall", "replicates_used": len(boots[name]) - dropped, "replicates_dropped": dropped}
                    )
        return {k: float(v) for k, v in point.items()}

    def _slices(self, ctx: Context, result: CheckResult, y: np.ndarray, y_hat: np.ndarray, score: np.ndarray) -> None:
        p: PerformanceParams = self.params
        rows_out = []
        for column in ctx.schema.group_columns:
            groups = ctx.data.test.groups(column).to_numpy()
            labels, sizes, values = [], [], {name: [] for name in HEADLINE}
            for value in sorted(set(groups), key=str):
                rows = np.flatnonzero(groups == value)
                label = group_label(column, value)
                if len(rows) < p.min_group_size:
                    result.warn(f"slice {label} has {len(rows)} test rows (< {p.min_group_size}); its metrics are unreliable")
                point = self._measure(ctx, result, y[rows], y_hat[rows], score[rows], label)
                rows_out.append({"slice": label, "n": int(len(rows)), **{k: point[k] for k in METRICS}})
                labels.append(str(value))
                sizes.append(f"n={len(rows)}")
                for name in HEADLINE:
                    values[name].append(point[name])
            result.figure("grouped_bar", title=f"Performance by {column}", categories=labels, series={k: values[k] for k in ("accuracy", "recall", "roc_auc")}, value_range=(0.0, 1.0), annotations=sizes)
        result.table("slices", rows_out)

    def _run_multiclass(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: PerformanceParams = self.params
        result = CheckResult(self.check_name, model.name)
        test, labels = ctx.data.test, [str(c) for c in ctx.schema.classes]
        proba = ctx.predict(model, test).proba
        y, y_hat = test.y, proba.argmax(axis=1)
        confusion = self._measure_multiclass(ctx, result, y, y_hat, proba, None)
        per = mc.per_class_metrics(y, y_hat, len(labels))
        boots = mc.per_class_from_counts(confusion) if confusion is not None else None  # the same replicates
        rows = []
        for k, label in enumerate(labels):
            support = int(per["support"][k])
            if support < p.min_group_size:
                result.warn(f"class {label} has {support} test rows (< {p.min_group_size}); its metrics are unreliable")
            row = {"class": label, "support": support}
            for name in mc.PER_CLASS:
                ci = percentile_ci(boots[name][:, k], p.confidence) if boots is not None else None
                result.add(name, float(per[name][k]), ci=ci, n=support, group=group_label("class", label), direction="higher")
                row[name], row[f"{name}_ci"] = float(per[name][k]), ci
            rows.append(row)
        result.table("per_class", rows)
        result.figure("grouped_bar", title="Precision, recall and F1 by class (test)", categories=labels,
                      series={k: [r[k] for r in rows] for k in mc.PER_CLASS}, value_range=(0.0, 1.0))
        cm = mc.confusion_matrices(y, y_hat, len(labels))
        result.table("confusion_matrix", [{"actual": labels[i], **{f"predicted {labels[j]}": int(cm[i, j]) for j in range(len(labels))}} for i in range(len(labels))])
        result.figure("heatmap", title="Confusion matrix (test)", matrix=cm.tolist(), row_labels=labels, col_labels=labels, x_label="predicted", y_label="actual")
        curve = calibration_curve((y_hat == y).astype(int), proba.max(axis=1), n_bins=p.calibration_bins)
        keep = curve["count"] > 0
        result.figure(
            "line", title="Top-label calibration (test): accuracy by confidence (max probability)",
            series={model.name: (curve["mean_pred"][keep].tolist(), curve["frac_pos"][keep].tolist())},
            diagonal=True, x_label="mean confidence", y_label="accuracy", value_range=(0.0, 1.0),
            x_range=(0.0, 1.0), counts={model.name: curve["count"][keep].astype(int).tolist()},
        )
        if p.slices:
            for column in ctx.schema.group_columns:
                groups = test.groups(column).to_numpy()
                for value in sorted(set(groups), key=str):
                    rows_in = np.flatnonzero(groups == value)
                    self._measure_multiclass(ctx, result, y[rows_in], y_hat[rows_in], proba[rows_in], group_label(column, value))
        return result

    def _measure_multiclass(self, ctx: Context, result: CheckResult, y: np.ndarray, y_hat: np.ndarray, proba: np.ndarray, group: str | None) -> np.ndarray | None:
        """Record the multiclass metrics; return the replicates' confusion matrices (B, K, K)."""
        p: PerformanceParams = self.params
        point = mc.multiclass_metrics(y, y_hat, proba, n_bins=p.calibration_bins)
        boots = None
        if p.bootstrap:
            boots = bootstrap_multiclass(
                ctx, y, y_hat, proba, p.bootstrap, self._rng_of(ctx, result, group),
                n_bins=p.calibration_bins, label=f"performance bootstrap [{group or 'overall'}]",
            )
        for name in mc.METRICS:
            ci = percentile_ci(boots[name], p.confidence) if boots is not None else None
            result.add(name, float(point[name]), ci=ci, n=len(y), group=group, direction=mc.DIRECTION[name])
        return boots["confusion"] if boots is not None else None


CURVE_POINTS = 200  # at most this many points per stored curve, whatever the test size


def thin(*arrays: np.ndarray, most: int = CURVE_POINTS) -> list[list[float]]:
    """The arrays at ``most`` evenly spaced indices (first and last kept), rounded for storage."""
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int)) if n else np.zeros(0, dtype=int)
    return [np.round(np.asarray(a, dtype=float)[keep], 5).tolist() for a in arrays]


def curve_figures(result: CheckResult, model: str, y: np.ndarray, score: np.ndarray, point: dict[str, float]) -> None:
    """ROC and precision-recall curves (scikit-learn's points, thinned to ``CURVE_POINTS``) as
    figure data; the areas in the titles are the check's own metrics, not recomputed."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    if len(np.unique(y)) < 2:
        return  # one class: neither curve is defined (roc_auc is null with its reason)
    fpr, tpr, _ = roc_curve(y, score)
    fpr, tpr = thin(fpr, tpr)
    result.figure(
        "line", title=f"ROC curve (test): ROC-AUC {point['roc_auc']:.3f}", series={model: (fpr, tpr)},
        diagonal=True, dense=True, x_label="false positive rate", y_label="true positive rate",
        value_range=(0.0, 1.0), x_range=(0.0, 1.0), width=420, height=400,
    )
    precision, recall, _ = precision_recall_curve(y, score)
    recall, precision = thin(recall[::-1], precision[::-1])
    prevalence = float(np.mean(y == 1))
    result.figure(
        "line", title=f"Precision-recall curve (test): PR-AUC {point['pr_auc']:.3f}",
        series={model: (recall, precision), f"no skill (positive rate {prevalence:.2f})": ([0.0, 1.0], [prevalence, prevalence])},
        dense=True, x_label="recall", y_label="precision", value_range=(0.0, 1.0), x_range=(0.0, 1.0), width=420, height=400,
    )
