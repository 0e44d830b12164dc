"""Stored metrics shaped for display: flat tables, per-check tabs, groups, gates, trends.

Everything here reads ``RunResults`` as saved; values and intervals are passed through, never
recomputed. Metric paths follow ``<model>/<check>/<metric>[<group>]``; a group is either a
slice (``sex=female``, ``sex=male&age_group=<25``) or a whole attribute (``sex``) for
disparities, so any check's metrics can be shown without check-specific code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from audit.report.html import PILLAR_ORDER
from audit.results import GateOutcome, Metric, RunResults, pillar_of

STATUS_TEXT = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}
METRIC_COLUMNS = [
    "path",
    "model",
    "check",
    "metric",
    "group",
    "attribute",
    "level",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "direction",
]


def split_group(group: str | None) -> tuple[str | None, str | None]:
    """``'sex=female&age_group=<25'`` -> ``('sex&age_group', 'female&<25')``; ``'sex'`` -> ``('sex', None)``."""
    if not group:
        return None, None
    parts = group.split("&")
    if not all("=" in p for p in parts):
        return group, None
    names, values = zip(*(p.split("=", 1) for p in parts), strict=True)
    return "&".join(names), "&".join(values)


def fmt(value: float | None, ci: tuple[float, float] | list[float] | None = None) -> str:
    """``0.74 [0.687, 0.793]``; 'n/a' when the value is undefined."""
    if value is None:
        return "—"
    text = f"{value:.4g}"
    if ci is not None and len(ci) == 2 and None not in ci:
        text += f" [{ci[0]:.3g}, {ci[1]:.3g}]"
    return text


def metrics_frame(metrics: Iterable[Metric]) -> pd.DataFrame:
    """One row per stored metric, with the group split into attribute and level."""
    rows = []
    for m in metrics:
        attribute, level = split_group(m.group)
        lo, hi = m.ci if m.ci is not None else (None, None)
        rows.append(
            {
                "path": m.path,
                "model": m.model,
                "check": m.check,
                "metric": m.metric,
                "group": m.group,
                "attribute": attribute,
                "level": level,
                "value": m.value,
                "ci_low": lo,
                "ci_high": hi,
                "n": m.n,
                "direction": m.direction,
            }
        )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def pillars_of(results: RunResults) -> dict[tuple[str, str], str]:
    """(model, check) -> the pillar its record declares (runs before 1.1: the check name)."""
    return {(r.model, r.check): pillar_of(r) for r in results.checks}


def pillar_metrics(results: RunResults, pillar: str) -> list[Metric]:
    """The metrics of every check record of ``pillar`` (grouped by the records, not by names)."""
    pillars = pillars_of(results)
    return [m for m in results.metrics if pillars.get((m.model, m.check), m.check) == pillar]


def check_names(results: RunResults) -> list[str]:
    """Checks present in the run, ordered by their records' pillars in report order, then by name."""
    pillars = {r.check: pillar_of(r) for r in results.checks}
    names = set(pillars) | {m.check for m in results.metrics}
    order = {name: i for i, name in enumerate(PILLAR_ORDER)}
    return sorted(names, key=lambda n: (order.get(pillars.get(n, n), len(order)), n))


def overall_pivot(results: RunResults, check: str) -> pd.DataFrame:
    """Ungrouped metrics of one check: one row per metric, one column per model (value [CI])."""
    rows: dict[str, dict[str, Any]] = {}
    for m in results.metrics:
        if m.check == check and m.group is None:
            row = rows.setdefault(
                m.metric,
                {"metric": m.metric, "better": {"higher": "↑ higher", "lower": "↓ lower"}.get(m.direction or "", "")},
            )
            row[m.model] = fmt(m.value, m.ci)
    return pd.DataFrame(list(rows.values()))


def gate_rows(gates: Iterable[GateOutcome]) -> pd.DataFrame:
    """The gate table, worst first: status, what was measured, the threshold and the verdict text."""
    rank = {"error": 0, "fail": 1, "warn": 2, "pass": 3}
    rows = [
        {
            "status": STATUS_TEXT.get(g.status, g.status),
            "metric": g.metric,
            "measured": g.observed,
            "on": g.on,
            "rule": f"{g.op} {g.threshold:g}",
            "threshold": g.threshold,
            "severity": g.severity,
            "message": g.message,
            "_rank": rank.get(g.status, 9),
        }
        for g in gates
    ]
    frame = pd.DataFrame(
        rows, columns=["status", "metric", "measured", "on", "rule", "threshold", "severity", "message", "_rank"]
    )
    return frame.sort_values("_rank", kind="stable").drop(columns="_rank").reset_index(drop=True)


def gates_for(results: RunResults, paths: Iterable[str]) -> list[GateOutcome]:
    wanted = set(paths)
    return [g for g in results.gates if g.metric in wanted]


def group_attributes(results: RunResults, model: str | None = None) -> list[str]:
    """Attributes (and intersections) that have per-group metrics, single attributes first."""
    found = {
        split_group(m.group)[0]
        for m in results.metrics
        if m.group and split_group(m.group)[1] is not None and (model is None or m.model == model)
    }
    return sorted(found, key=lambda a: (a.count("&"), a))


def group_metric_options(results: RunResults, model: str, attribute: str) -> list[tuple[str, str]]:
    """(check, metric) pairs measured per group of ``attribute`` for ``model``; fairness rates first."""
    found = {(m.check, m.metric) for m in _sliced(results.metrics, attribute) if m.model == model}
    preferred = ["selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy"]
    return sorted(
        found,
        key=lambda cm: (cm[0] != "fairness", preferred.index(cm[1]) if cm[1] in preferred else len(preferred), cm),
    )


def _sliced(metrics: Iterable[Metric], attribute: str) -> list[Metric]:
    """Metrics of single groups (``attribute=level``) of ``attribute``."""
    out = []
    for m in metrics:
        attr, level = split_group(m.group)
        if attr == attribute and level is not None:
            out.append(m)
    return out


def group_values(results: RunResults, model: str, check: str, metric: str, attribute: str) -> pd.DataFrame:
    """Per-group value, interval and size of one metric, as stored (the explorer's main table)."""
    picked = [m for m in _sliced(results.metrics, attribute) if (m.model, m.check, m.metric) == (model, check, metric)]
    return metrics_frame(picked)[["level", "value", "ci_low", "ci_high", "n", "path"]].rename(
        columns={"level": "group"}
    )


def disparities(results: RunResults, model: str, attribute: str) -> pd.DataFrame:
    """Whole-attribute metrics (``...[sex]``: differences and ratios between its groups)."""
    picked = [m for m in results.metrics if m.model == model and m.group == attribute]
    return metrics_frame(picked)[["check", "metric", "value", "ci_low", "ci_high", "n", "direction", "path"]]


def trend_frame(runs: Iterable[tuple[str, str, RunResults]], paths: Iterable[str]) -> pd.DataFrame:
    """Long table of chosen metric paths across runs: (run_id, created_at, path, value, ci)."""
    wanted = list(paths)
    rows = []
    for run_id, created_at, results in runs:
        flat = {m.path: m for m in results.metrics}
        for path in wanted:
            m = flat.get(path)
            if m is not None:
                lo, hi = m.ci if m.ci is not None else (None, None)
                rows.append(
                    {
                        "run_id": run_id,
                        "created_at": created_at,
                        "path": path,
                        "value": m.value,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
    frame = pd.DataFrame(rows, columns=["run_id", "created_at", "path", "value", "ci_low", "ci_high"])
    return frame.sort_values(["path", "created_at"], kind="stable").reset_index(drop=True)


def default_trend_paths(results: RunResults, limit: int = 4) -> list[str]:
    """Gate metrics first (what release decisions hang on), then headline performance metrics."""
    paths = list(dict.fromkeys(g.metric for g in results.gates if g.observed is not None))
    if len(paths) < limit:
        paths += [
            m.path
            for m in results.metrics
            if m.check == "performance"
            and m.group is None
            and m.metric in ("roc_auc", "accuracy")
            and m.path not in paths
        ]
    return paths[:limit]
