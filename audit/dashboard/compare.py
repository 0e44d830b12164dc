"""Compare two runs metric by metric: the change, whether the intervals overlap, and its sign.

A change is called a regression when it moves against the metric's ``direction`` (higher or
lower is better). When both runs stored confidence intervals, ``overlap`` says whether they
overlap; disjoint intervals mark a change that the bootstrap noise alone does not explain.
Metrics without a direction are reported as changed, never as better or worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from audit.results import Metric, RunResults

COLUMNS = [
    "path",
    "model",
    "check",
    "metric",
    "group",
    "direction",
    "a",
    "a_ci_low",
    "a_ci_high",
    "b",
    "b_ci_low",
    "b_ci_high",
    "change",
    "overlap",
    "verdict",
]
VERDICTS = ("regressed", "improved", "changed", "unchanged", "added", "removed", "undefined")


def intervals_overlap(a: Sequence[float] | None, b: Sequence[float] | None) -> bool | None:
    """True when the closed intervals share a point; None when either is missing."""
    if a is None or b is None or None in a or None in b:
        return None
    a_lo, a_hi = sorted(a)
    b_lo, b_hi = sorted(b)
    return a_lo <= b_hi and b_lo <= a_hi


def verdict(a: Metric | None, b: Metric | None, *, rel_tol: float = 1e-9) -> str:
    """How ``b`` (the candidate) differs from ``a`` (the baseline) for one metric path."""
    if a is None:
        return "added"
    if b is None:
        return "removed"
    if a.value is None or b.value is None:
        return "unchanged" if a.value is None and b.value is None else "undefined"
    if math.isclose(a.value, b.value, rel_tol=rel_tol, abs_tol=1e-12):
        return "unchanged"
    direction = b.direction or a.direction
    if direction is None:
        return "changed"
    better = b.value > a.value if direction == "higher" else b.value < a.value
    return "improved" if better else "regressed"


def compare_runs(a: RunResults, b: RunResults) -> pd.DataFrame:
    """Every metric path of either run side by side (baseline ``a``, candidate ``b``)."""
    flat_a = {m.path: m for m in a.metrics}
    flat_b = {m.path: m for m in b.metrics}
    paths = list(flat_a) + [p for p in flat_b if p not in flat_a]
    rows = []
    for path in paths:
        ma, mb = flat_a.get(path), flat_b.get(path)
        ref = mb or ma
        assert ref is not None
        change = None
        if ma is not None and mb is not None and ma.value is not None and mb.value is not None:
            change = mb.value - ma.value
        rows.append(
            {
                "path": path,
                "model": ref.model,
                "check": ref.check,
                "metric": ref.metric,
                "group": ref.group,
                "direction": ref.direction,
                "a": ma.value if ma else None,
                "a_ci_low": _ci(ma, 0),
                "a_ci_high": _ci(ma, 1),
                "b": mb.value if mb else None,
                "b_ci_low": _ci(mb, 0),
                "b_ci_high": _ci(mb, 1),
                "change": change,
                "overlap": intervals_overlap(ma.ci if ma else None, mb.ci if mb else None),
                "verdict": verdict(ma, mb),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def _ci(metric: Metric | None, i: int) -> float | None:
    return metric.ci[i] if metric is not None and metric.ci is not None else None


def disjoint(frame: pd.DataFrame) -> pd.Series:
    """Rows whose two intervals are known not to overlap (a missing interval is not 'disjoint')."""
    return frame["overlap"].map(lambda v: v is not None and not pd.isna(v) and not bool(v)).astype(bool)


def significant_regressions(frame: pd.DataFrame) -> pd.DataFrame:
    """Regressions whose intervals do not overlap (the rows a reviewer must look at first)."""
    return frame[(frame["verdict"] == "regressed") & disjoint(frame)]


def compare_gates(a: RunResults, b: RunResults) -> pd.DataFrame:
    """Gate outcomes of both runs by expression, with whether the status changed."""
    sa = {g.expression: g for g in a.gates}
    sb = {g.expression: g for g in b.gates}
    rows = []
    for expr in list(sa) + [e for e in sb if e not in sa]:
        ga, gb = sa.get(expr), sb.get(expr)
        rows.append(
            {
                "gate": expr,
                "a_status": ga.status if ga else "—",
                "a_measured": ga.observed if ga else None,
                "b_status": gb.status if gb else "—",
                "b_measured": gb.observed if gb else None,
                "changed": (ga.status if ga else None) != (gb.status if gb else None),
            }
        )
    return pd.DataFrame(rows, columns=["gate", "a_status", "a_measured", "b_status", "b_measured", "changed"])
