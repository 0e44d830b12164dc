"""``slices``: find the slices of the test rows where a model is significantly worse than elsewhere.

The suite author names sensitive columns; weak spots often sit elsewhere (long loans for
applicants without a checking account). This check searches every feature and, with
``pairs: true``, every pair of features, for slices whose

- **error rate** is higher than on the other test rows: one-sided Fisher exact test of the
  slice's errors against the rest's (the hypergeometric tail given the table's margins);
- **calibration** is worse (``calibration: true``): the slice's top-label calibration gap (its
  accuracy minus its mean confidence, the probability of the predicted class; negative when the
  model is over-confident) is larger in size than the rest's: one-sided z test of
  |gap in slice| - |gap elsewhere| with the Welch standard error of the per-row residuals.

Numeric features are cut at quantiles of the training rows (``bins``; the test rows otherwise),
so the slice definitions never look at the test errors. Categorical features keep their
``max_categories - 1`` most frequent values and pool the rest as ``(other)``; missing values
are a slice of their own. Slices under ``min_size`` rows, or leaving fewer than that outside,
are not tested. All tests of a model (every slice, both kinds) form one family, corrected by
Benjamini-Hochberg (``correction: bh``, false discovery rate at ``alpha``) or Holm (``holm``,
family-wise error rate at ``alpha``). A pair is reported only when it is worse than the upper
end of the 95% interval of each significant single slice it refines, so one weak range does not
come back once per other feature.

Metric paths: ``<model>/slices/error_rate[<slice>]`` and ``calibration_gap[<slice>]`` of each
reported slice (Wilson / normal 95% interval, ``n`` its rows), ``slices_found`` and
``slices_tested``. A slice reads ``checking_status=no checking&duration_months>24``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from audit.checks.base import Check, CheckParams, CheckResult, MetricSpec, seeded_sample
from audit.errors import CheckError
from audit.metrics.significance import adjust_pvalues as adjust
from audit.metrics.significance import wilson_interval as wilson
from audit.registry import suggest

if TYPE_CHECKING:
    from audit.context import Context
    from audit.models.base import ModelAdapter

Z95 = 1.959963984540054


class SlicesParams(CheckParams):
    min_size: int = Field(30, ge=5, le=1_000_000, description="Smallest slice (test rows) tested; the rest must hold as many.")
    bins: int = Field(4, ge=2, le=20, description="Quantile bins (from the training rows) for numeric features.")
    max_categories: int = Field(20, ge=2, le=200, description="Values kept per categorical feature; rarer ones pooled as (other).")
    pairs: bool = Field(True, description="Also search every pair of features (slices defined by two conditions).")
    calibration: bool = Field(True, description="Also test each slice's calibration (mean residual) against the rest.")
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="Level of the corrected tests.")
    correction: Literal["bh", "holm"] = Field("bh", description="bh: Benjamini-Hochberg (false discovery rate); holm: Holm (family-wise error rate).")
    features: list[str] | None = Field(None, min_length=1, description="Features searched (default: all).")
    max_reported: int = Field(20, ge=1, le=500, description="At most this many slices reported (smallest adjusted p first).")
    max_rows: int = Field(200_000, ge=100, le=10_000_000, description="Search at most this many test rows (a seeded sample).")


class SlicesCheck(Check):
    requires = ()  # the test rows' predictions; the training rows only place the numeric bins
    name = "slices"
    Params = SlicesParams
    metrics = (
        MetricSpec("error_rate", "lower"),
        MetricSpec("calibration_gap", "lower"),
        MetricSpec("slices_found", "lower"),
        MetricSpec("slices_tested"),
    )

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: SlicesParams = self.params
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        if len(test) > p.max_rows:
            test = seeded_sample(ctx, test, p.max_rows, self.name)
            result.warn(f"searched a seeded sample of {p.max_rows} of {len(ctx.data.test)} test rows")
        proba = ctx.predict(model, test).proba
        y = np.asarray(test.y)
        wrong = (proba.argmax(axis=1) != y).astype(np.float64)
        residual = (1.0 - wrong) - proba.max(axis=1)  # top-label: correct minus confidence
        features = self._features(ctx)
        key = ("slices", "codes", test.name, tuple(features), p.bins, p.max_categories)
        if key not in ctx.shared:  # the slice definitions are the same for every model
            ctx.shared[key] = encode(test.X, ctx.data.train.X if len(ctx.data.train) else test.X, features, ctx.schema.numeric, p.bins, p.max_categories)
        codes = ctx.shared[key]
        cells = search(codes, wrong, residual, min_size=p.min_size, pairs=p.pairs)
        n = len(y)
        result.add("slices_tested", cells["n_slices"], n=n)
        if cells["n_slices"] == 0:
            result.warn(f"no slice could be tested: every slice or its rest has fewer than {p.min_size} of the {n} test rows")
            result.add("slices_found", None, n=n, reason=f"no slice of at least {p.min_size} rows with as many outside it")
            return result
        found = judge(cells, n, calibration=p.calibration, alpha=p.alpha, correction=p.correction)
        found = prune(found)[: p.max_reported]
        result.add("slices_found", len(found), n=n)
        overall = float(wrong.mean())
        rows = []
        for s in found:
            result.add(s["kind"], s["value"], ci=s["ci"], n=s["n"], group=s["slice"])
            rows.append({**{k: v for k, v in s.items() if k not in ("parents",)}, "correction": "Benjamini-Hochberg" if p.correction == "bh" else "Holm", "significant": True})
        result.table("slices", rows)
        result.table("search", [{
            "features": len(features), "pairs": p.pairs, "slices_tested": cells["n_slices"],
            "tests": cells["n_slices"] * (2 if p.calibration else 1), "min_size": p.min_size, "bins": p.bins,
            "alpha": p.alpha, "correction": p.correction, "rows": n, "overall_error_rate": overall,
        }])
        errors = [r for r in rows if r["kind"] == "error_rate"][:15]
        if errors:
            result.figure(
                "bar", title=f"Slices with a significantly higher error rate ({len(errors)} shown)",
                labels=[r["description"] for r in errors], values=[r["value"] for r in errors],
                ci=[r["ci"] for r in errors], horizontal=True, value_range=(0.0, 1.0),
                ref_line=overall, ref_label="overall", x_label="error rate (95% Wilson interval)",
                annotations=[f"n={r['n']}" for r in errors],
            )
        return result

    def _features(self, ctx: Context) -> list[str]:
        features = list(ctx.schema.features)
        for i, f in enumerate(self.params.features or []):
            if f not in features:
                raise CheckError(f"features[{i}]: '{f}' is not a feature column; {suggest(f, features)}")
        return list(self.params.features or features)


def _edge(v: float) -> str:
    return f"{v:.4g}"


def encode(X: Any, reference: Any, features: list[str], numeric: tuple[str, ...], bins: int, max_categories: int) -> list[tuple[str, np.ndarray, list[tuple[str, str]]]]:
    """Per feature: (name, integer code per test row, [(path label, description)] per code)."""
    from audit.shift.stats import quantile_edges

    out = []
    for f in features:
        col = X[f]
        if f in numeric:
            values = np.asarray(col, dtype=np.float64)
            ref = np.asarray(reference[f], dtype=np.float64)
            distinct = np.unique(ref[np.isfinite(ref)])
            if distinct.size == 0:
                continue  # no reference values to place bins at
            if distinct.size <= bins:  # few values: each is a slice
                at = np.searchsorted(distinct, values).clip(0, distinct.size - 1)
                codes = np.where(np.isfinite(values) & (distinct[at] == values), at, distinct.size)  # unseen: (other)
                labels = [(f"{f}={_edge(v)}", f"{f} = {_edge(v)}") for v in distinct] + [(f"{f}=(other)", f"{f} not in the training values")]
            else:
                edges = quantile_edges(ref, bins)
                codes = np.searchsorted(edges, values, side="left")
                labels = [(f"{f}<={_edge(edges[0])}", f"{f} <= {_edge(edges[0])}")]
                labels += [(f"{_edge(a)}<{f}<={_edge(b)}", f"{_edge(a)} < {f} <= {_edge(b)}") for a, b in zip(edges[:-1], edges[1:], strict=True)]
                labels += [(f"{f}>{_edge(edges[-1])}", f"{f} > {_edge(edges[-1])}")]
            missing = ~np.isfinite(values)
            codes = np.where(missing, len(labels), codes)
            labels.append((f"{f}=(missing)", f"{f} missing"))
        else:
            text = col.astype("string").fillna("(missing)").to_numpy(dtype=object)
            ref_counts = reference[f].astype("string").fillna("(missing)").value_counts()
            keep = [str(v) for v in ref_counts.index[: max_categories - 1]]
            lookup = {v: i for i, v in enumerate(keep)}
            codes = np.fromiter((lookup.get(v, len(keep)) for v in text), dtype=np.int64, count=len(text))
            clean = [v.replace("[", "(").replace("]", ")") for v in keep]
            labels = [(f"{f}={v}", f"{f} = '{v}'") for v in clean] + [(f"{f}=(other)", f"{f} other than the {len(keep)} most frequent values")]
        out.append((f, np.asarray(codes, dtype=np.int64), labels))
    return out


def search(codes: list[tuple[str, np.ndarray, list[tuple[str, str]]]], wrong: np.ndarray, residual: np.ndarray, *, min_size: int, pairs: bool) -> dict[str, Any]:
    """Counts, errors and residual sums of every single and pair slice of testable size."""
    n = len(wrong)
    parts: dict[str, list[Any]] = {k: [] for k in ("n", "k", "r", "q", "label", "description", "parents")}
    sq = residual * residual

    def add(code: np.ndarray, size: int, describe: Any) -> None:
        cnt = np.bincount(code, minlength=size)
        ok = np.flatnonzero((cnt >= min_size) & (n - cnt >= min_size))
        if ok.size == 0:
            return
        parts["n"].append(cnt[ok])
        parts["k"].append(np.bincount(code, weights=wrong, minlength=size)[ok])
        parts["r"].append(np.bincount(code, weights=residual, minlength=size)[ok])
        parts["q"].append(np.bincount(code, weights=sq, minlength=size)[ok])
        for c in ok:
            label, description, parents = describe(int(c))
            parts["label"].append(label)
            parts["description"].append(description)
            parts["parents"].append(parents)

    for f, code, labels in codes:
        add(code, len(labels), lambda c, f=f, labels=labels: (labels[c][0], labels[c][1], ()))
    if pairs:
        for i, (f, cf, lf) in enumerate(codes):
            for g, cg, lg in codes[i + 1:]:
                k = len(lg)
                add(cf * k + cg, len(lf) * k, lambda c, f=f, g=g, lf=lf, lg=lg, k=k: (
                    f"{lf[c // k][0]}&{lg[c % k][0]}", f"{lf[c // k][1]} and {lg[c % k][1]}",
                    (lf[c // k][0], lg[c % k][0])))
    stacked = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items() if k in ("n", "k", "r", "q")}
    return {**stacked, "label": parts["label"], "description": parts["description"], "parents": parts["parents"],
            "n_slices": len(parts["label"]), "N": n, "K": float(wrong.sum()), "R": float(residual.sum()), "Q": float(sq.sum())}


def judge(cells: dict[str, Any], n: int, *, calibration: bool, alpha: float, correction: str) -> list[dict[str, Any]]:
    """The tests, the correction over the whole family, and the significant slices."""
    from scipy.stats import hypergeom, norm

    ns, ks, N, K = cells["n"], cells["k"], cells["N"], cells["K"]
    rest_n = N - ns
    errors = np.rint(ks).astype(np.int64)
    p_err = hypergeom.sf(errors - 1, N, int(round(K)), ns.astype(np.int64))  # P(X >= k): Fisher, one-sided
    pvals = [p_err]
    if calibration:
        m_s, m_r = cells["r"] / ns, (cells["R"] - cells["r"]) / rest_n
        v_s = np.maximum(cells["q"] / ns - m_s**2, 0) * ns / np.maximum(ns - 1, 1)
        v_r = np.maximum((cells["Q"] - cells["q"]) / rest_n - m_r**2, 0) * rest_n / np.maximum(rest_n - 1, 1)
        se = np.sqrt(v_s / ns + v_r / rest_n)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, (np.abs(m_s) - np.abs(m_r)) / se, 0.0)
        p_cal = norm.sf(z)  # one-sided: the slice's gap is larger in size than the rest's
        pvals.append(p_cal)
    raw = np.concatenate(pvals)
    adjusted = adjust(raw, correction)
    found = []
    S = len(ns)
    for j in np.flatnonzero(adjusted < alpha):
        i, kind = int(j % S), "error_rate" if j < S else "calibration_gap"
        nn, kk = int(ns[i]), int(errors[i])
        if kind == "error_rate":
            value, rest = kk / nn, (K - kk) / rest_n[i]
            ci = wilson(kk, nn)
        else:
            value, rest = abs(m_s[i]), abs(m_r[i])
            half = Z95 * np.sqrt(v_s[i] / nn)
            lo, hi = m_s[i] - half, m_s[i] + half
            ci = (0.0 if lo <= 0 <= hi else float(min(abs(lo), abs(hi))), float(max(abs(lo), abs(hi))))
        found.append({
            "slice": cells["label"][i], "description": cells["description"][i], "kind": kind,
            "n": nn, "value": float(value), "ci": [float(ci[0]), float(ci[1])], "rest": float(rest), "rest_n": int(rest_n[i]),
            "errors": kk if kind == "error_rate" else None,
            "p_value": float(raw[j]), "p_adjusted": float(adjusted[j]), "parents": cells["parents"][i],
        })
    found.sort(key=lambda s: (s["p_adjusted"], -(s["value"] - s["rest"])))
    return found


def prune(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop a pair that is no worse than the interval of a significant single slice it refines."""
    singles = {(s["kind"], s["slice"]): s for s in found if not s["parents"]}
    kept = []
    for s in found:
        parents = [singles[(s["kind"], p)] for p in s["parents"] if (s["kind"], p) in singles]
        if all(s["value"] > parent["ci"][1] for parent in parents):
            kept.append(s)
    return kept
