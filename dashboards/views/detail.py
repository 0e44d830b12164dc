"""Run detail: the verdict, then tabs: what to look at first and the gates, one tab per check, run info.

The first tab holds the findings (``audit.findings.findings``: the largest disparities, weakest
slices, worst drops and every failing gate, gated or not), each with its interval and n and a
button that opens its check's tab, then the gates that did not pass (passing gates collapsed).
Each check's tab is drawn from the flat metric list and the check's stored figure specs and
tables, so any check shows without check-specific code. Only the open tab is drawn (the tabs
rerun the page when switched), and every table and figure is built once per version of the run
(``dashboards.views.cached``), so opening the page draws no chart at all.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from audit.dashboard.tables import check_names, fmt, gate_rows
from audit.results import RunResults
from dashboards.views import cached
from dashboards.views.common import (
    Ctx,
    cells,
    lazy_expander,
    md,
    no_runs,
    plot,
    show_stored_figure,
    shown_then_folded,
    style_status,
    verdict_badge,
)

WHOLE = "(each group)"
STATUS_MARK = {"ok": "ok", "warn": "ok, with warnings", "error": "ERROR", "skipped": "skipped"}
SEVERITY = {"fail": ("FAIL", "red"), "warn": ("WARN", "orange"), "info": ("INFO", "blue")}
TAB_KEY = "detail_tab"
OVERVIEW = "Findings and gates"
RUN_INFO = "Run info"


def render(ctx: Ctx) -> None:
    if ctx.entry is None or ctx.results is None:
        st.title("Run detail")
        no_runs(ctx)
        return
    r, key = ctx.results, cached.cache_key(ctx.entry)
    st.title(md(f"{ctx.entry.suite} · run {ctx.entry.run_id}"))  # the folder, not what the JSON claims
    verdict_badge(r.status)
    if ctx.entry.warning:
        st.warning(md(ctx.entry.warning))
    st.caption(
        md(
            f"{r.created_at} · data {r.manifest.get('data_source', '?')} · seed {r.manifest.get('seed', '?')} · models {', '.join(r.models)}"
        )
    )
    names = check_names(r)
    tabs = st.tabs([OVERVIEW] + [md(n) for n in names] + [RUN_INFO], key=TAB_KEY, on_change="rerun")
    with tabs[0]:
        if tabs[0].open is not False:  # only the open tab is drawn
            findings_panel(key, names)
            gates(r)
    for tab, name in zip(tabs[1:-1], names, strict=True):
        with tab:
            if tab.open:
                check_tab(ctx, r, name)
    with tabs[-1]:
        if tabs[-1].open:
            run_info(r)


def _open_tab(check: str) -> None:
    st.session_state[TAB_KEY] = md(check)  # the tab's label


def section_of(finding: Any, names: list[str]) -> str | None:
    """The tab a finding links to: its metric's check, else its pillar (None when the run has neither)."""
    check = str(finding.metric).split("/")[1] if finding.metric and finding.metric.count("/") >= 2 else None
    for name in (check, finding.pillar):
        if name in names:
            return name
    return None


def findings_panel(key: tuple, names: list[str], limit: int = 10) -> None:
    """The ranked findings of the run: severity, what, value [interval], n, gated; a button opens its tab."""
    st.header("What to look at first")
    found, why = cached.findings(key, limit)
    if why:
        st.caption(md(why))
        return
    if not found:
        st.success("No findings: no gate failed or warned and no ungated metric lies past its reference level.")
        return
    st.caption(
        "Ranked from every metric, gated or not: failing gates first, then warnings, then ungated metrics whose "
        "whole interval lies past a reference level. Intervals are the run's stored 95% bootstrap intervals."
    )
    for f in found:
        left, middle, right = st.columns([0.7, 8.3, 1.4], vertical_alignment="center")
        label, colour = SEVERITY.get(f.severity, (str(f.severity).upper(), "gray"))
        with left:
            st.badge(label, color=colour)
        facts = [f"{f.rank}\\.", md(f.title)]  # "1\\." is not a list item
        detail = []
        if f.value is not None:
            detail.append(f"value {fmt(f.value, f.ci)}")
        if f.n is not None:
            detail.append(f"n={f.n}")
        detail.append("gated" if f.gated else "not gated")
        middle.markdown(" ".join(facts) + "  \n" + md(" · ".join(detail)))
        section = section_of(f, names)
        if section is not None:
            right.button(
                md(f"{section} →"),
                key=f"finding_{f.rank}",
                on_click=_open_tab,
                args=(section,),
                help=md(f"open the {section} tab below"),
            )


def gates(r: RunResults) -> None:
    st.header("Gates")
    if not r.gates:
        st.info("This suite declares no gates.")
    else:
        counts = {s: sum(g.status == s for g in r.gates) for s in ("pass", "warn", "fail", "error", "skipped")}
        for col, (status, n) in zip(st.columns(5), counts.items(), strict=True):
            col.metric(status, n)
        rows = gate_rows(r.gates)
        failing = rows[rows["status"] != "PASS"]
        passing = rows[rows["status"] == "PASS"]
        shown_then_folded(failing, passing, style_status, none_shown=f"All {len(rows)} gates pass.", folded_label=f"{len(passing)} passing gates")
    for c in (c for c in r.checks if c.status == "error"):
        st.error(md(f"check {c.check} on {c.model} failed: {c.error}"))


def check_tab(ctx: Ctx, r: RunResults, check: str) -> None:
    records = [c for c in r.checks if c.check == check]
    if records:
        status = pd.DataFrame(
            [
                {
                    "model": c.model,
                    "status": STATUS_MARK.get(c.status, c.status),
                    "seconds": c.duration_s,
                    "warnings": len(c.warnings),
                    "error / reason": c.error or c.reason or "",
                }
                for c in records
            ]
        )
        st.dataframe(status, hide_index=True)
    key = cached.cache_key(ctx.entry)
    every = cached.metrics(key)
    frame = every[every["check"] == check]
    if not frame.empty:
        _metrics(key, check, frame)
    _figures(ctx, check, records)


def _metrics(key: tuple, check: str, frame: pd.DataFrame) -> None:
    pivot = cached.overall(key, check)
    if not pivot.empty:
        st.subheader("Overall metrics (value [interval])")
        st.dataframe(pivot, hide_index=True)
    names = list(dict.fromkeys(frame["metric"]))
    metric = st.selectbox("Metric to chart", names, key=f"detail_metric_{check}")
    part = frame[frame["metric"] == metric]
    if part["group"].isna().any():
        plot(cached.chart(key, check, metric, None, WHOLE), key=f"detail_overall_{check}")
    grouped = part[part["group"].notna()]
    if not grouped.empty:
        families = list(dict.fromkeys(cached.with_families(grouped, WHOLE)["family"]))
        family = (
            st.selectbox("Groups of", families, key=f"detail_attr_{check}_{metric}")
            if len(families) > 1
            else families[0]
        )
        plot(cached.chart(key, check, metric, family, WHOLE), key=f"detail_group_{check}_{metric}_{family}")
    box, draw = lazy_expander(f"All {len(frame)} metrics of this check (as stored)", key=f"detail_all_{check}")
    with box:
        if draw:
            st.dataframe(frame.drop(columns=["check", "attribute", "level"]), hide_index=True)


def _figures(ctx: Ctx, check: str, records: list) -> None:
    with_figures = [c for c in records if c.figures or c.tables or c.warnings]
    if not with_figures:
        return
    models = [c.model for c in with_figures]
    model = (
        st.selectbox("Figures and tables of model", models, key=f"detail_model_{check}")
        if len(models) > 1
        else models[0]
    )
    record = next(c for c in with_figures if c.model == model)
    cols = st.columns(2)
    for i in range(len(record.figures)):
        with cols[i % 2]:
            show_stored_figure(ctx.entry, check, model, i, key=f"fig_{check}_{model}_{i}")
    for i, (name, rows) in enumerate(record.tables.items()):
        box, draw = lazy_expander(md(f"table: {name} ({len(rows)} rows)"), key=f"detail_table_{check}_{model}_{i}")
        with box:
            if draw:
                st.dataframe(cells(rows), hide_index=True)
    if record.warnings:
        with st.expander(md(f"{len(record.warnings)} warnings")):
            for w in record.warnings:
                st.text(w)


def run_info(r: RunResults) -> None:
    m = r.manifest
    st.dataframe(
        pd.DataFrame([{"key": k, "value": str(v)} for k, v in m.items() if k not in ("packages", "timings_s")]),
        hide_index=True,
    )
    st.subheader("Models")
    st.dataframe(
        pd.DataFrame([{"model": k, **{kk: str(vv) for kk, vv in v.items()}} for k, v in r.models.items()]),
        hide_index=True,
    )
    if m.get("packages"):
        st.subheader("Packages")
        st.dataframe(pd.DataFrame(list(m["packages"].items()), columns=["package", "version"]), hide_index=True)
    if m.get("timings_s"):
        st.subheader("Timings (s)")
        st.dataframe(pd.DataFrame(list(m["timings_s"].items()), columns=["step", "seconds"]), hide_index=True)
