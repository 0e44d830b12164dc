r"""Markdown rendering helpers: a gate verdict table fit for a PR / CI job summary.

GitHub renders job summaries and PR comments as Markdown that may contain HTML, so every string
that comes from the user (suite name, metric paths built from column and category names, gate
messages) goes through ``md_escape``: it cannot open a tag, break a table cell, start a code span
or form a link. ``md_text`` does the same with backslash escapes only (``\<``, ``\&``, ``\|``), so
a document meant to be read as a file too (the model card) holds no ``&lt;`` / ``&amp;`` entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from audit.results import GateOutcome, RunResults

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;"}
_MD_SPECIAL = frozenset("\\*_[]!~#")  # emphasis, links/images, strike-through, headings
MAX_PASSING_SHOWN = 8  # more passing gates than this fold into a <details> block
ICONS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "error": "⛔ error", "skipped": "➖ skipped"}


def md_escape(value: object, *, limit: int = 500) -> str:
    """User text -> inert Markdown inline text (one line, no HTML, no table breaks, no links)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(_HTML.get(ch) or (f"\\{ch}" if ch in _MD_SPECIAL else ch) for ch in text)


_MD_PUNCT = frozenset("\\`*_[]<>&|~#!")  # code, emphasis, links, HTML / entities, tables, strike, headings
_LINE_START = re.compile(
    r"^(?:[-+](?=\s|$)|=+$|\d{1,9}[.)](?=\s|$))"
)  # a list item, setext underline or ordered item at a line's start


def md_text(value: object, *, limit: int = 500) -> str:
    """User text -> inert Markdown inline text with backslash escapes (CommonMark: any ASCII
    punctuation may be escaped), one line, no HTML, no table breaks, no links, no entities."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out = "".join(f"\\{ch}" if ch in _MD_PUNCT else ch for ch in text)
    match = _LINE_START.match(out)
    if match:  # escape the marker's punctuation: "\\- item", "12\\. x", "\\==="
        at = len(match.group(0).rstrip("=")) - 1 if match.group(0).startswith("=") else match.end() - 1
        out = out[: max(at, 0)] + "\\" + out[max(at, 0) :]
    return out


def fmt_number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.3e}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured table; cells must already be escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def gate_rows(gates: list[GateOutcome], escape: Callable[[object], str] = md_escape) -> list[list[str]]:
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3, "skipped": 4}
    rows = []
    for gate in sorted(gates, key=lambda g: order[g.status]):
        rows.append([ICONS[gate.status], escape(gate.expression), fmt_number(gate.observed), escape(gate.message)])
    return rows


def verdict_markdown(results: RunResults, *, fail_on: str = "fail", title: str | None = None) -> str:
    """The verdict of a run: headline, gate counts, the gate table and checks that raised."""
    from audit.gates import exit_code

    code = exit_code(results.status, fail_on)
    counts = {s: sum(g.status == s for g in results.gates) for s in ("pass", "warn", "fail", "error", "skipped")}
    heading = title or f"audit · {results.suite.get('name', '?')}"
    lines = [
        f"### {md_escape(heading)}: {ICONS[results.status].upper()}",
        "",
        f"Run {md_escape(results.run_id)} · exit code {code} "
        f"({'release may proceed' if code == 0 else 'release blocked'}; fail on {fail_on}) · "
        f"{len(results.gates)} gates: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, {counts['error']} error"
        + (f", {counts['skipped']} skipped" if counts["skipped"] else ""),
        "",
    ]
    passing = [g for g in results.gates if g.status == "pass"]
    if len(passing) > MAX_PASSING_SHOWN:  # the gates that did not pass first; the passing ones folded away
        others = [g for g in results.gates if g.status != "pass"]
        if others:
            lines += [table(["status", "gate", "observed", "detail"], gate_rows(others)), ""]
        lines += [
            f"<details><summary>{len(passing)} passing gates</summary>",
            "",
            table(["status", "gate", "observed", "detail"], gate_rows(passing)),
            "",
            "</details>",
        ]
    elif results.gates:
        lines.append(table(["status", "gate", "observed", "detail"], gate_rows(results.gates)))
    else:
        lines.append("No gates declared: the verdict reflects check errors only.")
    errors = [r for r in results.checks if r.status == "error"]
    if errors:
        lines += ["", "**Checks that raised**", ""]
        lines += [f"- {md_escape(r.model)}/{md_escape(r.check)}: {md_escape(r.error or '')}" for r in errors]
    return "\n".join(lines) + "\n"


def diff_markdown(report: dict) -> str:
    """``audit diff --summary-md``: comparability, verdict, gates that changed and the largest moves."""
    head = (
        f"### audit diff · {md_escape(report['suite_b'])}: {md_escape(report['run_a'])} → {md_escape(report['run_b'])}"
    )
    lines = [head, ""]
    if report["comparable"]:
        lines.append("Comparable runs: same suite, data, test rows and seed.")
    else:
        lines.append("**Not comparable**: the runs differ in")
        lines += [f"- {md_escape(item)}" for item in report["differences"]]
        if not report["allow_incomparable"]:
            lines.append("\nNo regression verdict: a move may come from that difference, not from the model.")
    summary = report["summary"]
    verdict = summary["verdict"]
    lines += [
        "",
        f"Verdict: {ICONS.get(verdict['a'], md_escape(verdict['a']))} → {ICONS.get(verdict['b'], md_escape(verdict['b']))}",
    ]
    if summary["gates_changed"]:
        rows = [
            [md_escape(g["expression"]), ICONS.get(g["a"], "absent"), ICONS.get(g["b"], "absent")]
            for g in summary["gates_changed"]
        ]
        lines += ["", table(["gate", "before", "after"], rows)]
    if summary["largest_moves"]:
        rows = [
            [
                md_escape(c["status"]) + (" (gated)" if c["gated"] else ""),
                md_escape(c["path"]),
                fmt_number(c["a"]),
                fmt_number(c["b"]),
                f"[{fmt_number(c['ci_a'][0], 3)}, {fmt_number(c['ci_a'][1], 3)}] → [{fmt_number(c['ci_b'][0], 3)}, {fmt_number(c['ci_b'][1], 3)}]",
            ]
            for c in summary["largest_moves"]
        ]
        lines += ["", f"Largest moves beyond their 95% intervals ({len(rows)} of {summary['significant']}):", ""]
        lines.append(table(["change", "metric", "before", "after", "intervals"], rows))
    else:
        lines += ["", "No metric moved beyond its interval."]
    timing = summary.get("timing_moves") or []
    if timing:
        rule = "gated ones block" if report.get("timing_blocks") else "they do not block"
        lines += [
            "",
            f"{len(timing)} timing metric(s) moved beyond their intervals ({rule}: timings move with the machine and its load).",
        ]
    if report["exit_code"] == 2:
        lines += ["", "**No verdict** (exit 2): the runs are not comparable."]
    elif report["gated_regressions"]:
        lines += [
            "",
            f"**Blocked**: {len(report['gated_regressions'])} gated metric(s) regressed: "
            + ", ".join(md_escape(p) for p in report["gated_regressions"][:10]),
        ]
    else:
        lines += ["", "No gated metric regressed."]
    return "\n".join(lines) + "\n"
