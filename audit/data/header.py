"""What ``audit validate`` reads of a data file: its column names and the values of one column.

No pandas: the header of a CSV comes from the csv module (a UTF-8 byte-order mark is dropped,
as pandas does), a Parquet file's from its schema (``pyarrow.parquet.read_schema``, footer
only), a JSONL file's from the keys of its first object. The values of the target column are
streamed (CSV, JSONL) or read as that one column (Parquet), so a wrong-case ``positive_label``
is caught before a long run. Image data (``.npz`` archives, image folders) is only checked to
exist; its loader knows its layout.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.data.files import file_kind, repeated

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".npz": "npz"}
TABLE_FORMATS = ("csv", "parquet", "jsonl")
MAX_DISTINCT = 1000  # more distinct target values than this: not a label column worth listing
BOOLEAN_TEXT = {"true": "True", "false": "False"}  # pandas reads these CSV cells as booleans


@dataclass
class Header:
    """One data file as validate sees it: its format and columns, or why they are unknown."""

    path: Path
    format: str | None
    columns: list[str] | None = None  # None: not a table (image data) or unreadable
    problem: str | None = None  # why the file cannot be used (missing, a folder, unreadable, ...)

    @property
    def is_table(self) -> bool:
        return self.format in TABLE_FORMATS


def file_format(path: Path, declared: str | None, image: bool = False) -> str | None:
    """The format the loaders would read ``path`` as: ``data.format``, else from the suffix
    (a folder is an image folder for image data)."""
    if declared is not None:
        return declared
    if path.suffix.lower() in SUFFIXES:
        return SUFFIXES[path.suffix.lower()]
    return "folder" if image and path.is_dir() else None


def _encoding(options: dict[str, Any]) -> str:
    encoding = str(options.get("encoding", "utf-8"))
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def read_header(path: Path, declared_format: str | None = None, options: dict[str, Any] | None = None, *, image: bool = False) -> Header:
    """The columns of the data file at ``path``; never raises for a bad file (see ``problem``)."""
    options = options or {}
    fmt = file_format(path, declared_format, image)
    header = Header(path, fmt)
    if fmt == "folder":
        if not path.is_dir():
            header.problem = "image folder not found" if not os.path.lexists(path) else "is not a folder"
        return header
    kind = file_kind(path)
    if kind is not None:
        header.problem = f"is {kind}, not a regular file"
        return header
    if not path.is_file():
        header.problem = "data file not found"
        return header
    if fmt is None:
        header.problem = f"cannot tell the format from the suffix '{path.suffix}'; set data.format"
        return header
    if fmt == "npz":
        return header
    try:
        header.columns = _COLUMN_READERS[fmt](path, options)
    except Exception as exc:  # unreadable files fail in many ways; validate reports, never crashes
        header.problem = f"cannot read it as {fmt}: {exc.__class__.__name__}: {exc}"
        return header
    if header.columns is None:
        header.problem = "the file is empty" if fmt != "jsonl" else "the file holds no JSON object"
    elif (found := repeated(header.columns)) is not None:
        header.problem = f"the header names column '{found[0]}' {len(found[1])} times; column names must be unique"
    return header


def _csv_columns(path: Path, options: dict[str, Any]) -> list[str] | None:
    with path.open(newline="", encoding=_encoding(options)) as handle:
        return next((row for row in csv.reader(handle) if row), None)


def _parquet_columns(path: Path, options: dict[str, Any]) -> list[str] | None:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    index = set(_pandas_index_columns(schema))
    return [str(name) for name in schema.names if name not in index]


def _pandas_index_columns(schema: Any) -> list[str]:
    """Columns that pandas stored as the index (``__index_level_0__``), which pandas does not show."""
    meta = (schema.metadata or {}).get(b"pandas")
    if not meta:
        return []
    try:
        return [c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)]
    except (ValueError, AttributeError):
        return []


def _jsonl_columns(path: Path, options: dict[str, Any]) -> list[str] | None:
    with path.open(encoding=_encoding(options)) as handle:
        for line in handle:
            if line.strip():
                first = json.loads(line)
                if not isinstance(first, dict):
                    raise ValueError(f"the first line is a JSON {type(first).__name__}, not an object")
                return [str(key) for key in first]
    return None


_COLUMN_READERS = {"csv": _csv_columns, "parquet": _parquet_columns, "jsonl": _jsonl_columns}


def column_values(header: Header, column: str, options: dict[str, Any] | None = None, limit: int = MAX_DISTINCT) -> list[str] | None:
    """The distinct non-missing values of ``column`` as the loaders would print them, or None
    (not a table, no such column, unreadable, or more than ``limit`` distinct values)."""
    if not header.is_table or header.problem or not header.columns or column not in header.columns:
        return None
    options = options or {}
    try:
        values = _VALUE_READERS[header.format](header.path, header.columns.index(column), column, options, limit)  # type: ignore[index]
    except Exception:  # a bad row is the loader's to report, with its own message
        return None
    if values is None:
        return None
    if values and all(v.lower() in BOOLEAN_TEXT for v in values):
        values = {BOOLEAN_TEXT[v.lower()] for v in values}
    return sorted(values)


def _csv_values(path: Path, index: int, column: str, options: dict[str, Any], limit: int) -> set[str] | None:
    values: set[str] = set()
    with path.open(newline="", encoding=_encoding(options)) as handle:
        rows = csv.reader(handle)
        next((row for row in rows if row), None)  # the header
        for row in rows:
            if index < len(row) and row[index].strip() and row[index] not in values:
                values.add(row[index])
                if len(values) > limit:
                    return None
    return values


def _parquet_values(path: Path, index: int, column: str, options: dict[str, Any], limit: int) -> set[str] | None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[column])
    unique = pc.unique(table.column(0).drop_null())
    if len(unique) > limit:
        return None
    return {str(v) for v in unique.to_pylist()}


def _jsonl_values(path: Path, index: int, column: str, options: dict[str, Any], limit: int) -> set[str] | None:
    values: set[str] = set()
    with path.open(encoding=_encoding(options)) as handle:
        for line in handle:
            if not line.strip():
                continue
            value = json.loads(line).get(column)
            if value is not None and value != "":
                values.add(str(value))
                if len(values) > limit:
                    return None
    return values


_VALUE_READERS = {"csv": _csv_values, "parquet": _parquet_values, "jsonl": _jsonl_values}


def label_matches(positive: Any, values: list[str]) -> bool:
    """Whether ``positive`` is among ``values`` (text as the loader compares it; numbers by value)."""
    text = str(positive)
    if text in values:
        return True
    if isinstance(positive, (int, float)) and not isinstance(positive, bool):
        for value in values:
            try:
                if float(value) == float(positive):
                    return True
            except ValueError:
                continue
    return False
