"""Fairness explorer: one model, one sensitive attribute (or intersection), one metric per group.

Shows the stored per-group values with their intervals and sizes, the attribute's disparities
(the ``[attribute]`` metrics) and every gate that judges them. Nothing is recomputed.
"""

from __future__ import annotations

import streamlit as st

from audit.dashboard.figures import metric_chart
from audit.dashboard.tables import (
    STATUS_TEXT,
    disparities,
    gate_rows,
    gates_for,
    group_attributes,
    group_metric_options,
    group_values,
    metrics_frame,
    pillar_metrics,
    split_group,
)
from audit.results import RunResults
from dashboards.views.common import Ctx, md, no_runs, plot, run_caption, style_status


def attributes_of(r: RunResults, model: str) -> list[str]:
    """Sensitive columns and intersections the suite declares, then groups of any *fairness* check.

    Other grouped metrics (latency per batch size, shift per scenario) are not about people and
    stay on the Run detail page.
    """
    present = group_attributes(r, model)
    declared = list(r.suite.get("sensitive") or []) + ["&".join(g) for g in r.suite.get("intersections") or []]
    fair = {split_group(m.group)[0] for m in pillar_metrics(r, "fairness") if m.model == model and m.group}
    ordered = [a for a in declared if a in present]
    return ordered + sorted((fair & set(present)) - set(ordered))


def render(ctx: Ctx) -> None:
    st.title("Fairness explorer")
    if ctx.results is None:
        no_runs(ctx)
        return
    r = ctx.results
    run_caption(ctx)
    cols = st.columns(3)
    model = cols[0].selectbox("Model", list(r.models), key="fx_model")
    attributes = attributes_of(r, model)
    if not attributes:
        st.info(
            md(
                f"No per-group fairness metrics for {model}: declare data.sensitive in the suite and add the fairness check. Per-class disparities of image and text suites are on the Run detail page."
            )
        )
        return
    attribute = cols[1].selectbox(
        "Sensitive attribute",
        attributes,
        key="fx_attr",
        help="an intersection such as sex&age_group compares every combination",
    )
    options = group_metric_options(r, model, attribute)
    labels = {f"{c}/{m}": f"{m} ({c})" for c, m in options}
    picked = cols[2].selectbox("Metric", list(labels), format_func=labels.get, key="fx_metric")
    check, metric = picked.split("/", 1)
    table = group_values(r, model, check, metric, attribute)
    st.subheader(md(f"{metric} of {model} by {attribute}"))
    chart = table.rename(columns={"group": "label"})
    plot(
        metric_chart(chart, x="label", horizontal=True, title=f"{metric} per group (bars: stored intervals)"),
        key="fx_chart",
    )
    st.dataframe(table, hide_index=True)
    small = table[table["n"].fillna(0) < 30]
    if not small.empty:
        st.warning(
            md(
                f"{len(small)} groups have fewer than 30 test rows: {', '.join(map(str, small['group']))}. Their intervals are wide; judge them with care."
            )
        )
    if st.toggle("Compare all models", key="fx_all"):
        every = metrics_frame(m for m in r.metrics if m.check == check and m.metric == metric)
        every = every[(every["attribute"] == attribute) & every["level"].notna()].rename(columns={"level": "label"})
        plot(
            metric_chart(every, x="label", colour="model", horizontal=True, title=f"{metric} per group, all models"),
            key="fx_all_chart",
        )

    st.subheader(md(f"Disparity across {attribute}"))
    disp = disparities(r, model, attribute)
    if disp.empty:
        st.info(md(f"No disparity metrics are stored for {attribute}."))
    else:
        st.dataframe(disp, hide_index=True)
    judged = gates_for(r, list(disp["path"]) + list(table["path"]))
    if judged:
        st.subheader("Gates on these metrics")
        for g in judged:
            text = md(f"{STATUS_TEXT.get(g.status, g.status)} · {g.expression} · {g.message}")
            {"pass": st.success, "warn": st.warning}.get(g.status, st.error)(text)
        st.dataframe(style_status(gate_rows(judged)), hide_index=True)
    else:
        st.caption("No gate judges these metrics.")
