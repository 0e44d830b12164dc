"""Compare two runs: gates side by side, then every metric with its change and interval overlap."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.dashboard.compare import VERDICTS, compare_gates, compare_runs, disjoint, significant_regressions
from audit.dashboard.runs import find_run
from dashboards.views.common import VERDICT, Ctx, no_runs, table_height

ROW_COLOURS = {
    ("regressed", False): "#f8c9c4",  # worse and the intervals do not overlap
    ("regressed", True): "#fde8e4",
    ("regressed", None): "#fde8e4",
    ("improved", False): "#cdebd3",
    ("improved", True): "#eaf6ec",
    ("improved", None): "#eaf6ec",
}


def render(ctx: Ctx) -> None:
    st.title("Compare runs")
    readable = [e for e in ctx.entries if e.error is None]
    if len(readable) < 2:
        if readable:
            st.info("Only one run in the reports folder; a comparison needs two.")
        else:
            no_runs(ctx)
        return
    keys = [e.key for e in readable]
    labels = {e.key: f"{e.suite} · {e.run_id} · {VERDICT.get(e.status, (e.status,))[0]}" for e in readable}
    candidate_key = ctx.entry.key if ctx.entry is not None else keys[0]
    candidate = find_run(readable, candidate_key)
    older = [
        e
        for e in readable
        if e.suite == candidate.suite and (e.created_at, e.run_id) < (candidate.created_at, candidate.run_id)
    ]
    baseline_default = older[0].key if older else next(k for k in keys if k != candidate_key)
    if st.session_state.get("_cmp_for") != candidate_key:  # the sidebar run changed: start from its defaults
        st.session_state["_cmp_for"] = candidate_key
        st.session_state.pop("cmp_a", None)
        st.session_state.pop("cmp_b", None)
    left, right = st.columns(2)
    a_key = left.selectbox(
        "Baseline (A)", keys, index=keys.index(baseline_default), format_func=labels.get, key="cmp_a"
    )
    b_key = right.selectbox("Candidate (B)", keys, index=keys.index(candidate_key), format_func=labels.get, key="cmp_b")
    a, b = find_run(readable, a_key).load(), find_run(readable, b_key).load()

    st.header("Gates")
    gates = compare_gates(a, b)
    if gates.empty:
        st.info("Neither run has gates.")
    else:
        st.dataframe(
            gates.style.apply(
                lambda row: ["background-color: #fff3cd" if row["changed"] else ""] * len(row), axis=1
            ).format(precision=4, na_rep="—"),
            hide_index=True,
            height=table_height(len(gates)),
        )

    st.header("Metrics")
    frame = compare_runs(a, b)
    counts = frame["verdict"].value_counts()
    n_disjoint = len(significant_regressions(frame))
    cols = st.columns(4)
    cols[0].metric("regressions, intervals disjoint", n_disjoint)
    cols[1].metric("regressions (all)", int(counts.get("regressed", 0)))
    cols[2].metric("improvements", int(counts.get("improved", 0)))
    cols[3].metric("metrics compared", len(frame))
    filters = st.columns([2, 2, 3])
    verdicts = filters[0].multiselect(
        "Show",
        list(VERDICTS),
        default=[v for v in ("regressed", "improved", "changed", "added", "removed", "undefined") if v in counts],
        key="cmp_verdicts",
    )
    checks = sorted(frame["check"].unique())
    chosen = filters[1].multiselect("Checks", checks, default=checks, key="cmp_checks")
    needle = filters[2].text_input("Path contains", key="cmp_filter")
    shown = frame[frame["verdict"].isin(verdicts) & frame["check"].isin(chosen)]
    if needle:
        shown = shown[shown["path"].str.contains(needle, regex=False)]
    shown = shown.assign(
        order=shown["verdict"].map({"regressed": 0, "improved": 1}).fillna(2), disjoint=disjoint(shown)
    )
    shown = shown.sort_values(["order", "disjoint"], ascending=[True, False], kind="stable").drop(
        columns=["order", "disjoint"]
    )
    st.caption(
        "Red rows got worse (darker: the confidence intervals do not overlap); green rows got better. 'overlap' is empty when a run stored no interval."
    )
    st.dataframe(_style(shown.reset_index(drop=True)), hide_index=True)


def _style(frame: pd.DataFrame) -> object:
    def paint(row: pd.Series) -> list[str]:
        overlap = None if pd.isna(row["overlap"]) else bool(row["overlap"])
        colour = ROW_COLOURS.get((row["verdict"], overlap), "")
        return [f"background-color: {colour}" if colour else ""] * len(row)

    return frame.style.apply(paint, axis=1).format(precision=4, na_rep="")
