"""Find the runs in a reports folder and open files inside it without ever leaving it.

A reports folder holds ``<suite>/<run-id>/results.json``. Hidden folders (the engine's
``.<run-id>.partial`` work in progress) are skipped. Every path the dashboard opens goes through
``safe_path``, which resolves symlinks and ``..`` and refuses anything outside the root, so a
crafted run folder or figure spec cannot make the app read other files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from audit.errors import AuditError
from audit.results import RunResults, load_results

STATUS_RANK = {"pass": 0, "warn": 1, "fail": 2, "error": 3}


class PathOutsideRoot(ValueError):
    """A path that would escape the reports folder (``..``, an absolute path, a symlink out)."""


def safe_path(root: Path, relative: str | os.PathLike[str] = "") -> Path:
    """``root / relative`` resolved; raises ``PathOutsideRoot`` unless it stays inside ``root``."""
    text = os.fspath(relative)
    if "\x00" in text:
        raise PathOutsideRoot("path contains a NUL character")
    if Path(text).is_absolute() or text.startswith(("\\", "~")):
        raise PathOutsideRoot(f"absolute path '{text}' is not allowed; paths are relative to the reports folder")
    base = Path(root).resolve()
    target = (base / text).resolve()
    if target != base and not target.is_relative_to(base):
        raise PathOutsideRoot(f"path '{text}' leads outside the reports folder")
    return target


@dataclass(frozen=True)
class RunEntry:
    """One run folder as listed on the Runs page (a summary; ``load`` gives the full results)."""

    suite: str
    run_id: str
    path: Path
    created_at: str = ""
    status: str = "error"
    models: tuple[str, ...] = ()
    gate_counts: dict[str, int] = field(default_factory=dict)
    check_errors: int = 0
    error: str | None = None  # set when results.json cannot be read

    @property
    def key(self) -> str:
        """The selection key shown in pickers: ``suite/run-id`` (never used as a path)."""
        return f"{self.suite}/{self.run_id}"

    def load(self) -> RunResults:
        return load_run(self.path)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=48)  # a parsed run holds a few MB
def _load_cached(path: str, mtime_ns: int, size: int) -> RunResults:
    return load_results(path)


def load_run(run_dir: Path) -> RunResults:
    """The run's results, re-read only when ``results.json`` changed on disk."""
    path = Path(run_dir) / "results.json"
    try:
        mtime_ns, size = _stamp(path)
    except OSError:
        raise AuditError(f"{path}: no results.json here") from None
    return _load_cached(str(path), mtime_ns, size)


def _summary(suite_dir: str, run_dir: Path) -> RunEntry:
    try:
        results = load_run(run_dir)
    except AuditError as exc:
        return RunEntry(suite=suite_dir, run_id=run_dir.name, path=run_dir, error=str(exc))
    counts = {s: sum(g.status == s for g in results.gates) for s in STATUS_RANK}
    return RunEntry(
        suite=str(results.suite.get("name") or suite_dir),
        run_id=results.run_id if results.run_id == run_dir.name else run_dir.name,
        path=run_dir,
        created_at=results.created_at,
        status=results.status,
        models=tuple(results.models),
        gate_counts=counts,
        check_errors=sum(c.status == "error" for c in results.checks),
    )


def discover_runs(root: str | Path) -> list[RunEntry]:
    """Every complete run under ``root``, newest first; unreadable ones carry ``error``."""
    base = Path(root).resolve()
    if not base.is_dir():
        return []
    entries: list[RunEntry] = []
    for suite_dir in sorted(base.iterdir()):
        if suite_dir.name.startswith(".") or not _inside_dir(base, suite_dir):
            continue
        for run_dir in sorted(suite_dir.iterdir()):
            if run_dir.name.startswith(".") or not _inside_dir(base, run_dir):
                continue
            if (run_dir / "results.json").is_file():
                entries.append(_summary(suite_dir.name, safe_path(base, f"{suite_dir.name}/{run_dir.name}")))
    entries.sort(key=lambda e: (e.created_at, e.run_id), reverse=True)
    return entries


def _inside_dir(base: Path, path: Path) -> bool:
    try:
        return safe_path(base, path.relative_to(base).as_posix()).is_dir()
    except (PathOutsideRoot, OSError, ValueError):
        return False


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
    """A file inside the run folder (e.g. a figure PNG), or None when absent or outside it."""
    try:
        path = safe_path(entry.path, relative)
    except PathOutsideRoot:
        return None
    return path if path.is_file() else None
