"""Load a tabular dataset as the suite declares it, check its columns, and split it.

Every problem is a ``DataError`` naming the file, the suite key and what was expected, raised
before anything is trained or written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.data.base import DataBundle, Dataset, Schema
from audit.data.files import check_csv_header, check_finite, check_unique_columns, require_file
from audit.data.parts import UNLABELLED, part_digest, read_parts, split_parts
from audit.errors import DataError
from audit.registry import DATASETS, suggest
from audit.suite import DataSpec, Suite


def read_table(path: Path, fmt: str | None, key: str = "data.path") -> pd.DataFrame:
    fmt = fmt or {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl"}.get(path.suffix.lower())
    if fmt not in ("csv", "parquet", "jsonl"):
        raise DataError(f"{path}: cannot read {'the format ' + repr(fmt) if fmt else 'the format from the suffix'} as a table (suite key {key}); set data.format to csv, parquet or jsonl")
    require_file(path, key)
    if fmt == "csv":
        check_csv_header(path)
    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path) if fmt == "parquet" else pd.read_json(path, lines=True, dtype=False)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(f"{path}: cannot read it as {fmt}: {exc}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return frame


def refuse_target_as_sensitive(target: str, sensitive: list[str], where: str) -> None:
    """The target is what the model predicts; auditing it as a group attribute is a mistake."""
    for i, column in enumerate(sensitive):
        if column == target:
            raise DataError(f"{where}: data.sensitive[{i}]: '{column}' is the target; the target cannot be a sensitive column")


def _require_columns(frame: pd.DataFrame, names: list[str], key: str, where: str) -> None:
    columns = [str(c) for c in frame.columns]
    for i, name in enumerate(names):
        if name not in frame.columns:
            raise DataError(f"{where}: {key}[{i}]: no column '{name}' in the data; {suggest(name, columns)}")


def load_frame(spec: DataSpec, suite: Suite) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """The raw frame, the loader's defaults for unset keys, and a description of the source."""
    if spec.builtin is not None:
        import inspect

        loader = DATASETS.get(spec.builtin)
        try:
            inspect.signature(loader).bind(**spec.options)
        except TypeError:
            accepted = ", ".join(inspect.signature(loader).parameters) or "none"
            raise DataError(f"{suite.source or '<suite>'}: data.options: the built-in dataset '{spec.builtin}' does not accept {sorted(spec.options)}; accepted options: {accepted}") from None
        frame, defaults = loader(**spec.options)
        return frame, defaults, f"builtin:{spec.builtin}"
    path = suite.resolve(spec.path)
    return read_table(path, spec.format), {}, str(path)


MISSING_GROUP = "(missing)"  # group label of rows whose sensitive value is missing
LOADERS = {  # modality -> "module:function" building a DataBundle from the suite
    "image": "audit.data.image:build_image_bundle",
    "text": "audit.data.text:build_text_bundle",
    "generation": "audit.data.corpus:build_corpus_bundle",
}


def build_bundle(suite: Suite) -> DataBundle:
    """Load, check and split the suite's data (dispatching on ``data.modality``)."""
    spec = suite.data
    if spec.modality != "tabular":
        import importlib

        module, _, attr = LOADERS[spec.modality].partition(":")
        return getattr(importlib.import_module(module), attr)(suite)
    where = str(suite.source or "<suite>")
    frame, parts, defaults, source, notes = read_parts(
        spec, suite, lambda: load_frame(spec, suite), lambda path, key: read_table(path, spec.format, key), lambda d: spec.target or d.get("target")
    )
    check_unique_columns(frame.columns, source)

    target = spec.target or defaults.get("target")
    if not target:
        shown = ", ".join(list(frame.columns)[:20]) + (", ..." if len(frame.columns) > 20 else "")
        raise DataError(f"{where}: data.target: name the target column (an empty name, or none for a file); columns: {shown}")
    if target not in frame.columns:
        raise DataError(f"{where}: data.target: no column '{target}'; {suggest(target, list(frame.columns))}")
    unlabelled = (parts == "reference") & frame[target].isna().to_numpy()  # reference labels are optional
    if frame[target].isna().to_numpy()[~unlabelled].any():
        n = int(frame[target].isna().to_numpy()[~unlabelled].sum())
        raise DataError(f"{where}: data.target: column '{target}' has {n} missing values; labels must be complete")

    sensitive = spec.sensitive if spec.sensitive is not None else defaults.get("sensitive", [])
    intersections = spec.intersections if spec.intersections is not None else defaults.get("intersections", [])
    drop = list(spec.drop) or list(defaults.get("drop", []))
    refuse_target_as_sensitive(target, sensitive, where)
    _require_columns(frame, sensitive, "data.sensitive", where)
    _require_columns(frame, drop, "data.drop", where)
    for i, group in enumerate(intersections):
        _require_columns(frame, group, f"data.intersections[{i}]", where)
        outside = [c for c in group if c not in sensitive]
        if outside:
            raise DataError(f"{where}: data.intersections[{i}]: '{outside[0]}' is not listed in data.sensitive")
    if spec.id_column:
        _require_columns(frame, [spec.id_column], "data.id_column", where)

    excluded = {target, *drop, *([spec.id_column] if spec.id_column else [])}
    if spec.features is not None:
        _require_columns(frame, spec.features, "data.features", where)
        if target in spec.features:
            raise DataError(f"{where}: data.features: the target '{target}' cannot be a feature")
        features = list(spec.features)
    else:
        features = [c for c in frame.columns if c not in excluded]
    if not features:
        raise DataError(f"{where}: data.features: no feature columns left after removing target and drop")
    check_finite(frame, [*features, target], source)
    categorical = _categorical_columns(frame, features, spec, where)
    numeric = [c for c in features if c not in categorical]
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise DataError(f"{where}: data.features: column '{column}' is not numeric; list it in data.categorical")

    classes, labelled_y = _encode_target(frame[target][~unlabelled], spec.positive_label if spec.positive_label is not None else defaults.get("positive_label"), where)
    y = np.full(len(frame), UNLABELLED, dtype=np.int64)
    y[~unlabelled] = labelled_y
    for i, column in enumerate(sensitive):
        n_groups = frame[column].nunique(dropna=False)
        if n_groups < 2:
            raise DataError(
                f"{where}: data.sensitive[{i}]: column '{column}' has a single value; "
                "a sensitive attribute needs at least two groups to compare"
            )
    schema = Schema(
        target=target,
        classes=tuple(classes),
        features=tuple(features),
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        sensitive=tuple(sensitive),
        intersections=tuple(tuple(g) for g in intersections),
    )
    X = frame[features].copy()
    for column in categorical:
        X[column] = categories_as_text(X[column])
    sens = frame[sensitive].astype(object).where(frame[sensitive].notna(), MISSING_GROUP).astype(str) if sensitive else pd.DataFrame(index=frame.index)
    ids = frame[spec.id_column].to_numpy() if spec.id_column else np.arange(len(frame))
    full = Dataset("all", X.reset_index(drop=True), y, sens.reset_index(drop=True), ids)
    train_rows, test_rows, reference_rows = split_parts(parts, y, spec, suite.seed, where)
    data_hash = _hash_frame(frame)
    if (parts != "").any():  # which file (or split value) a row came from is part of the data
        data_hash = hashlib.sha256(data_hash.encode() + part_digest(parts)).hexdigest()
    train, test = full.subset(train_rows, "train"), full.subset(test_rows, "test")
    reference = full.subset(reference_rows, "reference") if len(reference_rows) else None
    del full, X  # the splits hold the rows; a 1M-row run keeps no second copy of them
    return DataBundle(
        schema=schema,
        train=train,
        test=test,
        frame=frame.iloc[:0],  # the raw columns and dtypes; the rows live in train / test / reference
        source=source,
        data_hash=data_hash,
        reference=reference,
        notes=notes,
    )


def _categorical_columns(frame: pd.DataFrame, features: list[str], spec: DataSpec, where: str) -> list[str]:
    if spec.categorical is not None:
        _require_columns(frame, spec.categorical, "data.categorical", where)
        outside = [c for c in spec.categorical if c not in features]
        if outside:
            raise DataError(f"{where}: data.categorical: '{outside[0]}' is not a feature column")
        return [c for c in features if c in spec.categorical]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
    for column in categorical:
        _refuse_mostly_numeric(frame[column], where)
    return categorical


def categories_as_text(column: pd.Series) -> pd.Series:
    """A categorical feature as an object column of ``str`` (``str(value)``), missing as NaN.

    Vectorised: ``str`` runs once per distinct value (``astype(str)`` per cell only for object
    columns, which may mix types), and the cells share those strings, so a 1M-row column holds a
    handful of string objects, not a million.
    """
    present = column.notna().to_numpy()
    mixed = column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) != "string"
    text = column.astype(str) if mixed else column  # an object column may mix 3 and "3": str per cell
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    labels = np.array([str(u) for u in uniques] + [np.nan], dtype=object)  # code -1 -> NaN
    values = labels[codes]
    values[~present] = np.nan
    return pd.Series(values, index=column.index, name=column.name, dtype=object)


def _refuse_mostly_numeric(column: pd.Series, where: str) -> None:
    """A numeric column spoiled by a few strings would silently become hundreds of one-hot levels."""
    values = column.dropna()
    if values.empty or pd.api.types.is_bool_dtype(column):
        return
    # parse each distinct text once and weigh it by its count (O(rows) hashing, not parsing)
    counts = values.astype(str).str.strip().value_counts(sort=False, dropna=False)
    parsed = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").to_numpy()
    numeric = ~pd.isna(parsed)
    weights = counts.to_numpy()
    if (~numeric).any() and weights[numeric].sum() / weights.sum() >= 0.9:
        bad_text = set(counts.index[~numeric])
        bad = values[values.astype(str).str.strip().isin(bad_text)]
        examples = ", ".join(repr(v) for v in pd.unique(bad)[:3])
        raise DataError(
            f"{where}: data.features: column '{column.name}' looks numeric but {len(bad)} of {len(values)} values are not "
            f"numbers (e.g. {examples}); fix them (leave missing values empty) or, to treat the column as categories, "
            "list it with the other categorical columns in data.categorical"
        )


def _encode_target(column: pd.Series, positive: Any, where: str) -> tuple[list[Any], np.ndarray]:
    values = sorted(column.unique().tolist(), key=str)
    if len(values) < 2:
        raise DataError(f"{where}: data.target: column '{column.name}' has a single class ({values[0]!r}); need two or more")
    if positive is not None:
        match = [v for v in values if str(v) == str(positive)]
        if not match:
            raise DataError(
                f"{where}: data.positive_label: {positive!r} is not a value of '{column.name}'; "
                f"values: {', '.join(map(str, values))}"
            )
        if len(values) != 2:
            raise DataError(f"{where}: data.positive_label: only for a binary target; '{column.name}' has {len(values)} classes")
        values = [v for v in values if v is not match[0]] + [match[0]]
    codes = {v: i for i, v in enumerate(values)}
    return values, column.map(codes).to_numpy(dtype=np.int64)


def split_rows(y: np.ndarray, test_size: float, stratify: bool, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (stratified) train/test row positions."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    try:
        train, test = train_test_split(rows, test_size=test_size, random_state=seed, stratify=y if stratify else None)
    except ValueError as exc:
        raise DataError(f"{where}: data.split: cannot split the rows as asked: {exc}") from None
    return np.sort(train), np.sort(test)


def _hash_frame(frame: pd.DataFrame) -> str:
    h = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    h.update(",".join(frame.columns).encode())
    return h.hexdigest()
