"""Regression diff of two finished runs: which metrics changed, and which got significantly worse.

Metrics are matched by path. A change is ``regressed`` (or ``improved``) when both runs carry an
interval, the intervals do not overlap, and the move is in the worse (better) direction of the
metric's ``direction``; without intervals, or without a direction, a change is only reported
(we cannot tell it from noise or from taste). A metric is *gated* when a gate of run B judged it;
a gated metric that regressed, or that lost its value, makes ``audit diff`` exit 1, so a pipeline
can block a release that is measurably worse than the last one even when every gate still passes.

Two runs are *comparable* when they share the suite name, the data (``data_sha256``), the test
rows (``test_sha256``; older runs: the train/test row counts) and the seed. Otherwise a move in a
metric mixes the model's change with a change of data or split (another seed draws another split
and other bootstrap samples), so the report says first what differs and gives no regression
verdict (exit 2) unless the caller allows it (``--allow-incomparable``).
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
    timing: bool = False  # measured in wall-clock time (ms, rows/s): depends on the machine and its load

    @property
    def blocks(self) -> bool:
        """A gated metric that got significantly worse, or that has no value any more. A timing
        regression does not block (``summarise(timing_blocks=True)`` makes it): its interval
        resamples one run's calls, not the machine or its load, which move it far more."""
        return self.gated and (
            self.status in ("removed", "undefined") or (self.status == "regressed" and not self.timing)
        )


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


TIMING_UNITS = frozenset({"ms", "s", "rows/s"})


def diff_runs(run_a: RunResults, run_b: RunResults, *, threshold: float = 0.0) -> list[Change]:
    """Every metric whose value changed by more than ``threshold`` (absolute), plus added/removed ones."""
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    exact, patterns = gated_paths(run_b)
    by_a = {m.path: m for m in run_a.metrics}
    by_b = {m.path: m for m in run_b.metrics}
    changes: list[Change] = []
    for path in sorted(set(by_a) | set(by_b)):
        before = len(changes)
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
        if len(changes) > before:
            changes[-1].timing = (b.unit or a.unit) in TIMING_UNITS
    return changes


ORDER = {"regressed": 0, "removed": 1, "undefined": 2, "worse": 3, "improved": 4, "better": 5, "changed": 6, "added": 7}
TOP_MOVES = 5
NOT_COMPARABLE = 2  # exit code: no verdict, the runs measure different things


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] + "…" if len(text) > 13 else text


def comparability(run_a: RunResults, run_b: RunResults) -> tuple[list[str], list[str]]:
    """(what differs between the runs' suite, data, test rows and seed; what could not be checked)."""
    ma, mb = run_a.manifest, run_b.manifest
    differences: list[str] = []
    unverified: list[str] = []
    name_a, name_b = run_a.suite.get("name"), run_b.suite.get("name")
    if name_a != name_b:
        differences.append(f"suite: '{name_a}' vs '{name_b}' (different suites measure different things)")

    def compare(key: str, label: str, why: str, show: Any = _short) -> bool:
        a, b = ma.get(key), mb.get(key)
        if a is None or b is None:
            missing = " and ".join(n for n, v in (("A", a), ("B", b)) if v is None)
            unverified.append(f"{label}: not recorded in run {missing}")
            return False
        if a != b:
            differences.append(f"{label}: {show(a)} vs {show(b)} ({why})")
        return True

    compare("data_sha256", "data sha256", "the data changed")
    if not compare("test_sha256", "test rows sha256", "another train/test split or other test rows"):
        rows_a, rows_b = ma.get("rows") or {}, mb.get("rows") or {}
        split_a, split_b = (rows_a.get("train"), rows_a.get("test")), (rows_b.get("train"), rows_b.get("test"))
        if None not in split_a + split_b and split_a != split_b:
            differences.append(
                f"split: {split_a[0]} train / {split_a[1]} test vs {split_b[0]} / {split_b[1]} (another train/test split)"
            )
    compare(
        "seed",
        "seed",
        "another seed draws another split, other bootstrap samples and another model initialisation",
        show=str,
    )
    return differences, unverified


def _separation(change: Change) -> float:
    """How far apart the two intervals are: |delta| over the sum of their half-widths (> 1: apart)."""
    if change.delta is None or change.ci_a is None or change.ci_b is None:
        return 0.0
    width = (change.ci_a[1] - change.ci_a[0] + change.ci_b[1] - change.ci_b[0]) / 2
    return abs(change.delta) / width if width > 0 else float("inf")


def gate_changes(run_a: RunResults, run_b: RunResults) -> list[dict[str, Any]]:
    """Gates (by expression) whose status differs between the runs, new ones and dropped ones."""
    before = {g.expression: g.status for g in run_a.gates}
    after = {g.expression: g.status for g in run_b.gates}
    rows = []
    for expression in [*after, *(e for e in before if e not in after)]:
        a, b = before.get(expression), after.get(expression)
        if a != b:
            rows.append({"expression": expression, "a": a, "b": b})
    return rows


def _blocks(change: Change, timing_blocks: bool) -> bool:
    return change.blocks or (timing_blocks and change.gated and change.timing and change.status == "regressed")


def summarise(
    changes: list[Change],
    run_a: RunResults,
    run_b: RunResults,
    threshold: float,
    *,
    allow_incomparable: bool = False,
    timing_blocks: bool = False,
) -> dict[str, Any]:
    blocking = [c.path for c in changes if _blocks(c, timing_blocks)]
    differences, unverified = comparability(run_a, run_b)
    comparable = not differences
    moves = sorted((c for c in changes if c.significant and not c.timing), key=lambda c: (-_separation(c), c.path))
    timing_moves = [c.path for c in changes if c.significant and c.timing]
    code = NOT_COMPARABLE if not (comparable or allow_incomparable) else int(bool(blocking))
    return {
        "run_a": run_a.run_id,
        "run_b": run_b.run_id,
        "suite_a": run_a.suite.get("name"),
        "suite_b": run_b.suite.get("name"),
        "threshold": threshold,
        "comparable": comparable,
        "differences": differences,
        "unverified": unverified,
        "allow_incomparable": allow_incomparable,
        "summary": {
            "verdict": {"a": run_a.status, "b": run_b.status},
            "gates_changed": gate_changes(run_a, run_b),
            "largest_moves": [asdict(c) | {"blocks": _blocks(c, timing_blocks)} for c in moves[:TOP_MOVES]],
            "significant": len(moves),
            "timing_moves": timing_moves,
        },
        "timing_blocks": timing_blocks,
        "counts": {s: sum(c.status == s for c in changes) for s in ORDER},
        "gated_regressions": blocking,
        "exit_code": code,
        "changes": [
            asdict(c) | {"blocks": _blocks(c, timing_blocks)}
            for c in sorted(changes, key=lambda c: (ORDER[c.status], c.path))
        ],
    }


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _ci(ci: tuple[float, float] | list[float] | None) -> str:
    return f"[{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""


def _head(report: dict[str, Any]) -> list[str]:
    """Comparability first: what differs, and what that means for the verdict."""
    if report["comparable"]:
        lines = ["comparable: same suite, data, test rows and seed"]
        lines += [f"  (could not check {item})" for item in report["unverified"]]
        return lines
    lines = ["NOT COMPARABLE: the runs differ in"]
    lines += [f"  - {item}" for item in report["differences"]]
    if report["allow_incomparable"]:
        lines.append(
            "  Judged anyway (--allow-incomparable): a move below may come from that difference, not from the model."
        )
    else:
        lines.append(
            "  A move below may come from that difference, not from the model: no regression verdict (exit 2)."
        )
        lines.append(
            "  Compare runs of one suite on the same data and seed, or pass --allow-incomparable to judge anyway."
        )
    return lines


def _summary(report: dict[str, Any]) -> list[str]:
    summary = report["summary"]
    verdict = summary["verdict"]
    same = "unchanged" if verdict["a"] == verdict["b"] else "CHANGED"
    lines = ["", "Summary", f"  verdict: {str(verdict['a']).upper()} -> {str(verdict['b']).upper()} ({same})"]
    gates = summary["gates_changed"]
    if gates:
        lines.append(f"  gates that changed status ({len(gates)}):")
        lines += [f"    {g['expression']}: {g['a'] or 'absent'} -> {g['b'] or 'absent'}" for g in gates[:10]]
        if len(gates) > 10:
            lines.append(f"    ... and {len(gates) - 10} more")
    else:
        lines.append("  gates: no gate changed status")
    moves = summary["largest_moves"]
    if moves:
        lines.append(f"  largest moves beyond their intervals ({len(moves)} of {summary['significant']}):")
        for c in moves:
            mark = " (gated)" if c["gated"] else ""
            lines.append(
                f"    {c['status']:<9} {c['path']}{mark}: {_num(c['a'])} -> {_num(c['b'])} ({_num(c['delta'], True)}), {_ci(c['ci_a'])} -> {_ci(c['ci_b'])}"
            )
    else:
        lines.append("  no metric moved beyond its interval")
    timing = summary.get("timing_moves") or []
    if timing:
        rule = "gated ones block (--timing-blocks)" if report.get("timing_blocks") else "they do not block"
        shown = ", ".join(timing[:4]) + (", ..." if len(timing) > 4 else "")
        lines.append(
            f"  timings beyond their intervals ({len(timing)}; they move with the machine and its load, so {rule}): {shown}"
        )
    return lines


def format_text(report: dict[str, Any]) -> str:
    lines = [
        f"audit diff: {report['run_a']} ({report['suite_a']}) -> {report['run_b']} ({report['suite_b']}), threshold {report['threshold']:g}"
    ]
    lines += _head(report)
    lines += _summary(report)
    rows = report["changes"]
    lines += ["", f"Detail ({len(rows)} changes)"]
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
    if report["exit_code"] == NOT_COMPARABLE:
        lines.append("NO VERDICT: the runs are not comparable (exit 2)")
    elif report["gated_regressions"]:
        lines.append(
            f"BLOCKED: {len(report['gated_regressions'])} gated metric(s) regressed: {', '.join(report['gated_regressions'][:10])}"
        )
    else:
        lines.append("no gated metric regressed")
    return "\n".join(lines)
