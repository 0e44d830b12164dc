"""Run detail: the verdict and its gates first, then one tab per check present in the run.

Each tab is drawn from the flat metric list and the check's stored figure specs and tables, so
any check (performance, fairness, explain, shift, drift, latency, robustness, image_*, text_*)
shows without check-specific code; a run without a pillar simply has no tab for it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.dashboard.figures import metric_chart
from audit.dashboard.tables import check_names, gate_rows, metrics_frame, overall_pivot
from audit.results import RunResults
from dashboards.views.common import (
    Ctx,
    cells,
    md,
    no_runs,
    plot,
    show_figure,
    style_status,
    table_height,
    verdict_badge,
)

WHOLE = "(each group)"
STATUS_MARK = {"ok": "ok", "warn": "ok, with warnings", "error": "ERROR", "skipped": "skipped"}


def render(ctx: Ctx) -> None:
    if ctx.entry is None or ctx.results is None:
        st.title("Run detail")
        no_runs(ctx)
        return
    r = ctx.results
    st.title(md(f"{ctx.entry.suite} · run {ctx.entry.run_id}"))  # the folder, not what the JSON claims
    verdict_badge(r.status)
    if ctx.entry.warning:
        st.warning(md(ctx.entry.warning))
    st.caption(
        md(
            f"{r.created_at} · data {r.manifest.get('data_source', '?')} · seed {r.manifest.get('seed', '?')} · models {', '.join(r.models)}"
        )
    )
    gates(r)
    names = check_names(r)
    tabs = st.tabs([md(n) for n in names] + ["Run info"])
    for tab, name in zip(tabs, names, strict=False):
        with tab:
            check_tab(ctx, r, name)
    with tabs[-1]:
        run_info(r)


def gates(r: RunResults) -> None:
    st.header("Gates")
    if not r.gates:
        st.info("This suite declares no gates.")
    else:
        counts = {s: sum(g.status == s for g in r.gates) for s in ("pass", "warn", "fail", "error", "skipped")}
        for col, (status, n) in zip(st.columns(5), counts.items(), strict=True):
            col.metric(status, n)
        st.dataframe(style_status(gate_rows(r.gates)), hide_index=True, height=table_height(len(r.gates)))
    errors = [c for c in r.checks if c.status == "error"]
    for c in errors:
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
    frame = metrics_frame(m for m in r.metrics if m.check == check)
    if not frame.empty:
        _metrics(check, r, frame)
    _figures(ctx, check, records)


def _metrics(check: str, r: RunResults, frame: pd.DataFrame) -> None:
    pivot = overall_pivot(r, check)
    if not pivot.empty:
        st.subheader("Overall metrics (value [interval])")
        st.dataframe(pivot, hide_index=True)
    names = list(dict.fromkeys(frame["metric"]))
    metric = st.selectbox("Metric to chart", names, key=f"detail_metric_{check}")
    part = frame[frame["metric"] == metric]
    overall, grouped = part[part["group"].isna()], part[part["group"].notna()]
    if not overall.empty:
        plot(metric_chart(overall, x="model", title=f"{metric} by model"), key=f"detail_overall_{check}")
    if not grouped.empty:
        # slices (sex=female) are charted per attribute; whole groups (importance[age], ...[sex]) together
        grouped = grouped.assign(
            family=grouped["attribute"].where(grouped["level"].notna(), WHOLE),
            label=grouped["level"].where(grouped["level"].notna(), grouped["group"]),
        )
        families = list(dict.fromkeys(grouped["family"]))
        family = (
            st.selectbox("Groups of", families, key=f"detail_attr_{check}_{metric}")
            if len(families) > 1
            else families[0]
        )
        sub = grouped[grouped["family"] == family]
        title = f"{metric} by {family}" if family != WHOLE else f"{metric} by group"
        plot(
            metric_chart(sub, x="label", colour="model", horizontal=True, title=title),
            key=f"detail_group_{check}_{metric}_{family}",
        )
    with st.expander("All metrics of this check (as stored)"):
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
    for i, spec in enumerate(record.figures):
        with cols[i % 2]:
            show_figure(spec, ctx.entry, key=f"fig_{check}_{model}_{i}")
    for name, rows in record.tables.items():
        with st.expander(md(f"table: {name} ({len(rows)} rows)")):
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
