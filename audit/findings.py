"""Findings first: a ranked "what to look at" list drawn from every metric of a run.

A run can pass every gate and still hold its largest problems in metrics nobody gated (a
demographic parity difference of 0.26 on an attribute the suite author did not think of). This
module reads a run's results (never a model) and ranks, per model:

- the largest fairness disparities, naming the groups at either end with their rates and ``n``;
- the weakest slices: the significant ones of the ``slices`` check, and sensitive groups whose
  accuracy is below the rest of the test rows (two-proportion z test, Benjamini-Hochberg over
  the groups of a model);
- the worst shift drop and the worst attack drop, counterfactual flips, calibration;
- integrity and privacy findings (leakage, overlap, membership inference, k-anonymity, ...);
- every gate that failed, warned or errored, and every check that raised.

Ordering: failing gates and checks that raised first, then warning gates, then ungated findings
whose interval lies wholly past a stated reference level (``REFERENCE``: severity ``warn``),
then the rest (``info``), each tier by how far past its reference level the value is. The same
finding on several models is listed once, for the worst model, naming the others.
Renderers (HTML report, console, dashboard) show ``title``, the interval and link ``anchor``.
"""

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


def _fairness(run: _Run) -> list[_Candidate]:
    """Each disparity, naming the groups at either end with their counts; ``warn`` needs the value
    past its reference level and a one-sided Fisher exact test of the two end groups (Bonferroni
    over the attribute's group pairs) below 0.05: a rate of 1.0 from 1 row is not evidence."""
    out, metrics = [], run.of("fairness")
    seen = {(m.model, m.group): m.value for m in metrics if m.metric == "equal_opportunity_difference"}
    for m in metrics:
        if m.metric not in DISPARITY_RATES or m.group is None or "=" in m.group or "|" in m.group or m.value is None:
            continue
        attribute, words = m.group, m.metric.replace("_", " ")
        ends = _extreme_groups(run, m, DISPARITY_RATES[m.metric])
        if ends is None:
            out.append(run.candidate(m, m.metric, f"{attribute}: {words} {_num(m.value)} (n={m.n})", key=("fairness", m.metric, attribute)))
            continue
        rate, lo, hi, p = ends
        if m.metric == "equalized_odds_difference" and rate == "tpr" and seen.get((m.model, attribute)) == m.value:
            continue  # the same TPR gap as the equal opportunity difference: one finding
        what = RATE_WORDS[rate].format(pos=f"'{run.positive}'")
        fine = _num(hi[1], True) == _num(lo[1], True)  # both round alike: show a decimal more
        title = f"{attribute}: {what} {_group_text(hi, fine)} vs {_group_text(lo, fine)}; {words} {_num(m.value)}"
        c = run.candidate(m, m.metric, title, key=("fairness", m.metric, attribute))
        c.severity = "warn" if _beyond(m.metric, m.value, None) and p is not None and p < 0.05 else "info"
        c.title += f" (Fisher exact p = {p:.2g})" if p is not None else ""
        out.append(c)
    return out


def _group_text(g: tuple[str, float, int, int, str], fine: bool = False) -> str:
    label, rate, k, d, cell = g
    small = ", too few to judge alone" if d < SMALL_GROUP else ""
    return f"{f'{rate:.1%}' if fine else _num(rate, True)} for {label} ({k} of {d}{cell}{small})"


def _extreme_groups(run: _Run, m: Any, rates: tuple[str, ...]) -> tuple[str, tuple, tuple, float | None] | None:
    """(rate, lowest group, highest group, p) of the rate whose range is the disparity, from the
    fairness check's ``groups`` table; a group is (label, rate, count, denominator, what is counted)
    and ``p`` the Bonferroni-adjusted one-sided Fisher exact p-value of highest vs lowest."""
    record = run.records.get((m.model, m.check))
    if record is None:
        return None
    named = None
    for row in record.tables.get("disparities", []):
        if row.get("attribute") == m.group and row.get("metric") == m.metric and row.get("groups"):
            named = set(row["groups"])
    negative = next((str(c) for c in run.r.suite.get("classes", []) if str(c) != run.positive), "negative")
    names = m.group.split("&")
    best = None
    for rate in rates:
        groups = []
        for row in record.tables.get("groups", []):
            if row.get("attribute") != m.group or row.get("class") is not None or row.get(rate) is None:
                continue
            values = str(row["group"]).split("&") if len(names) > 1 else [str(row["group"])]
            full = "&".join(f"{a}={v}" for a, v in zip(names, values, strict=False))
            if named is not None and full not in named:
                continue
            n, pos = int(row.get("n") or 0), row.get("positives")
            if rate == "selection_rate":
                d, cell = n, ""
            elif pos is None:
                continue
            else:
                d, cell = (int(pos), f" actual {run.positive}") if rate == "tpr" else (n - int(pos), f" actual {negative}")
            label = " & ".join(f"{a}={v}" for a, v in zip(names, values, strict=False)) if len(names) > 1 else str(row["group"])
            groups.append((label, float(row[rate]), round(float(row[rate]) * d), d, cell))
        if len(groups) < 2:
            continue
        lo, hi = min(groups, key=lambda t: t[1]), max(groups, key=lambda t: t[1])
        if best is None or hi[1] - lo[1] > best[2][1] - best[1][1]:
            pairs = len(groups) * (len(groups) - 1) / 2
            p = _fisher_greater(hi[2], hi[3], lo[2], lo[3])
            best = (rate, lo, hi, None if p is None else min(1.0, p * pairs))
    return best


def _fisher_greater(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """One-sided Fisher exact p-value that group 1's rate k1/n1 exceeds group 2's k2/n2:
    P(X >= k1) for X hypergeometric with the table's margins."""
    if n1 <= 0 or n2 <= 0:
        return None
    total, successes = n1 + n2, k1 + k2

    def log_comb(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    denominator = log_comb(total, n1)
    upper = min(n1, successes)
    terms = [log_comb(successes, x) + log_comb(total - successes, n1 - x) - denominator
             for x in range(k1, upper + 1) if 0 <= n1 - x <= total - successes]
    return min(1.0, sum(math.exp(t) for t in terms))


def _two_prop_p(k1: float, n1: int, k2: float, n2: int) -> float | None:
    """One-sided p-value of a two-proportion z test that rate 1 exceeds rate 2 (pooled variance)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (k1 / n1 - k2 / n2) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def _bh(pvalues: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [1.0] * m, 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


def _group_performance(run: _Run) -> list[_Candidate]:
    """Sensitive groups whose accuracy is below the other test rows' (z test, BH per model)."""
    out = []
    by_model: dict[str, list[tuple[Any, float]]] = {}
    for m in run.of("performance"):
        if m.metric != "accuracy" or m.group is None or "|" in m.group or m.value is None or not m.n:
            continue
        overall = run.metrics.get(f"{m.model}/{m.check}/accuracy")
        if overall is None or overall.value is None or not overall.n or overall.n <= m.n:
            continue
        err_g = (1 - m.value) * m.n
        err_rest = (1 - overall.value) * overall.n - err_g
        p = _two_prop_p(err_g, m.n, err_rest, overall.n - m.n)
        if p is not None:
            by_model.setdefault(m.model, []).append((m, p))
    for items in by_model.values():
        adjusted = _bh([p for _, p in items])
        for (m, _), q in zip(items, adjusted, strict=True):
            overall = run.metrics[f"{m.model}/{m.check}/accuracy"]
            gap = overall.value - m.value
            if gap <= 0:
                continue
            title = (f"accuracy {_num(m.value)} for {m.group.replace('&', ' & ')} ({_n_text(m.n)}) vs "
                     f"{_num(overall.value)} overall (n={overall.n}); adjusted p = {q:.2g} (Benjamini-Hochberg)")
            c = run.candidate(m, "accuracy_gap", title, key=("group_accuracy", m.group), value=m.value, ci=m.ci)
            c.score = _excess("accuracy_gap", gap)
            c.severity = "warn" if q < 0.05 and gap > REFERENCE["accuracy_gap"][0] else "info"
            out.append(c)
    return out


def _slices(run: _Run) -> list[_Candidate]:
    """The slices the ``slices`` check found significantly worse than the rest."""
    out = []
    for record in run.r.checks:
        if pillar_of(record) != "slices":
            continue
        for row in record.tables.get("slices", []):
            if not row.get("significant"):
                continue
            kind = row.get("kind", "error_rate")
            metric = f"{record.model}/{record.check}/{kind}[{row['slice']}]"
            m = run.metrics.get(metric)
            what = "error rate" if kind == "error_rate" else "calibration error"
            title = (f"{what} {_num(row['value'])} in {row['description']} ({_n_text(row['n'])}) vs "
                     f"{_num(row['rest'])} on the other rows; adjusted p = {row['p_adjusted']:.2g} ({row.get('correction', 'BH')})")
            ci = tuple(row["ci"]) if row.get("ci") else None
            gap = row["value"] - row["rest"]
            out.append(_Candidate("warn", "slices", record.model, title, metric if m else None, row["value"], ci, row["n"],
                                  anchor(record.model, record.check), _excess("slice_error_gap", gap),
                                  ("slices", kind, row["slice"])))
    return out


def _shift(run: _Run) -> list[_Candidate]:
    worst: dict[str, Any] = {}
    for m in run.of("shift"):
        if (m.metric == "accuracy_drop" and m.group and "|" not in m.group and m.value is not None
                and (m.model not in worst or m.value > worst[m.model].value)):
            worst[m.model] = m
    out = []
    for m in worst.values():
        record = run.records.get((m.model, m.check))
        cond = next((r.get("condition") for r in (record.tables.get("subpopulation", []) if record else [])
                     if r.get("scenario") == m.group), None)
        if cond:
            how = f"when trained where {cond} and tested on the other rows (scenario '{m.group}')"
        else:
            kind, _, sev = m.group.partition("@")
            how = f"under {kind} perturbation at severity {sev}" if sev else f"under '{m.group}'"
        title = f"accuracy drops by {_num(m.value)} {how} (n={m.n})"
        out.append(run.candidate(m, "accuracy_drop", title, key=("shift", "accuracy_drop")))
    return out


def _robustness(run: _Run) -> list[_Candidate]:
    out = []
    worst: dict[str, tuple[float, Any, Any]] = {}
    for m in run.of("robustness"):
        if m.metric == "robust_accuracy" and m.group and "," not in m.group and m.value is not None:
            clean = run.metrics.get(f"{m.model}/{m.check}/clean_accuracy")
            if clean is None or clean.value is None:
                continue
            drop = clean.value - m.value
            if m.model not in worst or drop > worst[m.model][0] + 1e-12:
                worst[m.model] = (drop, m, clean)
        elif m.metric == "counterfactual_flip_rate" and m.group and "=" not in m.group and m.value is not None:
            title = f"changing only {m.group} flips {_num(m.value, True)} of decisions (n={m.n})"
            out.append(run.candidate(m, "counterfactual_flip_rate", title, key=("robustness", "flip", m.group)))
    for drop, m, clean in worst.values():
        attack, _, eps = m.group.partition("@")
        title = (f"{attack.upper() if attack != 'blackbox' else 'black-box'} attack within {eps} std (L-inf) lowers "
                 f"accuracy from {_num(clean.value)} to {_num(m.value)} (n={m.n})")
        c = run.candidate(m, "attack_drop", title, key=("robustness", "attack"), value=m.value, ci=m.ci)
        c.score, c.severity = _excess("attack_drop", drop), "warn" if m.ci and clean.value - m.ci[1] > REFERENCE["attack_drop"][0] else "info"
        out.append(c)
    return out


def _simple(run: _Run) -> list[_Candidate]:
    """Metrics judged by their reference level alone: calibration, reliance, privacy, drift."""
    wording = {
        "ece": lambda m: f"expected calibration error {_num(m.value)} (n={m.n})",
        "sensitive_share": lambda m: f"{_num(m.value, True)} of the model's attribution rests on features encoding {m.group}",
        "mia_auc": lambda m: f"membership inference AUC {_num(m.value)} (0.5 = no leak; {m.n} rows per side)",
        "max_group_mia_auc_gap": lambda m: f"membership leak differs by {_num(m.value)} AUC across {m.group} groups",
        "attribute_inference_uplift": lambda m: f"the model's outputs help infer {m.group}: balanced accuracy +{_num(m.value)} (n={m.n})",
        "k_anonymity": lambda m: f"k-anonymity {_num(m.value)}: some applicants share their quasi-identifiers with fewer than 5 others (n={m.n})",
        "unique_share": lambda m: f"{_num(m.value, True)} of rows are unique on their quasi-identifiers (n={m.n})",
        "share_drifted": lambda m: f"{_num(m.value, True)} of features drifted between train and test",
        "max_psi": lambda m: f"largest population stability index {_num(m.value)} between train and test",
    }
    out = []
    for m in run.r.metrics:
        if m.metric not in wording or m.value is None:
            continue
        if m.group and ("=" in m.group or m.metric in ("ece", "mia_auc")):
            continue
        key = ("simple", m.metric, m.group)
        out.append(run.candidate(m, m.metric, wording[m.metric](m), key=key))
    return out


def _integrity(run: _Run) -> list[_Candidate]:
    out = []
    for record in run.r.checks:
        if pillar_of(record) != "integrity":
            continue
        for row in record.tables.get("findings", []):
            path = f"{record.model}/{record.check}/{row['metric']}" if row.get("metric") else None
            m = run.metrics.get(path or "")
            value = row.get("value")
            out.append(_Candidate("warn", "integrity", record.model, str(row["finding"]), path if m else None,
                                  float(value) if isinstance(value, (int, float)) else None, None, m.n if m else None,
                                  anchor(record.model, record.check), 5.0, ("integrity", row.get("metric"), row["finding"])))
        flag = run.metrics.get(f"{record.model}/{record.check}/trained_on_test")
        if flag is not None and flag.value == 1.0:
            out.append(_Candidate("warn", "integrity", record.model, "the model scores its test rows like training rows: it was probably trained on them",
                                  flag.path, flag.value, None, flag.n, anchor(record.model, record.check), 10.0, ("integrity", "trained_on_test")))
    return out


def _apply_gates(run: _Run, candidates: list[_Candidate]) -> list[_Candidate]:
    by_path: dict[str, list[_Candidate]] = {}
    for c in candidates:
        if c.metric:
            by_path.setdefault(c.metric, []).append(c)
    extra = []
    for gate in run.r.gates:
        matched = by_path.get(gate.metric, [])
        for c in matched:
            c.gated = True
            c.severity = gate.status if gate.status in ("fail", "warn") else "fail" if gate.status == "error" else "info"
            if gate.status != "pass":
                c.title += f" (gate {gate.expression}: {gate.status})"
        if matched or gate.status in ("pass", "skipped"):
            continue
        model, check = (gate.metric.split("/") + ["", ""])[:2]
        m = run.metrics.get(gate.metric)
        observed = "" if gate.observed is None else f", observed {_num(gate.observed)}"
        title = f"gate {gate.expression} {'errored' if gate.status == 'error' else gate.status + 'ed' if gate.status == 'fail' else 'warns'}{observed}"
        if gate.status == "error" and gate.message:
            title += f": {gate.message}"
        extra.append(_Candidate("fail" if gate.status == "error" else gate.status, run.pillar(model, check), model or "data",
                                title, gate.metric, m.value if m else gate.observed, tuple(m.ci) if m and m.ci else None,
                                m.n if m else None, anchor(model, check) if check else "gates",
                                1.0 + abs((gate.observed or 0) - gate.threshold) / (abs(gate.threshold) or 1.0),
                                ("gate", gate.expression.replace(model + "/", "*/", 1), gate.status), gated=True))
    for record in run.r.checks:
        if record.status == "error":
            extra.append(_Candidate("fail", pillar_of(record), record.model, f"the {record.check} check raised on {record.model}: {(record.error or '').splitlines()[0] if record.error else 'error'}",
                                    None, None, None, None, anchor(record.model, record.check), 100.0, ("check_error", record.check, record.model)))
    return candidates + extra


def _collapse(candidates: list[_Candidate]) -> list[_Candidate]:
    """One finding per key and severity: the worst model's, naming the other models' values."""
    kept: dict[tuple[Any, ...], _Candidate] = {}
    for c in sorted(candidates, key=lambda c: -c.score):
        key = (*c.key, c.severity)
        if key in kept and c.model != kept[key].model:
            kept[key].also.append(f"{c.model} {_num(c.value)}" if c.value is not None else c.model)
        elif key not in kept:
            kept[key] = c
    return list(kept.values())


def findings(results: Any, *, limit: int = 10) -> list[Finding]:
    """The ranked findings of a run (``limit`` <= 0: all of them).

    ``results``: a :class:`audit.results.RunResults` or the parsed ``results.json`` dict.
    """
    run = _Run(_load(results))
    candidates: list[_Candidate] = []
    for collect in (_fairness, _slices, _group_performance, _shift, _robustness, _simple, _integrity):
        candidates += collect(run)
    ranked = sorted(_collapse(_apply_gates(run, candidates)),
                    key=lambda c: (SEVERITY_ORDER[c.severity], 0 if c.gated and c.severity != "info" else 1, -c.score, c.model, c.title))
    if limit > 0:
        ranked = ranked[:limit]
    out = []
    for i, c in enumerate(ranked, 1):
        title = f"{c.model}: {c.title}" if c.model != "data" else f"data: {c.title}"
        if c.also:
            title += f" (also {', '.join(c.also)})"
        out.append(Finding(i, c.severity, c.pillar, c.model, title, c.metric, c.value, c.ci, c.n, c.anchor, c.gated))
    return out


__all__ = ["Finding", "REFERENCE", "anchor", "findings"]
