"""The what-if of the Explanation explorer: edit a row, see its score against the threshold, its
attributions next to the original's on one scale, and the smallest change that flips the decision.

Everything is computed by ``audit.dashboard.whatif`` (the run's verified model, the explain
check's own SHAP) and ``audit.dashboard.counterfactual`` (DiCE candidates, shrunk, re-scored);
this module only lays it out. Results are memoised per browser session, keyed by the loaded
model and the row's values, so a rerun redraws without recomputing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from audit.dashboard.counterfactual import Counterfactual, NoCounterfactual
from audit.dashboard.figures import PALETTE, plain
from audit.dashboard.whatif import RowExplanation, WhatIf
from dashboards.views.common import md, plot

TOP = 15
MISSING = "(missing)"


def widget_key(model: str, row_id: str, feature: str) -> str:
    return f"wi_{model}_{row_id}_{feature}"


def _memo(name: str, key: tuple, compute: Any) -> Any:
    """``compute()`` once per session and key (edits repeat as the page reruns)."""
    memo = st.session_state.setdefault(name, {})
    if key not in memo:
        if len(memo) > 64:
            memo.clear()
        memo[key] = compute()
    return memo[key]


def explain_row(what: WhatIf, model: str, row_id: str, row: pd.DataFrame) -> RowExplanation:
    key = (id(what), model, row_id, tuple(map(str, row.iloc[0].tolist())))
    return _memo("_wi_memo", key, lambda: what.explain(row))


def _inputs(what: WhatIf, model: str, row_id: str) -> dict[str, Any]:
    """The form's widgets, one per feature, holding the row's values until edited."""
    original = what.row(row_id).iloc[0]
    cols = st.columns(4)
    values: dict[str, Any] = {}
    for i, feature in enumerate(what.features):
        key = widget_key(model, row_id, feature)
        value = original[feature]
        with cols[i % 4]:
            if feature in what.numeric:
                missing = value is None or (isinstance(value, float) and np.isnan(value))
                integral = (
                    not missing
                    and float(value).is_integer()
                    and pd.api.types.is_integer_dtype(what.rows[feature].dtype)
                )
                start = None if missing else (int(value) if integral else float(value))
                if key in st.session_state:  # set by "put these values in the form"
                    values[feature] = st.number_input(md(feature), step=1 if integral else None, key=key)
                else:
                    values[feature] = st.number_input(md(feature), value=start, step=1 if integral else None, key=key)
            else:
                options = list(what.categories.get(feature, []))
                current = MISSING if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
                if current not in options:
                    options.append(current)
                if key in st.session_state and st.session_state[key] in options:
                    values[feature] = st.selectbox(md(feature), options, key=key)
                else:
                    st.session_state.pop(key, None)
                    values[feature] = st.selectbox(md(feature), options, index=options.index(current), key=key)
    return values


def render(what: WhatIf, model: str, row_id: str, saved_row: dict[str, Any] | None) -> None:
    st.header("What if?")
    st.caption(
        "Edit feature values and press Score. The score and attributions are computed for the edited row with the run's own model."
    )
    with st.form(key=f"wi_form_{model}_{row_id}"):
        values = _inputs(what, model, row_id)
        st.form_submit_button("Score edited row", type="primary")
    edited, changed = what.edit(row_id, {f: None if v == MISSING else v for f, v in values.items()})
    base = explain_row(what, model, row_id, what.row(row_id))
    live = explain_row(what, model, row_id, edited) if changed else base
    decision(what, base, live, changed, edited)
    attributions(what, base, live, changed, saved_row)
    counterfactual(what, model, row_id)


def decision(
    what: WhatIf, base: RowExplanation, live: RowExplanation, changed: list[str], edited: pd.DataFrame
) -> None:
    """Scores against the decision threshold, and whether the edit flips the decision."""
    before, after = what.decision(base.score), what.decision(live.score)
    cols = st.columns(3)
    cols[0].metric(
        md(f"Original score P({what.positive})"), f"{base.score:.4f}", help="the reloaded model's score of the row"
    )
    cols[1].metric(
        md(f"Edited score P({what.positive})"),
        f"{live.score:.4f}",
        delta=f"{live.score - base.score:+.4f}" if changed else None,
    )
    cols[2].metric("Decision threshold", f"{what.threshold:g}", help="the model decides for the more probable class")
    if changed:
        st.info(md(f"Changed: {', '.join(f'{f} → {edited[f].iloc[0]}' for f in changed)}"))
        if before != after:
            st.error(
                md(
                    f"The decision flips: {before} → {after} (P({what.positive}) {base.score:.4f} → {live.score:.4f}, threshold {what.threshold:g})."
                )
            )
        else:
            st.success(
                md(
                    f"The decision stays {before} (P({what.positive}) {base.score:.4f} → {live.score:.4f}, threshold {what.threshold:g})."
                )
            )
    else:
        st.caption(
            md(f"Decision: {before} (P({what.positive}) {base.score:.4f} against threshold {what.threshold:g}).")
        )
    plot(score_figure(what, base.score, live.score if changed else None), key="ex_score_gauge")


def score_figure(what: WhatIf, original: float, edited: float | None) -> Any:
    """The scores on the 0-1 line with the threshold: which side of it each row falls on."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_vrect(x0=0, x1=what.threshold, fillcolor=PALETTE[3], opacity=0.08, line_width=0)
    fig.add_vrect(x0=what.threshold, x1=1, fillcolor=PALETTE[0], opacity=0.08, line_width=0)
    fig.add_vline(
        x=what.threshold, line_dash="dash", line_color="#222", annotation_text=f"threshold {what.threshold:g}"
    )
    points = [("original row", original, PALETTE[5], "circle")] + (
        [("edited row", edited, PALETTE[0], "diamond")] if edited is not None else []
    )
    for name, value, colour, symbol in points:
        fig.add_trace(
            go.Scatter(
                x=[value], y=[name], mode="markers+text", name=name, text=[f"{value:.3f}"], textposition="top center", cliponaxis=False,
                marker={"size": 14, "color": colour, "symbol": symbol}, hovertemplate=f"{name}: %{{x:.4f}}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_xaxes(range=[0, 1], title_text=plain(f"P({what.positive}): {what.negative} ← | → {what.positive}"))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(
        template="plotly_white",
        height=120 + 30 * len(points),
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def attributions(
    what: WhatIf, base: RowExplanation, live: RowExplanation, changed: list[str], saved_row: dict[str, Any] | None
) -> None:
    """Original and edited attributions as bars on one axis (the largest of either first)."""
    import plotly.graph_objects as go

    frame = pd.DataFrame({"feature": base.features, "original": base.values, "edited": live.values})
    frame = frame.reindex(frame[["original", "edited"]].abs().max(axis=1).sort_values(ascending=False).index)[:TOP]
    labels = [plain(f) for f in frame["feature"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=frame["original"], orientation="h", name="original row", marker_color=PALETTE[5]))
    if changed:
        fig.add_trace(
            go.Bar(
                y=labels, x=frame["edited"], orientation="h", name="edited row", marker_color=PALETTE[0],
                marker_pattern_shape="/",
            )
        )  # fmt: skip
    space = live.output_space
    fig.update_layout(
        template="plotly_white",
        barmode="group",
        title=f"SHAP values ({space}) of the {plain(what.positive)} score, top {len(frame)}: one scale for both rows",
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        height=int(min(900, 140 + (44 if changed else 26) * len(frame))),
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.add_vline(x=0, line_color="#888", line_width=1)
    plot(fig, key="ex_live_shap")
    notes = [
        f"{live.explainer}, background: {live.background}; the same method, background and seed as the run's explain "
        f"check. In {space}: they sum to model output − base value = {_num(live.output)} − {_num(live.base)}."
    ]
    if saved_row is not None:
        saved = saved_row.get("shap") or {}
        gaps = [abs(float(saved[f]) - float(v)) for f, v in zip(base.features, base.values, strict=True) if f in saved]
        if gaps:
            notes.append(
                f"The original row's bars are the run's saved local_shap.json values (largest difference {max(gaps):.1e})."
            )
    for note in notes + list(dict.fromkeys(base.notes + live.notes)):
        st.caption(md(note))
    with st.expander("Attributions as a table"):
        st.dataframe(frame.reset_index(drop=True), hide_index=True)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _put_in_form(model: str, row_id: str, cf: Counterfactual) -> None:
    """Copy the counterfactual's values into the what-if form (a callback: runs before the form is drawn)."""
    for feature, _, new in cf.changes:
        st.session_state[widget_key(model, row_id, feature)] = new.item() if hasattr(new, "item") else new


def counterfactual(what: WhatIf, model: str, row_id: str) -> None:
    """Search for the smallest change of the chosen mutable features that flips the original row's decision."""
    st.subheader("Smallest change that flips the decision")
    default = [f for f in what.features if f not in what.immutable]
    mutable = st.multiselect(
        "Features the search may change",
        what.features,
        default=default,
        key=f"cf_mutable_{model}",
        help="left out by default: the robustness check's immutable features and the sensitive attributes",
    )
    if what.immutable:
        st.caption(md(f"Kept as they are unless you add them: {', '.join(what.immutable)}."))
    key = (id(what), model, row_id, tuple(sorted(mutable)))
    store = st.session_state.setdefault("_cf_memo", {})
    if st.button("Search", key=f"cf_go_{model}_{row_id}", disabled=not mutable):
        try:
            with st.spinner("Searching (DiCE)…"):
                store[key] = what.counterfactual(row_id, mutable)
        except NoCounterfactual as exc:
            store[key] = str(exc)
        except Exception as exc:  # DiCE refusing this data must not break the page
            store[key] = f"the search failed ({exc.__class__.__name__}: {exc})"
    found = store.get(key)
    if found is None:
        st.caption(
            md(
                f"Finds the change of these features with the fewest features changed, then the smallest distance, "
                f"that moves P({what.positive}) across {what.threshold:g} (DiCE candidates, each shrunk while the decision still flips)."
            )
        )
        return
    if isinstance(found, str):
        st.warning(md(found))
        return
    before, after = what.decision(found.original_score), what.decision(found.score)
    st.success(
        md(
            f"Changing {len(found.changes)} feature(s) flips the decision {before} → {after}: "
            f"P({what.positive}) {found.original_score:.4f} → {found.score:.4f} (threshold {what.threshold:g}), re-scored with the run's model."
        )
    )
    table = pd.DataFrame([{"feature": f, "original": str(a), "counterfactual": str(b)} for f, a, b in found.changes])
    st.dataframe(table, hide_index=True)
    st.caption(
        md(
            f"{found.method}; {found.candidates} flipping candidates; distance {found.distance:.3g} (MAD units, 1 per category). The smallest change found, not a proven minimum."
        )
    )
    st.button(
        "Put these values in the what-if form",
        key=f"cf_apply_{model}_{row_id}",
        on_click=_put_in_form,
        args=(model, row_id, found),
    )
