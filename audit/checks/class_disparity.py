"""``class_disparity``: how unevenly a classifier serves its classes, and which classes it confuses.

For image data there are no sensitive attributes; the per-class view is the fairness question
("does the model fail some digits much more than others?"). Per replicate of one bootstrap over
test rows we take the worst and best class's recall, precision and F1, so the gaps carry honest
intervals (the worst class may differ between replicates). A replicate is drawn from the counts:
resampling the n test rows puts a multinomial(n, cells / n) number of them in the cells of the
confusion matrix (``audit.metrics.bootstrap``), so memory is O(B x K^2), not O(B x n); blocks of
replicates are seeded by ``ctx.rng("class_disparity", model, "confusion", "block", b)``. Gateable paths include
``<model>/fairness/worst_class_recall`` and ``.../recall_gap``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult
from audit.errors import CheckError
from audit.metrics import multiclass as mc
from audit.metrics.binary import percentile_ci
from audit.metrics.bootstrap import bootstrap_table

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter


class ClassDisparityParams(CheckParams):
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    top_pairs: int = Field(5, ge=1, le=100, description="Most confused (actual, predicted) pairs to list.")
    min_class_size: int = Field(30, ge=1, description="Warn when a class has fewer test rows.")


def _spread(per_class: np.ndarray) -> dict[str, np.ndarray]:
    """Worst, best, gap and ratio over the last axis (classes), ignoring classes absent (nan)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        worst, best = np.nanmin(per_class, axis=-1), np.nanmax(per_class, axis=-1)
        return {"worst": worst, "best": best, "gap": best - worst, "ratio": np.where(best > 0, worst / best, np.nan)}


class ClassDisparityCheck(Check):
    requires = ()  # the test rows' predictions: works for predictions-only models
    name = "class_disparity"  # implementation id (also the key of its seeded RNG streams)
    pillar = "fairness"
    Params = ClassDisparityParams
    modalities = ("tabular", "image", "text")
    metrics = (
        *(f"{kind}_{m}" for m in mc.PER_CLASS for kind in ("worst_class", "best_class")),
        *(f"{m}_{kind}" for m in mc.PER_CLASS for kind in ("gap", "ratio")),
        "max_pair_confusion_rate",
    )

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: ClassDisparityParams = self.params
        labels = [str(c) for c in ctx.schema.classes]
        k = len(labels)
        test = ctx.data.test
        y, y_hat = test.y, ctx.predict(model, test).pred
        result = CheckResult(self.check_name, model.name)
        counts = mc.confusion_matrices(y, y_hat, k)
        per = mc.per_class_from_counts(counts)
        present = per["support"] > 0
        if present.sum() < 2:
            raise CheckError("class_disparity needs at least two classes present in the test set")
        boot_per, boot_counts = None, None
        if p.bootstrap:
            def rng_of(b: int) -> np.random.Generator:
                return ctx.rng(self.name, model.name, "confusion", "block", b)

            # the whole confusion matrix is one stratum: a multinomial over its k x k cells
            boot_counts = bootstrap_table(ctx, counts.reshape(1, k * k), p.bootstrap, rng_of, label="class_disparity bootstrap").reshape(-1, k, k)
            boot_per = mc.per_class_from_counts(boot_counts)
        for metric in mc.PER_CLASS:
            values = np.where(present, per[metric], np.nan)
            point = _spread(values)
            boots = _spread(np.where(boot_per["support"] > 0, boot_per[metric], np.nan)) if boot_per is not None else None

            def ci(key: str, boots: dict[str, np.ndarray] | None = boots) -> tuple[float, float] | None:
                return percentile_ci(boots[key], p.confidence) if boots is not None else None

            result.add(f"worst_class_{metric}", float(point["worst"]), ci=ci("worst"), n=len(y), direction="higher")
            result.add(f"best_class_{metric}", float(point["best"]), ci=ci("best"), n=len(y), direction="higher")
            result.add(f"{metric}_gap", float(point["gap"]), ci=ci("gap"), n=len(y), direction="lower")
            result.add(f"{metric}_ratio", float(point["ratio"]), ci=ci("ratio"), n=len(y), direction="higher")
        support = per["support"]
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = counts / np.maximum(support[:, None], 1)
            np.fill_diagonal(rates, 0.0)
            boot_rates = None
            if boot_counts is not None:
                boot_rates = boot_counts / np.maximum(boot_counts.sum(axis=2, keepdims=True), 1)
                boot_rates[:, np.arange(k), np.arange(k)] = 0.0
        result.add("max_pair_confusion_rate", float(rates.max()), n=len(y), direction="lower",
                   ci=percentile_ci(boot_rates.max(axis=(1, 2)), p.confidence) if boot_rates is not None else None)
        for i in np.flatnonzero(present & (support < p.min_class_size)):
            result.warn(f"class {labels[i]} has {int(support[i])} test rows (< {p.min_class_size}); its recall is uncertain")

        recall_ci = [percentile_ci(boot_per["recall"][:, i], p.confidence) if boot_per is not None else None for i in range(k)]
        order = sorted(np.flatnonzero(present), key=lambda i: per["recall"][i])
        result.table("classes", [
            {"rank": r + 1, "class": labels[i], "support": int(support[i]), "recall": float(per["recall"][i]), "recall_ci": recall_ci[i],
             "precision": float(per["precision"][i]), "f1": float(per["f1"][i])} for r, i in enumerate(order)
        ])
        pairs = mc.top_confusions(counts, p.top_pairs)
        result.table("confused_pairs", [{"actual": labels[a], "predicted": labels[b], "count": n, "share_of_actual": share} for a, b, n, share in pairs])
        worst = labels[order[0]]
        result.figure(
            "bar", title=f"Recall by class, worst first (worst: {worst}, gap {float(_spread(np.where(present, per['recall'], np.nan))['gap']):.3f})",
            labels=[labels[i] for i in order], values=[float(per["recall"][i]) for i in order], ci=[recall_ci[i] for i in order],
            horizontal=True, value_range=(0.0, 1.0), x_label="recall (share of the class recognised)",
        )
        if pairs:
            result.figure(
                "bar", title="Most confused pairs (actual \u2192 predicted): share of the actual class",
                labels=[f"{labels[a]} \u2192 {labels[b]}" for a, b, _, _ in pairs], values=[share for *_, share in pairs],
                horizontal=True, x_label="share of the actual class's test rows",
            )
        return result
