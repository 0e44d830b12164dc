"""What the pages read, loaded once per server and reused: runs, results, tables, figures, findings.

Every cache is keyed by the run folder and a stamp of its ``results.json`` (mtime, size and
inode, read with ``lstat``), so a rewritten run is read afresh and nothing else is ever read or
computed twice: a rerun of a page (any widget click) costs only the drawing. Parsed results and
plotly figures are shared objects (``st.cache_resource``); the pages treat them as read-only.
Tables come from ``st.cache_data`` (each caller gets its own copy). The reports folder listing
is keyed by a stamp of every ``<suite>/<run-id>/results.json`` under it, taken without
following links (``audit.dashboard.runs`` still applies all of its rules when it lists).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import streamlit as st

from audit.dashboard.runs import RunEntry, discover_runs, load_run
from audit.results import RunResults

Stamp = tuple[int, int, int]


def file_stamp(path: Path) -> Stamp:
    """(mtime_ns, size, inode) of ``path`` without following a link; zeros when absent."""
    try:
        info = path.lstat()
    except OSError:
        return (0, 0, 0)
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def listing_stamp(root: Path) -> tuple[Any, ...]:
    """What the reports folder holds: every run folder and its results.json stamp (links skipped)."""
    found: list[Any] = [file_stamp(root)]
    try:
        suites = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return tuple(found)
    for suite in suites:
        if suite.name.startswith(".") or not stat.S_ISDIR(suite.stat(follow_symlinks=False).st_mode):
            continue
        found.append((suite.name, file_stamp(Path(suite.path))))
        for run in sorted(os.scandir(suite.path), key=lambda e: e.name):
            if not run.name.startswith(".") and stat.S_ISDIR(run.stat(follow_symlinks=False).st_mode):
                found.append((suite.name, run.name, file_stamp(Path(run.path) / "results.json")))
    return tuple(found)


@st.cache_resource(show_spinner=False, max_entries=4)
def _entries(root: str, listing: tuple[Any, ...]) -> list[RunEntry]:
    return discover_runs(root)


def entries(root: Path) -> list[RunEntry]:
    """Every run in ``root``, newest first, listed again only when a run folder changed."""
    return _entries(str(root), listing_stamp(root))


def stamp(entry: RunEntry) -> Stamp:
    return file_stamp(entry.path / "results.json")


@st.cache_resource(show_spinner=False, max_entries=32)
def _results(root: str, run_dir: str, key: Stamp) -> RunResults:
    return load_run(Path(run_dir), Path(root))


def results(entry: RunEntry) -> RunResults:
    """The parsed results.json of ``entry`` (shared, read-only), parsed once per version of the file."""
    return _results(str(entry.root), str(entry.path), stamp(entry))


def cache_key(entry: RunEntry) -> tuple[str, str, Stamp]:
    """The key every per-run cache below takes: reports folder, run folder, results.json stamp."""
    return (str(entry.root), str(entry.path), stamp(entry))


def _load(key: tuple[str, str, Stamp]) -> RunResults:
    return _results(key[0], key[1], key[2])


@st.cache_data(show_spinner=False, max_entries=32)
def metrics(key: tuple[str, str, Stamp]) -> Any:
    """All metrics of the run as one table (``audit.dashboard.tables.metrics_frame``)."""
    from audit.dashboard.tables import metrics_frame

    return metrics_frame(_load(key).metrics)


@st.cache_data(show_spinner=False, max_entries=64)
def overall(key: tuple[str, str, Stamp], check: str) -> Any:
    from audit.dashboard.tables import overall_pivot

    return overall_pivot(_load(key), check)


@st.cache_resource(show_spinner=False, max_entries=512)
def figure(key: tuple[str, str, Stamp], check: str, model: str, index: int) -> Any:
    """The ``index``-th stored figure of ``check`` on ``model`` as drawn (``to_plotly``), built once."""
    from audit.dashboard.figures import to_plotly

    record = next(c for c in _load(key).checks if c.check == check and c.model == model)
    return to_plotly(record.figures[index], Path(key[1]), Path(key[0]))


@st.cache_resource(show_spinner=False, max_entries=512)
def chart(key: tuple[str, str, Stamp], check: str, metric: str, family: str | None, whole: str) -> Any:
    """The Run detail bar chart of one metric: by model (``family`` None) or by the groups of ``family``."""
    from audit.dashboard.figures import metric_chart

    frame = metrics(key)
    part = frame[(frame["check"] == check) & (frame["metric"] == metric)]
    if family is None:
        return metric_chart(part[part["group"].isna()], x="model", title=f"{metric} by model")
    grouped = with_families(part[part["group"].notna()], whole)
    sub = grouped[grouped["family"] == family]
    title = f"{metric} by {family}" if family != whole else f"{metric} by group"
    return metric_chart(sub, x="label", colour="model", horizontal=True, title=title)


def with_families(grouped: Any, whole: str) -> Any:
    """Slices (``sex=female``) are charted per attribute; whole groups (``...[sex]``) together."""
    return grouped.assign(
        family=grouped["attribute"].where(grouped["level"].notna(), whole),
        label=grouped["level"].where(grouped["level"].notna(), grouped["group"]),
    )


@st.cache_data(show_spinner=False, max_entries=32)
def findings(key: tuple[str, str, Stamp], limit: int = 10) -> tuple[list[Any], str | None]:
    """``audit.findings.findings(results, limit=limit)``, or no findings and the reason."""
    try:
        from audit.findings import findings as rank
    except ImportError as exc:  # an older install without the findings module
        return [], f"findings are not available in this version of audit ({exc})"
    try:
        return list(rank(_load(key), limit=limit)), None
    except Exception as exc:  # a run the ranking cannot read must not break the page
        return [], f"findings could not be ranked for this run ({exc.__class__.__name__}: {exc})"


@st.cache_data(show_spinner=False, max_entries=16)
def comparison(a: tuple[str, str, Stamp], b: tuple[str, str, Stamp]) -> Any:
    """``audit.dashboard.compare.compare_runs`` of two runs, computed once per pair of versions."""
    from audit.dashboard.compare import compare_runs

    return compare_runs(_load(a), _load(b))


@st.cache_data(show_spinner=False, max_entries=16)
def gate_comparison(a: tuple[str, str, Stamp], b: tuple[str, str, Stamp]) -> Any:
    from audit.dashboard.compare import compare_gates

    return compare_gates(_load(a), _load(b))
