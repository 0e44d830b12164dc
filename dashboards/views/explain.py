"""Explanation explorer: one model, one test row; its saved SHAP, and a what-if form.

The what-if reloads the run's model safely and verified (``audit.dashboard.whatif``), which
builds the edited row, re-scores it and explains it with the explain pillar's own SHAP (same
explainer, background and seed as the run's explain check, so an unedited row shows the saved
values, in the same output space). This page only renders what that module returns. Without
artefacts (cache cleared, suite file moved, a non-tabular model) the page says why and shows
the saved explanations only.
A suite file or model folder that results.json names outside the run folder is loaded only
after the visitor ticks "I trust this file" for that exact path (unticked by default, per
run and model, for this browser session).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from audit.dashboard.figures import PALETTE, plain
from audit.dashboard.runs import RunEntry, load_run
from audit.dashboard.whatif import (
    NeedsConfirmation,
    RowExplanation,
    WhatIf,
    WhatIfUnavailable,
    open_whatif,
    saved_local_shap,
    stored_scores,
)
from audit.errors import AuditError
from audit.results import pillar_of
from dashboards.views.common import Ctx, md, no_runs, plot, show_figure

TOP = 15
MISSING = "(missing)"


@st.cache_resource(show_spinner="Loading the run's model and test rows…", max_entries=8, ttl=600)
def _open(
    run_dir: str, root: str, key: str, model: str, trusted: tuple[str, ...], stamp: tuple[int, ...]
) -> WhatIf | WhatIfUnavailable:
    """The verified what-if for one model of one run, or why it is unavailable (cached).

    ``stamp`` (see ``_stamp``) makes a changed run file be judged afresh; ``key`` only keys the cache.
    """
    try:
        results = load_run(Path(run_dir), Path(root))
        return open_whatif(results, Path(run_dir), model, root=Path(root), trusted_paths=trusted)
    except WhatIfUnavailable as exc:
        return exc
    except AuditError as exc:  # results.json unreadable or refused since the page listed it
        return WhatIfUnavailable(str(exc))


@st.cache_data(max_entries=64)
def _scores(run_dir: str, root: str, model: str, stamp: tuple[int, ...]) -> dict[str, float]:
    return stored_scores(Path(run_dir), model, root=Path(root)) or {}


def _stamp(entry: RunEntry) -> tuple[int, ...]:
    """mtime, size and inode of results.json and predictions.csv (0 when absent): a changed file is judged afresh."""
    stamp: list[int] = []
    for name in ("results.json", "predictions.csv"):
        try:
            info = (entry.path / name).lstat()
        except OSError:
            stamp += [0, 0, 0]
        else:
            stamp += [info.st_mtime_ns, info.st_size, info.st_ino]
    return tuple(stamp)


def _trust_store(entry: RunEntry, model: str) -> set[str]:
    """Paths the visitor confirmed for this run and model in this session (none by default)."""
    store: dict[tuple[str, str], set[str]] = st.session_state.setdefault("_wi_trusted", {})
    return store.setdefault((entry.key, model), set())


def _toggle(widget: str, trusted: set[str], path: str) -> None:
    (trusted.add if st.session_state.get(widget) else trusted.discard)(path)


def _trust_boxes(entry: RunEntry, model: str, asked: list[tuple[str, str]]) -> None:
    """One unticked checkbox per file outside the run folder, its path shown as inert text."""
    trusted = _trust_store(entry, model)
    shown = asked + [("file", p) for p in sorted(trusted - {p for _, p in asked})]
    for what, path in shown:
        digest = hashlib.sha256(f"{entry.key}\0{model}\0{path}".encode()).hexdigest()[:16]
        widget = f"wi_trust_{digest}"
        st.checkbox(
            md(f"I trust this {what}: {path}"),
            value=path in trusted,
            key=widget,
            on_change=_toggle,
            args=(widget, trusted, path),
            help="Loaded only after you tick this: results.json can name any path, and loading a model runs its loader.",
        )


def render(ctx: Ctx) -> None:
    st.title("Explanation explorer")
    if ctx.results is None or ctx.entry is None:
        no_runs(ctx)
        return
    r, entry, run_dir = ctx.results, ctx.entry, ctx.entry.path
    model = st.selectbox("Model", list(r.models), key="ex_model")
    saved = saved_local_shap(run_dir, model, root=entry.root)
    stamp = _stamp(entry)
    trusted = tuple(sorted(_trust_store(entry, model)))
    what = _open(str(run_dir), str(entry.root), entry.key, model, trusted, stamp)
    if isinstance(what, NeedsConfirmation):
        st.warning(md(f"What-if is not loaded: {what}.") + " Showing the explanations saved with the run.")
        _trust_boxes(entry, model, what.paths)
        what = None
    elif isinstance(what, WhatIfUnavailable):
        st.warning(md(f"What-if is unavailable: {what}.") + " Showing the explanations saved with the run.")
        what = None
    elif trusted:
        with st.expander("Files outside the run folder that you confirmed"):
            _trust_boxes(entry, model, [])
    saved_rows = {str(row["row_id"]): row for row in (saved or {}).get("rows", [])}
    ids = list(what.rows.index) if what is not None else list(saved_rows)
    if not ids:
        st.info("No saved per-row explanations for this model (add the explain check to the suite).")
        _saved_figures(ctx, model)
        return
    scores = _scores(str(run_dir), str(entry.root), model, stamp)
    first = next((i for i in ids if i in saved_rows), ids[0])
    row_id = st.selectbox(
        "Test row (id)",
        ids,
        index=ids.index(first),
        key=f"ex_row_{model}",
        format_func=lambda i: _row_label(i, what, scores, saved_rows),
    )
    cols = st.columns(3)
    actual = what.labels[row_id] if what is not None else saved_rows.get(row_id, {}).get("label", "?")
    cols[0].metric("Actual outcome", str(actual))
    stored = scores.get(row_id, saved_rows.get(row_id, {}).get("probability"))
    cols[1].metric(
        md(f"Stored score P({what.positive if what else (saved or {}).get('positive_label', 'positive')})"),
        "n/a" if stored is None else f"{stored:.4f}",
    )
    if row_id in saved_rows:
        _saved_shap(saved, saved_rows[row_id])
    if what is not None:
        for note in what.notes:
            st.caption(md(note))
        _what_if(what, model, row_id, cols[2])
    _saved_figures(ctx, model)


def _row_label(i: str, what: WhatIf | None, scores: dict[str, float], saved: dict[str, Any]) -> str:
    label = what.labels[i] if what is not None else saved.get(i, {}).get("label", "")
    score = scores.get(i)
    mark = " · saved SHAP" if i in saved else ""
    return f"{i} · actual {label}" + (f" · score {score:.3f}" if score is not None else "") + mark


def _saved_shap(saved: dict[str, Any], row: dict[str, Any]) -> None:
    import plotly.graph_objects as go

    shap = sorted(row["shap"].items(), key=lambda kv: -abs(kv[1]))[:TOP]
    values = row.get("values") or {}
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in shap],
            y=[plain(f"{f} = {values.get(f, '?')}") for f, _ in shap],
            orientation="h",
            marker_color=[PALETTE[0] if v >= 0 else PALETTE[3] for _, v in shap],
        )
    )
    space = saved.get("output_space", "model output")
    fig.update_layout(
        template="plotly_white",
        title=plain(f"Saved SHAP of this row ({saved.get('explainer', '?')}, {space}), top {len(shap)}"),
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    fig.update_yaxes(autorange="reversed", type="category")
    plot(fig, key="ex_saved_shap")
    st.caption(
        md(
            f"From the run's local_shap.json: base value {_num(row.get('base_value', saved.get('base_value')))}, "
            f"model output {_num(row.get('prediction'))} ({space}); blue raises the {saved.get('positive_label', 'positive')} score."
        )
    )


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _inputs(what: WhatIf, model: str, row_id: str) -> dict[str, Any]:
    """The form's widgets, one per feature, holding the row's values until edited."""
    original = what.row(row_id).iloc[0]
    cols = st.columns(4)
    values: dict[str, Any] = {}
    for i, feature in enumerate(what.features):
        key = f"wi_{model}_{row_id}_{feature}"
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
                values[feature] = st.number_input(md(feature), value=start, step=1 if integral else None, key=key)
            else:
                options = list(what.categories.get(feature, []))
                current = MISSING if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
                if current not in options:
                    options.append(current)
                values[feature] = st.selectbox(md(feature), options, index=options.index(current), key=key)
    return values


def _what_if(what: WhatIf, model: str, row_id: str, score_slot: Any) -> None:
    import plotly.graph_objects as go

    st.header("What if?")
    st.caption(
        "Edit feature values and press Score. The score and attributions are computed for the edited row with the run's own model."
    )
    with st.form(key=f"wi_form_{model}_{row_id}"):
        values = _inputs(what, model, row_id)
        st.form_submit_button("Score edited row", type="primary")
    edited, changed = what.edit(row_id, {f: None if v == MISSING else v for f, v in values.items()})
    base = _explain(what, model, row_id, what.row(row_id))
    live = _explain(what, model, row_id, edited) if changed else base
    score_slot.metric(
        md(f"Edited score P({what.positive})"),
        f"{live.score:.4f}",
        delta=f"{live.score - base.score:+.4f}" if changed else None,
    )
    if changed:
        st.info(md(f"Changed: {', '.join(f'{f} → {edited[f].iloc[0]}' for f in changed)}"))
    frame = pd.DataFrame({"feature": base.features, "original": base.values, "edited": live.values})
    space = live.output_space
    frame = frame.reindex(frame[["original", "edited"]].abs().max(axis=1).sort_values(ascending=False).index)[:TOP]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=[plain(f) for f in frame["feature"]],
            x=frame["original"],
            orientation="h",
            name="original row",
            marker_color=PALETTE[5],
        )
    )
    if changed:
        fig.add_trace(
            go.Bar(
                y=[plain(f) for f in frame["feature"]],
                x=frame["edited"],
                orientation="h",
                name="edited row",
                marker_color=PALETTE[0],
            )
        )
    fig.update_layout(
        template="plotly_white",
        barmode="group",
        title=f"SHAP values ({space}) of the {plain(what.positive)} score, top {len(frame)}",
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    fig.update_yaxes(autorange="reversed", type="category")
    plot(fig, key="ex_live_shap")
    st.caption(
        md(
            f"{live.explainer}, background: {live.background}; the same method, background and seed as the run's "
            f"explain check, so an unedited row gets its saved SHAP values. In {space}: they sum to "
            f"model output − base value = {_num(live.output)} − {_num(live.base)}."
        )
    )
    for note in dict.fromkeys(base.notes + live.notes):
        st.caption(md(note))
    with st.expander("Attributions as a table"):
        st.dataframe(frame.reset_index(drop=True), hide_index=True)


def _explain(what: WhatIf, model: str, row_id: str, row: pd.DataFrame) -> RowExplanation:
    """SHAP values of a row, memoised per session (edits repeat as the page reruns)."""
    memo = st.session_state.setdefault("_wi_memo", {})
    key = (id(what), model, row_id, tuple(map(str, row.iloc[0].tolist())))
    if key not in memo:
        if len(memo) > 64:
            memo.clear()
        memo[key] = what.explain(row)
    return memo[key]


def _saved_figures(ctx: Ctx, model: str) -> None:
    records = [
        c
        for c in (ctx.results.checks if ctx.results else [])
        if pillar_of(c) == "explain" and c.model == model and c.figures
    ]
    if not records:
        return
    with st.expander(md(f"Saved explanation figures of {model}"), expanded=False):
        for record in records:
            for i, spec in enumerate(record.figures):
                show_figure(spec, ctx.entry, key=f"ex_fig_{record.check}_{i}")
