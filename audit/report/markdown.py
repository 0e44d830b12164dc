"""Markdown rendering helpers: a gate verdict table fit for a PR / CI job summary.

GitHub renders job summaries and PR comments as Markdown that may contain HTML, so every string
that comes from the user (suite name, metric paths built from column and category names, gate
messages) goes through ``md_escape``: it cannot open a tag, break a table cell, start a code span
or form a link.
"""

from __future__ import annotations

from audit.results import GateOutcome, RunResults

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;"}
_MD_SPECIAL = frozenset("\\*_[]!~#")  # emphasis, links/images, strike-through, headings
ICONS = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "error": "⛔ error", "skipped": "➖ skipped"}


def md_escape(value: object, *, limit: int = 500) -> str:
    """User text -> inert Markdown inline text (one line, no HTML, no table breaks, no links)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "".join(_HTML.get(ch) or (f"\\{ch}" if ch in _MD_SPECIAL else ch) for ch in text)


def fmt_number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:.3e}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured table; cells must already be escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def gate_rows(gates: list[GateOutcome]) -> list[list[str]]:
    order = {"error": 0, "fail": 1, "warn": 2, "pass": 3, "skipped": 4}
    rows = []
    for gate in sorted(gates, key=lambda g: order[g.status]):
        rows.append(
            [ICONS[gate.status], md_escape(gate.expression), fmt_number(gate.observed), md_escape(gate.message)]
        )
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
        f"{len(results.gates)} gates: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail, {counts['error']} error" + (f", {counts['skipped']} skipped" if counts["skipped"] else ""),
        "",
    ]
    if results.gates:
        lines.append(table(["status", "gate", "observed", "detail"], gate_rows(results.gates)))
    else:
        lines.append("No gates declared: the verdict reflects check errors only.")
    errors = [r for r in results.checks if r.status == "error"]
    if errors:
        lines += ["", "**Checks that raised**", ""]
        lines += [f"- {md_escape(r.model)}/{md_escape(r.check)}: {md_escape(r.error or '')}" for r in errors]
    return "\n".join(lines) + "\n"
