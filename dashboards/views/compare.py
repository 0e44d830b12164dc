"""Compare two runs: gates side by side, then every metric with its change and interval overlap."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from audit.dashboard.compare import VERDICTS, disjoint, significant_regressions
from audit.dashboard.runs import RunEntry, find_run
from dashboards.views import cached
from dashboards.views.common import Ctx, md, no_runs, run_caption, run_label, shown_then_folded

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
    if not readable or ctx.entry is None:
        no_runs(ctx)
        return
    run_caption(ctx)
    candidate = ctx.entry
    same = [e for e in readable if e.suite == candidate.suite]
    if st.session_state.get("_cmp_for") != candidate.key:  # the sidebar run changed: start from its defaults
        st.session_state["_cmp_for"] = candidate.key
        for widget in ("cmp_a", "cmp_b", "cmp_any_suite"):
            st.session_state.pop(widget, None)
    if len(same) < 2:
        st.info(
            md(f"{candidate.key} is the only run of suite {candidate.suite}.")
            + " Run the suite again to compare, or switch on the runs of other suites below."
        )
    widen = st.toggle(
        "Offer runs of other suites",
        value=False,
        key="cmp_any_suite",
        help="runs of different suites share few metric paths; the default compares runs of the same suite",
        on_change=_forget_pair,
    )
    offered = readable if widen else same
    if len(offered) < 2:
        st.info("A comparison needs two runs.")
        return
    keys = [e.key for e in offered]
    labels = {e.key: run_label(e) for e in offered}
    a_default, b_default = default_pair(offered, candidate)
    left, right = st.columns(2)
    a_key = left.selectbox("Baseline (A)", keys, index=keys.index(a_default), format_func=labels.get, key="cmp_a")
    b_key = right.selectbox("Candidate (B)", keys, index=keys.index(b_default), format_func=labels.get, key="cmp_b")
    entry_a, entry_b = find_run(offered, a_key), find_run(offered, b_key)
    if entry_a.suite != entry_b.suite:
        st.warning(
            md(f"A is a run of suite {entry_a.suite} and B of suite {entry_b.suite}:")
            + " they share few metrics, so most rows are 'added' or 'removed'."
        )
    key_a, key_b = cached.cache_key(entry_a), cached.cache_key(entry_b)
    differences = _differences(cached.results(entry_a), cached.results(entry_b))
    if differences:
        st.warning(
            md("These runs are not comparable: " + "; ".join(differences) + ".")
            + " A change below mixes the model's change with that difference."
        )

    frame = cached.comparison(key_a, key_b)
    counts = frame["verdict"].value_counts()
    n_disjoint = len(significant_regressions(frame))
    gates = cached.gate_comparison(key_a, key_b)
    cols = st.columns(5)
    cols[0].metric("regressions, intervals disjoint", n_disjoint)
    cols[1].metric("regressions (all)", int(counts.get("regressed", 0)))
    cols[2].metric("improvements", int(counts.get("improved", 0)))
    cols[3].metric("gates changed status", int(gates["changed"].sum()) if not gates.empty else 0)
    cols[4].metric("metrics compared", len(frame))

    st.header("Gates")
    if gates.empty:
        st.info("Neither run has gates.")
    else:
        changed, same_status = gates[gates["changed"]], gates[~gates["changed"]]
        shown_then_folded(changed, same_status, _gate_style, none_shown=f"No gate changed status ({len(gates)} gates).",
                          folded_label=f"{len(same_status)} gates with the same status in both runs")

    st.header("Metrics")
    if set(counts.index) <= {"unchanged"}:
        st.success(md(f"All {len(frame)} metrics have the same value in both runs."))
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


def _differences(a: object, b: object) -> list[str]:
    """What makes two runs not comparable (suite, data, test rows, seed): ``audit.diff.comparability``."""
    try:
        from audit.diff import comparability
    except ImportError:  # an older install without the check
        return []
    try:
        return comparability(a, b)[0]
    except Exception:  # a run missing manifest keys must not break the page
        return []


def _forget_pair() -> None:
    """The offered runs changed: both pickers start again from their defaults."""
    st.session_state.pop("cmp_a", None)
    st.session_state.pop("cmp_b", None)


def default_pair(offered: list[RunEntry], candidate: RunEntry) -> tuple[str, str]:
    """(baseline, candidate) keys: the selected run against the previous run of its suite.

    Without an older run of the suite, the selected run is the baseline of the next newer one;
    a suite with a single run is compared with the newest other run offered.
    """
    same = [e for e in offered if e.suite == candidate.suite and e.key != candidate.key]  # newest first
    older = [e for e in same if (e.created_at, e.run_id) < (candidate.created_at, candidate.run_id)]
    if older:
        return older[0].key, candidate.key
    if same:
        return candidate.key, same[-1].key
    other = next(e for e in offered if e.key != candidate.key)
    return other.key, candidate.key


def _gate_style(frame: pd.DataFrame) -> object:
    return frame.style.apply(
        lambda row: ["background-color: #fff3cd" if row["changed"] else ""] * len(row), axis=1
    ).format(precision=4, na_rep="—")


def _style(frame: pd.DataFrame) -> object:
    def paint(row: pd.Series) -> list[str]:
        overlap = None if pd.isna(row["overlap"]) else bool(row["overlap"])
        colour = ROW_COLOURS.get((row["verdict"], overlap), "")
        return [f"background-color: {colour}" if colour else ""] * len(row)

    return frame.style.apply(paint, axis=1).format(precision=4, na_rep="")
