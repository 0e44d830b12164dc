"""What the findings collectors share: the finding types, the reference levels, and an index
over one run's metrics."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from audit.results import RunResults, pillar_of, results_from_raw

SMALL_GROUP = 30  # groups under this many rows are called out as too small to judge alone

# Reference levels for ungated metrics: (level, better). An ungated value whose whole interval
# lies past its level is a ``warn``; the score of any finding is how far past the level it is.
# Rules of thumb, not gates: 0.1 for parity gaps (fairlearn's examples), 0.8 for ratios (the
# four-fifths rule), 0.2 PSI (industry practice), k >= 5 (common k-anonymity release floor).
REFERENCE: dict[str, tuple[float, str]] = {
    "demographic_parity_difference": (0.10, "lower"),
    "equalized_odds_difference": (0.10, "lower"),
    "equal_opportunity_difference": (0.10, "lower"),
    "accuracy_gap": (0.10, "lower"),
    "slice_error_gap": (0.10, "lower"),
    "accuracy_drop": (0.10, "lower"),
    "attack_drop": (0.10, "lower"),
    "counterfactual_flip_rate": (0.05, "lower"),
    "ece": (0.10, "lower"),
    "sensitive_share": (0.10, "lower"),
    "mia_auc": (0.60, "lower"),
    "max_group_mia_auc_gap": (0.10, "lower"),
    "attribute_inference_uplift": (0.05, "lower"),
    "k_anonymity": (5.0, "higher"),
    "unique_share": (0.05, "lower"),
    "share_drifted": (0.25, "lower"),
    "max_psi": (0.20, "lower"),
}
DISPARITY_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "equal_opportunity_difference": ("tpr",),
    "equalized_odds_difference": ("tpr", "fpr"),
}
RATE_WORDS = {"selection_rate": "predicted {pos}", "tpr": "true positive rate", "fpr": "false positive rate"}
SEVERITY_ORDER = {"fail": 0, "warn": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    rank: int
    severity: str  # "fail" | "warn" | "info"
    pillar: str  # "fairness", "performance", "slices", "shift", "robustness", "integrity", "privacy", ...
    model: str  # model name, or "data"
    title: str  # one plain-text line a risk officer understands, naming attribute/groups and n
    metric: str | None  # metric path, e.g. "logreg/fairness/demographic_parity_difference[foreign_worker]"
    value: float | None
    ci: tuple[float, float] | None
    n: int | None
    anchor: str  # id of the report section it links to
    gated: bool  # whether a suite gate covers the metric


@dataclass
class _Candidate:
    severity: str
    pillar: str
    model: str
    title: str
    metric: str | None
    value: float | None
    ci: tuple[float, float] | None
    n: int | None
    anchor: str
    score: float
    key: tuple[Any, ...]  # what makes two models' findings "the same finding"
    gated: bool = False
    also: list[str] = field(default_factory=list)


def anchor(model: str, check: str) -> str:
    """The id of the report section of ``check`` on ``model`` (the HTML report uses it too)."""
    text = f"{model}-{check}"
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "x"
    if slug != text.lower():  # keep ids distinct when names differ only in dropped characters
        slug += "-" + hashlib.sha1(text.encode()).hexdigest()[:6]
    return f"sec-{slug}"


def _num(v: float | None, pct: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if pct:
        return f"{v:.0%}" if abs(v) >= 0.1 or v == 0 else f"{v:.1%}"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _n_text(n: int | None) -> str:
    if n is None:
        return ""
    return f"n={n}, too few to judge alone" if n < SMALL_GROUP else f"n={n}"


def _excess(metric: str, value: float | None) -> float:
    """How far past its reference level ``value`` lies (1.0 at the level, 0 when undefined)."""
    if value is None or metric not in REFERENCE:
        return 0.0
    level, better = REFERENCE[metric]
    if better == "lower":
        return value / level if level else value
    return level / value if value > 0 else 10.0


def _beyond(metric: str, value: float | None, ci: tuple[float, float] | None) -> bool:
    """Whether the whole interval (the value when there is none) lies past the reference level."""
    if value is None or metric not in REFERENCE:
        return False
    level, better = REFERENCE[metric]
    if better == "lower":
        return (ci[0] if ci else value) > level
    return (ci[1] if ci else value) < level


def _load(results: Any) -> RunResults:
    if isinstance(results, RunResults):
        return results
    if isinstance(results, dict):
        return results_from_raw(results, "results")
    raise TypeError(f"findings() takes RunResults or the results.json dict, not {type(results).__name__}")


class _Run:
    """Indexes over one run's metrics that the collectors share."""

    def __init__(self, r: RunResults) -> None:
        self.r = r
        self.metrics = {m.path: m for m in r.metrics}
        self.pillars = {(c.model, c.check): pillar_of(c) for c in r.checks}
        self.records = {(c.model, c.check): c for c in r.checks}
        self.positive = str(r.suite.get("positive_label") or "positive")

    def pillar(self, model: str, check: str) -> str:
        return self.pillars.get((model, check), check)

    def of(self, pillar: str) -> list[Any]:
        return [m for m in self.r.metrics if self.pillar(m.model, m.check) == pillar]

    def candidate(self, m: Any, metric_kind: str, title: str, *, key: tuple[Any, ...], value: float | None = None,
                  ci: tuple[float, float] | None = None, n: int | None = None, pillar: str | None = None) -> _Candidate:
        value = m.value if value is None else value
        ci = m.ci if ci is None and value == m.value else ci
        ci = tuple(ci) if ci else None
        severity = "warn" if _beyond(metric_kind, value, ci) else "info"
        return _Candidate(severity, pillar or self.pillar(m.model, m.check), m.model, title, m.path, value, ci,
                          m.n if n is None else n, anchor(m.model, m.check), _excess(metric_kind, value), key)
