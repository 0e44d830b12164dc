"""The data keys of a suite checked against its data files' headers, before anything is loaded.

``audit validate`` reads each declared file's columns (:mod:`audit.data.header`) and reports,
all at once, every column a data key names that a file lacks (``target``, ``features``,
``sensitive``, ``split.column``, ...), a ``positive_label`` that is not a value of the target
(with a hint when only the case differs), and prediction files that lack their join key or
probability columns. Built-in datasets are defined by their loaders and are not opened here.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from audit.data.header import Header, column_values, label_matches, read_header

if TYPE_CHECKING:
    from audit.suite import DataSpec, ModelSpec, Suite

LABELLED = ("path", "train", "test")  # parts whose rows carry the target (reference: labels optional)
SHOWN = 20  # columns listed in a message


def data_file_problems(suite: Suite) -> list[tuple[str, str]]:
    """(key path, message) for every data key or prediction file that its file contradicts."""
    spec = suite.data
    if spec.builtin is not None:
        return []
    image = spec.modality == "image"
    headers = {part: read_header(suite.resolve(file), spec.format, spec.options, image=image) for part, file in spec.files().items()}
    problems = [(f"data.{part}", f"'{spec.files()[part]}': {h.problem}") for part, h in headers.items() if h.problem]
    tables = {part: h for part, h in headers.items() if h.columns is not None}
    if tables and spec.modality != "image":
        problems += _column_problems(spec, tables)
        problems += _label_problems(spec, tables)
    for i, model in enumerate(suite.models):
        if model.predictions is not None:
            problems += _prediction_problems(i, model, spec, suite)
    return problems


def _keys(spec: DataSpec) -> list[tuple[str, str, tuple[str, ...]]]:
    """(key path, column, parts whose files must hold it) for every column a data key names."""
    every = ("path", "train", "test", "reference")
    keys: list[tuple[str, str, tuple[str, ...]]] = []
    if spec.target:
        keys.append(("data.target", spec.target, LABELLED))
    if spec.modality == "text" and spec.text_column:
        keys.append(("data.text_column", spec.text_column, every))
    for name, parts in (("features", every), ("categorical", every), ("sensitive", LABELLED), ("drop", LABELLED)):
        keys += [(f"data.{name}[{i}]", column, parts) for i, column in enumerate(getattr(spec, name) or [])]
    if spec.id_column:
        keys.append(("data.id_column", spec.id_column, LABELLED))
    if spec.split.column:
        keys.append(("data.split.column", spec.split.column, ("path",)))
    return keys


def _column_problems(spec: DataSpec, tables: dict[str, Header]) -> list[tuple[str, str]]:
    problems = []
    if spec.modality == "text" and not spec.text_column:
        problems.append(("data.text_column", "required for text data from a file (the column holding the text)"))
    for key, column, parts in _keys(spec):
        lacking = [part for part in parts if part in tables and column not in tables[part].columns]  # type: ignore[operator]
        if lacking:
            problems.append((key, missing_column(column, [tables[p] for p in lacking], spec, lacking)))
    return problems


def missing_column(column: str, headers: list[Header], spec: DataSpec, parts: list[str]) -> str:
    """"no column 'x' in <file> (data.<part>); did you mean 'y'? columns: ..." for the files lacking it."""
    files = " or ".join(f"'{spec.files()[part]}' (data.{part})" for part in parts)
    columns = headers[0].columns or []
    return f"no column '{column}' in {files}; {_hint(column, columns)}columns: {_listed(columns)}"


def _hint(name: str, choices: list[str]) -> str:
    same_case = [c for c in choices if c.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _listed(columns: list[str]) -> str:
    return ", ".join(columns[:SHOWN]) + (f", ... ({len(columns)} in all)" if len(columns) > SHOWN else "")


def _label_problems(spec: DataSpec, tables: dict[str, Header]) -> list[tuple[str, str]]:
    if spec.positive_label is None or not spec.target:
        return []
    for part in LABELLED:
        header = tables.get(part)
        values = column_values(header, spec.target, spec.options) if header is not None else None
        if values is None:
            continue
        where = f"'{spec.files()[part]}' (data.{part})"
        if not label_matches(spec.positive_label, values):
            return [
                (
                    "data.positive_label",
                    f"{spec.positive_label!r} is not a value of '{spec.target}' in {where}; "
                    f"{_hint(str(spec.positive_label), values)}values: {_listed(values)}",
                )
            ]
        if len(values) > 2:
            return [("data.positive_label", f"only for a binary target; '{spec.target}' has {len(values)} classes in {where}")]
    return []


def _prediction_problems(i: int, model: ModelSpec, spec: DataSpec, suite: Suite) -> list[tuple[str, str]]:
    predictions = model.predictions
    assert predictions is not None
    key = f"models[{i}].predictions"
    header = read_header(suite.resolve(predictions.path))  # prediction files: format from the suffix
    if header.problem:
        return [(f"{key}.path", f"'{predictions.path}': {header.problem}")]
    if not header.is_table or header.columns is None:
        return [(f"{key}.path", f"'{predictions.path}': predictions must be a CSV, Parquet or JSONL file")]
    columns = header.columns
    problems = []

    def need(subkey: str, column: str, what: str) -> None:
        if column not in columns:
            problems.append((f"{key}.{subkey}", f"no column '{column}' ({what}) in '{predictions.path}'; {_hint(column, columns)}columns: {_listed(columns)}"))

    if predictions.key is not None:
        need("key", predictions.key, "the join key")
    elif spec.id_column is not None and spec.id_column not in columns:
        problems.append((key, f"no join column '{spec.id_column}' (data.id_column) in '{predictions.path}'; name the file's id column with 'key'; columns: {_listed(columns)}"))
    if predictions.score is not None:
        need("score", predictions.score, "the positive class's probability")
    for label, column in (predictions.proba or {}).items():
        need(f"proba.{label}", column, f"the probability of class '{label}'")
    if predictions.score is None and predictions.proba is None and "score" not in columns and not any(c.startswith("proba[") for c in columns):
        problems.append((key, f"'{predictions.path}' has neither a 'score' column nor proba[<class>] columns; name the probability column(s) with 'score' or 'proba'; columns: {_listed(columns)}"))
    if predictions.label is not None:
        need("label", predictions.label, "the predicted label")
    return problems
