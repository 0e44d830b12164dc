"""Gates: thresholds from the suite judged against measured metrics.

A gate's metric path may hold ``*`` / ``?`` wildcards; each matching metric is judged on its
own. A gate that matches nothing, or whose metric has no value (the check failed, the value is
undefined, the interval is missing) is an ``error``, never a silent pass.
"""

from __future__ import annotations

import fnmatch
import operator

from audit.registry import suggest
from audit.results import NOT_APPLICABLE, CheckRecord, GateOutcome, Metric, Status
from audit.suite import GateSpec

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq, "!=": operator.ne}
_RANK = {"pass": 0, "warn": 1, "fail": 2, "error": 3, "skipped": 0}


def _matches(pattern: str, metrics: list[Metric]) -> list[Metric]:
    if not any(ch in pattern for ch in "*?"):
        return [m for m in metrics if m.path == pattern]
    # '[' in paths is literal (it opens a group), so escape it before fnmatch sees a set
    escaped = pattern.replace("[", "[[]")
    return [m for m in metrics if fnmatch.fnmatchcase(m.path, escaped)]


def evaluate_gates(gates: list[GateSpec], metrics: list[Metric], records: list[CheckRecord] | None = None) -> list[GateOutcome]:
    """Judge every gate. With ``records``, a gate also answers for each model its check did not
    measure: ``skipped`` (with the reason) where the check did not apply, ``error`` where it failed,
    so a wildcard gate never silently judges only the models the check ran on.
    """
    outcomes: list[GateOutcome] = []
    for gate in gates:
        matched = _matches(gate.metric, metrics)
        unmeasured = _unmeasured(gate, matched, records or [])
        if not matched and not unmeasured:
            paths = sorted({m.path for m in metrics})
            outcomes.append(_outcome(gate, gate.metric, "error", None, f"no metric matches '{gate.metric}'; {suggest(gate.metric, paths)[:400]}"))
            continue
        wildcard = any(ch in gate.metric for ch in "*?")
        for metric in matched:
            outcomes.append(judge(gate, metric, wildcard=wildcard))
        outcomes += unmeasured
    return outcomes


def _unmeasured(gate: GateSpec, matched: list[Metric], records: list[CheckRecord]) -> list[GateOutcome]:
    """Outcomes for the (model, check) steps the gate's path names that were skipped or failed."""
    head = gate.metric.split("[", 1)[0].split("/")
    if len(head) != 3:
        return []
    model_pat, check_pat, _ = head
    measured = {(m.model, m.check) for m in matched}
    out = []
    for record in records:
        if record.status not in ("skipped", "error") or (record.model, record.check) in measured:
            continue
        if not (fnmatch.fnmatchcase(record.model, model_pat) and fnmatch.fnmatchcase(record.check, check_pat)):
            continue
        path = f"{record.model}/{record.check}/{gate.metric.split('/', 2)[2]}"
        if record.status == "skipped":
            out.append(_outcome(gate, path, "skipped", None, f"not measured: '{record.check}' was skipped on {record.model} ({record.reason})"))
        else:
            out.append(_outcome(gate, path, "error", None, f"not measured: '{record.check}' failed on {record.model} ({record.error})"))
    return out


def judge(gate: GateSpec, metric: Metric, *, wildcard: bool = False) -> GateOutcome:
    """One metric against one gate. A null value is an error naming its reason, except that a
    wildcard gate lists a metric that does not apply to its model as skipped."""
    if wildcard and metric.value is None and (metric.reason or "").startswith(NOT_APPLICABLE):
        return _outcome(gate, metric.path, "skipped", None, f"not measured on {metric.model}: {metric.reason.removeprefix(NOT_APPLICABLE)}")
    if gate.on == "value":
        observed = metric.value
    elif metric.ci is None:
        return _outcome(gate, metric.path, "error", None, f"'{metric.path}' has no confidence interval to compare")
    else:
        observed = metric.ci[0] if gate.on == "ci_low" else metric.ci[1]
    if observed is None:
        why = f": {metric.reason}" if metric.reason else " (undefined or the check failed)"
        return _outcome(gate, metric.path, "error", None, f"'{metric.path}' has no value{why}")
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
        origin=gate.description if gate.description.startswith("default gate of") else None,
    )


def overall_status(outcomes: list[GateOutcome], check_errors: int = 0) -> Status:
    """The worst gate outcome (a skipped gate counts as passed), or error when a check failed."""
    worst = max((_RANK[o.status] for o in outcomes), default=0)
    if check_errors:
        worst = max(worst, _RANK["error"])
    return next(s for s, r in _RANK.items() if r == worst)  # type: ignore[return-value]


def exit_code(status: Status, fail_on: str = "fail") -> int:
    """0 when nothing reaches ``fail_on`` (fail, or warn for stricter pipelines), else 1."""
    threshold = _RANK["warn"] if fail_on == "warn" else _RANK["fail"]
    return 1 if _RANK[status] >= threshold else 0
