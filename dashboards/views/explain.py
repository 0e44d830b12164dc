"""Explanation explorer: one model, one test row; its saved SHAP, a what-if form and a counterfactual.

Image and text models show their explain check's own metrics and figures (the pillar's
``image_explain`` / ``text_explain`` implementations), not an invitation to add the check.

The what-if reloads the run's model safely and verified (``audit.dashboard.whatif``), which
builds the edited row, re-scores it and explains it with the explain pillar's own SHAP (same
explainer, background and seed as the run's explain check, so an unedited row shows the saved
values, in the same output space), shows the decision threshold and whether an edit flips the
decision, and searches for the smallest change of mutable features that flips it
(``dashboards.views.whatif_panel``). This page only renders what those modules return. Without
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

import streamlit as st

from audit.dashboard.figures import PALETTE, plain
from audit.dashboard.runs import RunEntry, load_run
from audit.dashboard.whatif import (
    NeedsConfirmation,
    WhatIf,
    WhatIfUnavailable,
    open_whatif,
    saved_local_shap,
    stored_scores,
)
from audit.errors import AuditError
from audit.results import pillar_of
from dashboards.views import cached, whatif_panel
from dashboards.views.common import Ctx, lazy_expander, md, no_runs, plot, run_caption, show_stored_figure

TOP = 15


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


@st.cache_resource(show_spinner=False)
def _prewarm() -> None:
    """Import scikit-learn, shap and DiCE once per server in a background thread (a few seconds on a
    small machine), so that confirming the files loads the what-if without waiting for imports."""
    import contextlib
    import importlib
    import threading

    def load() -> None:
        for name in ("sklearn.linear_model", "shap", "dice_ml"):
            with contextlib.suppress(Exception):  # a missing package is reported where it is used
                importlib.import_module(name)

    threading.Thread(target=load, name="audit-dashboard-prewarm", daemon=True).start()


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
    run_caption(ctx)
    r, entry, run_dir = ctx.results, ctx.entry, ctx.entry.path
    model = st.selectbox("Model", list(r.models), key="ex_model")
    records = explain_records(r, model)
    modality = str(r.models.get(model, {}).get("modality") or "tabular")
    if modality != "tabular":
        _other_modality(ctx, model, modality, records)
        return
    saved = saved_local_shap(run_dir, model, root=entry.root)
    stamp = _stamp(entry)
    trusted = tuple(sorted(_trust_store(entry, model)))
    what = _open(str(run_dir), str(entry.root), entry.key, model, trusted, stamp)
    if isinstance(what, NeedsConfirmation):
        st.warning(md(f"What-if is not loaded: {what}.") + " Showing the explanations saved with the run.")
        _trust_boxes(entry, model, what.paths)
        what = None
        _prewarm()  # while the visitor reads the boxes, import what loading the model will need
    elif isinstance(what, WhatIfUnavailable):
        st.warning(md(f"What-if is unavailable: {what}.") + " Showing the explanations saved with the run.")
        what = None
    elif trusted:
        with st.expander("Files outside the run folder that you confirmed"):
            _trust_boxes(entry, model, [])
    saved_rows = {str(row["row_id"]): row for row in (saved or {}).get("rows", [])}
    ids = list(what.rows.index) if what is not None else list(saved_rows)
    if not ids:
        if records:
            st.info(
                md(f"The explain check ran on {model} but saved no per-row explanations (its local_rows is 0).")
                + " Its global results are below."
            )
        else:
            st.info(md(f"The run has no explain check for {model}: add `explain` to the suite's checks."))
        _saved_figures(ctx, model, records, expanded=True)
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
    positive = what.positive if what else (saved or {}).get("positive_label", "positive")
    cols[1].metric(md(f"Stored score P({positive})"), "n/a" if stored is None else f"{stored:.4f}")
    if what is not None and stored is not None:
        cols[2].metric(
            "Model decision", str(what.decision(stored)), help=md(f"threshold {what.threshold:g} on P({positive})")
        )
    if what is None:
        if row_id in saved_rows:
            _saved_shap(saved, saved_rows[row_id])
    else:
        for note in what.notes:
            st.caption(md(note))
        whatif_panel.render(what, model, row_id, saved_rows.get(row_id))
    _saved_figures(ctx, model, records)


def explain_records(r: Any, model: str) -> list[Any]:
    """The explain pillar's records of ``model``, whatever their implementation (tabular, image, text)."""
    return [c for c in r.checks if pillar_of(c) == "explain" and c.model == model]


def _other_modality(ctx: Ctx, model: str, modality: str, records: list[Any]) -> None:
    """Image and text models: the explain check's own metrics and figures (no feature editing)."""
    if not records:
        st.info(md(f"The run has no explain check for {model}: add `explain` to the suite's checks."))
        return
    for record in records:
        how = record.implementation or record.check
        st.subheader(md(f"{how} on {model} ({modality})"))
        if record.status == "error":
            st.error(md(f"the check failed: {record.error}"))
        elif record.status == "skipped":
            st.info(md(f"skipped: {record.reason}"))
        pivot = cached.overall(cached.cache_key(ctx.entry), record.check)
        if not pivot.empty and model in pivot.columns:
            st.dataframe(pivot[["metric", "better", model]], hide_index=True)
        cols = st.columns(2)
        for i in range(len(record.figures)):
            with cols[i % 2]:
                show_stored_figure(ctx.entry, record.check, model, i, key=f"ex_fig_{record.check}_{i}")
    st.caption(md(f"Editing feature values (the what-if) needs a tabular model; {model} works on {modality} data."))


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


def _saved_figures(ctx: Ctx, model: str, records: list[Any], expanded: bool = False) -> None:
    shown = [c for c in records if c.figures]
    if not shown:
        return
    box, draw = lazy_expander(md(f"Saved explanation figures of {model}"), key=f"ex_saved_{model}", expanded=expanded)
    with box:
        if draw:
            for record in shown:
                for i in range(len(record.figures)):
                    show_stored_figure(ctx.entry, record.check, model, i, key=f"ex_fig_{record.check}_{i}")
