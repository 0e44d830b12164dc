"""Regression diff of two finished runs: which metrics changed, and which got significantly worse.

Metrics are matched by path. A change is ``regressed`` (or ``improved``) when both runs carry an
interval, the intervals do not overlap, and the move is in the worse (better) direction of the
metric's ``direction``; without intervals, or without a direction, a change is only reported
(we cannot tell it from noise or from taste). A metric is *gated* when a gate of run B judged it;
a gated metric that regressed, or that lost its value, makes ``audit diff`` exit 1, so a pipeline
can block a release that is measurably worse than the last one even when every gate still passes.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Any

from audit.results import Metric, RunResults


@dataclass
class Change:
    path: str
    status: str  # regressed | improved | worse | better | changed | added | removed | undefined
    a: float | None
    b: float | None
    delta: float | None
    ci_a: tuple[float, float] | None
    ci_b: tuple[float, float] | None
    direction: str | None
    gated: bool
    significant: bool

    @property
    def blocks(self) -> bool:
        """A gated metric that got significantly worse, or that has no value any more."""
        return self.gated and self.status in ("regressed", "removed", "undefined")


def gated_paths(results: RunResults) -> tuple[set[str], list[str]]:
    """Metric paths judged by the run's gates, plus the patterns of gates that matched nothing."""
    exact = {g.metric for g in results.gates}
    patterns = [p for p in exact if any(ch in p for ch in "*?")]
    return exact, patterns


def _is_gated(path: str, exact: set[str], patterns: list[str]) -> bool:
    return path in exact or any(fnmatch.fnmatchcase(path, p.replace("[", "[[]")) for p in patterns)


def _compare(path: str, a: Metric, b: Metric, gated: bool) -> Change:
    direction = b.direction or a.direction
    delta = b.value - a.value  # type: ignore[operator]
    significant = False
    status = "changed"
    if direction in ("higher", "lower"):
        worse = delta < 0 if direction == "higher" else delta > 0
        if a.ci is not None and b.ci is not None:
            significant = b.ci[1] < a.ci[0] or b.ci[0] > a.ci[1]  # the intervals do not overlap
        status = ("regressed" if worse else "improved") if significant else ("worse" if worse else "better")
    return Change(path, status, a.value, b.value, delta, a.ci, b.ci, direction, gated, significant)


def diff_runs(run_a: RunResults, run_b: RunResults, *, threshold: float = 0.0) -> list[Change]:
    """Every metric whose value changed by more than ``threshold`` (absolute), plus added/removed ones."""
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    exact, patterns = gated_paths(run_b)
    by_a = {m.path: m for m in run_a.metrics}
    by_b = {m.path: m for m in run_b.metrics}
    changes: list[Change] = []
    for path in sorted(set(by_a) | set(by_b)):
        a, b = by_a.get(path), by_b.get(path)
        gated = _is_gated(path, exact, patterns)
        if a is None or b is None:
            present = b if a is None else a
            status = "added" if a is None else "removed"
            changes.append(
                Change(
                    path,
                    status,
                    a.value if a else None,
                    b.value if b else None,
                    None,
                    a.ci if a else None,
                    b.ci if b else None,
                    present.direction,
                    gated,
                    False,
                )
            )
            continue
        if a.value is None and b.value is None:
            continue
        if a.value is None or b.value is None:
            status = "undefined" if b.value is None else "changed"
            changes.append(
                Change(path, status, a.value, b.value, None, a.ci, b.ci, b.direction or a.direction, gated, False)
            )
            continue
        if a.value == b.value or abs(b.value - a.value) < threshold:
            continue
        changes.append(_compare(path, a, b, gated))
    return changes


ORDER = {"regressed": 0, "removed": 1, "undefined": 2, "worse": 3, "improved": 4, "better": 5, "changed": 6, "added": 7}


def summarise(changes: list[Change], run_a: RunResults, run_b: RunResults, threshold: float) -> dict[str, Any]:
    blocking = [c.path for c in changes if c.blocks]
    return {
        "run_a": run_a.run_id,
        "run_b": run_b.run_id,
        "suite_a": run_a.suite.get("name"),
        "suite_b": run_b.suite.get("name"),
        "threshold": threshold,
        "counts": {s: sum(c.status == s for c in changes) for s in ORDER},
        "gated_regressions": blocking,
        "exit_code": 1 if blocking else 0,
        "changes": [asdict(c) | {"blocks": c.blocks} for c in sorted(changes, key=lambda c: (ORDER[c.status], c.path))],
    }


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _ci(ci: tuple[float, float] | None) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""


def format_text(report: dict[str, Any]) -> str:
    lines = [
        f"audit diff: {report['run_a']} ({report['suite_a']}) -> {report['run_b']} ({report['suite_b']}), threshold {report['threshold']:g}"
    ]
    if report["suite_a"] != report["suite_b"]:
        lines.append("note: the runs come from different suites; only metrics with the same path are compared")
    rows = report["changes"]
    if not rows:
        lines.append("no metric changed")
    else:
        width = min(max(len(r["path"]) for r in rows), 70)
        lines.append(
            f"{'status':<10} {'gate':<4} {'metric':<{width}} {'A':>10} {'B':>10} {'delta':>10}  intervals A -> B"
        )
        for r in rows:
            mark = "G" if r["gated"] else ""
            lines.append(
                f"{r['status']:<10} {mark:<4} {r['path']:<{width}} {_num(r['a']):>10} {_num(r['b']):>10} {_num(r['delta'], True):>10}  {_ci(r['ci_a'])} -> {_ci(r['ci_b'])}"
            )
    counts = ", ".join(f"{n} {s}" for s, n in report["counts"].items() if n)
    lines.append(f"{len(rows)} changes ({counts or 'none'})")
    if report["gated_regressions"]:
        lines.append(
            f"BLOCKED: {len(report['gated_regressions'])} gated metric(s) regressed: {', '.join(report['gated_regressions'][:10])}"
        )
    else:
        lines.append("no gated metric regressed")
    return "\n".join(lines)
