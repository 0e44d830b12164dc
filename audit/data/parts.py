"""Which rows are train, test and reference: the user's files, a split column, or a seeded split.

A suite's data comes from one source (``builtin``, ``path``, or ``train`` / ``test`` files) plus an
optional ``reference`` file. The loaders read every declared file, check that they hold the
same columns, and stack them into one frame with a *part* per row:

* ``train`` / ``test`` / ``reference``: fixed by the file the row came from, or by the value of
  ``split.column``;
* ``""``: to be split at random (seeded, stratified), as a single ``path`` or ``builtin`` is.

Stacking first lets the target classes, categorical levels and sensitive groups be read once for
all parts, so the same label means the same class code everywhere. Rows whose split-column value
is listed under no part are dropped, and the count is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import DataError
from audit.registry import suggest
from audit.suite import DataSpec, Suite

PARTS = ("train", "test", "reference")
MEMORY = "memory:"  # a part handed over in memory by the Python API (audit.api)
UNLABELLED = -1  # the label code of reference rows whose file has no target column


def read_parts(
    spec: DataSpec,
    suite: Suite,
    read_main: Callable[[], tuple[pd.DataFrame, dict[str, Any], str]],
    read_file: Callable[[Path, str], pd.DataFrame],
    target: Callable[[dict[str, Any]], str | None],
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any], str, list[str]]:
    """(stacked frame, part per row, loader defaults, source description, notes).

    ``read_main`` reads a ``builtin`` or ``path`` source; ``read_file(path, key)`` reads one
    declared file. ``target(defaults)`` names the target column (for the reference file's
    optional labels).
    """
    where = str(suite.source or "<suite>")
    notes: list[str] = []
    frames: list[pd.DataFrame] = []
    labels: list[np.ndarray] = []
    sources: list[str] = []
    defaults: dict[str, Any] = {}
    if spec.builtin is not None or spec.path is not None:
        frame, defaults, source = read_main()
        frame.columns = [str(c) for c in frame.columns]
        parts = np.full(len(frame), "", dtype=object)
        if spec.split.column is not None:
            frame, parts, dropped = _split_column(frame, spec, where)
            if dropped:
                notes.append(f"{dropped} rows whose {spec.split.column!r} is none of the listed split values were left out")
        frames.append(frame)
        labels.append(parts)
        sources.append(source)
    for part in ("train", "test"):
        file = getattr(spec, part)
        if file is not None:
            frame, path = _read(suite, part, file, read_file)
            frames.append(frame)
            labels.append(np.full(len(frame), part, dtype=object))
            sources.append(f"{part}={path}")
    if len(frames) == 2:  # train and test files: the same columns, so neither silently gains NaNs
        _same_columns(frames[0], frames[1], spec, sources[0].split("=", 1)[1], sources[1].split("=", 1)[1])  # train first, then test
    if spec.reference is not None:
        frame, path = _read(suite, "reference", spec.reference, read_file)
        frame = _align_reference(frame, frames[0], spec, target(defaults), path, where)
        frames.append(frame)
        labels.append(np.full(len(frame), "reference", dtype=object))
        sources.append(f"reference={path}")
    stacked = pd.concat(frames, ignore_index=True, sort=False) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return stacked, np.concatenate(labels), defaults, ", ".join(sources), notes


def _read(suite: Suite, part: str, file: str, read_file: Callable[[Path, str], pd.DataFrame]) -> tuple[pd.DataFrame, Any]:
    """One declared part: a file, or a DataFrame the Python API handed over (``memory:<part>``)."""
    if file.startswith(MEMORY):
        frames = suite._memory.get("frames", {})
        if part not in frames:
            raise DataError(f"data.{part}: '{file}' names an in-memory table, which only the Python API (audit.audit) can hand over")
        frame = frames[part].copy()
        path: Any = f"<{part} DataFrame>"
    else:
        path = suite.resolve(file)
        frame = read_file(path, f"data.{part}")
    frame.columns = [str(c) for c in frame.columns]
    if frame.empty:
        raise DataError(f"{path}: data.{part}: no rows")
    return frame, path


def _split_column(frame: pd.DataFrame, spec: DataSpec, where: str) -> tuple[pd.DataFrame, np.ndarray, int]:
    column = spec.split.column
    if column not in frame.columns:
        raise DataError(f"{where}: data.split.column: no column '{column}' in the data; {suggest(column, list(frame.columns))}")
    values = frame[column].astype(str).to_numpy()
    parts = np.full(len(frame), None, dtype=object)
    for part in PARTS:
        parts[np.isin(values, getattr(spec.split, part))] = part
    keep = parts != None  # noqa: E711 - element-wise
    found = sorted(set(values.tolist()))
    for part in ("train", "test"):
        wanted = getattr(spec.split, part)
        if wanted and not np.any(parts == part):
            shown = ", ".join(found[:12]) + (", ..." if len(found) > 12 else "")
            raise DataError(f"{where}: data.split.{part}: no row of column '{column}' has the value {' or '.join(map(repr, wanted))}; its values: {shown}")
    dropped = int((~keep).sum())
    frame = frame.loc[keep].drop(columns=[column]).reset_index(drop=True)
    return frame, parts[keep], dropped


def _same_columns(train: pd.DataFrame, test: pd.DataFrame, spec: DataSpec, train_path: str, test_path: str) -> None:
    dropped = set(spec.drop)
    missing = [c for c in train.columns if c not in test.columns and c not in dropped]
    extra = [c for c in test.columns if c not in train.columns and c not in dropped]
    if missing or extra:
        what = []
        if missing:
            what.append(f"lacks {', '.join(map(repr, missing[:8]))}{' ...' if len(missing) > 8 else ''} (in the train file)")
        if extra:
            what.append(f"has {', '.join(map(repr, extra[:8]))}{' ...' if len(extra) > 8 else ''} (not in the train file)")
        raise DataError(f"{test_path}: data.test: the test file {' and '.join(what)}; train ({train_path}) and test must hold the same columns (list columns to ignore in data.drop)")


def _align_reference(reference: pd.DataFrame, main: pd.DataFrame, spec: DataSpec, target: str | None, path: Path, where: str) -> pd.DataFrame:
    """The reference file needs the feature columns; its target and sensitive columns are optional."""
    optional = {*(spec.sensitive or []), *spec.drop, *([target] if target else []), *([spec.id_column] if spec.id_column else [])}
    missing = [c for c in main.columns if c not in reference.columns and c not in optional]
    if missing:
        raise DataError(f"{path}: data.reference: the reference file lacks {', '.join(map(repr, missing[:8]))}{' ...' if len(missing) > 8 else ''}; it needs the same feature columns as the data it is compared with")
    return reference[[c for c in main.columns if c in reference.columns]]


def split_parts(parts: np.ndarray, y: np.ndarray, spec: DataSpec, seed: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train rows, test rows, reference rows): the parts as given, the unassigned rows split at random."""
    from audit.data.tabular import split_rows

    unassigned = np.flatnonzero(parts == "")
    train = np.flatnonzero(parts == "train")
    test = np.flatnonzero(parts == "test")
    if len(unassigned):
        tr, te = split_rows(y[unassigned], spec.split.test_size, spec.split.stratify, seed, where)
        train = np.sort(np.concatenate([train, unassigned[tr]]))
        test = np.sort(np.concatenate([test, unassigned[te]]))
    if len(test) == 0:
        raise DataError(f"{where}: data: no test rows to audit the models on")
    return train, test, np.flatnonzero(parts == "reference")


def part_digest(parts: np.ndarray) -> bytes:
    """Bytes that make the data hash depend on which row is in which part."""
    return "\x00".join(map(str, parts.tolist())).encode()
