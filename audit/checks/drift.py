"""``drift``: does the test data (and any extra dataset) come from the training distribution?

Runs once per run on the data (scope ``data``), per feature, train as the reference. Statistics
(definitions in :mod:`audit.shift.stats`): PSI for every feature; two-sample KS for numeric
features; chi-squared test and Jensen-Shannon distance for categorical ones.

Judgement, documented for the suite author:

* severity from PSI: ``none`` (< ``psi_moderate``, default 0.1), ``moderate`` (< ``psi_major``,
  default 0.25), ``major`` otherwise (the usual credit-risk rule of thumb);
* significant: the feature's test (KS or chi-squared) has p-value < ``alpha`` (divided by the
  number of features with ``correction: bonferroni``);
* drifted: significant AND severity at least moderate, so neither a tiny but significant shift
  in a large sample nor a noisy PSI on a small sample counts on its own.

Metric paths (train vs test): ``data/drift/psi[<feature>]``, ``ks_statistic[...]``,
``ks_pvalue[...]`` (numeric), ``chi2_statistic[...]``, ``chi2_pvalue[...]``,
``js_distance[...]`` (categorical), and ``n_drifted``, ``share_drifted``, ``max_psi``. Train vs
an extra dataset ``<name>`` of the bundle: the same metrics with ``[<feature>|<name>]`` and
``n_drifted[<name>]`` etc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.errors import CheckError
from audit.lazy import pandas as pd  # imported on first use (audit validate stays light)
from audit.registry import suggest
from audit.shift.stats import categorical_drift, numeric_drift, severity

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

DIRECTIONS = {"psi": "lower", "ks_statistic": "lower", "ks_pvalue": None, "chi2_statistic": "lower", "chi2_pvalue": None, "js_distance": "lower"}


class DriftParams(CheckParams):
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="Significance level of the KS / chi-squared tests.")
    correction: Literal["none", "bonferroni"] = Field("none", description="Multiple-testing correction over features.")
    n_bins: int = Field(10, ge=2, le=100, description="Quantile bins (from train) for the PSI of numeric features.")
    epsilon: float = Field(1e-4, gt=0.0, le=0.01, description="Floor for bin shares in the PSI (keeps empty bins finite).")
    psi_moderate: float = Field(0.1, gt=0.0, description="PSI from which a shift counts as moderate.")
    psi_major: float = Field(0.25, gt=0.0, description="PSI from which a shift counts as major.")
    features: list[str] | None = Field(None, min_length=1, description="Features to compare (default: all).")
    compare_extra: bool = Field(True, description="Also compare train with every extra tabular dataset of the bundle.")

    @model_validator(mode="after")
    def _ordered(self) -> DriftParams:
        if self.psi_moderate >= self.psi_major:
            raise ValueError(f"psi_moderate ({self.psi_moderate}) must be below psi_major ({self.psi_major})")
        return self


class DriftCheck(Check):
    requires = ("background",)
    name = "drift"
    Params = DriftParams
    metrics = (*DIRECTIONS, "n_drifted", "share_drifted", "max_psi")
    scope = "data"

    def run(self, ctx: Context, model: ModelAdapter | None) -> CheckResult:
        p: DriftParams = self.params
        schema = ctx.schema
        reference = ctx.data.background  # the reference file's rows, else the training rows
        if schema.modality != "tabular" or not isinstance(reference.X, pd.DataFrame):
            raise CheckError(f"drift compares tabular features; this suite's data is {schema.modality}")
        features = list(p.features or schema.features)
        for feature in features:
            if feature not in schema.features:
                raise CheckError(f"features: '{feature}' is not a feature column; {suggest(feature, list(schema.features))}")
        result = CheckResult(self.check_name, "data")
        targets = {"test": ctx.data.test}
        if p.compare_extra:
            for name, dataset in ctx.data.extra.items():
                if isinstance(dataset.X, pd.DataFrame) and set(features) <= set(dataset.X.columns):
                    targets[name] = dataset
                else:
                    result.warn(f"extra dataset '{name}' lacks the feature columns; not compared")
        for name, dataset in targets.items():
            if len(dataset) == 0:
                result.warn(f"dataset '{name}' has no rows; not compared")
                continue
            self._compare(ctx, result, features, reference.X, dataset.X, None if name == "test" else name)
        return result

    def _compare(self, ctx: Context, result: CheckResult, features: list[str], ref: pd.DataFrame, cur: pd.DataFrame, against: str | None) -> None:
        p: DriftParams = self.params
        alpha = p.alpha / len(features) if p.correction == "bonferroni" else p.alpha
        rows: list[dict[str, Any]] = []
        for feature in features:
            numeric = feature in ctx.schema.numeric
            stats = numeric_drift(ref[feature], cur[feature], n_bins=p.n_bins, eps=p.epsilon) if numeric else categorical_drift(ref[feature], cur[feature], eps=p.epsilon)
            pvalue = stats["ks_pvalue" if numeric else "chi2_pvalue"]
            level = severity(stats["psi"], p.psi_moderate, p.psi_major)
            significant = bool(np.isfinite(pvalue) and pvalue < alpha)
            group = feature if against is None else f"{feature}|{against}"
            for metric, value in stats.items():
                result.add(metric, value, n=int(cur[feature].notna().sum()), group=group, direction=DIRECTIONS[metric])
            rows.append({
                "feature": feature, "type": "numeric" if numeric else "categorical", "test": "KS" if numeric else "chi-squared",
                **{k: _finite(v) for k, v in stats.items()}, "p_value": _finite(pvalue), "severity": level,
                "significant": significant, "drifted": significant and level != "none",
            })
        rows.sort(key=lambda r: -(r["psi"] or 0.0))
        drifted = sum(r["drifted"] for r in rows)
        result.add("n_drifted", drifted, n=len(rows), group=against, direction="lower")
        result.add("share_drifted", drifted / len(rows), n=len(rows), group=against, direction="lower")
        result.add("max_psi", max(r["psi"] or 0.0 for r in rows), n=len(rows), group=against, direction="lower")
        label = "test" if against is None else against
        result.table("drift" if against is None else f"drift_{against}", rows)
        result.figure(
            "bar", title=f"Population stability index, train vs {label} ({drifted} of {len(rows)} features drifted)",
            labels=[r["feature"] for r in rows], values=[r["psi"] for r in rows], horizontal=True,
            ref_line=p.psi_major, ref_label=f"major ({p.psi_major:g})", x_label="PSI",
            caption=f"Drifted: test p-value < {alpha:.3g} (KS for numeric, chi-squared for categorical features) and PSI >= {p.psi_moderate:g}.",
        )


def _finite(value: float) -> float | None:
    """A JSON-safe table cell: the value, or None when it is undefined."""
    return float(value) if np.isfinite(value) else None
