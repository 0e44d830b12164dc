"""Runs page: the latest verdict of every suite first, then every run, then metric trends."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.dashboard.figures import plain
from audit.dashboard.runs import latest_per_suite
from audit.dashboard.tables import default_trend_paths, trend_frame
from dashboards.views import cached
from dashboards.views.common import VERDICT, Ctx, md, no_runs, plot, run_caption, verdict_badge


def render(ctx: Ctx) -> None:
    st.title("Runs")
    if not ctx.entries:
        no_runs(ctx)
        return
    run_caption(ctx)
    _latest(ctx)
    _table(ctx)
    _trends(ctx)


def _latest(ctx: Ctx) -> None:
    st.header("Latest run of each suite")
    latest = latest_per_suite(ctx.entries)
    own = ctx.entry.suite if ctx.entry is not None else None
    for suite, entry in sorted(latest.items(), key=lambda kv: kv[0] != own):  # the picked run's suite first
        with st.container(border=True):
            left, right = st.columns([3, 1])
            left.subheader(md(f"{suite} · {entry.run_id}"))
            left.caption(md(f"{entry.created_at} · models: {', '.join(entry.models)}"))
            with right:
                verdict_badge(entry.status)
            counts = entry.gate_counts
            summary = f"{counts.get('pass', 0)} gates pass, {counts.get('warn', 0)} warn, {counts.get('fail', 0)} fail, {counts.get('error', 0)} error"
            if entry.check_errors:
                summary += f"; {entry.check_errors} checks errored"
            if entry.status == "pass":
                st.success(md(f"Passed its gates: {summary}."))
                continue
            (st.warning if entry.status == "warn" else st.error)(md(f"{VERDICT[entry.status][0]}: {summary}. Why:"))
            results = cached.results(entry)
            why = [
                {"status": g.status, "gate": g.expression, "measured": g.observed, "message": g.message}
                for g in results.gates
                if g.status != "pass"
            ]
            why += [
                {"status": "error", "gate": f"check {c.check} on {c.model}", "measured": None, "message": c.error or ""}
                for c in results.checks
                if c.status == "error"
            ]
            st.dataframe(pd.DataFrame(why), hide_index=True)


def _table(ctx: Ctx) -> None:
    st.header("All runs")
    suites = sorted({e.suite for e in ctx.entries})
    chosen = st.multiselect("Suites", suites, default=suites, key="runs_suites")
    rows = []
    for e in ctx.entries:
        if e.suite not in chosen:
            continue
        rows.append(
            {
                "shown": "▶" if ctx.entry is not None and e.key == ctx.entry.key else "",
                "suite": e.suite,
                "run": e.run_id,
                "created": e.created_at,
                "models": ", ".join(e.models),
                "verdict": VERDICT.get(e.status, (e.status,))[0] if e.error is None else "UNREADABLE",
                "pass": e.gate_counts.get("pass"),
                "warn": e.gate_counts.get("warn"),
                "fail": e.gate_counts.get("fail"),
                "error": e.gate_counts.get("error"),
                "check errors": e.check_errors,
                "problem": e.error or e.warning or "",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _trends(ctx: Ctx) -> None:
    import plotly.graph_objects as go

    st.header("Trends")
    readable = [e for e in ctx.entries if e.error is None]
    if not readable:
        return
    suites = sorted({e.suite for e in readable})
    own = ctx.entry.suite if ctx.entry is not None else suites[0]
    if st.session_state.get("_trend_for") != own:  # the selected run's suite, until the visitor picks another
        st.session_state["_trend_for"] = own
        st.session_state["trend_suite"] = own
        st.session_state.pop("trend_metrics", None)
    suite = st.selectbox("Suite", suites, key="trend_suite")
    runs = [e for e in readable if e.suite == suite]
    loaded = [(e.run_id, e.created_at, cached.results(e)) for e in reversed(runs)]  # oldest first
    paths = sorted({m.path for _, _, r in loaded for m in r.metrics})
    default = [p for p in default_trend_paths(loaded[-1][2]) if p in paths]
    picked = st.multiselect(
        "Metrics", paths, default=default, key="trend_metrics", help="metric paths model/check/metric[group]"
    )
    if not picked:
        st.info("Pick metrics to follow across runs.")
        return
    frame = trend_frame(loaded, picked)
    fig = go.Figure()
    for path, part in frame.groupby("path", sort=False):
        err = [
            (v - lo if lo == lo and lo is not None else None, hi - v if hi == hi and hi is not None else None)
            for v, lo, hi in zip(part["value"], part["ci_low"], part["ci_high"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=pd.to_datetime(part["created_at"]),
                y=part["value"],
                mode="lines+markers",
                name=plain(path),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [e[1] for e in err],
                    "arrayminus": [e[0] for e in err],
                },
                customdata=part["run_id"],
                hovertemplate="%{customdata}<br>%{y:.4g}<extra>" + plain(path) + "</extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        title=plain(f"{suite}: {len(loaded)} runs (bars: stored confidence intervals)"),
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    plot(fig, key="trend_chart")
    st.dataframe(frame, hide_index=True)
