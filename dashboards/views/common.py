"""Shared pieces of the dashboard pages: the reports folder, run selection, safe text, charts.

The reports folder comes from the ``AUDIT_REPORTS_DIR`` environment variable (set by
``audit dashboard``), never from the page: a visitor picks runs from a list of what is in that
folder, and the ``run`` query parameter is only looked up in that list. Every string that comes
from a suite, a dataset or a run goes through ``md`` before a markdown-rendering element, and
no element uses ``unsafe_allow_html``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from audit.dashboard.figures import to_plotly
from audit.dashboard.runs import RunEntry, find_run
from audit.results import RunResults
from dashboards.views import cached

ENV_VAR = "AUDIT_REPORTS_DIR"
PAGES = ("Runs", "Run detail", "Compare runs", "Fairness explorer", "Explanation explorer")
VERDICT = {"pass": ("PASS", "green"), "warn": ("WARN", "orange"), "fail": ("FAIL", "red"), "error": ("ERROR", "red")}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$:&])")
_MD_LEADING = re.compile(r"^(\s*)(\d+)?([.)+\-=])")


def md(text: Any) -> str:
    """Text made inert for Streamlit markdown: no links, images, HTML, lists, colour or icon directives."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text).replace("\n", " ")).replace("www.", "www\\.")  # no autolinks
    return _MD_LEADING.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}\\{m.group(3)}", escaped)


@dataclass
class Ctx:
    root: Path
    entries: list[RunEntry]
    entry: RunEntry | None
    results: RunResults | None


def reports_root() -> Path:
    return Path(os.environ.get(ENV_VAR, "reports")).expanduser().resolve()


def verdict_badge(status: str) -> None:
    label, colour = VERDICT.get(status, (status.upper(), "gray"))
    st.badge(label, color=colour)


def _apply_query_params(entries: list[RunEntry]) -> None:
    """Deep links (``?page=detail&run=credit/<id>``) seed the pickers once per session."""
    if st.session_state.get("_qp_done"):
        return
    st.session_state["_qp_done"] = True
    params = st.query_params
    page = params.get("page")
    wanted = {p.lower().replace(" ", ""): p for p in PAGES}
    aliases = {
        "detail": "Run detail",
        "compare": "Compare runs",
        "fairness": "Fairness explorer",
        "explain": "Explanation explorer",
        "runs": "Runs",
    }
    if page:
        key = page.lower().replace(" ", "")
        choice = aliases.get(key) or wanted.get(key)
        if choice:
            st.session_state["page"] = choice
    run = params.get("run")
    if run and find_run(entries, run) is not None:  # a lookup in the list, never a path
        st.session_state["run"] = run


def sidebar() -> tuple[str, Ctx]:
    """Page picker and the one run picker every page follows; returns the page name and what it needs.

    The chosen run lives in ``st.session_state["run"]`` (the picker's key, mirrored in
    ``_run_choice`` and in the ``run`` query parameter), so switching pages never changes it;
    only the visitor does, in the sidebar. Results are read through ``cached`` (once per version).
    """
    root = reports_root()
    entries = cached.entries(root)
    _apply_query_params(entries)
    st.sidebar.title("audit dashboard")
    page = st.sidebar.radio("Page", PAGES, key="page")
    readable = [e for e in entries if e.error is None]
    entry = None
    if readable:
        keys = [e.key for e in readable]
        if st.session_state.get("run") not in keys:  # first visit, or the widget's state was dropped
            kept = st.session_state.get("_run_choice")
            st.session_state["run"] = kept if kept in keys else keys[0]
        labels = {e.key: run_label(e) for e in readable}
        chosen = st.sidebar.selectbox(
            "Run", keys, key="run", format_func=lambda k: labels.get(k, k), help="every page shows this run"
        )
        st.session_state["_run_choice"] = chosen
        entry = find_run(readable, chosen)
    st.sidebar.caption("Reports folder")
    st.sidebar.text(str(root))
    st.query_params["page"] = page
    if entry is not None:
        st.query_params["run"] = entry.key
    results = cached.results(entry) if entry is not None else None
    return page, Ctx(root, entries, entry, results)


def run_label(entry: RunEntry) -> str:
    return f"{entry.suite} · {entry.run_id} · {VERDICT.get(entry.status, (entry.status,))[0]}"


def run_caption(ctx: Ctx) -> None:
    """The line under each page's title that names the run the page shows."""
    if ctx.entry is not None:
        st.caption(md(f"Run {run_label(ctx.entry)} (pick another in the sidebar)"))


def no_runs(ctx: Ctx) -> None:
    st.info(
        md(f"No finished runs in {ctx.root}.") + " Run a suite first, e.g. `audit run suites/credit.yaml`, then reload."
    )


def lazy_expander(label: str, key: str, expanded: bool = False) -> tuple[Any, bool]:
    """An expander whose content is computed and sent only while it is open (it reruns the page
    when opened); returns the container and whether to draw into it."""
    box = st.expander(label, expanded=expanded, key=key, on_change="rerun")
    return box, bool(box.open)


PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": False}  # drag to zoom, double-click to reset


def plot(figure: Any, key: str) -> None:
    """A plotly chart without the mode bar (it covers titles in two-column layouts)."""
    st.plotly_chart(figure, key=key, config=PLOTLY_CONFIG)


def show_figure(spec: dict[str, Any], entry: RunEntry | None, key: str) -> None:
    """One stored figure spec; image files come from the run folder only (``safefiles`` rules)."""
    show_rendered(to_plotly(spec, entry.path if entry else None, entry.root if entry else None), key)


def show_stored_figure(entry: RunEntry, check: str, model: str, index: int, key: str) -> None:
    """The ``index``-th figure of ``check`` on ``model``, drawn once per run version (``cached.figure``)."""
    show_rendered(cached.figure(cached.cache_key(entry), check, model, index), key)


def show_rendered(rendered: Any, key: str) -> None:
    if rendered.kind == "plotly":
        plot(rendered.figure, key=key)
    elif rendered.kind == "image":
        st.image(rendered.data, caption=rendered.caption or None)
    else:
        st.warning(md(rendered.error or "figure could not be drawn"))
    if rendered.caption and rendered.kind == "plotly":
        st.caption(md(rendered.caption))


def cells(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A stored table as a frame; lists/dicts in cells (intervals) become short text."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, (list, tuple, dict))).any():
            frame[column] = frame[column].map(_cell_text)
    return frame


def _cell_text(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"[{value[0]:.3g}, {value[1]:.3g}]"
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value


def table_height(rows: int, limit: int = 640) -> int:
    """Pixel height that shows ``rows`` rows without an inner scrollbar (up to ``limit``)."""
    return min(35 * (rows + 1) + 3, limit)


def shown_then_folded(shown: pd.DataFrame, folded: pd.DataFrame, style: Any, *, none_shown: str, folded_label: str) -> None:
    """The rows that matter as a table (``none_shown`` when there are none), the rest folded
    in an expander labelled ``folded_label`` (gates that did not pass / changed status first)."""
    if shown.empty:
        st.success(md(none_shown))
    else:
        st.dataframe(style(shown), hide_index=True, height=table_height(len(shown)))
    if not folded.empty:
        with st.expander(md(folded_label)):
            st.dataframe(style(folded), hide_index=True, height=table_height(len(folded)))


def style_status(frame: pd.DataFrame, column: str = "status") -> Any:
    """Row colours by gate status (red fail/error, amber warn, green pass)."""
    colours = {"fail": "#fde0dc", "error": "#f8d0d0", "warn": "#fff3cd", "pass": "#e6f4ea", "skipped": "#eceff1"}

    def paint(row: pd.Series) -> list[str]:
        text = str(row[column]).lower()
        colour = next((c for s, c in colours.items() if s in text), "")
        return [f"background-color: {colour}" if colour else ""] * len(row)

    return frame.style.apply(paint, axis=1).format(precision=4, na_rep="—")
