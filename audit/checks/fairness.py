"""``fairness``: group metrics and disparities via fairlearn, with bootstrap intervals.

Point values come from fairlearn's ``MetricFrame`` (the reference). Intervals come from a
vectorised bootstrap over per-group confusion counts, which reproduces fairlearn's rates on every
replicate (tested), because running MetricFrame a thousand times per attribute is too slow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult
from audit.data.base import group_label
from audit.errors import CheckError
from audit.metrics.binary import bootstrap_indices, group_confusion_counts, percentile_ci, rates_from_counts

if TYPE_CHECKING:
    from audit.engine import Context
    from audit.models.base import ModelAdapter

GROUP_METRICS = {  # our name -> (rates_from_counts key, direction)
    "selection_rate": ("selection_rate", None),
    "tpr": ("tpr", "higher"),
    "fpr": ("fpr", "lower"),
    "fnr": ("fnr", "lower"),
    "precision": ("precision", "higher"),
    "accuracy": ("accuracy", "higher"),
}


class FairnessParams(CheckParams):
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    min_group_size: int = Field(30, ge=1, description="Warn when a group has fewer test rows (or fewer than 5 of a class).")
    columns: list[str] | None = Field(None, description="Sensitive columns / intersections to audit (default: all).")


def fairlearn_frame(y: np.ndarray, y_hat: np.ndarray, groups: np.ndarray) -> Any:
    """The reference MetricFrame for one sensitive column."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    def precision(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return precision_score(y_true, y_pred, zero_division=0)

    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "precision": precision,
        "accuracy": accuracy_score,
        "count": count,
    }
    return MetricFrame(metrics=metrics, y_true=y, y_pred=y_hat, sensitive_features=pd.Series(groups, name="group"))


def disparities(frame: Any) -> dict[str, float]:
    """fairlearn's between-group disparities, from one MetricFrame."""
    diff, ratio = frame.difference(method="between_groups"), frame.ratio(method="between_groups")
    return {
        "demographic_parity_difference": float(diff["selection_rate"]),
        "demographic_parity_ratio": float(ratio["selection_rate"]),
        "equalized_odds_difference": float(max(diff["tpr"], diff["fpr"])),
        "equalized_odds_ratio": float(min(ratio["tpr"], ratio["fpr"])),
        "equal_opportunity_difference": float(diff["tpr"]),
    }


def _boot_disparities(rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Disparities per replicate from (B, G) rate arrays; groups absent from a replicate are NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        def spread(key: str) -> tuple[np.ndarray, np.ndarray]:
            r = rates[key]
            return np.nanmax(r, axis=1) - np.nanmin(r, axis=1), np.nanmin(r, axis=1) / np.nanmax(r, axis=1)

        sr_d, sr_r = spread("selection_rate")
        tpr_d, tpr_r = spread("tpr")
        fpr_d, fpr_r = spread("fpr")
    return {
        "demographic_parity_difference": sr_d,
        "demographic_parity_ratio": sr_r,
        "equalized_odds_difference": np.maximum(tpr_d, fpr_d),
        "equalized_odds_ratio": np.minimum(tpr_r, fpr_r),
        "equal_opportunity_difference": tpr_d,
    }


DISPARITY_DIRECTION = {
    "demographic_parity_difference": "lower",
    "demographic_parity_ratio": "higher",
    "equalized_odds_difference": "lower",
    "equalized_odds_ratio": "higher",
    "equal_opportunity_difference": "lower",
}


class FairnessCheck(Check):
    name = "fairness"
    Params = FairnessParams
    metrics = (*GROUP_METRICS, *DISPARITY_DIRECTION)  # per group [<column>=<value>]; disparities [<column>]

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: FairnessParams = self.params
        schema = ctx.schema
        if len(schema.classes) != 2:
            raise CheckError("fairness needs a binary target (a favourable and an unfavourable outcome)")
        columns = p.columns or list(schema.group_columns)
        unknown = [c for c in columns if c not in schema.group_columns]
        if unknown:
            raise CheckError(f"columns: '{unknown[0]}' is not a sensitive column or intersection; available: {', '.join(schema.group_columns)}")
        if not columns:
            raise CheckError("no sensitive columns: declare data.sensitive in the suite")
        result = CheckResult(self.name, model.name)
        test = ctx.data.test
        y, y_hat = test.y, ctx.predict(model, test).pred
        table = []
        for column in columns:
            table += self._column(ctx, result, column, y, y_hat, test.groups(column).to_numpy(dtype=str))
        result.table("groups", table)
        return result

    def _column(self, ctx: Context, result: CheckResult, column: str, y: np.ndarray, y_hat: np.ndarray, groups: np.ndarray) -> list[dict[str, Any]]:
        p: FairnessParams = self.params
        frame = fairlearn_frame(y, y_hat, groups)
        by_group = frame.by_group
        names = [str(g) for g in by_group.index]
        codes = pd.Categorical(groups, categories=names).codes
        boots: dict[str, np.ndarray] = {}
        boot_disp: dict[str, np.ndarray] = {}
        if p.bootstrap:
            idx = bootstrap_indices(len(y), p.bootstrap, ctx.rng(self.name, result.model, column))
            counts = group_confusion_counts(y, y_hat, codes, len(names), idx)
            boots = rates_from_counts(counts)
            boot_disp = _boot_disparities(boots)
        rows = []
        for g, name in enumerate(names):
            n = int(by_group.loc[name, "count"])
            label = group_label(column, name)
            n_pos, n_neg = int((y[codes == g] == 1).sum()), int((y[codes == g] == 0).sum())
            if n < p.min_group_size or min(n_pos, n_neg) < 5:
                result.warn(f"group {label} is too small to judge: {n} test rows ({n_pos} positive, {n_neg} negative); its rates carry wide intervals")
            row: dict[str, Any] = {"attribute": column, "group": name, "n": n, "positives": n_pos}
            for metric, (key, direction) in GROUP_METRICS.items():
                value = float(by_group.loc[name, metric])
                ci = percentile_ci(boots[key][:, g], p.confidence) if boots else None
                result.add(metric, value, ci=ci, n=n, group=label, direction=direction)
                row[metric] = value
                row[f"{metric}_ci"] = ci
            rows.append(row)
        point = disparities(frame)
        for metric, value in point.items():
            ci = percentile_ci(boot_disp[metric], p.confidence) if boot_disp else None
            result.add(metric, value, ci=ci, n=len(y), group=column, direction=DISPARITY_DIRECTION[metric])
        result.figure(
            "bar", title=f"Selection rate by {column} (demographic parity difference {point['demographic_parity_difference']:.3f})",
            labels=names, values=[r["selection_rate"] for r in rows], ci=[r["selection_rate_ci"] for r in rows],
            horizontal=True, value_range=(0.0, 1.0), x_label="share predicted favourable",
        )
        result.figure(
            "grouped_bar", title=f"Error rates by {column}", categories=names,
            series={"TPR": [r["tpr"] for r in rows], "FPR": [r["fpr"] for r in rows]},
            ci={"TPR": [r["tpr_ci"] for r in rows], "FPR": [r["fpr_ci"] for r in rows]}, value_range=(0.0, 1.0),
        )
        return rows

