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

from typing import Any

from audit.findings.base import REFERENCE, SEVERITY_ORDER, Finding, _Candidate, _load, _num, _Run, anchor
from audit.findings.collectors import (
    _fairness,
    _group_performance,
    _integrity,
    _robustness,
    _shift,
    _simple,
    _slices,
)
from audit.results import pillar_of


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
