"""Gates: thresholds from the suite judged against measured metrics.

A gate's metric path may hold ``*`` / ``?`` wildcards; each matching metric is judged on its
own. A gate that matches nothing, or whose metric has no value (the check failed, the value is
undefined, the interval is missing) is an ``error``, never a silent pass.
"""

from __future__ import annotations

import fnmatch
import operator

from audit.registry import suggest
from audit.results import GateOutcome, Metric, Status
from audit.suite import GateSpec

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
_RANK = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


def _matches(pattern: str, metrics: list[Metric]) -> list[Metric]:
    if not any(ch in pattern for ch in "*?"):
        return [m for m in metrics if m.path == pattern]
    # '[' in paths is literal (it opens a group), so escape it before fnmatch sees a set
    escaped = pattern.replace("[", "[[]")
    return [m for m in metrics if fnmatch.fnmatchcase(m.path, escaped)]


def evaluate_gates(gates: list[GateSpec], metrics: list[Metric]) -> list[GateOutcome]:
    outcomes: list[GateOutcome] = []
    for gate in gates:
        matched = _matches(gate.metric, metrics)
        if not matched:
            paths = sorted({m.path for m in metrics})
            outcomes.append(_outcome(gate, gate.metric, "error", None, f"no metric matches '{gate.metric}'; {suggest(gate.metric, paths)[:400]}"))
            continue
        for metric in matched:
            outcomes.append(judge(gate, metric))
    return outcomes


def judge(gate: GateSpec, metric: Metric) -> GateOutcome:
    if gate.on == "value":
        observed = metric.value
    elif metric.ci is None:
        return _outcome(gate, metric.path, "error", None, f"'{metric.path}' has no confidence interval to compare")
    else:
        observed = metric.ci[0] if gate.on == "ci_low" else metric.ci[1]
    if observed is None:
        return _outcome(gate, metric.path, "error", None, f"'{metric.path}' has no value (undefined or the check failed)")
    ok = OPS[gate.op](observed, gate.threshold)
    status: Status = "pass" if ok else gate.severity
    verb = "meets" if ok else "breaches"
    return _outcome(gate, metric.path, status, observed, f"{observed:.4g} {verb} {gate.op} {gate.threshold:g}")


def _outcome(gate: GateSpec, path: str, status: Status, observed: float | None, message: str) -> GateOutcome:
    target = path if gate.on == "value" else f"{gate.on}({path})"
    return GateOutcome(
        expression=f"{target} {gate.op} {gate.threshold:g}",
        metric=path,
        on=gate.on,
        op=gate.op,
        threshold=gate.threshold,
        severity=gate.severity,
        status=status,
        observed=observed,
        message=message,
    )


def overall_status(outcomes: list[GateOutcome], check_errors: int = 0) -> Status:
    worst = max((_RANK[o.status] for o in outcomes), default=0)
    if check_errors:
        worst = max(worst, _RANK["error"])
    return next(s for s, r in _RANK.items() if r == worst)  # type: ignore[return-value]


def exit_code(status: Status, fail_on: str = "fail") -> int:
    """0 when nothing reaches ``fail_on`` (fail, or warn for stricter pipelines), else 1."""
    threshold = _RANK["warn"] if fail_on == "warn" else _RANK["fail"]
    return 1 if _RANK[status] >= threshold else 0
