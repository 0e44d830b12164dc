"""The console summary printed at the end of a run: verdict, gates, top findings, headline metrics.

Gates are listed worst first; when a suite has many, the passing ones collapse into one line so
the gates that did not pass and the top findings (``audit.findings``: ranked over every metric,
gated or not) stay on the first screen. The headline table's "max DPD" column names the
sensitive attribute the largest demographic parity difference belongs to.
"""

from __future__ import annotations

from typing import Any

from audit.report.headline import cell, columns, generative
from audit.results import RunResults

HEADLINE = ("accuracy", "roc_auc", "f1", "ece")
DISPARITY = "demographic_parity_difference"
GATE_ORDER = {"error": 0, "fail": 1, "warn": 2, "pass": 3, "skipped": 4}
MAX_PASSING_LISTED = 8  # more passing gates than this collapse into one line
TOP_FINDINGS = 5


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _gates(results: RunResults) -> list[str]:
    if not results.gates:
        return ["Gates: none declared (the verdict reflects check errors only)"]
    counts = {s: sum(g.status == s for g in results.gates) for s in GATE_ORDER}
    told = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"Gates ({told})"]
    gates = sorted(results.gates, key=lambda g: GATE_ORDER[g.status])
    passing = [g for g in gates if g.status == "pass"]
    collapse = len(passing) > MAX_PASSING_LISTED
    for gate in gates:
        if collapse and gate.status == "pass":
            continue
        lines.append(f"  {gate.status.upper():7}  {gate.expression}   ({gate.message})")
    if collapse:
        lines.append(
            f"  PASS     {len(passing)} gates (each one in results.json, report.html and 'audit gate RUN --json')"
        )
    return lines


def _ci(ci: Any) -> str:
    return f" · 95% interval [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""


def _findings(results: RunResults, limit: int) -> list[str]:
    """The top findings, or a line saying why there are none to show."""
    from audit.findings import findings

    try:
        found = findings(results, limit=limit)
    except Exception as exc:  # noqa: BLE001 - a renderer bug must not hide the verdict printed above
        return ["", f"Top findings: could not be ranked ({exc.__class__.__name__}: {exc}); see report.html"]
    if not found:
        return ["", "Top findings: none (no metric past its reference level, no gate breached)"]
    lines = ["", "Top findings (ranked over every metric, gated or not)"]
    for item in found:
        lines.append(f"  {item.rank}. {item.severity.upper():4}  {item.title}{_ci(item.ci)}")
    return lines


def _max_disparity(results: RunResults, model: str) -> str:
    """``0.258 (foreign_worker)``: the largest demographic parity difference and its attribute."""
    rows = [m for m in results.metrics if m.model == model and m.metric == DISPARITY and m.value is not None]
    if not rows:
        return "-"
    worst = max(rows, key=lambda m: m.value)  # type: ignore[arg-type, return-value]
    return f"{_fmt(worst.value)} ({worst.group})" if worst.group else _fmt(worst.value)


def summary(results: RunResults, run_dir: str, *, findings: int = TOP_FINDINGS) -> str:
    lines = [
        f"\n{'=' * 72}",
        f"audit {results.suite['name']} · run {results.run_id} · verdict: {results.status.upper()}",
        "=" * 72,
    ]
    lines += _gates(results)
    if findings:
        lines += _findings(results, findings)
    flat = {m.path: m for m in results.metrics}
    lines.append("")
    headline = columns(results, HEADLINE)
    width = [max(20, len(c) + 2) for c in headline]  # a long column name never runs into the next
    disparity = not generative(results)  # a language model has no demographic parity of decisions
    lines.append(f"{'model':<16}" + "".join(f"{c:>{w}}" for c, w in zip(headline, width, strict=True)) + ("   max DPD (attribute)" if disparity else ""))
    for model in results.models:
        cells = []
        for metric in headline:
            m = cell(flat, model, metric)
            cells.append(_fmt(m.value) + (f" [{m.ci[0]:.2f},{m.ci[1]:.2f}]" if m and m.ci else "") if m else "-")
        row = f"{model:<16}" + "".join(f"{c:>{w}}" for c, w in zip(cells, width, strict=True))
        lines.append(row + (f"   {_max_disparity(results, model)}" if disparity else ""))
    errors = [r for r in results.checks if r.status == "error"]
    for record in errors:
        lines.append(f"ERROR  {record.model}/{record.check}: {record.error}")
    n_warn = sum(len(r.warnings) for r in results.checks)
    if n_warn:
        lines.append(f"{n_warn} warnings (small groups, undefined metrics): see the report")
    lines.append(f"\nrun folder: {run_dir}")
    lines.append(f"total {results.manifest.get('timings_s', {}).get('total', 0):.1f}s")
    return "\n".join(lines)
