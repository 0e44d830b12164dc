"""``fairness``: group rates and between-group disparities, with stratified bootstrap intervals.

Everything is computed from per-group confusion counts (``audit.metrics.binary``), in one
vectorised pass over the point estimate and every bootstrap replicate; where a rate is defined
it equals fairlearn's ``MetricFrame`` exactly, and the disparities equal fairlearn's / AIF360's on
the same groups (tests/checks/test_fairness_reference.py).

Metric paths::

    <model>/fairness/<rate>[<column>=<value>]        selection_rate, tpr, fpr, fnr, precision, accuracy
    <model>/fairness/<disparity>[<column>]           demographic_parity_difference / _ratio,
                                                     equalized_odds_difference / _ratio,
                                                     equal_opportunity_difference

Undefined is not zero (``undefined_rates``):

* ``"exclude"`` (default): a rate whose denominator is 0 (TPR / FNR of a group without
  positives, FPR without negatives, precision without predicted positives) is undefined: it is
  recorded as null with a ``reason``, never as 0.0. Each disparity is computed over the groups
  whose rate is defined (AIF360 likewise leaves such rates out: nan); the groups left out are
  named in a warning and in the ``disparities`` table (``left_out``). A disparity is undefined
  with fewer than two such groups; a ratio is undefined when every group's rate is 0 (0/0), and
  equalized odds is undefined when its TPR or FPR part is.
* ``"fairlearn"``: fairlearn's convention. fairlearn's TPR / FPR / FNR use sklearn's
  ``confusion_matrix(normalize="true")``, which turns 0/0 into 0.0 *silently* (no warning), and
  precision uses ``zero_division=0``; every group then enters every disparity, and
  ``equalized_odds_ratio`` is Python's ``min(tpr_ratio, fpr_ratio)`` (a nan FPR ratio is skipped,
  a nan TPR ratio wins). The check still warns that those zeros stand for undefined rates.

Small groups (``small_groups``, a group is small below ``min_group_size`` test rows): ``"warn"``
(default) warns and keeps them; ``"exclude"`` leaves them out of the disparities; ``"merge"``
pools them into one group named ``(other)`` for the disparities (its counts are the sum of the
members'). Per-group rates are reported for every group in every mode, with their ``n``.

Bootstrap: rows are resampled within each (group, label) stratum, so every replicate keeps the
sample's per-group label counts and a rate defined in the sample stays defined (only precision
and the ratios can become undefined in a replicate). The resampling is drawn from the counts:
resampling a stratum's rows with replacement puts a multinomial number of them in each
predicted class (a binomial for a binary decision), so each replicate is a multinomial draw over
the stratum's confusion cells (``audit.metrics.bootstrap.bootstrap_table``): memory is
O(B x cells), not O(B x rows). Replicates come in blocks of ``audit.metrics.bootstrap.BLOCK``,
block ``b`` seeded by ``ctx.rng("fairness", model, column, "block", b)`` and run through
``ctx.map``. Replicates where a metric is undefined are
dropped and counted (a warning, and ``replicates_used`` / ``replicates_dropped`` in the tables);
the interval is the percentile interval of the kept ones. A disparity is computed on every
replicate over the same groups as its point value.

Multiclass targets (more than two classes): each class is audited one-vs-rest (that class is the
positive outcome). Per-group rates get the group ``<column>=<value>|class=<label>``, per-class
disparities ``[<column>|class=<label>]``, and the macro disparities
``macro_<disparity>[<column>]`` are the mean over classes of the per-class disparity (classes
where it is undefined are left out and named in a warning; a replicate where one of the kept
classes is undefined is dropped). Binary targets keep the plain paths above (the positive class).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult
from audit.data.base import group_label
from audit.errors import CheckError
from audit.lazy import pandas as pd
from audit.metrics.binary import percentile_ci, rates_from_counts
from audit.metrics.bootstrap import bootstrap_table

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

GROUP_METRICS = {  # our name -> (rates_from_counts key, direction)
    "selection_rate": ("selection_rate", None),
    "tpr": ("tpr", "higher"),
    "fpr": ("fpr", "lower"),
    "fnr": ("fnr", "lower"),
    "precision": ("precision", "higher"),
    "accuracy": ("accuracy", "higher"),
}
BASE_DISPARITIES = {
    "demographic_parity_difference": "lower",
    "demographic_parity_ratio": "higher",
    "equalized_odds_difference": "lower",
    "equalized_odds_ratio": "higher",
    "equal_opportunity_difference": "lower",
}
MACRO_DISPARITIES = {f"macro_{name}": direction for name, direction in BASE_DISPARITIES.items()}
# every metric recorded per column (not per group); audit.data.references reads this
DISPARITY_DIRECTION = {**BASE_DISPARITIES, **MACRO_DISPARITIES}
# the rates each disparity is built from
DISPARITY_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "equalized_odds_ratio": ("tpr", "fpr"),
    "equal_opportunity_difference": ("tpr",),
}
DISPARITY_KEYS = ("selection_rate", "tpr", "fpr")
RATE_NAME = {"selection_rate": "selection rate", "tpr": "TPR", "fpr": "FPR", "fnr": "FNR", "precision": "precision", "accuracy": "accuracy"}
# rate -> what its denominator counts (the rate is undefined when there are none)
DENOMINATOR = {"tpr": "positives", "fnr": "positives", "fpr": "negatives", "precision": "predicted positives"}
MERGED = "(other)"


class FairnessParams(CheckParams):
    bootstrap: int = Field(1000, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none); resampled within each group x label cell.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    min_group_size: int = Field(30, ge=1, description="Warn when a group has fewer test rows (or fewer than 5 of a class); see small_groups.")
    columns: list[str] | None = Field(None, description="Sensitive columns / intersections to audit (default: all).")
    undefined_rates: Literal["exclude", "fairlearn"] = Field(
        "exclude",
        description="A rate with a zero denominator (TPR without positives, ...): 'exclude' records it as null and leaves the group out of that disparity; 'fairlearn' counts it as 0 like fairlearn.",
    )
    small_groups: Literal["warn", "exclude", "merge"] = Field(
        "warn",
        description="Groups below min_group_size: 'warn' keeps them in the disparities, 'exclude' leaves them out, 'merge' pools them into one '(other)' group.",
    )


def ovr_counts(cm: np.ndarray) -> np.ndarray:
    """One-vs-rest confusion counts ``[[tn, fp], [fn, tp]]`` per class from K x K confusion
    matrices ``cm[..., actual, predicted]``: shape (..., K, 2, 2). Class k's binary counts follow
    from its row, column and diagonal."""
    cm = np.asarray(cm)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fn, fp = cm.sum(axis=-1) - tp, cm.sum(axis=-2) - tp
    tn = cm.sum(axis=(-2, -1))[..., None] - tp - fn - fp
    return np.stack([np.stack([tn, fp], axis=-1), np.stack([fn, tp], axis=-1)], axis=-2)


def group_confusion(y: np.ndarray, pred: np.ndarray, groups: np.ndarray, n_groups: int, n_classes: int) -> np.ndarray:
    """K x K confusion matrix of every group, ``cm[group, actual, predicted]``: one bincount."""
    key = np.asarray(groups, dtype=np.int64).ravel() * n_classes  # one new array, updated in place
    key += np.asarray(y, dtype=np.int64).ravel()
    key *= n_classes
    key += np.asarray(pred, dtype=np.int64).ravel()
    return np.bincount(key, minlength=n_groups * n_classes * n_classes).reshape(n_groups, n_classes, n_classes)


def class_counts(
    y: np.ndarray, pred: np.ndarray, groups: np.ndarray, n_groups: int, n_classes: int, idx: np.ndarray | None = None
) -> np.ndarray:
    """One-vs-rest confusion counts ``[[tn, fp], [fn, tp]]`` per group and class.

    y, pred: class codes 0..n_classes-1; groups: codes 0..n_groups-1. Shape (G, K, 2, 2), or
    (B, G, K, 2, 2) for a 2-D ``idx`` of row indices. One bincount over ``(b, group, y, pred)``
    gives the full K x K confusion matrix of every replicate and group (:func:`ovr_counts`).
    For K = 2, class 1 equals ``group_confusion_counts``.
    """
    if idx is None:
        return ovr_counts(group_confusion(y, pred, groups, n_groups, n_classes))
    y, pred, groups = (np.asarray(a).ravel().astype(np.int64) for a in (y, pred, groups))
    ix = np.asarray(idx)
    n_rep, cell = ix.shape[0], n_groups * n_classes * n_classes
    key = ((groups * n_classes + y) * n_classes + pred)[ix] + cell * np.arange(n_rep)[:, None]
    cm = np.bincount(key.ravel(), minlength=cell * n_rep).reshape(n_rep, n_groups, n_classes, n_classes)
    return ovr_counts(cm)


def group_codes(groups: Any) -> tuple[list[str], np.ndarray]:
    """Sorted group names and each row's code: ``np.unique(groups.to_numpy(dtype=str),
    return_inverse=True)``, computed by hashing the rows first (``pd.factorize``) so only the
    distinct values are turned into strings and sorted (values with equal strings merge)."""
    series = pd.Series(groups)
    codes, uniques = pd.factorize(series)  # missing values: code -1, converted row by row below
    strings = pd.Series(uniques).to_numpy(dtype=str)
    missing = codes < 0
    if missing.any():  # None, nan, pd.NA... keep their own strings ('None', 'nan', ...)
        extra, inv = np.unique(series[missing].to_numpy(dtype=str), return_inverse=True)
        codes = codes.copy()
        codes[missing] = strings.size + inv
        strings = np.concatenate([strings, extra])
    names, remap = np.unique(strings, return_inverse=True)
    return [str(v) for v in names], remap.astype(np.int64)[codes]


def _spread(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max - min, min / max) over the last axis; nan when a rate is nan or fewer than 2 groups."""
    if r.shape[-1] < 2:
        nan = np.full(r.shape[:-1], np.nan)
        return nan, nan.copy()
    hi, lo = r.max(axis=-1), r.min(axis=-1)  # nan propagates: a replicate with an undefined rate
    ratio = np.full(hi.shape, np.nan)
    np.divide(lo, hi, out=ratio, where=hi > 0)  # 0 / 0 (every group at 0) is undefined
    return hi - lo, ratio


def disparities(
    rates: dict[str, np.ndarray], use: dict[str, np.ndarray] | None = None, convention: str = "exclude"
) -> dict[str, np.ndarray]:
    """The five disparities from (..., G) rate arrays, over the groups ``use[key]`` (bool (G,)).

    Every group used counts: a nan rate in a replicate makes the disparities built on it nan (the
    caller picks the groups with a defined point rate, so such a replicate is dropped).
    ``equalized_odds_ratio`` = min(TPR ratio, FPR ratio); a part that is 0/0 because every group
    has that rate 0 (parity on it) is skipped, so a model without false positives gets its TPR
    ratio, as in fairlearn; with both parts 0/0 it is undefined. With ``convention="fairlearn"``
    the combination copies fairlearn's Python ``max`` / ``min`` over ``[tpr, fpr]`` exactly (a nan
    second term is skipped, a nan first term wins).
    """
    parts = {}
    for key in DISPARITY_KEYS:
        r = rates[key] if use is None else rates[key][..., np.asarray(use[key], dtype=bool)]
        parts[key] = _spread(np.asarray(r, dtype=np.float64))
    (sr_d, sr_r), (tpr_d, tpr_r), (fpr_d, fpr_r) = parts["selection_rate"], parts["tpr"], parts["fpr"]
    if convention == "fairlearn":
        eo_d = np.where(fpr_d > tpr_d, fpr_d, tpr_d)  # = max([tpr, fpr]) in Python
        eo_r = np.where(fpr_r < tpr_r, fpr_r, tpr_r)  # = min([tpr, fpr]) in Python
    else:
        eo_d = np.maximum(tpr_d, fpr_d)
        tpr_zero, fpr_zero = tpr_d == 0, fpr_d == 0  # all used groups equal; nan ratio <=> all at 0
        eo_r = np.where(np.isnan(tpr_r) & tpr_zero, fpr_r, np.where(np.isnan(fpr_r) & fpr_zero, tpr_r, np.minimum(tpr_r, fpr_r)))
    return {
        "demographic_parity_difference": sr_d,
        "demographic_parity_ratio": sr_r,
        "equalized_odds_difference": eo_d,
        "equalized_odds_ratio": eo_r,
        "equal_opportunity_difference": tpr_d,
    }


def _num(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _fmt(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.3f}"


class FairnessCheck(Check):
    requires = ()  # the test rows' predictions: works for predictions-only models
    name = "fairness"
    modalities = ("tabular", "text")  # text: the sensitive columns of a text dataset (variant "groups")
    Params = FairnessParams
    # per group [<column>=<value>]; disparities [<column>]; multiclass adds |class=<label> and macro_*
    metrics = (*GROUP_METRICS, *BASE_DISPARITIES, *MACRO_DISPARITIES)

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: FairnessParams = self.params
        schema = ctx.schema
        if len(schema.classes) < 2:
            raise CheckError("fairness needs at least two target classes")
        columns = p.columns or list(schema.group_columns)
        unknown = [c for c in columns if c not in schema.group_columns]
        if unknown:
            raise CheckError(f"columns: '{unknown[0]}' is not a sensitive column or intersection; available: {', '.join(schema.group_columns)}")
        if not columns:
            raise CheckError("no sensitive columns: declare data.sensitive in the suite")
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        y, y_hat = np.asarray(test.y), ctx.predict(model, test).pred
        classes = [str(c) for c in schema.classes]
        group_rows: list[dict[str, Any]] = []
        disparity_rows: list[dict[str, Any]] = []
        for column in columns:
            g, d = self._column(result, ctx, column, classes, y, y_hat, test.groups(column))
            group_rows += g
            disparity_rows += d
        result.table("groups", group_rows)
        result.table("disparities", disparity_rows)
        return result

    # ------------------------------------------------------------------ one sensitive column

    def _column(
        self, result: CheckResult, ctx: Context, column: str, classes: list[str],
        y: np.ndarray, y_hat: np.ndarray, groups: Any,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        p: FairnessParams = self.params
        names, codes = group_codes(groups)
        labels = [group_label(column, v) for v in names]
        n_groups, n_classes = len(names), len(classes)
        sizes = np.bincount(codes, minlength=n_groups)
        self._warn_small(result, labels, codes, y, classes)
        small = sizes < p.min_group_size
        if p.small_groups != "warn" and small.any():
            listed = ", ".join(f"{labels[g]} (n={sizes[g]})" for g in np.flatnonzero(small))
            what = "are left out of the disparities" if p.small_groups == "exclude" else f"are merged into one group '{MERGED}' (n={sizes[small].sum()}) for the disparities"
            result.warn(f"{column}: groups below min_group_size={p.min_group_size} test rows {what} (small_groups='{p.small_groups}'): {listed}")
        # row 0: the sample; rows 1..B: replicates resampled within each (group, label) stratum,
        # drawn as multinomial counts over the stratum's predicted classes (bootstrap_table)
        cm = group_confusion(y, y_hat, codes, n_groups, n_classes)[None]  # (1, G, K, K)
        if p.bootstrap:
            def rng_of(b: int) -> np.random.Generator:
                return ctx.rng(self.name, result.model, column, "block", b)

            cm = np.concatenate([cm, bootstrap_table(ctx, cm[0], p.bootstrap, rng_of, label=f"fairness bootstrap [{column}]")])
        counts = ovr_counts(cm)  # (1 + B, G, K, 2, 2)
        views = [1] if n_classes == 2 else list(range(n_classes))
        group_rows, disparity_rows, per_class = [], [], {}
        for k in views:
            suffix = "" if n_classes == 2 else f"|class={classes[k]}"
            view = counts[:, :, k]  # (1 + B, G, 2, 2)
            rows = self._group_rates(result, view, labels, names, sizes, small, column, suffix, classes[k] if n_classes > 2 else None)
            group_rows += rows
            values, drows = self._disparities(result, view, labels, sizes, small, column, suffix, classes[k] if n_classes > 2 else None)
            disparity_rows += drows
            per_class[classes[k]] = values
            if n_classes == 2:
                self._figures(result, column, names, rows)
        if n_classes > 2:
            disparity_rows += self._macro(result, column, per_class, int(sizes.sum()))
            self._class_figures(result, column, names, classes, group_rows)
        return group_rows, disparity_rows

    def _warn_small(self, result: CheckResult, labels: list[str], codes: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
        p: FairnessParams = self.params
        per = np.bincount(codes * len(classes) + np.asarray(y, dtype=np.int64), minlength=len(labels) * len(classes)).reshape(len(labels), len(classes))
        for g, label in enumerate(labels):
            n = int(per[g].sum())
            if n >= p.min_group_size and per[g].min() >= 5:
                continue
            if len(classes) == 2:
                detail = f"{per[g, 1]} positive, {per[g, 0]} negative"
            else:
                detail = ", ".join(f"{per[g, k]} {c}" for k, c in enumerate(classes))
            result.warn(f"group {label} is too small to judge: {n} test rows ({detail}); its rates carry wide intervals")

    def _group_rates(
        self, result: CheckResult, view: np.ndarray, labels: list[str], names: list[str], sizes: np.ndarray,
        small: np.ndarray, column: str, suffix: str, cls: str | None,
    ) -> list[dict[str, Any]]:
        """Record every group's rates (null with a reason where undefined) with their intervals."""
        p: FairnessParams = self.params
        fairlearn = p.undefined_rates == "fairlearn"
        rates = rates_from_counts(view, undefined=0.0 if fairlearn else np.nan)
        undefined = rates_from_counts(view[0])  # nan exactly where a rate is undefined in the sample
        n_boot = view.shape[0] - 1
        rows = []
        for g, label in enumerate(labels):
            full = label + suffix
            c = view[0, g]
            row: dict[str, Any] = {"attribute": column, **({"class": cls} if cls is not None else {}), "group": names[g], "n": int(sizes[g]), "positives": int(c[1].sum())}
            used, dropped = {}, {}
            missing = sorted({DENOMINATOR[key] for key in DENOMINATOR if np.isnan(undefined[key][g])}, key=list(DENOMINATOR.values()).index)
            for what in missing:
                which = " and ".join(RATE_NAME[k] for k, d in DENOMINATOR.items() if d == what)
                if fairlearn:
                    result.warn(f"group {full} has no {what}: {which} undefined, reported as 0 following fairlearn (undefined_rates='fairlearn')")
                else:
                    result.warn(f"group {full} has no {what}: {which} undefined (null, not 0)")
            for metric, (key, direction) in GROUP_METRICS.items():
                value = _num(rates[key][0, g])
                reason = None
                if value is None:
                    reason = f"no {DENOMINATOR.get(key, 'rows')} in group {full}: {RATE_NAME[key]} is undefined"
                ci = None
                if n_boot and value is not None:
                    boot = rates[key][1:, g]
                    ok = int(np.isfinite(boot).sum())
                    used[metric], dropped[metric] = ok, n_boot - ok
                    if ok < n_boot:
                        result.warn(f"{metric}[{full}]: {n_boot - ok} of {n_boot} replicates undefined, dropped")
                    ci = percentile_ci(boot, p.confidence)
                result.add(metric, value, ci=ci, n=int(sizes[g]), group=full, direction=direction, reason=reason)
                row[metric] = value
                row[f"{metric}_ci"] = list(ci) if ci else None
            row["left_out"] = self._left_out_of(g, undefined, small, fairlearn)
            row["replicates_used"] = used if n_boot else None
            row["replicates_dropped"] = dropped if n_boot else None
            rows.append(row)
        return rows

    def _left_out_of(self, g: int, undefined: dict[str, np.ndarray], small: np.ndarray, fairlearn: bool) -> list[str]:
        """Which disparities leave group ``g`` out, and why (empty when it enters all of them)."""
        p: FairnessParams = self.params
        if small[g] and p.small_groups == "exclude":
            return [f"all disparities: fewer than min_group_size={p.min_group_size} rows"]
        if small[g] and p.small_groups == "merge":
            return [f"all disparities: merged into '{MERGED}'"]
        if fairlearn:
            return []
        return [f"{RATE_NAME[key]}-based disparities: no {DENOMINATOR[key]}" for key in ("tpr", "fpr") if np.isnan(undefined[key][g])]

    def _disparity_groups(self, view: np.ndarray, labels: list[str], small: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
        """Counts and labels of the groups the disparities compare, and the policy's left-outs."""
        p: FairnessParams = self.params
        if p.small_groups == "warn" or not small.any():
            return view, list(labels), []
        keep = np.flatnonzero(~small)
        out = [f"{labels[g]} (n < min_group_size={p.min_group_size})" for g in np.flatnonzero(small)]
        if p.small_groups == "exclude":
            return view[:, keep], [labels[g] for g in keep], out
        merged = view[:, small].sum(axis=1, keepdims=True)
        return np.concatenate([view[:, keep], merged], axis=1), [labels[g] for g in keep] + [MERGED], []

    def _disparities(
        self, result: CheckResult, view: np.ndarray, labels: list[str], sizes: np.ndarray, small: np.ndarray,
        column: str, suffix: str, cls: str | None,
    ) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        """Record the five disparities of one column (one class, for multiclass) with intervals."""
        p: FairnessParams = self.params
        fairlearn = p.undefined_rates == "fairlearn"
        dcounts, dlabels, policy_out = self._disparity_groups(view, labels, small)
        rates = rates_from_counts(dcounts, undefined=0.0 if fairlearn else np.nan)
        point_defined = {key: np.isfinite(rates[key][0]) for key in DISPARITY_KEYS}
        values = disparities(rates, point_defined, p.undefined_rates)
        group = column + suffix
        left_out = {
            key: [f"{dlabels[g]} (no {DENOMINATOR.get(key, 'rows')}: {RATE_NAME[key]} undefined)" for g in np.flatnonzero(~point_defined[key])]
            for key in DISPARITY_KEYS
        }
        for key in ("tpr", "fpr"):
            if left_out[key]:
                result.warn(f"{group}: {RATE_NAME[key]}-based disparities compare {int(point_defined[key].sum())} of {len(dlabels)} groups; left out: {', '.join(left_out[key])}")
        n_boot = view.shape[0] - 1
        rows = []
        for metric, direction in BASE_DISPARITIES.items():
            value = _num(values[metric][0])
            reason = None if value is not None else self._why_undefined(metric, rates, point_defined, column, len(policy_out))
            if metric == "equalized_odds_ratio" and value is not None and not fairlearn:
                for key, other in (("tpr", "fpr"), ("fpr", "tpr")):
                    r = rates[key][0][point_defined[key]]
                    if r.size >= 2 and r.max() == 0:
                        result.warn(f"{metric}[{group}]: every group has {RATE_NAME[key]} 0 (parity; its ratio is 0/0), so the ratio is the {RATE_NAME[other]} ratio alone")
            ci, used = None, None
            if n_boot and value is not None:
                boot = values[metric][1:]
                used = int(np.isfinite(boot).sum())
                if used < n_boot:
                    result.warn(f"{metric}[{group}]: {n_boot - used} of {n_boot} replicates undefined, dropped")
                ci = percentile_ci(boot, p.confidence)
            result.add(metric, value, ci=ci, n=int(sizes.sum()), group=group, direction=direction, reason=reason)
            keys = DISPARITY_RATES[metric]
            rows.append({
                "attribute": column, **({"class": cls} if cls is not None else {}), "metric": metric, "value": value,
                "ci": list(ci) if ci else None, "reason": reason,
                "groups": sorted({dlabels[g] for key in keys for g in np.flatnonzero(point_defined[key])}, key=dlabels.index),
                "left_out": policy_out + [s for key in keys for s in left_out[key]],
                "replicates_used": used, "replicates_dropped": None if used is None else n_boot - used,
            })
        return values, rows

    @staticmethod
    def _why_undefined(metric: str, rates: dict[str, np.ndarray], defined: dict[str, np.ndarray], column: str, n_excluded: int) -> str:
        reasons = []
        excluded = f" ({n_excluded} small groups left out: small_groups='exclude')" if n_excluded else ""
        for key in DISPARITY_RATES[metric]:
            r = rates[key][0][defined[key]]
            name = RATE_NAME[key]
            if r.size < 2:
                reasons.append(f"fewer than two groups of {column} with a defined {name}{excluded}")
            elif metric.endswith("_ratio") and r.max() == 0:
                reasons.append(f"every group of {column} has {name} 0, so the {name} ratio is 0/0")
        return "; ".join(reasons) or "undefined"

    def _macro(self, result: CheckResult, column: str, per_class: dict[str, dict[str, np.ndarray]], n: int) -> list[dict[str, Any]]:
        """Mean over classes of each one-vs-rest disparity (over the classes where it is defined)."""
        p: FairnessParams = self.params
        classes = list(per_class)
        rows = []
        for metric, direction in BASE_DISPARITIES.items():
            name = f"macro_{metric}"
            stacked = np.stack([per_class[c][metric] for c in classes], axis=-1)  # (1 + B, K)
            defined = np.isfinite(stacked[0])
            left = [c for c, ok in zip(classes, defined, strict=True) if not ok]
            value, ci, used, reason = None, None, None, None
            if defined.any():
                series = stacked[:, defined].mean(axis=1)  # nan when a kept class is undefined in a replicate
                value = _num(series[0])
                if left:
                    result.warn(f"{name}[{column}]: mean over {int(defined.sum())} of {len(classes)} classes; left out (undefined): {', '.join(left)}")
                n_boot = series.size - 1
                if n_boot:
                    used = int(np.isfinite(series[1:]).sum())
                    if used < n_boot:
                        result.warn(f"{name}[{column}]: {n_boot - used} of {n_boot} replicates undefined, dropped")
                    ci = percentile_ci(series[1:], p.confidence)
            else:
                reason = f"{metric} is undefined for every class"
            result.add(name, value, ci=ci, n=n, group=column, direction=direction, reason=reason)
            rows.append({
                "attribute": column, "class": "(macro)", "metric": name, "value": value, "ci": list(ci) if ci else None,
                "reason": reason, "groups": [c for c in classes if c not in left], "left_out": left,
                "replicates_used": used, "replicates_dropped": None if used is None else (stacked.shape[0] - 1 - used),
            })
        return rows

    @staticmethod
    def _figures(result: CheckResult, column: str, names: list[str], rows: list[dict[str, Any]]) -> None:
        dpd = next((m.value for m in reversed(result.metrics) if m.metric == "demographic_parity_difference" and m.group == column), None)
        result.figure(
            "bar", title=f"Selection rate by {column} (demographic parity difference {_fmt(dpd)})",
            labels=names, values=[r["selection_rate"] for r in rows], ci=[r["selection_rate_ci"] for r in rows],
            horizontal=True, value_range=(0.0, 1.0), x_label="share predicted favourable",
            annotations=[f"n={r['n']}" for r in rows],
        )
        result.figure(
            "grouped_bar", title=f"Error rates by {column}", categories=names,
            series={"TPR": [r["tpr"] for r in rows], "FPR": [r["fpr"] for r in rows]},
            ci={"TPR": [r["tpr_ci"] for r in rows], "FPR": [r["fpr_ci"] for r in rows]}, value_range=(0.0, 1.0),
            annotations=[_sizes(r) for r in rows],
        )

    @staticmethod
    def _class_figures(result: CheckResult, column: str, names: list[str], classes: list[str], rows: list[dict[str, Any]]) -> None:
        rows = [r for r in rows if r["attribute"] == column]
        for metric, title in (("selection_rate", "Selection rate (one-vs-rest)"), ("tpr", "TPR (one-vs-rest)")):
            pick = {c: {r["group"]: r for r in rows if r["class"] == c} for c in classes}
            result.figure(
                "grouped_bar", title=f"{title} by {column} and class", categories=names,
                series={c: [pick[c][g][metric] for g in names] for c in classes},
                ci={c: [pick[c][g][f"{metric}_ci"] for g in names] for c in classes}, value_range=(0.0, 1.0),
            )


def _sizes(row: dict[str, Any]) -> str:
    """'n=13 (12 pos, 1 neg)': the denominators of a group's TPR (positives) and FPR (negatives)."""
    n, pos = row.get("n"), row.get("positives")
    return f"n={n}" if pos is None or n is None else f"n={n} ({pos} pos, {n - pos} neg)"
