"""Find the runs in a reports folder and open files inside it without ever leaving it.

A reports folder holds ``<suite>/<run-id>/results.json``. Hidden folders (the engine's
``.<run-id>.partial`` work in progress) and anything reached through a symlink are skipped.
A run's identity (its key, suite and id) is its folder path, never what its ``results.json``
claims, so a planted run cannot take over another run's link. Every file is read through
``audit.dashboard.safefiles`` (plain files inside the root, no links at any level).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from audit.dashboard.safefiles import (
    PathOutsideRoot,
    default_root,
    read_run_bytes,
    safe_path,
    safe_run_file,
)
from audit.errors import AuditError
from audit.results import RunResults, results_from_raw

__all__ = [
    "PathOutsideRoot",
    "RunEntry",
    "discover_runs",
    "find_run",
    "latest_per_suite",
    "load_run",
    "run_file",
    "safe_path",
]
STATUS_RANK = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


@dataclass(frozen=True)
class RunEntry:
    """One run folder as listed on the Runs page (a summary; ``load`` gives the full results)."""

    suite: str  # the suite folder's name
    run_id: str  # the run folder's name
    path: Path
    root: Path  # the reports folder every file of this run is checked against
    created_at: str = ""
    status: str = "error"
    models: tuple[str, ...] = ()
    gate_counts: dict[str, int] = field(default_factory=dict)
    check_errors: int = 0
    error: str | None = None  # set when results.json cannot be read
    warning: str | None = None  # set when results.json names another suite or run than its folder

    @property
    def key(self) -> str:
        """The selection key shown in pickers: ``suite/run-id`` of the folder (never used as a path)."""
        return f"{self.suite}/{self.run_id}"

    def load(self) -> RunResults:
        return load_run(self.path, self.root)


@lru_cache(maxsize=48)  # a parsed run holds a few MB
def _load_cached(root: str, run_dir: str, mtime_ns: int, size: int, inode: int) -> RunResults:
    where = Path(run_dir) / "results.json"
    try:
        data = read_run_bytes(Path(root), Path(run_dir), "results.json")
    except PathOutsideRoot as exc:
        raise AuditError(f"{where}: not read: {exc}") from None
    if data is None:
        raise AuditError(f"{where}: no results.json here")
    return _parse(data, where)


def _parse(data: bytes, where: Path) -> RunResults:
    """``audit.results.load_results`` on bytes already read safely (same checks, same messages)."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditError(f"{where}: not a readable results file ({exc})") from None
    return results_from_raw(raw, where)


def load_run(run_dir: Path, root: Path | None = None) -> RunResults:
    """The run's results, re-read only when ``results.json`` changed on disk.

    ``root`` is the reports folder (default: two levels up, ``<root>/<suite>/<run-id>``).
    """
    root = default_root(run_dir) if root is None else root
    try:
        path = safe_run_file(root, run_dir, "results.json")
    except PathOutsideRoot as exc:
        raise AuditError(f"{Path(run_dir) / 'results.json'}: not read: {exc}") from None
    if path is None:
        raise AuditError(f"{Path(run_dir) / 'results.json'}: no results.json here")
    st = path.lstat()
    return _load_cached(str(root), str(run_dir), st.st_mtime_ns, st.st_size, st.st_ino)


def _summary(root: Path, run_dir: Path) -> RunEntry:
    suite, run_id = run_dir.parent.name, run_dir.name
    try:
        results = load_run(run_dir, root)
    except AuditError as exc:
        return RunEntry(suite=suite, run_id=run_id, path=run_dir, root=root, error=str(exc))
    counts = {s: sum(g.status == s for g in results.gates) for s in STATUS_RANK}
    return RunEntry(
        suite=suite,
        run_id=run_id,
        path=run_dir,
        root=root,
        created_at=results.created_at,
        status=results.status,
        models=tuple(results.models),
        gate_counts=counts,
        check_errors=sum(c.status == "error" for c in results.checks),
        warning=identity_warning(results, suite, run_id),
    )


def identity_warning(results: RunResults, suite: str, run_id: str) -> str | None:
    """A note when results.json claims another suite or run id than its folder (the folder wins)."""
    claimed_suite, claimed_id = str(results.suite.get("name") or suite), str(results.run_id)
    if (claimed_suite, claimed_id) == (suite, run_id):
        return None
    return (
        f"results.json claims to be run {claimed_suite}/{claimed_id}, but it lies in folder {suite}/{run_id}; "
        "the dashboard identifies the run by its folder"
    )


def _plain_dirs(folder: Path) -> list[Path]:
    """Sub-folders that are real folders (not links), not hidden, sorted by name."""
    found = []
    with os.scandir(folder) as it:
        for item in it:
            if not item.name.startswith(".") and stat.S_ISDIR(item.stat(follow_symlinks=False).st_mode):
                found.append(folder / item.name)
    return sorted(found)


def discover_runs(root: str | Path) -> list[RunEntry]:
    """Every complete run under ``root``, newest first; unreadable ones carry ``error``.

    A run is listed only when ``<suite>/<run-id>/results.json`` is a regular file reached
    without symlinks; links (to folders or to the file) are skipped, never followed.
    """
    base = Path(root).resolve()
    if not base.is_dir():
        return []
    entries: list[RunEntry] = []
    for suite_dir in _plain_dirs(base):
        for run_dir in _plain_dirs(suite_dir):
            try:
                found = safe_run_file(base, run_dir, "results.json")
            except PathOutsideRoot:
                continue
            if found is not None:
                entries.append(_summary(base, run_dir))
    entries.sort(key=lambda e: (e.created_at, e.run_id), reverse=True)
    return entries


def find_run(entries: list[RunEntry], key: str | None) -> RunEntry | None:
    """The entry whose ``key`` (``suite/run-id``) equals ``key``: a lookup, never a path join."""
    return next((e for e in entries if e.key == key), None)


def latest_per_suite(entries: list[RunEntry]) -> dict[str, RunEntry]:
    """The newest readable run of each suite (the release candidate a reviewer asks about)."""
    latest: dict[str, RunEntry] = {}
    for entry in entries:  # already newest first
        if entry.error is None and entry.suite not in latest:
            latest[entry.suite] = entry
    return latest


def run_file(entry: RunEntry, relative: str) -> Path | None:
    """A plain file inside the run folder (e.g. a figure PNG), or None when absent, a link or outside it."""
    try:
        return safe_run_file(entry.root, entry.path, relative)
    except PathOutsideRoot:
        return None
