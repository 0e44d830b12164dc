"""Checks on data files made before pandas reads them, with messages that name file and column.

* A path that exists but is not a regular file (a folder, a FIFO, a device) is named as such,
  never reported as missing, and never opened: reading a FIFO would block the run.
* A CSV header that repeats a column name is refused: pandas would silently rename the second
  one ``x.1`` and the suite would audit a column the author never named.
* Infinite numbers are refused with the column and the first row holding one.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audit.errors import DataError


def file_kind(path: Path) -> str | None:
    """'a folder', 'a FIFO (named pipe)', ... for a path that is not a regular file; None for a file."""
    try:
        mode = os.stat(path).st_mode  # stat never opens the file, so a FIFO cannot block here
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def require_file(path: Path, key: str = "data.path") -> None:
    """Raise a DataError unless ``path`` is an existing regular file (symlinks to one are fine)."""
    kind = file_kind(path)
    if kind is not None:
        raise DataError(f"{path}: is {kind}, not a regular file (suite key {key})")
    if not path.is_file():
        raise DataError(f"{path}: data file not found (suite key {key})")


def repeated(names: Iterable[Any]) -> tuple[str, list[int]] | None:
    """The first name that occurs more than once and its 1-based positions, or None."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        positions.setdefault(str(name), []).append(i)
    return next(((name, where) for name, where in positions.items() if len(where) > 1), None)


def _and(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def check_csv_header(path: Path, encoding: str = "utf-8") -> None:
    """Refuse a CSV whose header names a column twice (read with the csv module, before pandas)."""
    try:
        with path.open(
            newline="",
            encoding="utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding,
            errors="replace",
        ) as handle:
            header = next((row for row in csv.reader(handle) if row), None)
    except (OSError, LookupError, csv.Error):
        return  # unreadable or odd: pandas reports it with its own message
    found = repeated(header or [])
    if found is not None:
        name, positions = found
        raise DataError(
            f"{path}: the header names column '{name}' {len(positions)} times (columns {_and(positions)}); "
            "column names must be unique"
        )


def check_unique_columns(columns: Iterable[Any], source: str) -> None:
    """Refuse a loaded table whose column names repeat (after conversion to text)."""
    found = repeated(columns)
    if found is not None:
        name, positions = found
        raise DataError(
            f"{source}: column '{name}' appears {len(positions)} times (columns {_and(positions)}); "
            "column names must be unique"
        )


def check_finite(frame: Any, columns: Iterable[str], source: str) -> None:
    """Refuse +/-infinity in the numeric ``columns`` of a DataFrame, naming column and first row."""
    import numpy as np
    import pandas as pd

    for column in columns:
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            raise DataError(
                f"{source}: column '{column}' holds {len(bad)} infinite value{'s' if len(bad) > 1 else ''} "
                f"(first at row {bad[0] + 1} below the header: {values[bad[0]]}); replace them with finite numbers "
                "or leave the cells empty (missing values are imputed)"
            )
